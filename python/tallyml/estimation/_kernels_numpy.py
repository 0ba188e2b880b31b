"""Reference kernels of expected (label-free) confusion counts: slow, obvious numpy that defines
what the numba and C++ kernels must produce.

Kernel contract (every backend module exposes these three functions)
--------------------------------------------------------------------
``binary(scores, cut, logits, table, mode, state, var, hist)``
    scores (N,) float32/float64. The prediction is ``float64(score) >= cut`` (the model's own
    decision, on the raw score). The probability is ``p = score`` (checked to lie in [0, 1]) or
    ``sigmoid(score)`` when ``logits``; the calibration map is then applied to it (below).
    Adds: ``state[t, y] += P(t)`` (expected 2x2 confusion matrix, t the unknown label),
    ``var[y] += p (1 - p)`` (variance of the Bernoulli sum of column y) and, when ``hist`` has
    columns, per bin ``b`` of the *uncalibrated* probability (the model's ranking):
    ``hist[0, b] += p``, ``hist[1, b] += 1 - p``, ``hist[2, b] += p (1 - p)``.
``multiclass(scores, logits, sum_tol, table, mode, state, moments, hist)``
    scores (N, K). The prediction j is the first argmax of the raw row; p is the row (each
    value in [0, 1], the row summing to 1 within ``sum_tol``) or its softmax when ``logits``;
    calibrated per class and renormalised. Adds ``state[k, j] += p_k`` (expected K x K matrix),
    ``moments[0, k, j] += p_k**2`` and ``moments[1, k, j] += p_k * p_j`` (what the interval needs
    of each column's multinomial covariance) and, per class k, the histogram of p_k as above into
    ``hist[k]`` (shape (K, 3, B)).
``multilabel(scores, cut, logits, table, mode, state, var, subset, hist)``
    scores (N, L): every label as a binary problem: ``state[l]`` (L, 2, 2), ``var[l]`` (L, 2),
    ``hist[l]`` (L, 3, B); ``subset[0] += prod_l P(label l right)`` and
    ``subset[1] += that (1 - that)`` (expected subset accuracy and its variance).

Calibration: ``mode`` 0 none; 1 step: G = ``table.shape[-1]`` bins, ``p' = table[b]`` with
``b = min(floor(p G), G - 1)``; 2 linear: G + 1 nodes on a uniform grid, ``p' = table[b] +
(table[b + 1] - table[b]) (p G - b)`` with ``b = min(floor(p G), G - 1)``. Multiclass and
multilabel tables have one row per class/label. Histogram bin of p: ``min(floor(p B), B - 1)``.

Errors: nothing is added unless the whole batch is valid; the first bad row (lowest column in
it) is reported as ``"scores[3] = nan is not finite"``, ``"scores[3, 1] = 1.5 is outside [0, 1]"``
or ``"scores[3] sums to 0.9 (probabilities must sum to 1 within sum_tol=0.001; pass
logits=True for unnormalised scores)"``. Messages are formatted in Python by ``_errors``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["binary", "multiclass", "multilabel"]


def _check(x, logits, sum_tol=None):
    """(code, row, col): 0 ok, 1 not finite, 2 outside [0, 1], 3 row sum (multiclass, col -1).
    The first bad row wins; in it, the lowest bad column, and a bad value before a bad sum."""
    x = x.astype(np.float64)
    bad = ~np.isfinite(x)
    if not logits:
        with np.errstate(invalid="ignore"):
            bad |= (x < 0) | (x > 1)
    if x.ndim == 1:
        bad_row = bad
        sum_bad = np.zeros_like(bad)
    else:
        bad_row = bad.any(axis=1)
        sum_bad = np.zeros_like(bad_row)
        if sum_tol is not None and not logits:
            with np.errstate(invalid="ignore"):
                sum_bad = np.abs(x.sum(axis=1) - 1.0) > sum_tol
    rows = np.flatnonzero(bad_row | sum_bad)
    if len(rows) == 0:
        return 0, 0, -1
    r = int(rows[0])
    if not bad_row[r]:
        return 3, r, -1
    c = -1 if x.ndim == 1 else int(np.flatnonzero(bad[r])[0])
    v = x[r] if x.ndim == 1 else x[r, c]
    return (2 if np.isfinite(v) else 1), r, c


def _sigmoid(x):
    # two branches keep exp from overflowing
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _bin(p, nbins):
    return np.minimum((p * nbins).astype(np.int64), nbins - 1)


def _calibrate(p, table, mode):
    """Apply a 1-D calibration table to probabilities p."""
    if mode == 0:
        return p
    g = table.shape[0] if mode == 1 else table.shape[0] - 1
    b = _bin(p, g)
    if mode == 1:
        return table[b]
    return table[b] + (table[b + 1] - table[b]) * (p * g - b)


def _add_hist(hist, praw, p):
    nb = hist.shape[-1]
    if nb == 0 or len(p) == 0:
        return
    b = _bin(praw, nb)
    hist[0] += np.bincount(b, weights=p, minlength=nb)
    hist[1] += np.bincount(b, weights=1.0 - p, minlength=nb)
    hist[2] += np.bincount(b, weights=p * (1.0 - p), minlength=nb)


def _binary_probs(s, logits, table, mode):
    praw = _sigmoid(s) if logits else s
    return praw, _calibrate(praw, table, mode)


def binary(scores, cut, logits, table, mode, state, var, hist):
    err = _check(scores, logits)
    if err[0]:
        return err
    s = scores.astype(np.float64)
    y = (s >= cut).astype(np.int64)
    praw, p = _binary_probs(s, logits, table, mode)
    for col in (0, 1):
        m = y == col
        state[1, col] += p[m].sum()
        state[0, col] += (1.0 - p[m]).sum()
        var[col] += (p[m] * (1.0 - p[m])).sum()
    _add_hist(hist, praw, p)
    return err


def _softmax(x):
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def multiclass(scores, logits, sum_tol, table, mode, state, moments, hist):
    err = _check(scores, logits, sum_tol)
    if err[0]:
        return err
    n, k = scores.shape
    if n == 0:
        return err
    s = scores.astype(np.float64)
    j = np.argmax(scores, axis=1)
    praw = _softmax(s) if logits else s
    if mode:
        p = np.stack([_calibrate(praw[:, c], table[c], mode) for c in range(k)], axis=1)
        tot = p.sum(axis=1, keepdims=True)
        # a calibrated row of zeros keeps its uncalibrated probabilities
        p = np.where(tot > 0, p / np.where(tot > 0, tot, 1.0), praw)
    else:
        p = praw
    pj = p[np.arange(n), j]
    for col in range(k):
        m = j == col
        state[:, col] += p[m].sum(axis=0)
        moments[0, :, col] += (p[m] ** 2).sum(axis=0)
        moments[1, :, col] += (p[m] * pj[m, None]).sum(axis=0)
    for c in range(k):
        _add_hist(hist[c], praw[:, c], p[:, c])
    return err


def multilabel(scores, cut, logits, table, mode, state, var, subset, hist):
    err = _check(scores, logits)
    if err[0]:
        return err
    n, l = scores.shape
    if n == 0:
        return err
    s = scores.astype(np.float64)
    right = np.ones(n)
    for c in range(l):
        y = (s[:, c] >= cut).astype(np.int64)
        praw, p = _binary_probs(s[:, c], logits, table[c] if mode else table, mode)
        for col in (0, 1):
            m = y == col
            state[c, 1, col] += p[m].sum()
            state[c, 0, col] += (1.0 - p[m]).sum()
            var[c, col] += (p[m] * (1.0 - p[m])).sum()
        right *= np.where(y == 1, p, 1.0 - p)
        if hist.shape[-1]:
            _add_hist(hist[c], praw, p)
    subset[0] += right.sum()
    subset[1] += (right * (1.0 - right)).sum()
    return err
