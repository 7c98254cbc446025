// zlib's deflate, for the gzip'd pprof profile (`heapwise export --format pprof`).
#include <zlib.h>
