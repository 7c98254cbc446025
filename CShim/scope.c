/* scope.c: in-process allocation scopes for HeapwiseBudget (being written). */
#include "hw_internal.h"
_Atomic int hw_scopes_open;
void hw_scope_on_alloc(void *p, size_t size) { (void)p; (void)size; }
void hw_scope_on_free(void *p) { (void)p; }
