"""numba kernels of the drift package (imported lazily: numba costs ~0.3 s to import).

Counting kernels follow the backend error contract (see ``tallyml._backends``): they count into a
private partial and add it to the caller's array only when the whole range is valid; on a bad value
they return its position (row, column) and change nothing. The Python layer turns the position
into the ``ValueError``. Detector kernels are exact re-statements of river's update rules, written
in the same floating-point operation order so that decisions agree bit for bit.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__: list[str] = []  # private module


# ----------------------------------------------------------------------------- histograms
@njit(cache=True, nogil=True)
def _bin_of(x, edges, lo, hi):
    """Number of interior edges edges[lo:hi] that are <= x (binary search)."""
    a = lo
    b = hi
    while a < b:
        m = (a + b) >> 1
        if edges[m] <= x:
            a = m + 1
        else:
            b = m
    return a - lo


@njit(cache=True, nogil=True)
def _group_counts(values, start, stop, col, edges, lo, hi, uni_lo, uni_scale, out, base):
    """One group: bins of column ``col`` over rows [start, stop) added into out[base:]."""
    ne = hi - lo
    if uni_scale > 0.0:
        # uniform edges: arithmetic guess, then exact correction against the stored edges
        top = float(ne)
        for i in range(start, stop):
            x = np.float64(values[i, col])
            t = (x - uni_lo) * uni_scale
            if t < 0.0:
                t = 0.0
            elif t > top:
                t = top
            j = int(t)
            while j > 0 and x < edges[lo + j - 1]:
                j -= 1
            while j < ne and edges[lo + j] <= x:
                j += 1
            out[base + j] += 1
    elif ne <= 16:
        # few edges: a branch-free count beats a mispredicted binary search
        for i in range(start, stop):
            x = np.float64(values[i, col])
            j = 0
            for e in range(lo, hi):
                j += edges[e] <= x
            out[base + j] += 1
    else:
        for i in range(start, stop):
            out[base + _bin_of(np.float64(values[i, col]), edges, lo, hi)] += 1


@njit(cache=True, nogil=True)
def hist(values, start, stop, columns, edges, edge_offsets, uni_lo, uni_scale, counts, validate):
    """Rows [start, stop) of ``values`` (N, C) into the flat ``counts``.

    Group g reads column ``columns[g]`` and bins it with the interior edges
    ``edges[edge_offsets[g]:edge_offsets[g + 1]]`` (a value's bin is the number of those edges
    <= it); its bins start at ``edge_offsets[g] + g`` in ``counts``. ``uni_scale[g] > 0`` marks
    uniform edges starting at ``uni_lo[g]`` (bins per unit: ``uni_scale[g]``), binned by
    arithmetic with an exact correction. Returns (-1, -1) on success or the (row, column) of the
    first non-finite value, having changed nothing."""
    if validate:
        r, c = _first_non_finite(values, start, stop)
        if r >= 0:
            return r, c
    ngroups = columns.shape[0]
    partial = np.zeros(counts.shape[0], dtype=np.int64)
    for g in range(ngroups):
        lo = edge_offsets[g]
        hi = edge_offsets[g + 1]
        _group_counts(values, start, stop, columns[g], edges, lo, hi, uni_lo[g], uni_scale[g],
                      partial, lo + g)
    for j in range(counts.shape[0]):
        counts[j] += partial[j]
    return -1, -1


@njit(cache=True, nogil=True)
def _first_non_finite(values, start, stop):
    """(row, column) of the first NaN/inf in rows [start, stop), or (-1, -1).

    The common all-finite case is one branch-free (vectorisable) pass: v - v is 0 for finite v
    and NaN otherwise, and NaN survives the sum; only a bad batch pays for a second scan."""
    acc = 0.0
    for i in range(start, stop):
        for c in range(values.shape[1]):
            v = values[i, c]
            acc += v - v
    if acc == 0.0:
        return -1, -1
    for i in range(start, stop):
        for c in range(values.shape[1]):
            v = values[i, c]
            if not (v - v == 0.0):
                return i, c
    return -1, -1


@njit(cache=True, nogil=True)
def check_finite(values):
    """(row, column) of the first non-finite value of a (N, C) array, or (-1, -1)."""
    return _first_non_finite(values, 0, values.shape[0])


@njit(cache=True, nogil=True)
def label_counts(labels, start, stop, counts):
    """Histogram of integer labels in [0, K) with K = counts.shape[0]; returns the first bad row."""
    k = counts.shape[0]
    partial = np.zeros(k, dtype=np.int64)
    for i in range(start, stop):
        v = np.int64(labels[i])
        if v < 0 or v >= k:
            return i
        partial[v] += 1
    for j in range(k):
        counts[j] += partial[j]
    return -1


@njit(cache=True, nogil=True)
def argmax_counts(scores, start, stop, counts):
    """Histogram of the row-wise argmax (first maximum wins) of finite (N, K) scores."""
    k = scores.shape[1]
    partial = np.zeros(k, dtype=np.int64)
    for i in range(start, stop):
        best = 0
        bv = scores[i, 0]
        for c in range(k):
            v = scores[i, c]
            if not (v - v == 0.0):
                return i, c
            if v > bv:
                bv = v
                best = c
        partial[best] += 1
    for j in range(k):
        counts[j] += partial[j]
    return -1, -1


@njit(cache=True, nogil=True)
def positive_counts(values, start, stop, threshold, counts):
    """Multilabel (N, L) labels or scores: counts[2 * l + (value >= threshold)] += 1.

    Labels are passed as floats with threshold 0.5; a label other than 0/1 is reported like a
    non-finite score (the Python layer checks labels before calling)."""
    nl = values.shape[1]
    partial = np.zeros(counts.shape[0], dtype=np.int64)
    for i in range(start, stop):
        for c in range(nl):
            v = values[i, c]
            if not (v - v == 0.0):
                return i, c
            partial[2 * c + (1 if np.float64(v) >= threshold else 0)] += 1
    for j in range(counts.shape[0]):
        counts[j] += partial[j]
    return -1, -1


# ----------------------------------------------------------------------------- detectors
# Page-Hinkley state: [n, mean, sum_increase, sum_decrease, min_increase, max_decrease, drift]
@njit(cache=True, nogil=True)
def page_hinkley(state, values, min_instances, delta, threshold, alpha, mode, out):
    """Feed ``values``; write the indices that raised a detection into ``out``; return how many.

    mode: 0 both, 1 up, 2 down. Like river, a detection resets the detector on the next value."""
    found = 0
    for i in range(values.shape[0]):
        if state[6] != 0.0:
            state[0] = 0.0
            state[1] = 0.0
            state[2] = 0.0
            state[3] = 0.0
            state[4] = math.inf
            state[5] = -1.0
            state[6] = 0.0
        x = np.float64(values[i])
        state[0] += 1.0
        state[1] += (1.0 / state[0]) * (x - state[1])
        dev = x - state[1]
        state[2] = alpha * state[2] + dev - delta
        state[3] = alpha * state[3] + dev + delta
        if state[2] < state[4]:
            state[4] = state[2]
        if state[3] > state[5]:
            state[5] = state[3]
        if state[0] >= min_instances:
            up = state[2] - state[4]
            down = state[5] - state[3]
            if mode == 1:
                hit = up > threshold
            elif mode == 2:
                hit = down > threshold
            else:
                hit = up > threshold or down > threshold
            if hit:
                state[6] = 1.0
                out[found] = i
                found += 1
    return found


# DDM state: [n, p, p_min, s_min, ps_min, warning, drift]
@njit(cache=True, nogil=True)
def ddm(state, values, warm_start, warning_threshold, drift_threshold, out, warn_out):
    """Feed 0/1 errors; ``out`` gets detection indices, ``warn_out[i]`` the warning flag after i.

    Returns the number of detections. A detection resets the detector on the next value (river)."""
    found = 0
    for i in range(values.shape[0]):
        if state[6] != 0.0:
            state[0] = 0.0
            state[1] = 0.0
            state[2] = math.nan
            state[3] = math.nan
            state[4] = math.inf
            state[5] = 0.0
            state[6] = 0.0
        x = np.float64(values[i])
        state[0] += 1.0
        state[1] += (1.0 / state[0]) * (x - state[1])
        p = state[1]
        n = state[0]
        s = math.sqrt(p * (1.0 - p) / n)
        if n > warm_start:
            if p + s <= state[4]:
                state[2] = p
                state[3] = s
                state[4] = p + s
            state[5] = 1.0 if p + s > state[2] + warning_threshold * state[3] else 0.0
            if p + s > state[2] + drift_threshold * state[3]:
                state[6] = 1.0
                state[5] = 0.0
                out[found] = i
                found += 1
        warn_out[i] = state[5] != 0.0
    return found


# ADWIN: exponential histogram of bucket rows. Row r holds up to max_buckets + 1 summaries, each of
# 2**r values (newest rows first); totals/variances are (64, max_buckets + 1), fill is (64,).
# scalars: [total, variance, width, tick, n_rows, drift]
@njit(cache=True, nogil=True)
def _adwin_reset(totals, variances, fill, scal):
    totals[:, :] = 0.0
    variances[:, :] = 0.0
    fill[:] = 0
    scal[0] = 0.0
    scal[1] = 0.0
    scal[2] = 0.0
    scal[3] = 0.0
    scal[4] = 1.0
    scal[5] = 0.0


@njit(cache=True, nogil=True)
def _adwin_drop(totals, variances, fill, row, count):
    """Remove the ``count`` oldest summaries of ``row`` (shift the rest to the front)."""
    m = fill[row]
    for j in range(count, m):
        totals[row, j - count] = totals[row, j]
        variances[row, j - count] = variances[row, j]
    for j in range(m - count, m):
        totals[row, j] = 0.0
        variances[row, j] = 0.0
    fill[row] = m - count


@njit(cache=True, nogil=True)
def _adwin_insert(totals, variances, fill, scal, value, max_buckets):
    totals[0, fill[0]] = value
    variances[0, fill[0]] = 0.0
    fill[0] += 1
    scal[2] += 1.0
    width = scal[2]
    inc = 0.0
    if width > 1.0:
        d = value - scal[0] / (width - 1.0)
        inc = (width - 1.0) * d * d / width
    scal[1] += inc
    scal[0] += value
    # carry: a full row merges its two oldest summaries into one of the next row
    r = 0
    while fill[r] == max_buckets + 1:
        size = float(np.int64(1) << r)
        t0 = totals[r, 0]
        t1 = totals[r, 1]
        mu1 = t0 / size
        mu2 = t1 / size
        merged_v = variances[r, 0] + variances[r, 1] + size * 0.5 * (mu1 - mu2) * (mu1 - mu2)
        if r + 1 >= scal[4]:
            scal[4] = r + 2.0
        totals[r + 1, fill[r + 1]] = t0 + t1
        variances[r + 1, fill[r + 1]] = merged_v
        fill[r + 1] += 1
        _adwin_drop(totals, variances, fill, r, 2)
        if fill[r + 1] <= max_buckets:
            break
        r += 1


@njit(cache=True, nogil=True)
def _adwin_delete_oldest(totals, variances, fill, scal):
    last = int(scal[4]) - 1
    n = float(np.int64(1) << last)
    u = totals[last, 0]
    v = variances[last, 0]
    mu = u / n
    scal[2] -= n
    scal[0] -= u
    width = scal[2]
    mu_w = scal[0] / width
    scal[1] -= v + n * width * (mu - mu_w) * (mu - mu_w) / (n + width)
    _adwin_drop(totals, variances, fill, last, 1)
    if fill[last] == 0:
        scal[4] = float(last)


@njit(cache=True, nogil=True)
def _adwin_cut(width, variance, n0, n1, delta_mean, delta, min_len):
    delta_prime = math.log(2.0 * math.log(width) / delta)
    m_recip = 1.0 / (n0 - min_len + 1.0) + 1.0 / (n1 - min_len + 1.0)
    eps = math.sqrt(2.0 * m_recip * (variance / width) * delta_prime) + 2.0 / 3.0 * delta_prime * m_recip
    return abs(delta_mean) > eps


@njit(cache=True, nogil=True)
def _adwin_detect(totals, variances, fill, scal, delta, clock, min_len, grace):
    changed = False
    scal[3] += 1.0
    if np.int64(scal[3]) % clock == 0 and scal[2] > grace:
        reduce = True
        while reduce:
            reduce = False
            n0 = 0.0
            n1 = scal[2]
            u0 = 0.0
            u1 = scal[0]
            done = False
            r = int(scal[4]) - 1
            while r >= 0 and not done:
                size = float(np.int64(1) << r)
                m = fill[r]
                for k in range(m):
                    n0 += size
                    n1 -= size
                    t = totals[r, k]
                    u0 += t
                    u1 -= t
                    if r == 0 and k == m - 1:
                        done = True
                        break
                    dm = (u0 / n0) - (u1 / n1)
                    if n1 >= min_len and n0 >= min_len and _adwin_cut(
                            scal[2], scal[1], n0, n1, dm, delta, min_len):
                        reduce = True
                        changed = True
                        if scal[2] > 0.0:
                            _adwin_delete_oldest(totals, variances, fill, scal)
                            done = True
                            break
                r -= 1
    return changed


@njit(cache=True, nogil=True)
def adwin(totals, variances, fill, scal, values, delta, clock, max_buckets, min_len, grace, out):
    """Feed ``values``; detection indices go to ``out``; returns how many. Like river, a detection
    empties the window on the next value."""
    found = 0
    for i in range(values.shape[0]):
        if scal[5] != 0.0:
            _adwin_reset(totals, variances, fill, scal)
        _adwin_insert(totals, variances, fill, scal, np.float64(values[i]), max_buckets)
        if _adwin_detect(totals, variances, fill, scal, delta, clock, min_len, grace):
            scal[5] = 1.0
            out[found] = i
            found += 1
    return found
