/* exec.c: the exec family. An image that execs never runs its destructors, so without these its
 * dump had no END. Each hook ends the dump (reason exec), calls the real function, and if that
 * returns (the exec failed), lets the image record on into a new dump. execl, execlp and execle
 * call glibc's execve internally, where no hook sees them: they are rebuilt here on execv,
 * execvp and execve. posix_spawn starts a new process and needs none of this. */
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>

#include "hw_internal.h"

#define EXEC_HOOK(name, params, args)                                  \
  HW_EXPORT int name params {                                          \
    if (hw_unlikely(!hw_real.name)) hw_bootstrap();                    \
    if (hw_unlikely(!hw_real.name)) return errno = ENOSYS, -1;         \
    hw_before_exec();                                                  \
    int rc = hw_real.name args;                                        \
    hw_after_failed_exec();                                            \
    return rc;                                                         \
  }

EXEC_HOOK(execve, (const char *path, char *const argv[], char *const envp[]), (path, argv, envp))
EXEC_HOOK(execv, (const char *path, char *const argv[]), (path, argv))
EXEC_HOOK(execvp, (const char *file, char *const argv[]), (file, argv))
EXEC_HOOK(execvpe, (const char *file, char *const argv[], char *const envp[]), (file, argv, envp))
EXEC_HOOK(fexecve, (int fd, char *const argv[], char *const envp[]), (fd, argv, envp))

/* The list forms: the arguments into an array on the stack (no malloc: a vfork child may be
 * calling), then `call`, the array form. execle's environment follows the terminating NULL. */
#define LIST_HOOK(name, with_env, call)                                \
  HW_EXPORT int name(const char *first, const char *arg, ...) {        \
    va_list ap;                                                        \
    va_start(ap, arg);                                                 \
    size_t n = 1;                                                      \
    while (va_arg(ap, const char *)) n++;                              \
    va_end(ap);                                                        \
    char *argv[n + 1];                                                 \
    va_start(ap, arg);                                                 \
    argv[0] = (char *)arg;                                             \
    for (size_t i = 1; i <= n; i++) argv[i] = va_arg(ap, char *);      \
    char *const *envp = with_env ? va_arg(ap, char *const *) : NULL;   \
    va_end(ap);                                                        \
    (void)envp;                                                        \
    return call;                                                       \
  }

LIST_HOOK(execl, 0, execv(first, argv))
LIST_HOOK(execlp, 0, execvp(first, argv))
LIST_HOOK(execle, 1, execve(first, argv, envp))
