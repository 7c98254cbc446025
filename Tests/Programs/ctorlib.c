/* A library whose constructor allocates: it runs before the preloaded recorder's constructor
 * (dependencies are initialised first), so the recorder must start from the first hooked call. */
#include <stdlib.h>

static void *at_load;

__attribute__((constructor)) static void ctorlib_init(void) { at_load = malloc(777); }

void ctorlib_release(void) {
  free(at_load);
  at_load = NULL;
}
