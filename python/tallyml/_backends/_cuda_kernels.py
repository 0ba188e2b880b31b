"""numba.cuda counting kernels of the ``cuda`` backend (private; imported by ``cuda.py`` only
after numba.cuda has loaded).

Every counting kernel takes the same arguments, so that one launcher serves every task:

    (a, b, wts, wstep, has_ign, ign, thr, k, track, zero, scratch, err)

a, b      target and preds (labels or scores), 1-D or 2-D
wts       weights, read as ``wts[i * wstep]``: the sample weights (float64, wstep=1) or a single
          int64 ``1`` (wstep=0). Their dtype is the accumulator dtype, so one kernel body
          serves both int64 counts and float64 weighted sums.
has_ign   whether ``ign`` (int64) is an ignore_index
thr       threshold (float64) for score inputs
k         classes (multiclass) or labels (multilabel)
track     multiclass only: also flag the labels seen, in scratch[k*k:k*k+k]
zero      0 of the accumulator dtype (typed scalar argument: kernels specialise on it)
scratch   1-D accumulator buffer, all zero on entry; the kernel adds this batch into it
err       int64[1], ``NO_ERROR`` on entry; a bad sample at row i does ``atomic.min(err, 0, i)``
          and is not counted (it could index outside the bins)

The batch goes into ``scratch``, never into the state: ``finish`` then adds scratch into the
state only when ``err`` still holds ``NO_ERROR`` (decided on the device, so one launch pair and a
single 8-byte read-back per update), and zeroes scratch for the next call.

Counting: grid-stride loops; per-block partial counts in shared memory (binary: per-thread
registers first), flushed with one global atomic add per non-zero bin per block. When the bins
do not fit the shared-memory budget the ``global`` variant adds straight into scratch.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from numba import cuda, types

NO_ERROR = np.iinfo(np.int64).max

_ACC = {"int64": types.int64, "float64": types.float64}


@cuda.jit(device=True)
def _bad_weight(w):
    # False for a finite w >= 0; NaN fails both comparisons.
    return not (w >= 0 and w < math.inf)


@cuda.jit(device=True)
def _pred_label(x, thr):
    """A {0, 1} label as int64, or -1 when outside."""
    v = np.int64(x)
    if v < 0 or v > 1:
        return np.int64(-1)
    return v


@cuda.jit(device=True)
def _pred_score(x, thr):
    """1 when float64(score) >= thr, else 0; -1 for NaN or +-inf."""
    s = np.float64(x)
    if not math.isfinite(s):
        return np.int64(-1)
    if s >= thr:
        return np.int64(1)
    return np.int64(0)


@cuda.jit(device=True)
def _triplet(tp, fp, fn):
    # Same layout as reference.triplet_index.
    s = tp + fp + fn
    r = fp + fn
    return s * (s + 1) * (s + 2) // 6 + r * (r + 1) // 2 + fn


@functools.lru_cache(maxsize=None)
def binary_kernel(acc_name: str, scores: bool):
    """Binary counting: four register accumulators per thread, a 4-bin shared partial per block."""
    acc = _ACC[acc_name]
    pred = _pred_score if scores else _pred_label

    @cuda.jit
    def _binary(a, b, wts, wstep, has_ign, ign, thr, k, track, zero, scratch, err):
        sh = cuda.shared.array(4, acc)
        tid = cuda.threadIdx.x
        for j in range(tid, 4, cuda.blockDim.x):  # blocks may have fewer than 4 threads
            sh[j] = zero
        cuda.syncthreads()
        c00 = zero
        c01 = zero
        c10 = zero
        c11 = zero
        for i in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
            t = np.int64(a[i])
            if has_ign and t == ign:
                continue
            p = pred(b[i], thr)
            w = wts[i * wstep]
            if t < 0 or t > 1 or p < 0 or _bad_weight(w):
                cuda.atomic.min(err, 0, i)
                continue
            if t == 0:
                if p == 0:
                    c00 += w
                else:
                    c01 += w
            elif p == 0:
                c10 += w
            else:
                c11 += w
        if c00 != zero:
            cuda.atomic.add(sh, 0, c00)
        if c01 != zero:
            cuda.atomic.add(sh, 1, c01)
        if c10 != zero:
            cuda.atomic.add(sh, 2, c10)
        if c11 != zero:
            cuda.atomic.add(sh, 3, c11)
        cuda.syncthreads()
        for j in range(tid, 4, cuda.blockDim.x):
            v = sh[j]
            if v != zero:
                cuda.atomic.add(scratch, j, v)

    return _binary


@cuda.jit(device=True)
def _multiclass_label_rows(a, b, wts, wstep, has_ign, ign, thr, k, track, one, bins, err):
    kk = k * k
    for i in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
        t = np.int64(a[i])
        if has_ign and t == ign:
            continue
        p = np.int64(b[i])
        w = wts[i * wstep]
        if t < 0 or t >= k or p < 0 or p >= k or _bad_weight(w):
            cuda.atomic.min(err, 0, i)
            continue
        cuda.atomic.add(bins, t * k + p, w)
        if track:
            # Benign race: every writer stores the same value.
            bins[kk + t] = one
            bins[kk + p] = one


@cuda.jit(device=True)
def _multiclass_score_rows(a, b, wts, wstep, has_ign, ign, thr, k, track, one, bins, err):
    kk = k * k
    for i in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
        t = np.int64(a[i])
        if has_ign and t == ign:
            continue
        w = wts[i * wstep]
        bad = t < 0 or t >= k or _bad_weight(w)
        p = np.int64(0)
        if not bad:  # then k >= 1: scan the row (a row already bad needs no scan)
            # argmax, first maximum wins; any non-finite score makes the row bad.
            best = b[i, 0]
            for j in range(k):
                s = b[i, j]
                if not math.isfinite(s):
                    bad = True
                    break
                if s > best:
                    best = s
                    p = np.int64(j)
        if bad:
            cuda.atomic.min(err, 0, i)
            continue
        cuda.atomic.add(bins, t * k + p, w)
        if track:
            bins[kk + t] = one
            bins[kk + p] = one


@functools.lru_cache(maxsize=None)
def _multilabel_rows(scores: bool):
    pred = _pred_score if scores else _pred_label

    @cuda.jit(device=True)
    def _rows(a, b, wts, wstep, has_ign, ign, thr, k, track, one, bins, err):
        base = 4 * k
        for i in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
            w = wts[i * wstep]
            bad = _bad_weight(w)
            # Check the whole row before counting any of it.
            for j in range(k):
                t = np.int64(a[i, j])
                if t < 0 or t > 1 or pred(b[i, j], thr) < 0:
                    bad = True
                    break
            if bad:
                cuda.atomic.min(err, 0, i)
                continue
            tp = np.int64(0)
            fp = np.int64(0)
            fn = np.int64(0)
            for j in range(k):
                t = np.int64(a[i, j])
                p = pred(b[i, j], thr)
                cuda.atomic.add(bins, 4 * j + 2 * t + p, w)
                tp += t & p
                fp += (1 - t) & p
                fn += t & (1 - p)
            cuda.atomic.add(bins, base + _triplet(tp, fp, fn), w)

    return _rows


_ROWS = {
    "multiclass_labels": lambda: _multiclass_label_rows,
    "multiclass_scores": lambda: _multiclass_score_rows,
    "multilabel_labels": lambda: _multilabel_rows(False),
    "multilabel_scores": lambda: _multilabel_rows(True),
}


@functools.lru_cache(maxsize=None)
def binned_kernel(task: str, acc_name: str, shared: bool):
    """Counting kernel for a task whose bins live in shared memory (``shared=True``: dynamic
    shared memory of ``scratch.shape[0]`` accumulators, sized at launch) or straight in scratch."""
    acc = _ACC[acc_name]
    rows = _ROWS[task]()

    if not shared:

        @cuda.jit
        def _global(a, b, wts, wstep, has_ign, ign, thr, k, track, zero, scratch, err):
            rows(a, b, wts, wstep, has_ign, ign, thr, k, track, zero + 1, scratch, err)

        return _global

    @cuda.jit
    def _shared(a, b, wts, wstep, has_ign, ign, thr, k, track, zero, scratch, err):
        sh = cuda.shared.array(0, acc)
        nb = scratch.shape[0]
        tid = cuda.threadIdx.x
        step = cuda.blockDim.x
        for j in range(tid, nb, step):
            sh[j] = zero
        cuda.syncthreads()
        rows(a, b, wts, wstep, has_ign, ign, thr, k, track, zero + 1, sh, err)
        cuda.syncthreads()
        for j in range(tid, nb, step):
            v = sh[j]
            if v != zero:
                cuda.atomic.add(scratch, j, v)

    return _shared


@cuda.jit
def finish(err, scratch, a, b, seen):
    """Add scratch into the outputs when the batch had no bad sample, and zero scratch.

    scratch = [a's bins | b's bins | seen flags]; a, b are flat state views (b, seen may be
    empty). Atomic adds, so that updates of one state from several host threads on different
    streams cannot lose counts."""
    ok = err[0] == NO_ERROR
    na = a.shape[0]
    nab = na + b.shape[0]
    for i in range(cuda.grid(1), scratch.shape[0], cuda.gridsize(1)):
        v = scratch[i]
        scratch[i] = 0
        if ok and v != 0:
            if i < na:
                cuda.atomic.add(a, i, v)
            elif i < nab:
                cuda.atomic.add(b, i - na, v)
            else:
                seen[i - nab] = 1
