"""pandas_snapshots.py: growing (needs numpy and pandas).

Five batches; each builds a 2M-row float frame, adds a derived column, and appends the frame to a
list that is never trimmed: about 30.5 MiB more live per batch (two float64 columns of 2M rows),
attributed to the site that allocates the kept blocks.

    PY=$(tools/python-env.sh 3.11 numpy pandas pyarrow)
    heapwise record -o snapshots.heapwise -- "$PY" examples/pandas_snapshots.py
    heapwise summary snapshots.heapwise
"""
from heapwise_example import marker, report_rss

import numpy as np
import pandas as pd


def main():
    rows = 2_000_000
    kept = []  # the bug: every batch's frame is kept
    marker("start")
    for batch in range(1, 6):
        frame = pd.DataFrame({"x": np.random.default_rng(batch).random(rows)})
        frame["y"] = frame["x"] * 2.0
        kept.append(frame)
        marker("batch%d" % batch)
    report_rss()


if __name__ == "__main__":
    main()
