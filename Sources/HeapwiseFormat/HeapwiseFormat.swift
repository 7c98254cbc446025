// HeapwiseFormat: being written.
