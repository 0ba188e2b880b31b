"""Estimation kernels served by the C++ core (``tm_expected_*``, csrc/src/expected.hpp) through
the native bridge; same contract and return value as ``_kernels_numpy``."""
from __future__ import annotations

import numpy as np

from .. import _native
from .._native import address

__all__ = ["binary", "multiclass", "multilabel", "bind_binary", "bind_multiclass",
           "bind_multilabel"]

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


# ---- bound calls: the small-batch path ------------------------------------------------------
# Every argument but the scores is fixed per metric object (addresses of its state arrays, the
# calibration table, an error buffer), so a 64-row update pays for one address lookup and the
# ctypes call. The bound call keeps its arrays alive (``call.arrays``); the metric object rebinds
# when one of its state arrays was replaced (reset, load_state_dict). Not thread-safe on its own:
# the object's lock serialises calls (they share the error buffer).
_OK = (0, 0, -1)


def _bound(fn, fixed, arrays, err):
    # ctypes converts ready-made ctypes instances faster than Python ints and floats
    fixed = tuple(None if v is None else t(v) for t, v in zip(fn.argtypes[2:], fixed))

    def call(scores):
        rc = fn(address(scores), scores.shape[0], *fixed)
        return _OK if rc == 0 else _finish(rc, err)
    call.arrays = arrays
    return call


def bind_binary(dtype, cut, logits, table, mode, state, var, hist):
    err = np.zeros(3, dtype=np.int64)
    fixed = (float(cut), int(logits), address(table), table.shape[-1], int(mode), address(state),
             address(var), _hist_addr(hist), hist.shape[-1], address(err))
    return _bound(_fn("binary", dtype), fixed, (state, var, hist, table, err), err)


def bind_multiclass(dtype, logits, sum_tol, table, mode, state, moments, hist):
    err = np.zeros(3, dtype=np.int64)
    fixed = (state.shape[0], int(logits), float(sum_tol), address(table), table.shape[-1],
             int(mode), address(state), address(moments), _hist_addr(hist), hist.shape[-1],
             address(err))
    return _bound(_fn("multiclass", dtype), fixed, (state, moments, hist, table, err), err)


def bind_multilabel(dtype, cut, logits, table, mode, state, var, subset, hist):
    err = np.zeros(3, dtype=np.int64)
    fixed = (state.shape[0], float(cut), int(logits), address(table), table.shape[-1],
             int(mode), address(state), address(var), address(subset), _hist_addr(hist),
             hist.shape[-1], address(err))
    return _bound(_fn("multilabel", dtype), fixed, (state, var, subset, hist, table, err), err)
