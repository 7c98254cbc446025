/* Opened with RTLD_DEEPBIND by faults.c "deepbind": its malloc and free bind to libc's before the
 * preloaded hooks. Its constructor allocates 7070 B during the dlopen; deep_work keeps a 5555 B
 * block and frees a strdup; deep_free frees a block the program allocated, and the 7070 B. */
#include <stdlib.h>
#include <string.h>

void *deep_work(void) {
  void *p = malloc(5555);
  char *s = strdup("deep");
  free(s);
  return p;
}

static void *from_constructor;
__attribute__((constructor)) static void deep_init(void) { from_constructor = malloc(7070); }

void deep_free(void *p) {
  free(p);
  free(from_constructor);
}
