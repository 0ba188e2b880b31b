"""Shared test setup.

The CUDA kernels are tested on the CPU through numba's CUDA simulator. numba reads the variable
when it is first imported, so it is set here, before any test module imports numba; a real GPU
run (benchmarks/gpu_check.py) does not go through this file."""
import os
import sys

import pytest

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
# The hot tier (tallyml/_backends/hot.py) compiles in the calling thread, not in its background
# loader: numba's type inference enters ``warnings.catch_warnings``, which swaps the process's
# warning filters, so a first compile in a background thread can undo a test's own
# ``catch_warnings`` in the main thread, and a warning the test silenced fails it under
# ``-W error`` (seen once). Tests of the background mode set the variable themselves; the demo
# tests run the demo with the user's default (background) loading.
os.environ.setdefault("TALLYML_HOT", "sync")

# ``python -m tallyml`` with SIGINT raising KeyboardInterrupt again. A SIGINT this test process
# ignores (pytest started as a background job of a non-interactive shell: `pytest ... &`) stays
# ignored across fork and exec, and Python then leaves it ignored: a test's Ctrl-C would never
# reach the command.
_TALLYML_WITH_SIGINT = ("import runpy, signal; "
                        "signal.signal(signal.SIGINT, signal.default_int_handler); "
                        "runpy.run_module('tallyml', run_name='__main__', alter_sys=True)")


def pytest_sessionstart(session):
    """In CI the package is installed with its compiled core: a missing or broken library must
    fail the run, not silently skip every native test."""
    if os.environ.get("CI"):
        from tallyml import _native

        _native.library()  # raises NativeLibraryError saying where it looked and why


@pytest.fixture
def tallyml_command():
    """The argv prefix that runs the ``tallyml`` command in a subprocess which a test can stop
    with SIGINT, whether or not this test run ignores SIGINT."""
    return [sys.executable, "-c", _TALLYML_WITH_SIGINT]
