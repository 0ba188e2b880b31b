"""Small-batch kernels of the hot tier (see ``hot.py``): numba-compiled, unweighted counts into an
int64 state, called through their compiled entry points (no dispatch); and ``ring_roll``, a
window's bucket change on such states.

Each returns the number of samples counted (ignored ones excluded), or -1 when any value is bad;
then nothing has been counted and the caller takes the normal path, whose kernel raises the
error that names the argument. So these kernels only ever accept what the backends accept: the
value checks are the backends' (``_backends/__init__.py``), done in a first pass over the batch.

Imports numba: loaded only by ``hot.py``'s loader thread.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.np.numpy_support import from_dtype

__all__ = ["KERNELS", "signature"]

_KW = dict(cache=True, nogil=False)  # the GIL stays held: the call is short and the lock is too


@njit(**_KW)
def binary_scores(target, scores, threshold, has_ignore, ignore, state):
    # a contiguous view when the input is contiguous (no copy), else a copy: typed 'C',
    # so the loops below vectorise; the signature stays layout 'A' (any strides)
    target = np.ascontiguousarray(target)
    scores = np.ascontiguousarray(scores)
    n = target.shape[0]
    # sums of t, p and t&p give the four cells; written only when every value is good
    st = 0
    sp = 0
    stp = 0
    counted = 0
    if not has_ignore:
        ok = True
        for i in range(n):  # branch-free: one pass, no early exit
            t = np.int64(target[i])
            x = np.float64(scores[i])
            ok &= (t == 0) | (t == 1)
            ok &= x - x == 0.0  # nan or +-inf fail
            p = np.int64(x >= threshold)
            st += t
            sp += p
            stp += t & p
        if not ok:
            return -1
        counted = n
    else:
        for i in range(n):
            t = np.int64(target[i])
            if t == ignore:
                continue
            x = np.float64(scores[i])
            if (t != 0 and t != 1) or not x - x == 0.0:
                return -1
            p = np.int64(x >= threshold)
            st += t
            sp += p
            stp += t & p
            counted += 1
    state[1, 1] += stp
    state[1, 0] += st - stp
    state[0, 1] += sp - stp
    state[0, 0] += counted - st - sp + stp
    return counted


@njit(**_KW)
def binary_labels(target, preds, threshold, has_ignore, ignore, state):  # threshold unused
    # a contiguous view when the input is contiguous (no copy), else a copy: typed 'C',
    # so the loops below vectorise; the signature stays layout 'A' (any strides)
    target = np.ascontiguousarray(target)
    preds = np.ascontiguousarray(preds)
    n = target.shape[0]
    st = 0
    sp = 0
    stp = 0
    counted = 0
    ok = True
    for i in range(n):
        t = np.int64(target[i])
        if has_ignore and t == ignore:
            continue
        p = np.int64(preds[i])
        ok &= ((t == 0) | (t == 1)) & ((p == 0) | (p == 1))
        st += t
        sp += p
        stp += t & p
        counted += 1
    if not ok:
        return -1
    state[1, 1] += stp
    state[1, 0] += st - stp
    state[0, 1] += sp - stp
    state[0, 0] += counted - st - sp + stp
    return counted


@njit(**_KW)
def multiclass_labels(target, preds, has_ignore, ignore, state):
    # one pass, counting as it goes; a bad row takes back the rows before it (the caller holds
    # the object's lock, so nobody sees the partial counts)
    # a contiguous view when the input is contiguous (no copy), else a copy: typed 'C',
    # so the loops below vectorise; the signature stays layout 'A' (any strides)
    target = np.ascontiguousarray(target)
    preds = np.ascontiguousarray(preds)
    n = target.shape[0]
    k = state.shape[0]
    counted = 0
    for i in range(n):
        t = np.int64(target[i])
        if has_ignore and t == ignore:
            continue
        p = np.int64(preds[i])
        if t < 0 or t >= k or p < 0 or p >= k:
            for j in range(i):
                tj = np.int64(target[j])
                if not (has_ignore and tj == ignore):
                    state[tj, np.int64(preds[j])] -= 1
            return -1
        state[t, p] += 1
        counted += 1
    return counted


@njit(**_KW)
def _argmax_row(scores, i, k):
    best = 0
    top = scores[i, 0]
    for j in range(1, k):  # first maximum wins, like numpy's argmax
        if scores[i, j] > top:
            top = scores[i, j]
            best = j
    return best


@njit(**_KW)
def multiclass_scores(target, scores, has_ignore, ignore, state):
    # a contiguous view when the input is contiguous (no copy), else a copy: typed 'C',
    # so the loops below vectorise; the signature stays layout 'A' (any strides)
    target = np.ascontiguousarray(target)
    scores = np.ascontiguousarray(scores)
    n = target.shape[0]
    k = state.shape[0]
    if scores.shape[1] != k:
        return -1
    counted = 0
    for i in range(n):
        t = np.int64(target[i])
        if has_ignore and t == ignore:
            continue
        bad = t < 0 or t >= k
        for j in range(k):
            if not math.isfinite(scores[i, j]):
                bad = True
        if bad:
            for r in range(i):
                tr = np.int64(target[r])
                if not (has_ignore and tr == ignore):
                    state[tr, _argmax_row(scores, r, k)] -= 1
            return -1
        state[t, _argmax_row(scores, i, k)] += 1
        counted += 1
    return counted


@njit(**_KW)
def ring_roll(closed, cur, old):
    # a window's bucket change (windows.py ``Windowed._commit``): the closing bucket's counts
    # into the running total, the evicted bucket emptied for reuse; one call instead of two
    # numpy calls on arrays of a few cells
    c = closed.reshape(-1)  # int64 2-D states, C-contiguous (np.zeros, np.add results)
    u = cur.reshape(-1)
    o = old.reshape(-1)
    for i in range(c.shape[0]):
        c[i] += u[i]
        o[i] = 0


KERNELS = {
    "binary_scores": binary_scores,
    "binary_labels": binary_labels,
    "multiclass_labels": multiclass_labels,
    "multiclass_scores": multiclass_scores,
    "ring_roll": ring_roll,
}


def _array(dtype, ndim):
    # layout "A": any strides, so the entry point is safe for views; inputs may be read-only
    return types.Array(from_dtype(dtype), ndim, "A", readonly=True)


def signature(name, target_dtype, preds_dtype):
    """The one signature ``name`` is compiled for with these input dtypes."""
    state = types.Array(types.int64, 2, "C")
    if name == "ring_roll":  # three int64 states (the dtypes in the key are int64, unused)
        return (state, state, state)
    t = _array(target_dtype, 1)
    if name.startswith("binary"):  # one call shape for both: threshold is unused for labels
        return (t, _array(preds_dtype, 1), types.float64, types.boolean, types.int64, state)
    p = _array(preds_dtype, 2 if name == "multiclass_scores" else 1)
    return (t, p, types.boolean, types.int64, state)
