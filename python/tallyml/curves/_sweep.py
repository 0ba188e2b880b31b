"""Exact threshold sweep: from (target, score, weight) to the cumulative counts at every distinct
score, the quantity behind every exact curve (sklearn's ``confusion_matrix_at_thresholds``).

Route: split the scores by class, sort each class with numpy's SIMD sort (no payload, no argsort),
then merge the two sorted runs from the top in one numba pass. Weighted input needs the weights
to follow the scores: float32 scores pack (order key, row) into one uint64 and sort that; float64
scores fall back to a stable argsort.
"""
from __future__ import annotations

import numpy as np

_jit = None


def _kernels():
    """Compile (or load from numba's cache) the merge kernels on first use."""
    global _jit
    if _jit is None:
        from . import _kernels_numba

        _jit = _kernels_numba
    return _jit


def _f32_order_keys(scores32):
    """Order-preserving uint32 image of float32 values (negatives flipped, sign bit set on
    positives), so that integer order equals float order (-0.0 and 0.0 stay adjacent)."""
    bits = scores32.view(np.uint32)
    mask = np.where(bits >> 31, np.uint32(0xFFFFFFFF), np.uint32(0x80000000))
    return bits ^ mask


def clf_counts(y_pos, scores, weight=None):
    """Cumulative false and true positives at each distinct score, highest score first.

    y_pos: (N,) bool; scores: (N,) float32/float64, finite; weight: None or (N,) float64.
    Returns (fps, tps, thresholds): float64 arrays, thresholds strictly decreasing. Zero-weight
    samples are dropped first (sklearn does the same)."""
    k = _kernels()
    if weight is not None:
        keep = weight != 0
        if not keep.all():
            y_pos, scores, weight = y_pos[keep], scores[keep], weight[keep]
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)
    if weight is None:
        return k.merge_sorted_counts(*_split_sorted(y_pos, scores))
    n = scores.shape[0]
    if scores.dtype == np.float32 and n < 2**32:
        packed = (_f32_order_keys(scores).astype(np.uint64) << np.uint64(32)) | np.arange(
            n, dtype=np.uint64
        )
        packed.sort()
        order = (packed & np.uint64(0xFFFFFFFF)).astype(np.intp)
    else:
        order = np.argsort(scores, kind="stable")
    return k.sorted_weighted_counts(scores[order], y_pos[order], weight[order])


def _split_sorted(y_pos, scores):
    """Each class's scores, ascending, as two views of one buffer (sorted in place)."""
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)
    buf, n_pos = _kernels().split_by_class(y_pos, scores)
    pos, neg = buf[:n_pos], buf[n_pos:]
    pos.sort()
    neg.sort()
    return pos, neg


def auc_unweighted(y_pos, scores):
    """Exact ROC AUC of an unweighted binary problem with both classes present."""
    pos, neg = _split_sorted(y_pos, scores)
    area2 = _kernels().auc_from_sorted(pos, neg)
    return float(area2 / (2.0 * pos.shape[0] * neg.shape[0]))


def ap_unweighted(y_pos, scores):
    """sklearn's average precision of an unweighted binary problem with positives present."""
    pos, neg = _split_sorted(y_pos, scores)
    return float(_kernels().ap_from_sorted(pos, neg))
