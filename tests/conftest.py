"""Shared test setup.

The CUDA kernels are tested on the CPU through numba's CUDA simulator. numba reads the variable
when it is first imported, so it is set here, before any test module imports numba; a real GPU
run (benchmarks/gpu_check.py) does not go through this file."""
import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
