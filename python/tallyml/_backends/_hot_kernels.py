"""Small-batch kernels of the hot tier (see ``hot.py``): numba-compiled, unweighted counts into an
int64 state, called through their compiled entry points (no dispatch).

Each returns the number of samples counted (ignored ones excluded), or -1 when any value is bad;
then nothing has been counted and the caller takes the normal path, whose kernel raises the
error that names the argument. So these kernels only ever accept what the backends accept: the
value checks are the backends' (``_backends/__init__.py``), done in a first pass over the batch.

Imports numba: loaded only by ``hot.py``'s loader thread.
"""
from __future__ import annotations

import math

from numba import njit, types
from numba.np.numpy_support import from_dtype

__all__ = ["KERNELS", "signature"]

_KW = dict(cache=True, nogil=False)  # the GIL stays held: the call is short and the lock is too


@njit(**_KW)
def binary_scores(target, scores, threshold, has_ignore, ignore, state):
    n = target.shape[0]
    for i in range(n):
        t = target[i]
        if has_ignore and t == ignore:
            continue
        if t != 0 and t != 1:
            return -1
        if not math.isfinite(scores[i]):
            return -1
    counted = 0
    for i in range(n):
        t = target[i]
        if has_ignore and t == ignore:
            continue
        p = 1 if float(scores[i]) >= threshold else 0
        state[1 if t else 0, p] += 1
        counted += 1
    return counted


@njit(**_KW)
def binary_labels(target, preds, threshold, has_ignore, ignore, state):  # threshold unused
    n = target.shape[0]
    for i in range(n):
        t = target[i]
        if has_ignore and t == ignore:
            continue
        p = preds[i]
        if t != 0 and t != 1 or p != 0 and p != 1:
            return -1
    counted = 0
    for i in range(n):
        t = target[i]
        if has_ignore and t == ignore:
            continue
        state[1 if t else 0, 1 if preds[i] else 0] += 1
        counted += 1
    return counted


@njit(**_KW)
def multiclass_labels(target, preds, has_ignore, ignore, state):
    n = target.shape[0]
    k = state.shape[0]
    for i in range(n):
        t = target[i]
        if has_ignore and t == ignore:
            continue
        p = preds[i]
        if t < 0 or t >= k or p < 0 or p >= k:
            return -1
    counted = 0
    for i in range(n):
        t = target[i]
        if has_ignore and t == ignore:
            continue
        state[int(t), int(preds[i])] += 1
        counted += 1
    return counted


@njit(**_KW)
def multiclass_scores(target, scores, has_ignore, ignore, state):
    n = target.shape[0]
    k = state.shape[0]
    if scores.shape[1] != k:
        return -1
    for i in range(n):
        t = target[i]
        if has_ignore and t == ignore:
            continue
        if t < 0 or t >= k:
            return -1
        for j in range(k):
            if not math.isfinite(scores[i, j]):
                return -1
    counted = 0
    for i in range(n):
        t = target[i]
        if has_ignore and t == ignore:
            continue
        best = 0
        top = scores[i, 0]
        for j in range(1, k):  # first maximum wins, like numpy's argmax
            if scores[i, j] > top:
                top = scores[i, j]
                best = j
        state[int(t), best] += 1
        counted += 1
    return counted


KERNELS = {
    "binary_scores": binary_scores,
    "binary_labels": binary_labels,
    "multiclass_labels": multiclass_labels,
    "multiclass_scores": multiclass_scores,
}


def _array(dtype, ndim):
    # layout "A": any strides, so the entry point is safe for views; inputs may be read-only
    return types.Array(from_dtype(dtype), ndim, "A", readonly=True)


def signature(name, target_dtype, preds_dtype):
    """The one signature ``name`` is compiled for with these input dtypes."""
    state = types.Array(types.int64, 2, "C")
    t = _array(target_dtype, 1)
    if name.startswith("binary"):  # one call shape for both: threshold is unused for labels
        return (t, _array(preds_dtype, 1), types.float64, types.boolean, types.int64, state)
    p = _array(preds_dtype, 2 if name == "multiclass_scores" else 1)
    return (t, p, types.boolean, types.int64, state)
