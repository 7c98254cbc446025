/* unwind.c: the one place that captures stacks. Everything else sees hw_capture_stack*, so a
 * faster unwinder (a cached .eh_frame walker, DESIGN.md) can replace libunwind here alone.
 *
 * unw_backtrace with UNW_CACHE_PER_THREAD costs about 20-70 ns a frame on this machine; a
 * unw_step loop is 10-20x slower and glibc's backtrace() too. */
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "hw_internal.h"

void hw_unwind_init(void) { unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD); }

/* Our own frames above the hook: hw_capture_stack_above, current_stack, on_alloc and the hook. */
#define HW_SLACK 8

/* unw_backtrace reports instruction pointers; every frame but the innermost is a return address,
 * which points after the call. Minus one lands inside the call, so symbolization finds the
 * calling line (and the right function when the call is the last instruction). */
static int copy_frames(uintptr_t *frames, int max, void **raw, int n, int from) {
  int count = 0;
  for (int i = from; i < n && count < max; i++) frames[count++] = (uintptr_t)raw[i] - 1;
  return count;
}

int hw_capture_stack(uintptr_t *frames, int max, int skip) {
  void *raw[HW_MAX_FRAMES + HW_SLACK];
  if (max > HW_MAX_FRAMES) max = HW_MAX_FRAMES;
  int n = unw_backtrace(raw, max + skip + 1);
  /* +1: unw_backtrace's first entry is this function itself. */
  return n > skip + 1 ? copy_frames(frames, max, raw, n, skip + 1) : 0;
}

int hw_capture_stack_above(uintptr_t *frames, int max, uintptr_t anchor) {
  void *raw[HW_MAX_FRAMES + HW_SLACK];
  if (max > HW_MAX_FRAMES) max = HW_MAX_FRAMES;
  int n = unw_backtrace(raw, max + HW_SLACK);
  for (int i = 0; i < n && i < HW_SLACK; i++)
    if ((uintptr_t)raw[i] == anchor) return copy_frames(frames, max, raw, n, i);
  /* The anchor is always among the first frames unless the hook was tail-called; then the
   * innermost frame outside the recorder is the best we know. */
  return n > 3 ? copy_frames(frames, max, raw, n, 3) : 0;
}
