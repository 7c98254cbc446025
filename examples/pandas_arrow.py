"""pandas_arrow.py: memory kept by Arrow's memory pool (needs pandas and pyarrow).

A pyarrow table of 8M int64 and 8M short strings, converted with to_pandas() while the table is
alive, then both dropped. RSS stays about 230 MiB above the start: pyarrow allocates from a
mimalloc bundled inside libarrow, whose pool keeps the freed pages. The recorder cannot see that
pool's blocks, only the regions it maps and purges, so the summary counts what is resident there
and names the remedy. (Its 1 GiB reservation, never touched, counts 0 B.)

    PY=$(tools/python-env.sh 3.11 numpy pandas pyarrow)
    heapwise record -o arrow.heapwise -- "$PY" examples/pandas_arrow.py
    heapwise summary arrow.heapwise
    heapwise summary arrow.heapwise --at dropped

With ARROW_DEFAULT_MEMORY_POOL=system the table's buffers are malloc blocks with their sites;
pyarrow.default_memory_pool().release_unused() hands the pool's pages back.
"""
import sys

from heapwise_example import marker, report_rss

import numpy as np
import pandas  # noqa: F401  (imported before the first marker: its own memory is not the job's)
import pyarrow as pa
import pyarrow.compute as pc


def main():
    rows = 8_000_000
    marker("start")
    table = pa.table({"n": pa.array(np.arange(rows, dtype=np.int64)),
                      "s": pc.cast(pa.array(np.arange(rows) % 1000), pa.string())})
    marker("table")
    df = table.to_pandas()
    marker("converted")
    del table
    marker("table-dropped")
    del df
    marker("dropped")
    if "--release" in sys.argv:
        pa.default_memory_pool().release_unused()
        marker("released")
    report_rss()


if __name__ == "__main__":
    main()
