/* A known call chain: main -> outer_fn -> middle_fn -> inner_fn -> malloc(5555). The test checks
 * that the recorded stack's first frames fall inside inner_fn, middle_fn, outer_fn, main, in order,
 * using the executable's symbol table. Built -O0 so no call is inlined or made a tail call. */
#include <stdlib.h>
void *inner_fn(void) { return malloc(5555); }
void *middle_fn(void) { void *p = inner_fn(); return p; }
void *outer_fn(void) { void *p = middle_fn(); return p; }
int main(void) { void *p = outer_fn(); return p == NULL; }
