"""`pytest --heapwise` from a plain virtual environment: when this process is not set up for
measuring (the preload library is not loaded, or Python's object allocator is not malloc), run
the same command again in place, with the same arguments and environment plus LD_PRELOAD and
PYTHONMALLOC=malloc. An in-place exec keeps the pid, so `heapwise check -- pytest --heapwise`
follows it (the recorder records each image of a process, docs/RECORDER.md).

Where that is impossible, say so in one line that gives the exact command to run instead.
"""

import os
import shlex
import sys

from . import _native

# Set in the environment of the re-run: a second attempt that still cannot measure stops.
MARK = "HEAPWISE_PYTEST_REEXEC"


def _command_line():
    """This process's argv as the kernel has it (sys.argv has lost `-m pytest` and interpreter
    options), or None."""
    try:
        with open("/proc/self/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    argv = [a.decode("utf-8", "surrogateescape") for a in raw.split(b"\0")[:-1]]
    return argv or None


def environment(library):
    env = dict(os.environ)
    preload = env.get("LD_PRELOAD", "")
    if library not in preload.replace(":", " ").split():
        env["LD_PRELOAD"] = library + (":" + preload if preload else "")
    env["PYTHONMALLOC"] = "malloc"
    env[MARK] = "1"
    return env


def suggested_command(library, argv):
    preload = os.environ.get("LD_PRELOAD")
    parts = ["LD_PRELOAD=" + (library + ":" + preload if preload else library), "PYTHONMALLOC=malloc"]
    return " ".join(shlex.quote(p) for p in parts) + " " + " ".join(shlex.quote(a) for a in argv)


def plan(why):
    """(argv, env, None) to exec, or (None, None, line) to print and stop. `why` says what is
    missing in this process."""
    argv = _command_line()
    shown = argv or ([sys.executable, "-m", "pytest"] + sys.argv[1:])
    library = _native.loaded_library() or _native.find_library()
    if library is None:
        return None, None, ("heapwise: %s, and libheapwise.so was not found: set HEAPWISE_LIBRARY to its "
                            "path (or build it with `make lib` in a heapwise checkout)" % why)
    if not os.access(library, os.R_OK):
        return None, None, "heapwise: %s, and HEAPWISE_LIBRARY=%s is not readable" % (why, library)
    command = suggested_command(library, shown)
    if os.environ.get(MARK) == "1":
        return None, None, ("heapwise: %s even after running again under %s (a setuid interpreter, or "
                            "one with its own malloc?); run: %s" % (why, library, command))
    if argv is None or not sys.executable or sys.flags.interactive or not sys.argv or sys.argv[0] in ("", "-"):
        return None, None, "heapwise: %s, and this pytest cannot be started again by itself; run: %s" % (why, command)
    return argv, environment(library), None


def exec_again(config, argv, env):
    """Replaces this process with the same command under the library. Returns only on failure,
    with the line to print."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.stop_global_capturing()  # fd 1 and 2 back to what the new image must inherit
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, argv, env)
    except OSError as e:
        return "heapwise: cannot run pytest again (%s); run: %s" % (e.strerror, suggested_command(env["LD_PRELOAD"].split(":")[0], argv))
    return None  # pragma: no cover
