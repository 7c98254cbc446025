// HeapwiseAnalysis: replays a dump's events into live blocks and per-stack statistics, then
// aggregates stacks into sites. The words below mean exactly this everywhere in heapwise,
// docs/ANALYSIS.md included.
//
// - frame: one source-level location of a call stack: a function, with file and line when known,
//   in a module. One return address may give several frames (functions inlined into each other).
// - stack: the return addresses recorded for one allocation, innermost first (a STACK record;
//   `StackID`). Stacks are what the replay counts; they are resolved to frames only for reports.
// - site: what a report groups by: a whole traceback, a line (lineno), a file, a function or a
//   module, chosen from a stack's frames after the allocator's and the recorder's own frames are
//   skipped. Many stacks may share a site.
// - block: one live allocation (malloc family) or anonymous mapping (mmap), from its allocation to
//   its free or unmap.
// - live: allocated and not yet freed, at a given moment (exit, a marker).
// - peak: the moment when the sum of live bytes over all sites was highest; a site's "peak" is its
//   own live bytes at that moment (its share of the peak), not its own maximum.
// - leaked: live at exit, in a dump that ends with an END record (the process exited); a dump
//   without END has no leak figure, only live at its last event.
// - temporary: a heap block freed before its allocating thread allocated anything else (a realloc
//   is not a free for this purpose).
// - retained: memory freed by the program but kept resident by the allocator; the summary command
//   measures it from samples, the replay cannot see it.
