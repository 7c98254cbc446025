// DumpFacts and the subprocess runner live in TestSupport (the fault matrix replays dumps the same
// way): every file of this target sees them.
@_exported import TestSupport
