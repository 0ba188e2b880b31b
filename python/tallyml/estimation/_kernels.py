"""Which estimation kernels run: native (C++ core), numba or numpy, chosen like the counting
backends (``backend="auto"``: native when the library loads, else numba; ``TALLYML_BACKEND``
overrides). Kernels return ``(code, row, col)``; ``call`` turns a failure into the ValueError."""
from __future__ import annotations

import importlib

from .. import _backends
from ._errors import message

__all__: list[str] = []  # private module

_MODULES = {"native": "_kernels_native", "numba": "_kernels_numba", "numpy": "_kernels_numpy"}


def resolve(backend):
    name = _backends.resolve(backend)
    if name == "cuda":
        raise ValueError("backend='cuda' has no estimation kernels; use 'auto', 'native', "
                         "'numba' or 'numpy'")
    if name == "native" and backend == "auto":
        # a library built without the estimation block falls back instead of failing
        try:
            load("native")
        except Exception:
            return "numba"
    return name


def load(name):
    return importlib.import_module(f"{__package__}.{_MODULES[name]}")


def call(fn, scores, sum_tol, *args):
    code, row, col = fn(scores, *args)
    if code:
        raise ValueError(message("scores", scores, int(code), int(row), int(col), sum_tol))
