// HeapwiseAnalysis: being written.
