/* heapwise.h: the recorder's public C API.
 *
 * A program may call these whether or not it runs under heapwise. Under the preload library, or
 * with the recorder linked in (HeapwiseBudget), they act; elsewhere the weak references below are
 * null and the inline wrappers do nothing. From Python: ctypes.CDLL(None).heapwise_marker(b"x").
 */
#ifndef HEAPWISE_H
#define HEAPWISE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(HEAPWISE_BUILDING)
#define HEAPWISE_API __attribute__((visibility("default")))
#else
#define HEAPWISE_API __attribute__((weak))
#endif

/* Records a named snapshot point in the calling thread's stream, followed by a memory sample
 * (and a malloc_trim probe when HEAPWISE_TRIM_PROBE=1). Safe from any thread; not from a signal
 * handler (send HEAPWISE_MARKER_SIGNAL, SIGUSR2 by default, instead). */
HEAPWISE_API void heapwise_marker(const char *name);

/* Nonzero when this process is writing a dump. */
HEAPWISE_API int heapwise_is_recording(void);

#if !defined(HEAPWISE_BUILDING)
/* Call-if-present wrappers, for programs that are not always run under heapwise. */
static inline void heapwise_mark(const char *name) {
  if (heapwise_marker) heapwise_marker(name);
}
#endif

/* ---- In-process allocation scopes (HeapwiseBudget) ----------------------------------------
 * Counts what the hooks see between begin and end. A thread scope counts only the calling
 * thread's allocations; a process scope counts every thread's. Scopes nest (per thread, and
 * process scopes among themselves). Defined in scope.c. */
#include "heapwise_scope.h"

#ifdef __cplusplus
}
#endif
#endif /* HEAPWISE_H */
