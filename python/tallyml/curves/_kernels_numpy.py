"""numpy reference of the curve kernels: slow, obvious, the definition the numba (and native)
kernels are tested against. Same signatures as ``_kernels_numba``'s counting functions, except
that validation is folded into each function (``first_bad``-style errors are raised by the
caller from ``find_bad_*``)."""
from __future__ import annotations

import numpy as np

from ._layout import BinLayout, bin_index_numpy, probability

OK, BAD_TARGET, BAD_SCORE, SCORE_RANGE, BAD_WEIGHT = 0, 1, 2, 3, 4


def _first(mask):
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else -1


def first_bad_1d(target, scores, weight, ignore_index, has_ignore, logits):
    t = target.astype(np.int64)
    keep = ~(t == ignore_index) if has_ignore else np.ones(len(t), bool)
    s = scores.astype(np.float64)
    checks = [((t < 0) | (t > 1)) & keep, ~np.isfinite(s) & keep]
    checks.append(((s < 0) | (s > 1)) & np.isfinite(s) & keep if not logits else np.zeros(len(t), bool))
    checks.append((~(np.isfinite(weight) & (weight >= 0)) & keep) if weight is not None
                  else np.zeros(len(t), bool))
    rows = [_first(c) for c in checks]
    best = min((r for r in rows if r >= 0), default=-1)
    if best < 0:
        return -1, OK
    return best, [BAD_TARGET, BAD_SCORE, SCORE_RANGE, BAD_WEIGHT][rows.index(best)]


def _first_2d(row_checks):
    """row_checks: list of (kind, bad (N,) or (N, K)) in priority order."""
    best = None
    for kind, bad in row_checks:
        rb = bad if bad.ndim == 1 else bad.any(axis=1)
        r = _first(rb)
        if r >= 0 and (best is None or r < best[0]):
            col = -1 if bad.ndim == 1 else _first(bad[r])
            best = (r, col, kind)
    return best if best is not None else (-1, -1, OK)


def _score_checks(scores, logits, keep):
    s = scores.astype(np.float64)
    nonfinite = ~np.isfinite(s)
    out_of_range = ((s < 0) | (s > 1)) & ~nonfinite if not logits else np.zeros(s.shape, bool)
    # within a row the lowest bad column wins, whatever its kind
    any_bad = (nonfinite | out_of_range) & keep[:, None]
    kinds = np.where(nonfinite, BAD_SCORE, SCORE_RANGE)
    return any_bad, kinds


def first_bad_multiclass(target, scores, weight, ignore_index, has_ignore, logits):
    n, k = scores.shape
    t = target.astype(np.int64)
    keep = ~(t == ignore_index) if has_ignore else np.ones(n, bool)
    bad_t = ((t < 0) | (t >= k)) & keep
    return _resolve_2d(bad_t, scores, weight, logits, keep & ~bad_t, keep)


def first_bad_multilabel(target, scores, weight, logits):
    n, k = scores.shape
    t = target.astype(np.int64)
    keep = np.ones(n, bool)
    bad_t = (t < 0) | (t > 1)
    return _resolve_2d(bad_t, scores, weight, logits, keep & ~bad_t.any(axis=1), keep)


def _resolve_2d(bad_t, scores, weight, logits, keep_after_target, keep):
    any_bad, kinds = _score_checks(scores, logits, keep_after_target)
    checks = [(BAD_TARGET, bad_t), (None, any_bad)]
    if weight is not None:
        rows_ok = keep_after_target & ~any_bad.any(axis=1)
        checks.append((BAD_WEIGHT, ~(np.isfinite(weight) & (weight >= 0)) & rows_ok))
    r, c, kind = _first_2d(checks)
    if kind is None:
        kind = int(kinds[r, c])
    return r, c, kind


def _true_prob(t, p, s, logits):
    """Probability of the true label; from the logit itself when logits=True."""
    if logits:
        return probability(np.where(t == 1, s, -np.asarray(s, np.float64)), True)
    return np.where(t == 1, p, 1 - p)


def _w(weight, n):
    return np.ones(n) if weight is None else weight


def count_binary(target, scores, weight, ignore_index, has_ignore, layout: BinLayout, logits,
                 eps, hist, psum, sums):
    t = target.astype(np.int64)
    keep = ~(t == ignore_index) if has_ignore else np.ones(len(t), bool)
    t, s = t[keep], scores[keep]
    w = _w(None if weight is None else weight[keep], len(t))
    b = bin_index_numpy(s, layout, logits)
    p = probability(s, logits)
    nb = hist.shape[0]
    h = np.bincount(b * 2 + t, weights=w, minlength=2 * nb).reshape(nb, 2)
    hist += h.astype(hist.dtype) if weight is None else h
    psum += np.bincount(b, weights=w * p, minlength=nb)
    sums[0] += np.sum(w * (t - p) ** 2)
    if eps > 0:
        q = np.clip(_true_prob(t, p, s, logits), eps, 1 - eps)
        sums[1] += np.sum(w * -np.log(q))


def count_multiclass(target, scores, weight, ignore_index, has_ignore, layout, logits, eps,
                     by_true, hist, psum, sums):
    n, k = scores.shape
    t = target.astype(np.int64)
    keep = ~(t == ignore_index) if has_ignore else np.ones(n, bool)
    t, s = t[keep], scores[keep]
    m = len(t)
    w = _w(None if weight is None else weight[keep], m)
    b = bin_index_numpy(s, layout, logits)  # (m, k)
    p = probability(s, logits)
    nb = psum.shape[1]
    cols = np.broadcast_to(np.arange(k), (m, k))
    onehot = (cols == t[:, None]).astype(np.int64)
    ww = np.broadcast_to(w[:, None], (m, k)).ravel()
    if by_true:
        idx = (np.broadcast_to(t[:, None], (m, k)) * k + cols) * nb + b
        h = np.bincount(idx.ravel(), weights=ww, minlength=k * k * nb).reshape(k, k, nb)
    else:
        idx = (cols * nb + b) * 2 + onehot
        h = np.bincount(idx.ravel(), weights=ww, minlength=k * nb * 2).reshape(k, nb, 2)
    hist += h.astype(hist.dtype) if weight is None else h
    psum += np.bincount((cols * nb + b).ravel(), weights=(w[:, None] * p).ravel(),
                        minlength=k * nb).reshape(k, nb)
    sums[0] += np.sum(w * np.sum((onehot - p) ** 2, axis=1))
    if eps > 0 and m:
        q = np.clip(_true_prob(1, p[np.arange(m), t], s[np.arange(m), t], logits), eps, 1 - eps)
        sums[1] += np.sum(w * -np.log(q))


def count_multilabel(target, scores, weight, layout, logits, eps, hist, psum, sums):
    n, k = scores.shape
    t = target.astype(np.int64)
    w = _w(weight, n)
    b = bin_index_numpy(scores, layout, logits)
    p = probability(scores, logits)
    nb = psum.shape[1]
    cols = np.broadcast_to(np.arange(k), (n, k))
    ww = np.broadcast_to(w[:, None], (n, k)).ravel()
    h = np.bincount(((cols * nb + b) * 2 + t).ravel(), weights=ww,
                    minlength=k * nb * 2).reshape(k, nb, 2)
    hist += h.astype(hist.dtype) if weight is None else h
    psum += np.bincount((cols * nb + b).ravel(), weights=(w[:, None] * p).ravel(),
                        minlength=k * nb).reshape(k, nb)
    sums[:, 0] += np.sum(w[:, None] * (t - p) ** 2, axis=0)
    if eps > 0:
        q = np.clip(_true_prob(t, p, scores, logits), eps, 1 - eps)
        sums[:, 1] += np.sum(w[:, None] * -np.log(q), axis=0)


def topk_ranks(target, scores):
    """0-based rank of the true class per row: sklearn's stable descending argsort puts, among
    equal scores, the higher column first."""
    st = scores[np.arange(len(target)), target][:, None]
    cols = np.arange(scores.shape[1])[None, :]
    return np.sum((scores > st) | ((scores == st) & (cols > target[:, None])), axis=1)


def multiclass_topk(target, scores, k_max, weight, ignore_index, hits):
    """hits[k-1] += w of every sample whose true class ranks within the top k (k = 1..k_max).
    target: (N,) in [0, K) (ignored samples not checked); scores (N, K) float."""
    t = target.astype(np.int64)
    keep = ~(t == ignore_index) if ignore_index is not None else np.ones(len(t), bool)
    t, s = t[keep], scores[keep]
    w = _w(None if weight is None else weight[keep], len(t))
    r = topk_ranks(t, s) if len(t) else np.zeros(0, np.int64)
    for k in range(1, k_max + 1):
        add = np.sum(w[r < k])
        hits[k - 1] += add if hits.dtype.kind == "f" else int(add)
