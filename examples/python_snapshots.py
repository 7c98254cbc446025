"""python_snapshots.py: growing, in Python (standard library only).

A job keeps a snapshot of its state after every step in a list it never trims: the live memory
rises by the same amount per step. Markers come from the recorder through ctypes when the script
runs under heapwise, and are skipped otherwise.

    PY=$(python3 -c 'import sys; print(sys.executable)')   # the interpreter, not a shim script
    heapwise record -o snap.heapwise -- "$PY" python_snapshots.py
    PYTHONMALLOC=malloc heapwise record -o snap-malloc.heapwise -- "$PY" python_snapshots.py
    heapwise summary snap.heapwise

By default CPython puts small objects in pymalloc arenas, 1 MiB regions it maps itself: the
recorder sees the arenas (mapped regions), not the objects, and the summary names them. With
PYTHONMALLOC=malloc every object is a malloc block, so the live heap grows and the growing site is
an allocation inside the interpreter (the Python line is not in a native stack).
"""
import ctypes
import sys


def _marker_function():
    try:
        return ctypes.CDLL(None).heapwise_marker
    except (OSError, AttributeError):
        return None


_heapwise_marker = _marker_function()


def marker(name):
    if _heapwise_marker is not None:
        _heapwise_marker(name.encode())


def take_snapshot(step, rows):
    return {"step": step, "rows": [(i, "row-%d-%d" % (step, i), i * 0.5) for i in range(rows)]}


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    history = []  # the bug: every snapshot is kept
    for step in range(1, steps + 1):
        history.append(take_snapshot(step, rows))
        marker("step%d" % step)
    print("kept %d snapshots" % len(history))


if __name__ == "__main__":
    main()
