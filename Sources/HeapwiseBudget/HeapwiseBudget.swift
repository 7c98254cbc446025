// HeapwiseBudget: being written.
