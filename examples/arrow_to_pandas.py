"""arrow_to_pandas.py: memory the recorder sees only as mapped regions (needs pyarrow, pandas).

A table converted with to_pandas() while the Arrow table stays referenced: the data now exists
twice, once in pandas' numpy arrays and once in Arrow buffers. pyarrow allocates from a mimalloc
bundled inside libarrow, which maps memory itself, so by default the summary shows the Arrow half
as mapped regions from libarrow (and says so). With ARROW_DEFAULT_MEMORY_POOL=system the Arrow
buffers are malloc blocks and appear in the live heap with their sites.

    python3 -m venv /tmp/hw-venv && /tmp/hw-venv/bin/pip install pyarrow pandas
    heapwise record -o arrow.heapwise -- /tmp/hw-venv/bin/python3 arrow_to_pandas.py
    ARROW_DEFAULT_MEMORY_POOL=system heapwise record -o arrow-system.heapwise -- \
        /tmp/hw-venv/bin/python3 arrow_to_pandas.py
    heapwise summary arrow.heapwise
    heapwise summary arrow-system.heapwise

The fix is to drop the table (`del table`) once converted, or convert with
`table.to_pandas(self_destruct=True)` after making the table the only reference.
"""
import ctypes

import pyarrow as pa


def marker(name):
    try:
        ctypes.CDLL(None).heapwise_marker(name.encode())
    except (OSError, AttributeError):
        pass


def main():
    rows = 10_000_000
    tables = []
    frames = []
    for batch in range(1, 5):
        table = pa.table({"x": pa.array(range(rows), type=pa.int64()), "y": pa.array([1.5] * rows)})
        frames.append(table.to_pandas())
        tables.append(table)  # the bug: the Arrow copy is kept too
        marker("batch%d" % batch)
    print("pool:", pa.default_memory_pool().backend_name,
          "allocated:", pa.total_allocated_bytes())


if __name__ == "__main__":
    main()
