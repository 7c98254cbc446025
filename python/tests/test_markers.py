"""heapwise.mark / phase / is_recording, in and out of a recording."""

import os
import re

from conftest import run_python

SCRIPT = """
import heapwise
print(heapwise.is_loaded(), heapwise.is_recording())
heapwise.mark("after load")
with heapwise.phase("transform"):
    block = bytes(4 << 20)  # 4 MiB: malloc maps it, so the sample at the end sees it
print("done")
"""


def test_outside_the_library_every_call_is_a_no_op():
    r = run_python(SCRIPT, {"LD_PRELOAD": None, "HEAPWISE_OUTPUT": None})
    assert r.returncode == 0, r.stderr
    assert r.stdout == "False False\ndone\n"


def test_loaded_but_not_recording(library):
    r = run_python(SCRIPT, {"LD_PRELOAD": library, "HEAPWISE_OUTPUT": None})
    assert r.returncode == 0, r.stderr
    assert r.stdout == "True False\ndone\n"


def test_markers_carry_their_sample_on_the_calling_thread(library, cli, tmp_path):
    """Each marker is followed, in the same thread's stream, by the sample taken before mark()
    returned: the 4 MiB block is in the
    sample of "transform:end" and not in that of "transform:start"."""
    dump = str(tmp_path / "markers.heapwise")
    r = run_python(SCRIPT, {"LD_PRELOAD": library, "HEAPWISE_OUTPUT": dump, "HEAPWISE_MAX_FRAMES": "4"})
    assert r.returncode == 0, r.stderr
    assert r.stdout == "True True\ndone\n"
    records = run_python("import subprocess,sys; sys.stdout.write(subprocess.run([%r, 'records', %r], "
                         "capture_output=True, text=True).stdout)" % (cli, dump), {"LD_PRELOAD": None}).stdout
    lines = records.splitlines()
    samples = {}
    for i, line in enumerate(lines):
        m = re.match(r'^\d+ (s\d+) marker "([^"]+)" source=api$', line)
        if not m:
            continue
        stream, name = m.groups()
        # The next record of the same stream: `records` prints streams merged by time, and a
        # single-threaded stream's coarse stamps let another stream's record (the periodic sample
        # of the process stream) sort between a marker and its sample.
        following = next(line.split() for line in lines[i + 1:] if line.split()[1] == stream)
        assert following[2] == "sample", (name, following)
        samples[name] = dict(kv.split("=", 1) for kv in following[3:] if "=" in kv)
    assert set(samples) == {"after load", "transform:start", "transform:end"}
    grown = int(samples["transform:end"]["hblkhd"]) - int(samples["transform:start"]["hblkhd"])
    assert grown >= 4 << 20, samples


def test_importable_without_ctypes():
    code = ("import builtins\n"
            "real = builtins.__import__\n"
            "def refuse(name, *a, **k):\n"
            "    if name == 'ctypes':\n"
            "        raise ImportError('no ctypes in this build')\n"
            "    return real(name, *a, **k)\n"
            "builtins.__import__ = refuse\n"
            "import heapwise\n"
            "heapwise.mark('x')\n"
            "with heapwise.phase('y'):\n    pass\n"
            "print(heapwise.is_loaded(), heapwise.is_recording())\n"
            "try:\n    heapwise.measure()\nexcept heapwise.NotAvailable as e:\n    print(e)\n")
    r = run_python(code, {"LD_PRELOAD": None})
    assert r.returncode == 0, r.stderr
    assert r.stdout == "False False\nheapwise: this interpreter has no ctypes\n"
