// HeapwiseSymbols: being written.
