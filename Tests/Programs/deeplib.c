/* Opened with RTLD_DEEPBIND by faults.c "deepbind": its malloc and free bind to libc's before the
 * preloaded hooks. deep_work keeps a 5555 B block and frees a strdup; deep_free frees a block the
 * program allocated. */
#include <stdlib.h>
#include <string.h>

void *deep_work(void) {
  void *p = malloc(5555);
  char *s = strdup("deep");
  free(s);
  return p;
}

void deep_free(void *p) { free(p); }
