"""Small-batch kernels of the hot tier (see ``hot.py``): numba-compiled, unweighted counts into an
int64 state, called through their compiled entry points (no dispatch); their ``*_ring``
variants, which count for a window's front and change its bucket in the same call.

Each returns the number of samples counted (ignored ones excluded), or -1 when any value is bad;
then nothing has been counted and the caller takes the normal path, whose kernel raises the
error that names the argument. So these kernels only ever accept what the backends accept: the
value checks are the backends' (``_backends/__init__.py``), done in a first pass over the batch.

The ``*_w`` kernels are the weighted ones (``Decayed``'s hot path, see ``_count_scaled`` in
the metric classes): row i weighs ``ramp[i] * scale`` (the double product numpy gives), counts go
into a float64 state and the ``seen`` mask gets the labels of the counted rows. Their float sums
follow the summation order of the backends' weighted kernels for batches of at most
``hot.MAX_ROWS`` rows, so that they are bit-identical to a weighted ``update``: binary sums each
cell from zero in row order and adds the four sums into the state (csrc/src/binary.cpp, numba's
``_binary_serial``); multiclass adds straight into the state in row order when the batch has
fewer than ``direct_below`` rows (the backend's rule: native ``4 * (K*K + 1)``, numba ``K*K``),
else into a zeroed (K, K) partial added into the state afterwards (csrc/src/multiclass.cpp,
numba's ``_mc_serial``). Weights of ignored rows are neither used nor checked (an ignored row
still has its ``ramp`` entry: rows age by position).

Imports numba: loaded only by ``hot.py``'s loader thread.
"""
from __future__ import annotations

import math

import numpy as np
from numba import carray, njit, types
from numba.extending import intrinsic, overload
from numba.np.numpy_support import from_dtype

from .hot import (DECAY_ACC as _DECAY_ACC, DECAY_BASE as _DECAY_BASE,
                  DECAY_CELLS as _DECAY_CELLS, DECAY_COUNT as _DECAY_COUNT,
                  DECAY_HALF as _DECAY_HALF, DECAY_ON as _DECAY_ON, DECAY_ROWS as _DECAY_ROWS,
                  DECAY_SCRATCH as _DECAY_SCRATCH, DECAY_T as _DECAY_T,
                  DECAY_SEEN as _DECAY_SEEN, DECAY_RAMP as _DECAY_RAMP,
                  DECAY_DIRECT as _DECAY_DIRECT, MAX_ROWS as _MAX_ROWS,
                  DECAY_RESCALE_EXPONENT as _RESCALE_EXPONENT,
                  DECAY_RAMP_EXPONENT as _RAMP_EXPONENT)
from .hot import (KERNEL_CLOCK as _KERNEL_CLOCK, RING_BASE as _RING_BASE,
                  RING_CLOCK as _RING_CLOCK, RING_COUNT as _RING_COUNT, RING_CUR as _RING_CUR,
                  RING_EDGE as _RING_EDGE, RING_J as _RING_J, RING_K as _RING_K,
                  RING_NB as _RING_NB, RING_ROLL as _RING_ROLL, RING_ROOM as _RING_ROOM,
                  RING_ROWS as _RING_ROWS, RING_SIZE as _RING_SIZE, RING_TS as _RING_TS,
                  RING_UNIT as _RING_UNIT)

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


# ---------------------------------------------------------------- a window's front
# ``*_ring``: the count kernels above for a window's front (windows.py), on the window's ring
# vector: bookkeeping and stacked bucket states (the layout is in hot.py). A batch that fits the
# current bucket is counted into its row; one that opens the next bucket (no room left, and it
# fits a bucket) is counted into the empty scratch row, and only when that succeeded does the
# bucket change happen here: the closing bucket added into the closed total, the scratch row
# moved into the evicted bucket's row (whose counts are in the total already) and emptied.
# Anything else returns -2 having done nothing (the window's general path takes the batch), a
# bad value -1 having done nothing (the general path raises it). So a bucket change is part of
# the one compiled call and touches one array, not the Python objects of the buckets.
# (These wrappers, and the ``*_decay`` ones below, are written out, not made by a factory: numba's
# disk cache indexes a function by its name and source line, so each kernel is a module-level
# function of its own.)
# Views into a window's (or decayed view's) vector without numba's generic reshape or a float64
# ``view`` (each makes a reference-counted array; measured ~50 ns a call here, a few percent of a
# 1,000-row update): a pointer into the vector's data and ``carray`` over it. The vector is an
# argument of the kernel, so it outlives every such view.
@intrinsic
def _ptr(typingctx, ring, at, dtype):
    """A pointer to ``ring``'s element ``at``, typed as ``dtype`` (same item size)."""
    target = dtype.dtype

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        item = builder.gep(ary.data, [args[1]])
        return builder.bitcast(item, context.get_value_type(types.CPointer(target)))
    return types.CPointer(target)(ring, at, dtype), codegen


@njit(**_KW)
def _cells_at(ring, at, k):
    """The (k, k) int64 state that starts at ``ring[at]``."""
    return carray(_ptr(ring, at, np.int64), (k, k))


@njit(**_KW)
def _floats(ring):
    """``ring`` read as float64 (for the fields stored as their bits)."""
    return carray(_ptr(ring, 0, np.float64), ring.shape[0])


if _KERNEL_CLOCK:
    # libc's clock_gettime, resolved by name when the code is loaded (so the kernels stay
    # cacheable, unlike a ctypes pointer); ~30 ns here against ~100 ns for time.monotonic()
    _clock_gettime = types.ExternalFunction("clock_gettime",
                                            types.int32(types.int32, types.CPointer(types.int64)))
    _CLOCK_MONOTONIC = 1

    @njit(**_KW)
    def _now_ns(ring):
        _clock_gettime(_CLOCK_MONOTONIC, _ptr(ring, _RING_TS, np.int64))
        return ring[_RING_TS] * 1_000_000_000 + ring[_RING_TS + 1]
else:
    @njit(**_KW)
    def _now_ns(ring):  # (never called: windows.py sets RING_CLOCK only with KERNEL_CLOCK)
        return ring[_RING_EDGE]


@njit(**_KW)
def _ring_row(ring, n):
    """The row a batch of n rows is counted into, or -1: not admitted."""
    if ring[_RING_CLOCK] and _now_ns(ring) >= ring[_RING_EDGE]:
        return -1  # a seconds window's next bucket: the general path
    u = n if ring[_RING_ROWS] else ring[_RING_UNIT]
    room = ring[_RING_ROOM]
    if u <= room:
        return ring[_RING_CUR]
    if room == 0 and ring[_RING_ROLL] and u <= ring[_RING_SIZE]:
        return ring[_RING_NB] + 1
    return -1


@njit(**_KW)
def _ring_state(ring, row):
    k = ring[_RING_K]
    return _cells_at(ring, ring[_RING_BASE] + row * k * k, k)


@njit(**_KW)
def _ring_book(ring, row, n, counted):
    """Book ``counted`` samples of a batch of n rows counted into ``row`` (see _ring_row)."""
    u = n if ring[_RING_ROWS] else ring[_RING_UNIT]
    b = ring[_RING_NB]
    if row < b:  # the current bucket
        ring[_RING_ROOM] -= u
        ring[_RING_COUNT + row] += counted
        return
    cells = ring[_RING_K] * ring[_RING_K]
    base = ring[_RING_BASE]
    new = base + row * cells
    j = ring[_RING_J]
    if j >= 0:  # the closing bucket into the total (row b)
        r = ring[_RING_CUR]
        tot, cur = base + b * cells, base + r * cells
        for i in range(cells):
            ring[tot + i] += ring[cur + i]
        ring[_RING_COUNT + b] += ring[_RING_COUNT + r]
    j += 1
    k = j % b  # the evicted bucket's row (b = 1: the closing one, added above)
    old = base + k * cells
    for i in range(cells):
        ring[old + i] = ring[new + i]
        ring[new + i] = 0
    ring[_RING_COUNT + k] = counted
    ring[_RING_J] = j
    ring[_RING_CUR] = k
    ring[_RING_ROOM] = ring[_RING_SIZE] - u


@njit(**_KW)
def binary_scores_ring(target, scores, threshold, has_ignore, ignore, ring):
    row = _ring_row(ring, target.shape[0])
    if row < 0:
        return -2
    c = binary_scores(target, scores, threshold, has_ignore, ignore, _ring_state(ring, row))
    if c >= 0:
        _ring_book(ring, row, target.shape[0], c)
    return c


@njit(**_KW)
def binary_labels_ring(target, preds, threshold, has_ignore, ignore, ring):
    row = _ring_row(ring, target.shape[0])
    if row < 0:
        return -2
    c = binary_labels(target, preds, threshold, has_ignore, ignore, _ring_state(ring, row))
    if c >= 0:
        _ring_book(ring, row, target.shape[0], c)
    return c


@njit(**_KW)
def multiclass_labels_ring(target, preds, has_ignore, ignore, ring):
    row = _ring_row(ring, target.shape[0])
    if row < 0:
        return -2
    c = multiclass_labels(target, preds, has_ignore, ignore, _ring_state(ring, row))
    if c >= 0:
        _ring_book(ring, row, target.shape[0], c)
    return c


@njit(**_KW)
def multiclass_scores_ring(target, scores, has_ignore, ignore, ring):
    row = _ring_row(ring, target.shape[0])
    if row < 0:
        return -2
    c = multiclass_scores(target, scores, has_ignore, ignore, _ring_state(ring, row))
    if c >= 0:
        _ring_book(ring, row, target.shape[0], c)
    return c


# ---------------------------------------------------------------- a decayed front
# ``*_decay``: the count kernels above for a ``Decayed(unit="seconds")`` front on
# ``time.monotonic`` (windows.py), on a vector laid out in hot.py: the batch is stamped with
# the clock read here, counted unweighted into the scratch state and, only if every value was
# good, added into the running float64 state scaled by its weight (as ``scaled_fold``), all in
# one call. -2 having done nothing: not for the kernel (a batch smaller than the state, a
# rebase due, the state not in the vector); -1 having done nothing: a bad value.
@njit(**_KW)
def _decay_scale(ring, n):
    """The weight of a batch of n rows stamped now, or -1.0: not for the kernel."""
    if not ring[_DECAY_ON] or n < ring[_DECAY_CELLS]:
        return -1.0
    f = _floats(ring)
    t = np.float64(_now_ns(ring)) / 1e9  # time.monotonic()'s value for the same reading
    base = f[_DECAY_BASE]
    h = f[_DECAY_HALF]
    if (t - base) / h > _RESCALE_EXPONENT:
        return -1.0
    f[_DECAY_T] = t
    return np.exp2(max(t - base, 0.0) / h)


@njit(**_KW)
def _decay_state(ring):
    return _cells_at(ring, ring[_DECAY_SCRATCH], ring[_RING_K])


@njit(**_KW)
def _decay_fold(ring, n, counted, scale):
    cells = ring[_DECAY_CELLS]
    f = _floats(ring)
    acc = ring[_DECAY_ACC]
    scratch = ring[_DECAY_SCRATCH]
    for i in range(cells):
        f[acc + i] += np.float64(ring[scratch + i]) * scale
        ring[scratch + i] = 0
    ring[_DECAY_COUNT] += counted
    ring[_DECAY_ROWS] += n


@njit(**_KW)
def binary_scores_decay(target, scores, threshold, has_ignore, ignore, ring):
    scale = _decay_scale(ring, target.shape[0])
    if scale < 0.0:
        return -2
    c = binary_scores(target, scores, threshold, has_ignore, ignore, _decay_state(ring))
    if c >= 0:
        _decay_fold(ring, target.shape[0], c, scale)
    return c


@njit(**_KW)
def binary_labels_decay(target, preds, threshold, has_ignore, ignore, ring):
    scale = _decay_scale(ring, target.shape[0])
    if scale < 0.0:
        return -2
    c = binary_labels(target, preds, threshold, has_ignore, ignore, _decay_state(ring))
    if c >= 0:
        _decay_fold(ring, target.shape[0], c, scale)
    return c


@njit(**_KW)
def multiclass_labels_decay(target, preds, has_ignore, ignore, ring):
    scale = _decay_scale(ring, target.shape[0])
    if scale < 0.0:
        return -2
    c = multiclass_labels(target, preds, has_ignore, ignore, _decay_state(ring))
    if c >= 0:
        _decay_fold(ring, target.shape[0], c, scale)
    return c


@njit(**_KW)
def multiclass_scores_decay(target, scores, has_ignore, ignore, ring):
    scale = _decay_scale(ring, target.shape[0])
    if scale < 0.0:
        return -2
    c = multiclass_scores(target, scores, has_ignore, ignore, _decay_state(ring))
    if c >= 0:
        _decay_fold(ring, target.shape[0], c, scale)
    return c


@njit(**_KW)
def scaled_fold(acc, counts, scale):
    # Decayed(unit="seconds") (windows.py): a batch shares one weight, so it is counted
    # unweighted into a scratch state and added here scaled, ``acc += counts * scale`` (the
    # float64 product rounded, then the sum: as numpy's ``acc += counts * scale``), and the
    # scratch emptied; one call instead of three numpy calls
    a = acc.reshape(-1)  # float64 and int64 2-D states, C-contiguous
    c = counts.reshape(-1)
    for i in range(a.shape[0]):
        a[i] += np.float64(c[i]) * scale
        c[i] = 0


_DBL_MAX = float(np.finfo(np.float64).max)
# row c: 1.0 in column c (the cell 2 t + p of a binary row), row 4: an ignored row
_CELL_MASK = np.vstack([np.eye(4), np.zeros((1, 4))])


@njit(**_KW)
def _weight_ok(w):
    # the backends' rule: finite and >= 0 (nan fails both)
    return (w >= 0.0) & (w <= _DBL_MAX)


@njit(**_KW)
def _bin_pred(preds, i, scores_mode, threshold):
    if scores_mode:
        return np.int64(np.float64(preds[i]) >= threshold)
    return np.int64(preds[i])


@njit(**_KW)
def _bin_pred_ok(preds, i, scores_mode):
    if scores_mode:
        x = np.float64(preds[i])
        return x - x == 0.0  # nan or +-inf fail
    p = np.int64(preds[i])
    return (p == 0) | (p == 1)


@njit(**_KW)
def _binary_w(target, preds, scores_mode, threshold, has_ignore, ignore, state, seen, ramp,
              scale):
    """Weighted binary counts (see the module docstring); preds are labels or scores. Two
    passes: the checks (branch-free, so that the common case vectorises) and the label bits,
    then the four per-cell sums, the only part whose order matters."""
    target = np.ascontiguousarray(target)
    preds = np.ascontiguousarray(preds)
    n = target.shape[0]
    if ramp.shape[0] < n or seen.shape[0] != 2:
        return -1
    ok = True
    counted = 0
    st = 0  # kept rows with t = 1, and with p = 1: the label bits of the seen mask
    sp = 0
    c0 = 0.0
    c1 = 0.0
    c2 = 0.0
    c3 = 0.0
    if not has_ignore:  # the common case: one branch-free loop each, no keep mask
        for i in range(n):
            t = np.int64(target[i])
            p = _bin_pred(preds, i, scores_mode, threshold)
            ok &= ((t == 0) | (t == 1)) & _bin_pred_ok(preds, i, scores_mode) & _weight_ok(
                ramp[i] * scale)
            st += t
            sp += p
        counted = n
        if not ok:
            return -1
        # per-cell sums from zero in row order (cell = 2 t + p), added into the state once;
        # branch-free like native: w times the cell's row of _CELL_MASK adds w to its cell and
        # +-0.0 (w is finite) to the others, which leaves their sums bit-identical (they are
        # >= +0.0). (A select, or w * (cell == j), compiled to branches here: 5x slower on
        # random labels.)
        for i in range(n):
            cell = np.int64(target[i]) * 2 + _bin_pred(preds, i, scores_mode, threshold)
            w = ramp[i] * scale
            c0 += w * _CELL_MASK[cell, 0]
            c1 += w * _CELL_MASK[cell, 1]
            c2 += w * _CELL_MASK[cell, 2]
            c3 += w * _CELL_MASK[cell, 3]
    else:
        for i in range(n):
            t = np.int64(target[i])
            if t == ignore:
                continue
            if not (((t == 0) | (t == 1)) & _bin_pred_ok(preds, i, scores_mode)
                    & _weight_ok(ramp[i] * scale)):
                return -1
            p = _bin_pred(preds, i, scores_mode, threshold)
            st += t
            sp += p
            counted += 1
        for i in range(n):
            t = np.int64(target[i])
            ig = np.int64(t == ignore)  # ignored rows take the zero row 4 (t may be anything)
            cell = ig * 4 + (1 - ig) * ((t & 1) * 2 + _bin_pred(preds, i, scores_mode, threshold))
            w = ramp[i] * scale
            c0 += w * _CELL_MASK[cell, 0]
            c1 += w * _CELL_MASK[cell, 1]
            c2 += w * _CELL_MASK[cell, 2]
            c3 += w * _CELL_MASK[cell, 3]
    state[0, 0] += c0
    state[0, 1] += c1
    state[1, 0] += c2
    state[1, 1] += c3
    if st < counted or sp < counted:
        seen[0] = 1
    if st > 0 or sp > 0:
        seen[1] = 1
    return counted


@njit(**_KW)
def binary_scores_w(target, scores, threshold, has_ignore, ignore, state, seen, ramp, scale):
    return _binary_w(target, scores, True, threshold, has_ignore, ignore, state, seen, ramp,
                     scale)


@njit(**_KW)
def binary_labels_w(target, preds, threshold, has_ignore, ignore, state, seen, ramp, scale):
    return _binary_w(target, preds, False, threshold, has_ignore, ignore, state, seen, ramp,
                     scale)


def _mc_bad(preds, i, k):
    """Whether row i of preds is bad: a label outside [0, k) for (N,) labels, a non-finite
    score for (N, k) scores. Chosen when compiling."""
    raise NotImplementedError


def _mc_pred(preds, i, k):
    """Prediction of a valid row i: the label, or the first maximum of the scores."""
    raise NotImplementedError


@overload(_mc_bad, jit_options=_KW)
def _mc_bad_impl(preds, i, k):
    if preds.ndim == 2:
        def scores_bad(preds, i, k):
            bad = False
            for j in range(k):
                bad |= not math.isfinite(preds[i, j])
            return bad
        return scores_bad

    def label_bad(preds, i, k):
        return np.uint64(np.int64(preds[i])) >= np.uint64(k)  # negative labels wrap
    return label_bad


@overload(_mc_pred, jit_options=_KW)
def _mc_pred_impl(preds, i, k):
    if preds.ndim == 2:
        def scores_argmax(preds, i, k):
            return np.int64(_argmax_row(preds, i, k))
        return scores_argmax

    def label(preds, i, k):
        return np.int64(preds[i])
    return label


@njit(**_KW)
def _multiclass_w(target, preds, has_ignore, ignore, state, seen, ramp, scale, direct_below):
    """Weighted multiclass counts (see the module docstring): a checking pass (branch-free),
    then the counting pass, straight into the state or through a zeroed partial."""
    target = np.ascontiguousarray(target)
    preds = np.ascontiguousarray(preds)
    n = target.shape[0]
    k = state.shape[0]
    if ramp.shape[0] < n or seen.shape[0] != k or state.shape[1] != k:
        return -1
    uk = np.uint64(k)
    ok = True
    counted = 0
    for i in range(n):
        t = np.int64(target[i])
        keep = not (has_ignore and t == ignore)
        good = (np.uint64(t) < uk) & (not _mc_bad(preds, i, k)) & _weight_ok(ramp[i] * scale)
        ok &= good | (not keep)
        counted += keep
    if not ok:
        return -1
    direct = n < direct_below
    hist = state if direct else np.zeros((k, k), dtype=np.float64)
    # labels seen: bits of a register up to 64 classes (stores between the adds cost more)
    bits = k <= 64
    mask = np.uint64(0)
    one = np.uint64(1)
    for i in range(n):
        t = np.int64(target[i])
        if has_ignore and t == ignore:
            continue
        p = _mc_pred(preds, i, k)
        hist[t, p] += ramp[i] * scale
        if bits:
            mask |= (one << np.uint64(t)) | (one << np.uint64(p))
        else:
            seen[t] = 1
            seen[p] = 1
    if not direct:
        for a in range(k):
            for b in range(k):
                state[a, b] += hist[a, b]
    if bits:
        for j in range(k):
            if (mask >> np.uint64(j)) & one:
                seen[j] = 1
    return counted


@njit(**_KW)
def multiclass_labels_w(target, preds, has_ignore, ignore, state, seen, ramp, scale,
                        direct_below):
    return _multiclass_w(target, preds, has_ignore, ignore, state, seen, ramp, scale,
                         direct_below)


@njit(**_KW)
def multiclass_scores_w(target, scores, has_ignore, ignore, state, seen, ramp, scale,
                        direct_below):
    if scores.shape[1] != state.shape[0]:
        return -1
    return _multiclass_w(target, scores, has_ignore, ignore, state, seen, ramp, scale,
                         direct_below)


# ---------------------------------------------------------------- a decayed front, unit="samples"
# ``*_rowdecay``: the weighted kernels above for a ``Decayed(unit="samples")`` front
# (windows.py): the batch's scale from the row count and base row in the vector, its weights
# ``ramp[i] * scale`` from the ramp stored there, counted into the running float64 state and seen
# mask there, in one call; the same arithmetic, in the same order, as ``Decayed``'s general path
# through ``_count_scaled``, so the same bits. -2 having done nothing: not for the kernel (a
# rebase due, a batch too long for one ramp, the state not in the vector); -1: a bad value.
@njit(**_KW)
def _rowdecay_scale(ring, n):
    """The scale of a batch of n rows counted next, or -1.0: not for the kernel."""
    if not ring[_DECAY_ON]:
        return -1.0
    f = _floats(ring)
    h = f[_DECAY_HALF]
    pos = ring[_DECAY_ROWS]
    base = np.int64(f[_DECAY_BASE])  # a row number, exact in float64
    if (np.float64(pos + n - 1 - base) / h > _RESCALE_EXPONENT
            or np.float64(n - 1) > _RAMP_EXPONENT * h):
        return -1.0
    return np.exp2(np.float64(pos - base) / h)


@njit(**_KW)
def _rowdecay_book(ring, n, counted):
    ring[_DECAY_ROWS] += n
    ring[_DECAY_COUNT] += counted


@njit(**_KW)
def _rowdecay_acc(ring):
    k = ring[_RING_K]
    return carray(_ptr(ring, ring[_DECAY_ACC], np.float64), (k, k))


@njit(**_KW)
def _rowdecay_seen(ring, m):
    return carray(_ptr(ring, ring[_DECAY_SEEN], np.uint8), m)


@njit(**_KW)
def _rowdecay_ramp(ring):
    return carray(_ptr(ring, ring[_DECAY_RAMP], np.float64), _MAX_ROWS)


@njit(**_KW)
def binary_scores_rowdecay(target, scores, threshold, has_ignore, ignore, ring):
    scale = _rowdecay_scale(ring, target.shape[0])
    if scale < 0.0:
        return -2
    c = _binary_w(target, scores, True, threshold, has_ignore, ignore, _rowdecay_acc(ring),
                  _rowdecay_seen(ring, 2), _rowdecay_ramp(ring), scale)
    if c >= 0:
        _rowdecay_book(ring, target.shape[0], c)
    return c


@njit(**_KW)
def binary_labels_rowdecay(target, preds, threshold, has_ignore, ignore, ring):
    scale = _rowdecay_scale(ring, target.shape[0])
    if scale < 0.0:
        return -2
    c = _binary_w(target, preds, False, threshold, has_ignore, ignore, _rowdecay_acc(ring),
                  _rowdecay_seen(ring, 2), _rowdecay_ramp(ring), scale)
    if c >= 0:
        _rowdecay_book(ring, target.shape[0], c)
    return c


@njit(**_KW)
def multiclass_labels_rowdecay(target, preds, has_ignore, ignore, ring):
    scale = _rowdecay_scale(ring, target.shape[0])
    if scale < 0.0:
        return -2
    c = _multiclass_w(target, preds, has_ignore, ignore, _rowdecay_acc(ring),
                      _rowdecay_seen(ring, ring[_RING_K]), _rowdecay_ramp(ring), scale,
                      ring[_DECAY_DIRECT])
    if c >= 0:
        _rowdecay_book(ring, target.shape[0], c)
    return c


@njit(**_KW)
def multiclass_scores_rowdecay(target, scores, has_ignore, ignore, ring):
    if scores.shape[1] != ring[_RING_K]:
        return -1
    scale = _rowdecay_scale(ring, target.shape[0])
    if scale < 0.0:
        return -2
    c = _multiclass_w(target, scores, has_ignore, ignore, _rowdecay_acc(ring),
                      _rowdecay_seen(ring, ring[_RING_K]), _rowdecay_ramp(ring), scale,
                      ring[_DECAY_DIRECT])
    if c >= 0:
        _rowdecay_book(ring, target.shape[0], c)
    return c


KERNELS = {
    "binary_scores": binary_scores,
    "binary_labels": binary_labels,
    "multiclass_labels": multiclass_labels,
    "multiclass_scores": multiclass_scores,
    "binary_scores_rowdecay": binary_scores_rowdecay,
    "binary_labels_rowdecay": binary_labels_rowdecay,
    "multiclass_labels_rowdecay": multiclass_labels_rowdecay,
    "multiclass_scores_rowdecay": multiclass_scores_rowdecay,
    "binary_scores_decay": binary_scores_decay,
    "binary_labels_decay": binary_labels_decay,
    "multiclass_labels_decay": multiclass_labels_decay,
    "multiclass_scores_decay": multiclass_scores_decay,
    "binary_scores_ring": binary_scores_ring,
    "binary_labels_ring": binary_labels_ring,
    "multiclass_labels_ring": multiclass_labels_ring,
    "multiclass_scores_ring": multiclass_scores_ring,
    "scaled_fold": scaled_fold,
    "binary_scores_w": binary_scores_w,
    "binary_labels_w": binary_labels_w,
    "multiclass_labels_w": multiclass_labels_w,
    "multiclass_scores_w": multiclass_scores_w,
}


def _array(dtype, ndim):
    # layout "A": any strides, so the entry point is safe for views; inputs may be read-only
    return types.Array(from_dtype(dtype), ndim, "A", readonly=True)


def signature(name, target_dtype, preds_dtype):
    """The one signature ``name`` is compiled for with these input dtypes."""
    if name == "scaled_fold":  # float64 and int64 states, the scale
        return (types.Array(types.float64, 2, "C"), types.Array(types.int64, 2, "C"),
                types.float64)
    weighted = name.endswith("_w")
    if name.endswith(("_ring", "_decay", "_rowdecay")):
        # a window's or a decayed view's vector: bookkeeping and states (hot.py's layouts)
        name = name.rsplit("_", 1)[0]
        state = (types.Array(types.int64, 1, "C"),)
    else:
        state = (types.Array(types.float64 if weighted else types.int64, 2, "C"),)
    # weighted: the seen mask, the ramp (any strides, may be read-only) and the scale
    extra = ((types.Array(types.uint8, 1, "C"), _array(np.float64, 1), types.float64)
             if weighted else ())
    t = _array(target_dtype, 1)
    if name.startswith("binary"):  # one call shape for both: threshold is unused for labels
        return (t, _array(preds_dtype, 1), types.float64, types.boolean, types.int64) + state + extra
    p = _array(preds_dtype, 2 if name.startswith("multiclass_scores") else 1)
    # multiclass weighted: + the row count below which the backend adds straight into the state
    return (t, p, types.boolean, types.int64) + state + extra + (
        (types.int64,) if weighted else ())
