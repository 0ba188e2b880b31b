"""Estimation kernels served by the C++ core (``tm_expected_*``, csrc/src/expected.hpp) through
the native bridge; same contract and return value as ``_kernels_numpy``."""
from __future__ import annotations

import numpy as np

from .. import _native
from .._native import address

__all__ = ["binary", "multiclass", "multilabel"]

_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
_fns: dict = {}


def _fn(family, dtype):
    key = (family, dtype)
    fn = _fns.get(key)
    if fn is None:
        fn = _fns[key] = _native.function(f"tm_expected_{family}_{_SUFFIX[dtype]}")
    return fn


# loading the module loads the library: a missing library or symbol fails here, and the
# estimation layer falls back to numba
_fn("binary", np.dtype(np.float64))


def _finish(rc, err):
    if rc == 0:
        return 0, 0, -1
    if rc == _native.ERR_VALUE and err[0]:
        return int(err[0]), int(err[1]), int(err[2])
    _native.raise_for(rc)


def _hist_addr(hist):
    return address(hist) if hist.size else None


def binary(scores, cut, logits, table, mode, state, var, hist):
    err = np.zeros(3, dtype=np.int64)
    rc = _fn("binary", scores.dtype)(
        address(scores), scores.shape[0], float(cut), int(logits), address(table),
        table.shape[-1], int(mode), address(state), address(var), _hist_addr(hist),
        hist.shape[-1], address(err))
    return _finish(rc, err)


def multiclass(scores, logits, sum_tol, table, mode, state, moments, hist):
    err = np.zeros(3, dtype=np.int64)
    n, k = scores.shape
    rc = _fn("multiclass", scores.dtype)(
        address(scores), n, k, int(logits), float(sum_tol), address(table), table.shape[-1],
        int(mode), address(state), address(moments), _hist_addr(hist), hist.shape[-1],
        address(err))
    return _finish(rc, err)


def multilabel(scores, cut, logits, table, mode, state, var, subset, hist):
    err = np.zeros(3, dtype=np.int64)
    n, l = scores.shape
    rc = _fn("multilabel", scores.dtype)(
        address(scores), n, l, float(cut), int(logits), address(table), table.shape[-1],
        int(mode), address(state), address(var), address(subset), _hist_addr(hist),
        hist.shape[-1], address(err))
    return _finish(rc, err)
