"""pandas_view.py: a reference still held, not retention (needs numpy and pandas).

A DataFrame of two int64 columns of 10M rows; `view = df[["a"]]`; `del df` frees nothing visible:
the frame's one 152.6 MiB block (pandas keeps both int64 columns in one 2 x 10M block) stays live
because the view still references it. `del view` frees it and RSS drops.

    PY=$(tools/python-env.sh 3.11 numpy pandas pyarrow)
    heapwise record -o view.heapwise -- "$PY" examples/pandas_view.py
    heapwise summary view.heapwise --at df-deleted

The fix is `view = df[["a"]].copy()` before `del df`.
"""
import gc

from heapwise_example import marker, report_rss

import numpy as np
import pandas as pd


def main():
    rows = 10_000_000
    marker("start")
    df = pd.DataFrame({"a": np.arange(rows, dtype=np.int64), "b": np.arange(rows, dtype=np.int64)})
    marker("loaded")
    view = df[["a"]]
    marker("viewed")
    del df
    gc.collect()
    marker("df-deleted")
    del view
    gc.collect()
    marker("view-deleted")
    report_rss()


if __name__ == "__main__":
    main()
