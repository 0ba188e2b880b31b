"""Shared test setup.

The CUDA kernels are tested on the CPU through numba's CUDA simulator. numba reads the variable
when it is first imported, so it is set here, before any test module imports numba; a real GPU
run (benchmarks/gpu_check.py) does not go through this file."""
import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
# The hot tier (tallyml/_backends/hot.py) compiles in the calling thread, not in its background
# loader: numba's type inference enters ``warnings.catch_warnings``, which swaps the process's
# warning filters, so a first compile in a background thread can undo a test's own
# ``catch_warnings`` in the main thread, and a warning the test silenced fails it under
# ``-W error`` (seen once). Tests of the background mode set the variable themselves; the demo
# tests run the demo with the user's default (background) loading.
os.environ.setdefault("TALLYML_HOT", "sync")


def pytest_sessionstart(session):
    """In CI the package is installed with its compiled core: a missing or broken library must
    fail the run, not silently skip every native test."""
    if os.environ.get("CI"):
        from tallyml import _native

        _native.library()  # raises NativeLibraryError saying where it looked and why
