"""Shared test setup.

The CUDA kernels are tested on the CPU through numba's CUDA simulator. numba reads the variable
when it is first imported, so it is set here, before any test module imports numba; a real GPU
run (benchmarks/gpu_check.py) does not go through this file."""
import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")


def pytest_sessionstart(session):
    """In CI the package is installed with its compiled core: a missing or broken library must
    fail the run, not silently skip every native test."""
    if os.environ.get("CI"):
        from tallyml import _native

        _native.library()  # raises NativeLibraryError saying where it looked and why
