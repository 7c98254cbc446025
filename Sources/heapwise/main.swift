print("heapwise: being written")
