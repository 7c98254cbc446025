"""pandas_churn.py: flat (needs numpy and pandas).

Five batches of 40 small groupby results, each built and dropped: memory goes up and down within a
batch and ends each batch where it started. The summary must not call this growth.

    PY=$(tools/python-env.sh 3.11 numpy pandas pyarrow)
    heapwise record -o churn.heapwise -- "$PY" examples/pandas_churn.py
    heapwise summary churn.heapwise
"""
from heapwise_example import marker, report_rss

import numpy as np
import pandas as pd


def main():
    rng = np.random.default_rng(1)
    marker("start")
    for batch in range(1, 6):
        for _ in range(40):
            frame = pd.DataFrame({"k": rng.integers(0, 100, 20_000), "v": rng.random(20_000)})
            summary = frame.groupby("k")["v"].agg(["sum", "mean", "count"])
            del frame, summary
        marker("batch%d" % batch)
    report_rss()


if __name__ == "__main__":
    main()
