"""numba kernels of the curves package: histogram counting for the streaming curves, the exact
sweep merge, and multiclass top-k hits. Imported lazily (numba costs ~0.3 s to import).

Counting kernels assume validated input (``first_bad_*`` ran first and found nothing), so the
counting pass has no error path and the state is only touched once the whole batch is known to
be good.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# error kinds returned by the first_bad_* finders
OK, BAD_TARGET, BAD_SCORE, SCORE_RANGE, BAD_WEIGHT = 0, 1, 2, 3, 4


@intrinsic
def _f64_bits(typingctx, x):
    """Bit pattern of a float64 as int64 (a register bitcast)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@njit(inline="always", cache=True)
def _sigmoid_split(s):
    """(lower, x, y): for s < 0 the probability x (< 0.5 unless rounded), else y = 1 - p."""
    if s < 0.0:
        e = math.exp(s)
        return True, e / (1.0 + e), 0.0
    return False, 0.0, 1.0 / (1.0 + math.exp(s))


@njit(inline="always", cache=True)
def _dyadic_low(x, sh, base):
    k = (_f64_bits(x) >> sh) - base + 1
    return k if k > 0 else 0


@njit(inline="always", cache=True)
def _dyadic_up(y, sh, base, half):
    if y == 0.0:
        return 2 * half
    j = ((_f64_bits(y) - 1) >> sh) - base + 1
    if j < 0:
        j = 0
    return 2 * half - 1 - j


@njit(inline="always", cache=True)
def bin_and_prob(s, kind, a, sh, base, half, logits):
    """Bin index and float64 probability of one score."""
    if kind == 1:  # uniform
        if logits:
            low, x, y = _sigmoid_split(s)
            p = x if low else 1.0 - y
        else:
            p = s
        return np.int64(math.floor(p * a + 0.5)), p
    if logits:
        low, x, y = _sigmoid_split(s)
        if low:
            if x < 0.5:
                return _dyadic_low(x, sh, base), x
            return np.int64(half), x
        return _dyadic_up(y, sh, base, half), 1.0 - y
    return _dyadic_branchless(s, sh, base, half), s


@njit(inline="always", cache=True)
def _dyadic_branchless(x, sh, base, half):
    """Both halves computed, one selected (a coin-flip branch on x < 0.5 mispredicts half the
    time on real scores)."""
    k = (_f64_bits(x) >> sh) - base + 1
    k = max(k, 0)
    y = 1.0 - x
    j = ((_f64_bits(y) - 1) >> sh) - base + 1
    j = max(j, 0)
    up = 2 * half - 1 - j + (1 if y == 0.0 else 0)
    return k if x < 0.5 else up


@njit(inline="always", cache=True)
def _sigmoid(z):
    if z < 0.0:
        e = math.exp(z)
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(-z))


@njit(inline="always", cache=True)
def _true_prob(t, p, s, logits):
    """Probability given to the true label: from the logit itself when logits=True (1 - p
    would lose the digits of a confident score)."""
    if logits:
        return _sigmoid(s if t else -s)
    return p if t else 1.0 - p


@njit(inline="always", cache=True)
def _logloss_term(t, p, s, logits, eps):
    q = _true_prob(t, p, s, logits)
    if q < eps:
        q = eps
    elif q > 1.0 - eps:
        q = 1.0 - eps
    return -math.log(q)


@njit(nogil=True, cache=True)
def first_bad_1d(target, scores, weight, ignore_index, has_ignore, logits):
    """(row, kind) of the first bad sample of a binary batch, (-1, OK) when all are good."""
    n = target.shape[0]
    for i in range(n):
        t = np.int64(target[i])
        if has_ignore and t == ignore_index:
            continue
        if t < 0 or t > 1:
            return i, BAD_TARGET
        s = np.float64(scores[i])
        if not math.isfinite(s):
            return i, BAD_SCORE
        if not logits and (s < 0.0 or s > 1.0):
            return i, SCORE_RANGE
        if weight is not None:
            w = weight[i]
            if not (math.isfinite(w) and w >= 0.0):
                return i, BAD_WEIGHT
    return -1, OK


@njit(inline="always", cache=True)
def _bad_row_scores(scores, i, logits):
    for c in range(scores.shape[1]):
        s = np.float64(scores[i, c])
        if not math.isfinite(s):
            return c, BAD_SCORE
        if not logits and (s < 0.0 or s > 1.0):
            return c, SCORE_RANGE
    return -1, OK


@njit(nogil=True, cache=True)
def first_bad_multiclass(target, scores, weight, ignore_index, has_ignore, logits):
    """(row, col, kind) of the first bad sample: target (N,) in [0, K), scores (N, K)."""
    n, k = scores.shape
    for i in range(n):
        t = np.int64(target[i])
        if has_ignore and t == ignore_index:
            continue
        if t < 0 or t >= k:
            return i, -1, BAD_TARGET
        c, kind = _bad_row_scores(scores, i, logits)
        if kind != OK:
            return i, c, kind
        if weight is not None:
            w = weight[i]
            if not (math.isfinite(w) and w >= 0.0):
                return i, -1, BAD_WEIGHT
    return -1, -1, OK


@njit(nogil=True, cache=True)
def first_bad_multilabel(target, scores, weight, logits):
    """(row, col, kind) of the first bad sample: target (N, L) in {0, 1}, scores (N, L)."""
    n, k = scores.shape
    for i in range(n):
        for c in range(k):
            t = np.int64(target[i, c])
            if t < 0 or t > 1:
                return i, c, BAD_TARGET
        c, kind = _bad_row_scores(scores, i, logits)
        if kind != OK:
            return i, c, kind
        if weight is not None:
            w = weight[i]
            if not (math.isfinite(w) and w >= 0.0):
                return i, -1, BAD_WEIGHT
    return -1, -1, OK


@njit(inline="always", cache=True)
def _clip_q(t, p, s, logits, eps):
    q = _true_prob(t, p, s, logits)
    if q < eps:
        q = eps
    elif q > 1.0 - eps:
        q = 1.0 - eps
    return q


_EXP_MASK = np.int64(0x7FF) << 52
_ONE_EXP = np.int64(1023) << 52


@njit(inline="always", cache=True)
def _renorm(prod, expo):
    """Split prod into a mantissa in [1, 2) and a power of two added to expo (prod > 0 and
    normal: every factor is >= eps and there are at most 16 since the last renorm)."""
    bits = _f64_bits(prod)
    e = ((bits & _EXP_MASK) >> 52) - 1023
    return _bits_f64((bits & ~_EXP_MASK) | _ONE_EXP), expo + e


@intrinsic
def _bits_f64(typingctx, x):
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@njit(nogil=True, cache=True)
def count_binary(target, scores, weight, ignore_index, has_ignore, kind, a, sh, base, half,
                 logits, eps, hist, psum, sums):
    """hist[bin, t] += w; psum[bin] += w * p; sums += (w (t - p)^2, w logloss).

    Unweighted log loss is taken as the log of a running product (renormalised by its
    exponent every 16 factors), one log per batch instead of one per sample; the product's
    relative error stays ~n * 2**-53, i.e. the sum of logs is exact to ~1e-16 relative."""
    brier = 0.0
    ll = 0.0
    prod = 1.0
    expo = 0
    since = 0
    for i in range(target.shape[0]):
        t = np.int64(target[i])
        if has_ignore and t == ignore_index:
            continue
        x = np.float64(scores[i])
        b, p = bin_and_prob(x, kind, a, sh, base, half, logits)
        d = t - p
        if weight is None:
            hist[b, t] += 1
            psum[b] += p
            brier += d * d
            if eps > 0.0:
                prod *= _clip_q(t, p, x, logits, eps)
                since += 1
                if since == 16:
                    prod, expo = _renorm(prod, expo)
                    since = 0
        else:
            w = weight[i]
            hist[b, t] += w
            psum[b] += w * p
            brier += w * d * d
            if eps > 0.0:
                ll += w * _logloss_term(t, p, x, logits, eps)
    sums[0] += brier
    if weight is None:
        ll = -(math.log(prod) + expo * math.log(2.0))
    sums[1] += ll


@njit(nogil=True, cache=True)
def count_multiclass(target, scores, weight, ignore_index, has_ignore, kind, a, sh, base, half,
                     logits, eps, by_true, hist, psum, sums):
    """One-vs-rest histograms of every score column. by_true: hist (K, K, nbins) indexed by
    (true class, column, bin); else hist (K, nbins, 2) indexed by (column, bin, column == true).
    psum (K, nbins) += w p; sums += (w sum_k (onehot - p)^2, w logloss of the true column)."""
    n, k = scores.shape
    brier = 0.0
    ll = 0.0
    for i in range(n):
        t = np.int64(target[i])
        if has_ignore and t == ignore_index:
            continue
        w = 1.0 if weight is None else weight[i]
        for c in range(k):
            x = np.float64(scores[i, c])
            b, p = bin_and_prob(x, kind, a, sh, base, half, logits)
            pos = 1 if c == t else 0
            if by_true:
                if weight is None:
                    hist[t, c, b] += 1
                else:
                    hist[t, c, b] += w
            else:
                if weight is None:
                    hist[c, b, pos] += 1
                else:
                    hist[c, b, pos] += w
            psum[c, b] += w * p
            d = pos - p
            brier += w * d * d
            if pos == 1 and eps > 0.0:
                ll += w * _logloss_term(1, p, x, logits, eps)
    sums[0] += brier
    sums[1] += ll


@njit(nogil=True, cache=True)
def count_multilabel(target, scores, weight, kind, a, sh, base, half, logits, eps,
                     hist, psum, sums):
    """Per-label binary histograms: hist (L, nbins, 2), psum (L, nbins), sums (L, 2)."""
    n, k = scores.shape
    for i in range(n):
        w = 1.0 if weight is None else weight[i]
        for c in range(k):
            t = np.int64(target[i, c])
            x = np.float64(scores[i, c])
            b, p = bin_and_prob(x, kind, a, sh, base, half, logits)
            if weight is None:
                hist[c, b, t] += 1
            else:
                hist[c, b, t] += w
            psum[c, b] += w * p
            d = t - p
            sums[c, 0] += w * d * d
            if eps > 0.0:
                sums[c, 1] += w * _logloss_term(t, p, x, logits, eps)


# ---------------------------------------------------------------------------- exact sweep


@njit(nogil=True, cache=True)
def merge_sorted_counts(pos, neg):
    """Walk two ascending runs from the top; at each distinct value emit the cumulative
    (fps, tps, value). Unweighted counts are exact integers in float64."""
    i = pos.shape[0] - 1
    j = neg.shape[0] - 1
    m = pos.shape[0] + neg.shape[0]
    fps = np.empty(m, np.float64)
    tps = np.empty(m, np.float64)
    thr = np.empty(m, np.float64)
    tp = 0.0
    fp = 0.0
    g = 0
    while i >= 0 or j >= 0:
        if j < 0 or (i >= 0 and pos[i] >= neg[j]):
            v = pos[i]
        else:
            v = neg[j]
        while i >= 0 and pos[i] == v:
            tp += 1.0
            i -= 1
        while j >= 0 and neg[j] == v:
            fp += 1.0
            j -= 1
        fps[g] = fp
        tps[g] = tp
        thr[g] = v
        g += 1
    return fps[:g].copy(), tps[:g].copy(), thr[:g].copy()


@njit(nogil=True, cache=True)
def sorted_weighted_counts(scores, y_pos, weight):
    """Scores ascending (ties in any order): cumulative weighted (fps, tps) from the top."""
    n = scores.shape[0]
    fps = np.empty(n, np.float64)
    tps = np.empty(n, np.float64)
    thr = np.empty(n, np.float64)
    tp = 0.0
    fp = 0.0
    g = 0
    i = n - 1
    while i >= 0:
        v = scores[i]
        while i >= 0 and scores[i] == v:
            if y_pos[i]:
                tp += weight[i]
            else:
                fp += weight[i]
            i -= 1
        fps[g] = fp
        tps[g] = tp
        thr[g] = v
        g += 1
    return fps[:g].copy(), tps[:g].copy(), thr[:g].copy()


@njit(nogil=True, cache=True)
def average_precision_from_counts(fps, tps):
    """sklearn's step integral: sum over thresholds of (recall_i - recall_{i-1}) * precision_i."""
    total = tps[-1]
    ap = 0.0
    prev = 0.0
    for g in range(tps.shape[0]):
        d = tps[g] - prev
        if d != 0.0:
            ap += (d / total) * (tps[g] / (tps[g] + fps[g]))
        prev = tps[g]
    return ap


@njit(nogil=True, cache=True)
def split_into(y_pos, scores, buf):
    """One pass: positives' scores to the front of a caller-allocated buffer, negatives' to the
    back (numpy's allocation of a large buffer is on huge pages; a numba-allocated one faulted
    every 4 KiB page in, ~4x slower at 10M). Returns the number of positives.

    Branch-free (labels are coin flips to the branch predictor): every score is written at both
    ends and only the matching end advances; a stale copy always sits in a slot that a later
    genuine write (or the same value) overwrites, since the final write of every slot is the
    sample that owns it."""
    n = scores.shape[0]
    lo = 0
    hi = n
    for i in range(n):
        x = scores[i]
        t = 1 if y_pos[i] else 0
        if hi > 0:
            buf[hi - 1] = x
        if lo < n:
            buf[lo] = x
        lo += t
        hi -= 1 - t
    return lo


@njit(nogil=True, cache=True)
def ap_part(pos, neg, total, tp0, fp0):
    """sklearn's average precision summed over one slice of the distinct scores, walking two
    ascending class runs from the top without materialising the curve; the slice lies below
    scores that already brought tp0 true and fp0 false positives (total: all positives)."""
    i = pos.shape[0] - 1
    j = neg.shape[0] - 1
    tp = tp0
    fp = fp0
    ap = 0.0
    while i >= 0:
        if j < 0 or pos[i] >= neg[j]:
            v = pos[i]
        else:
            v = neg[j]
        d = 0.0
        while i >= 0 and pos[i] == v:
            d += 1.0
            i -= 1
        while j >= 0 and neg[j] == v:
            fp += 1.0
            j -= 1
        if d != 0.0:
            tp += d
            ap += (d / total) * (tp / (tp + fp))
    return ap


@njit(nogil=True, cache=True)
def auc_from_sorted(pos, neg):
    """Twice the ROC area times P * N, from the two ascending runs: each positive scores 2 per
    smaller negative and 1 per tied negative (the trapezoid rule on ties). Integer, exact."""
    n_pos = pos.shape[0]
    n_neg = neg.shape[0]
    j = 0
    area2 = 0
    i = 0
    while i < n_pos:
        v = pos[i]
        run = 0
        while i < n_pos and pos[i] == v:
            run += 1
            i += 1
        while j < n_neg and neg[j] < v:
            j += 1
        k = j
        while k < n_neg and neg[k] == v:
            k += 1
        area2 += run * (2 * j + (k - j))
    return area2


@njit(nogil=True, cache=True)
def multiclass_topk(target, scores, k_max, weight, ignore_index, has_ignore, hits):
    """hits[k-1] += w for every sample whose true class is among the k highest scores, for
    k = 1..k_max. Ties as sklearn's top_k_accuracy_score (a stable descending argsort reversed):
    among equal scores the higher column index ranks first. So the rank of the true class t is
    #{c: s_c > s_t} + #{c > t: s_c == s_t}; it is a top-k hit when rank < k."""
    n, kk = scores.shape
    for i in range(n):
        t = np.int64(target[i])
        if has_ignore and t == ignore_index:
            continue
        st = scores[i, t]
        r = 0
        for c in range(kk):
            sc = scores[i, c]
            if sc > st or (sc == st and c > t):
                r += 1
        w = 1.0 if weight is None else weight[i]
        for k in range(r, k_max):
            if weight is None:
                hits[k] += 1
            else:
                hits[k] += w


@njit(nogil=True, cache=True)
def true_class_ranks(target, scores):
    """0-based rank of the true class of every row under multiclass_topk's tie rule."""
    n, kk = scores.shape
    out = np.empty(n, np.int64)
    for i in range(n):
        t = target[i]
        st = scores[i, t]
        r = 0
        for c in range(kk):
            sc = scores[i, c]
            if sc > st or (sc == st and c > t):
                r += 1
        out[i] = r
    return out
