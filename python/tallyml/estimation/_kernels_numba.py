"""numba kernels of expected confusion counts (the contract is in ``_kernels_numpy``).

Each batch is checked and counted in chunks of rows that stay in cache: a chunk is checked,
then counted into private partial sums, and the partials reach the caller's arrays only when the
whole batch was valid. When the partial arrays would be larger than the batch (a 64-row update of
a K = 1000 state), the whole batch is checked first and then counted in place instead, so small
updates cost O(rows), not O(state).

Float sums use ``fastmath={"reassoc", "contract"}`` so that the reductions vectorise (NaN and inf
keep their meaning: those flags do not assume finite math); results equal the numpy reference up
to the rounding of the summation order.

Also here: ``pav``, the pool-adjacent-violators pass of isotonic calibration.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["binary", "multiclass", "multilabel", "pav"]

_KW = dict(nogil=True, cache=True)
_FAST = dict(nogil=True, cache=True, fastmath={"reassoc", "contract"})
_CHUNK = 4096


# --------------------------------------------------------------------------------------------
# per-value helpers

@njit(**_KW)
def _sigmoid(x):
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@njit(**_KW)
def _calibrate(p, table, mode):
    if mode == 0:
        return p
    if mode == 1:
        g = table.shape[0]
        b = min(int(p * g), g - 1)
        return table[b]
    g = table.shape[0] - 1
    b = min(int(p * g), g - 1)
    return table[b] + (table[b + 1] - table[b]) * (p * g - b)


@njit(**_KW)
def _check_1d(scores, lo, hi, logits):
    """(code, row, col) of the first bad score in [lo, hi)."""
    for i in range(lo, hi):
        x = np.float64(scores[i])
        if not (abs(x) < np.inf):
            return 1, i, -1
        if not logits and not (x >= 0.0 and x <= 1.0):
            return 2, i, -1
    return 0, 0, -1


@njit(**_KW)
def _check_2d(scores, lo, hi, logits, sum_tol, check_sum):
    k = scores.shape[1]
    for i in range(lo, hi):
        tot = 0.0
        for c in range(k):
            x = np.float64(scores[i, c])
            if not (abs(x) < np.inf):
                return 1, i, c
            if not logits and not (x >= 0.0 and x <= 1.0):
                return 2, i, c
            tot += x
        if check_sum and not logits and not (abs(tot - 1.0) <= sum_tol):
            return 3, i, -1
    return 0, 0, -1


@njit(**_KW)
def _range_ok_1d(scores, lo, hi):
    # branch-free scan (vectorises); NaN fails both comparisons
    ok = True
    for i in range(lo, hi):
        x = np.float64(scores[i])
        ok &= (x >= 0.0) & (x <= 1.0)
    return ok


# --------------------------------------------------------------------------------------------
# binary

@njit(**_FAST)
def _binary_plain(scores, lo, hi, cut, acc):
    """Uncalibrated probabilities, no histogram: six vectorised sums."""
    a1 = 0.0
    b1 = 0.0
    a0 = 0.0
    b0 = 0.0
    v1 = 0.0
    v0 = 0.0
    for i in range(lo, hi):
        p = np.float64(scores[i])
        y = 1.0 if p >= cut else 0.0
        q = 1.0 - p
        a1 += p * y
        b1 += q * y
        a0 += p - p * y
        b0 += q - q * y
        v = p * q
        v1 += v * y
        v0 += v - v * y
    acc[0] += b0
    acc[1] += b1
    acc[2] += a0
    acc[3] += a1
    acc[4] += v0
    acc[5] += v1


@njit(**_FAST)
def _binary_general(scores, lo, hi, cut, logits, table, mode, acc, hist):
    nb = hist.shape[1]
    for i in range(lo, hi):
        x = np.float64(scores[i])
        y = 1 if x >= cut else 0
        praw = _sigmoid(x) if logits else x
        p = _calibrate(praw, table, mode)
        q = 1.0 - p
        acc[y] += q
        acc[2 + y] += p
        acc[4 + y] += p * q
        if nb:
            b = min(int(praw * nb), nb - 1)
            hist[0, b] += p
            hist[1, b] += q
            hist[2, b] += p * q


@njit(**_KW)
def _binary_run(scores, cut, logits, table, mode, state, var, hist, in_place):
    n = scores.shape[0]
    acc = np.zeros(6)
    plain = (not logits) and mode == 0 and hist.shape[1] == 0
    if in_place:
        err = _check_1d(scores, 0, n, logits)
        if err[0]:
            return err
        part = hist
    else:
        part = np.zeros(hist.shape)
    for lo in range(0, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        if plain:
            if not _range_ok_1d(scores, lo, hi):
                return _check_1d(scores, lo, hi, logits)
            _binary_plain(scores, lo, hi, cut, acc)
        else:
            if not in_place:
                err = _check_1d(scores, lo, hi, logits)
                if err[0]:
                    return err
            _binary_general(scores, lo, hi, cut, logits, table, mode, acc, part)
    state[0, 0] += acc[0]
    state[0, 1] += acc[1]
    state[1, 0] += acc[2]
    state[1, 1] += acc[3]
    var[0] += acc[4]
    var[1] += acc[5]
    if not in_place:
        hist += part
    return 0, 0, -1


def _small(n, per_row, partial_size):
    """Count in place (after a full check) when the partials outweigh the batch."""
    return partial_size > 4 * n * per_row


def binary(scores, cut, logits, table, mode, state, var, hist):
    n = scores.shape[0]
    in_place = _small(n, 1, hist.size)
    return _binary_run(scores, float(cut), bool(logits), table, int(mode), state, var, hist,
                       in_place)


# --------------------------------------------------------------------------------------------
# multiclass

@njit(**_FAST)
def _mc_count(scores, lo, hi, logits, table, mode, state, moments, hist, p):
    k = scores.shape[1]
    nb = hist.shape[2]
    for i in range(lo, hi):
        # first maximum of the raw row
        j = 0
        best = scores[i, 0]
        for c in range(1, k):
            if scores[i, c] > best:
                best = scores[i, c]
                j = c
        if logits:
            m = np.float64(best)
            tot = 0.0
            for c in range(k):
                e = math.exp(np.float64(scores[i, c]) - m)
                p[c] = e
                tot += e
            for c in range(k):
                p[c] /= tot
        else:
            for c in range(k):
                p[c] = np.float64(scores[i, c])
        if nb:
            for c in range(k):
                b = min(int(p[c] * nb), nb - 1)
                p[k + c] = b
        if mode:
            tot = 0.0
            for c in range(k):
                v = _calibrate(p[c], table[c], mode)
                p[2 * k + c] = v
                tot += v
            if tot > 0.0:
                for c in range(k):
                    p[c] = p[2 * k + c] / tot
        pj = p[j]
        for c in range(k):
            pc = p[c]
            state[c, j] += pc
            moments[0, c, j] += pc * pc
            moments[1, c, j] += pc * pj
        if nb:
            for c in range(k):
                b = int(p[k + c])
                pc = p[c]
                hist[c, 0, b] += pc
                hist[c, 1, b] += 1.0 - pc
                hist[c, 2, b] += pc * (1.0 - pc)


@njit(**_KW)
def _mc_run(scores, logits, sum_tol, table, mode, state, moments, hist, in_place):
    n, k = scores.shape
    p = np.empty(3 * k)
    if in_place:
        err = _check_2d(scores, 0, n, logits, sum_tol, True)
        if err[0]:
            return err
        _mc_count(scores, 0, n, logits, table, mode, state, moments, hist, p)
        return 0, 0, -1
    s_part = np.zeros(state.shape)
    m_part = np.zeros(moments.shape)
    h_part = np.zeros(hist.shape)
    for lo in range(0, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        err = _check_2d(scores, lo, hi, logits, sum_tol, True)
        if err[0]:
            return err
        _mc_count(scores, lo, hi, logits, table, mode, s_part, m_part, h_part, p)
    state += s_part
    moments += m_part
    hist += h_part
    return 0, 0, -1


def multiclass(scores, logits, sum_tol, table, mode, state, moments, hist):
    n, k = scores.shape
    in_place = _small(n, k, state.size + moments.size + hist.size)
    return _mc_run(scores, bool(logits), float(sum_tol), table, int(mode), state, moments, hist,
                   in_place)


# --------------------------------------------------------------------------------------------
# multilabel

@njit(**_FAST)
def _ml_count(scores, lo, hi, cut, logits, table, mode, state, var, subset, hist):
    n, l = scores.shape
    nb = hist.shape[2]
    s0 = 0.0
    s1 = 0.0
    for i in range(lo, hi):
        right = 1.0
        for c in range(l):
            x = np.float64(scores[i, c])
            y = 1 if x >= cut else 0
            praw = _sigmoid(x) if logits else x
            p = _calibrate(praw, table[c], mode) if mode else praw
            q = 1.0 - p
            state[c, 0, y] += q
            state[c, 1, y] += p
            var[c, y] += p * q
            right *= p if y == 1 else q
            if nb:
                b = min(int(praw * nb), nb - 1)
                hist[c, 0, b] += p
                hist[c, 1, b] += q
                hist[c, 2, b] += p * q
        s0 += right
        s1 += right * (1.0 - right)
    subset[0] += s0
    subset[1] += s1


@njit(**_KW)
def _ml_run(scores, cut, logits, table, mode, state, var, subset, hist, in_place):
    n = scores.shape[0]
    if in_place:
        err = _check_2d(scores, 0, n, logits, 0.0, False)
        if err[0]:
            return err
        _ml_count(scores, 0, n, cut, logits, table, mode, state, var, subset, hist)
        return 0, 0, -1
    s_part = np.zeros(state.shape)
    v_part = np.zeros(var.shape)
    u_part = np.zeros(2)
    h_part = np.zeros(hist.shape)
    for lo in range(0, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        err = _check_2d(scores, lo, hi, logits, 0.0, False)
        if err[0]:
            return err
        _ml_count(scores, lo, hi, cut, logits, table, mode, s_part, v_part, u_part, h_part)
    state += s_part
    var += v_part
    subset += u_part
    hist += h_part
    return 0, 0, -1


def multilabel(scores, cut, logits, table, mode, state, var, subset, hist):
    n, l = scores.shape
    in_place = _small(n, l, state.size + var.size + hist.size)
    tab = table if mode else np.zeros((l, 1))
    return _ml_run(scores, float(cut), bool(logits), tab, int(mode), state, var, subset, hist,
                   in_place)


# --------------------------------------------------------------------------------------------
# isotonic regression

@njit(**_KW)
def pav(y, w):
    """Non-decreasing weighted least-squares fit of ``y`` (already sorted by x, one value per
    distinct x): pool adjacent violators, blocks kept on a stack."""
    n = y.shape[0]
    val = np.empty(n)
    wt = np.empty(n)
    size = np.empty(n, dtype=np.int64)
    top = -1
    for i in range(n):
        top += 1
        val[top] = y[i]
        wt[top] = w[i]
        size[top] = 1
        while top > 0 and val[top - 1] >= val[top]:
            tw = wt[top - 1] + wt[top]
            if tw > 0:
                val[top - 1] = (wt[top - 1] * val[top - 1] + wt[top] * val[top]) / tw
            wt[top - 1] = tw
            size[top - 1] += size[top]
            top -= 1
    out = np.empty(n)
    pos = 0
    for b in range(top + 1):
        for _ in range(size[b]):
            out[pos] = val[b]
            pos += 1
    return out
