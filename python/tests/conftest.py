"""The package's own tests. They measure, so they run under the preload library:
`pytest --heapwise python/tests` (the plugin starts pytest again under it when needed). The
heapwise suite runs them that way (Tests/EndToEndTests/PythonPluginTests.swift)."""

import os
import shutil
import subprocess
import sys

import pytest

import heapwise
from heapwise import _native

pytest_plugins = ["pytester"]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def library():
    path = _native.loaded_library()
    if path is None:
        pytest.fail("run these tests with `pytest --heapwise`: they need the preload library loaded")
    return path


@pytest.fixture(scope="session")
def cli():
    """The heapwise command: $HEAPWISE_CLI, else on PATH, else the checkout's debug build."""
    for candidate in (os.environ.get("HEAPWISE_CLI"), shutil.which("heapwise"),
                      os.path.join(ROOT, ".build", "debug", "heapwise")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("no heapwise command: set HEAPWISE_CLI, or run `swift build` in the checkout")


def run_python(code, env_changes, cwd=None):
    """Runs `code` in a fresh interpreter (this one) with the environment changed."""
    env = dict(os.environ)
    for k, v in env_changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
