"""Helpers shared by the Python examples: markers (a no-op when not recorded) and the script's
own RSS at each marker, printed at exit as one JSON line for the tests to compare against."""
import ctypes
import json
import os
import sys

_rss = {}
try:
    _mark = ctypes.CDLL(None).heapwise_marker
except (OSError, AttributeError):
    _mark = None


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def marker(name):
    _rss[name] = rss()
    if _mark is not None:
        _mark(name.encode())


def report_rss():
    print("rss " + json.dumps(_rss), file=sys.stderr)
