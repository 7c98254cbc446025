// HeapwiseReports: being written.
