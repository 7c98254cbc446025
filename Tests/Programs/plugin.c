/* Loaded by scenarios.c "plugin" with dlopen: its allocation's stack runs through a module that
 * was not mapped at start, and dlclose unmaps it. */
#include <stdlib.h>
__attribute__((noinline)) void *plugin_make(void) { return malloc(3131); }
