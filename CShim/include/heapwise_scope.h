/* heapwise_scope.h: in-process allocation scopes. Filled in by scope.c's author. */
#ifndef HEAPWISE_SCOPE_H
#define HEAPWISE_SCOPE_H
#endif
