"""numba kernel of MulticlassMetrics' top-k counting (see ``_topk``): one pass per row finds
the argmax (first maximum), the rank of the true class (sklearn's tie rule) and checks every
value. Imported lazily: importing numba costs ~0.3 s.

Single-threaded for now; a chunked ``prange`` like ``_backends.numba_cpu`` would be the next
step for very large batches.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__: list[str] = []  # private module

NO_WEIGHT = np.empty(0, dtype=np.float64)
NO_SEEN = np.empty(0, dtype=np.uint8)

_KW = dict(nogil=True, cache=True)


@njit(**_KW)
def _rows(target, scores, weight, has_w, ig, has_ig, ks, hist, hits, seen, has_seen, count):
    """Check rows in order and, when ``count``, add them to hist (flat K*K), hits (m,) and seen.
    Returns (code, row, col): code 0 valid, 1 target, 2 preds (col: first non-finite column),
    3 sample_weight."""
    n, k = scores.shape
    uk = np.uint64(k)
    m = ks.shape[0]
    for i in range(n):
        t = np.int64(target[i])
        if has_ig and t == ig:
            continue
        if np.uint64(t) >= uk:  # negative labels wrap to huge values
            return 1, i, -1
        st = scores[i, t]
        best = scores[i, 0]
        p = 0
        r = 0
        for j in range(k):
            v = scores[i, j]
            if not (abs(v) < np.inf):  # NaN fails too
                return 2, i, j
            if v > best:  # strict: the first maximum is the prediction
                best = v
                p = j
            if v > st or (v == st and j > t):  # sklearn: among ties the higher column ranks first
                r += 1
        w = 1.0
        if has_w:
            w = weight[i]
            if not (w >= 0.0 and w < np.inf):
                return 3, i, -1
        if not count:
            continue
        if has_w:
            hist[t * k + p] += w
            for j in range(m):
                if r < ks[j]:
                    hits[j] += w
        else:
            hist[t * k + p] += 1
            for j in range(m):
                if r < ks[j]:
                    hits[j] += 1
        if has_seen:
            seen[t] = 1
            seen[p] = 1
    return 0, 0, -1


@njit(**_KW)
def topk_serial(target, scores, weight, has_w, ig, has_ig, ks, state, hits, seen, has_seen):
    """Count a batch into state (K, K), hits (m,) and seen, or (on a bad value) change nothing."""
    k = state.shape[0]
    kk = k * k
    flat = state.reshape(kk)
    n = target.shape[0]
    if n < kk:
        # small batch, large state: validate, then count straight into the outputs
        err = _rows(target, scores, weight, has_w, ig, has_ig, ks, flat, hits, seen, has_seen,
                    False)
        if err[0] == 0:
            _rows(target, scores, weight, has_w, ig, has_ig, ks, flat, hits, seen, has_seen, True)
        return err
    hist = np.zeros(kk, dtype=state.dtype)
    part = np.zeros(hits.shape[0], dtype=hits.dtype)
    seen_part = np.zeros(k if has_seen else 0, dtype=np.uint8)
    err = _rows(target, scores, weight, has_w, ig, has_ig, ks, hist, part, seen_part, has_seen,
                True)
    if err[0] == 0:
        for b in range(kk):
            flat[b] += hist[b]
        for j in range(hits.shape[0]):
            hits[j] += part[j]
        if has_seen:
            for j in range(k):
                if seen_part[j]:
                    seen[j] = 1
    return err
