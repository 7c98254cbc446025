"""pandas_view.py: held by a few large blocks (needs numpy and pandas; not run in CI).

`del df` frees nothing: `head` is a view whose base is the frame's whole column buffer, so the
buffer stays alive for as long as the five-row view does. The summary says the live heap is a
couple of large blocks and names the site that allocated them (inside numpy).

    python3 -m venv /tmp/hw-venv && /tmp/hw-venv/bin/pip install numpy pandas
    PYTHONMALLOC=malloc heapwise record -o view.heapwise -- /tmp/hw-venv/bin/python3 pandas_view.py
    heapwise summary view.heapwise

The fix is `head = df["a"].iloc[:5].copy()` before `del df`.
"""
import ctypes
import gc

import numpy as np
import pandas as pd


def marker(name):
    try:
        ctypes.CDLL(None).heapwise_marker(name.encode())
    except (OSError, AttributeError):
        pass


def main():
    rows = 20_000_000  # two float64 columns of 160 MB each
    df = pd.DataFrame({"a": np.arange(rows, dtype=np.float64), "b": np.ones(rows)})
    marker("loaded")
    head = df["a"].values[:5]  # a view: its base is the whole column
    del df
    gc.collect()
    marker("deleted")
    marker("later")
    print("head", head.tolist(), "owns its data:", head.base is None)


if __name__ == "__main__":
    main()
