"""Exact threshold sweep: from (target, score, weight) to the cumulative counts at every distinct
score, the quantity behind every exact curve (sklearn's ``confusion_matrix_at_thresholds``).

Unweighted: split the scores by class into one numpy buffer (numba), sort each class with
numpy's SIMD sort (no payload, no argsort), then merge the two sorted runs in one numba pass.
From 1M rows the two class sorts run on two threads, and the AUC / AP merge is cut at a distinct
score into two independent halves, also on two threads (numpy's sort and the nogil kernels
release the GIL); the cut does not depend on the thread count, so neither do the results.

Weighted: the weights must follow the scores. They go to the core's stable LSD radix sort with
labels and weights as payload (csrc/src/rank.cpp, ``tm_curves_sweep_*``; scratch of about
2 * N * (score size + 9) bytes), which replaced a stable argsort (float64: 3.5 s vs 8.8 s at 10M
on the loaded VM) and a packed uint64 sort (float32: 1.7 s vs 2.5 s). Without the native library:
float32 scores pack (order key, row) into one uint64 and sort that with numpy, float64 scores
take a stable argsort.
(The core also offers ``tm_curves_auc_*`` / ``tm_curves_ap_*``; on this VM its radix sort was
slower than numpy's AVX-512 sort of each class, so the unweighted path keeps numpy's sort.)
"""
from __future__ import annotations

import os
import threading

import numpy as np

_jit = None


_nat = None
# Tests set this to False to exercise the numba route beside the native one.
use_native = True


def _native():
    """The native bridge when the core loads and is wanted, else None."""
    global _nat
    if not use_native:
        return None
    if _nat is None:
        from .. import _native as nat

        _nat = nat if nat.available() else False
    return _nat or None


_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


def _native_args(nat, y_pos, scores):
    """(uint8 labels, contiguous scores, scores' suffix) for the native sweeps."""
    y = np.ascontiguousarray(y_pos)
    y = y.view(np.uint8) if y.dtype == bool else (y != 0).view(np.uint8)
    s = np.ascontiguousarray(scores)
    if s.dtype not in _SUFFIX:
        s = s.astype(np.float64)
    return y, s, _SUFFIX[s.dtype]


def _native_scalar(nat, name, y_pos, scores):
    """(value, number of positives) from tm_curves_auc_* / tm_curves_ap_*."""
    y, s, sn = _native_args(nat, y_pos, scores)
    out = np.zeros(1, np.float64)
    n_pos = np.zeros(1, np.int64)
    addr = nat.address
    rc = nat.function(f"tm_curves_{name}_{sn}")(addr(y), addr(s), s.shape[0], addr(out),
                                                addr(n_pos), 0)
    if rc:
        nat.raise_for(rc)
    return float(out[0]), int(n_pos[0])


def _native_counts(nat, y_pos, scores, weight):
    y, s, sn = _native_args(nat, y_pos, scores)
    n = s.shape[0]
    out = np.empty((3, max(n, 1)), np.float64)
    m = np.zeros(1, np.int64)
    addr = nat.address
    w = None if weight is None else np.ascontiguousarray(weight, dtype=np.float64)
    rc = nat.function(f"tm_curves_sweep_{sn}")(addr(y), addr(s), None if w is None else addr(w),
                                               n, addr(out[0]), addr(out[1]), addr(out[2]),
                                               addr(m), 0)
    if rc:
        nat.raise_for(rc)
    g = int(m[0])
    return out[0, :g].copy(), out[1, :g].copy(), out[2, :g].copy()


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
    if weight is not None:
        keep = weight != 0
        if not keep.all():
            y_pos, scores, weight = y_pos[keep], scores[keep], weight[keep]
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)
    nat = _native() if weight is not None else None
    if nat is not None:
        return _native_counts(nat, y_pos, scores, weight)
    k = _kernels()
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


#: from this many rows the class sorts and the merge halves run on two threads
PARALLEL_MIN = 1 << 20


def _both(f, g):
    """(f(), g()), f on a second thread when the machine has two cores."""
    if (os.cpu_count() or 1) < 2:
        return f(), g()
    box = []

    def run():
        try:
            box.append((True, f()))
        except BaseException as exc:  # re-raised on the calling thread
            box.append((False, exc))

    th = threading.Thread(target=run)
    th.start()
    try:
        b = g()
    finally:
        th.join()
    ok, a = box[0]
    if not ok:
        raise a
    return a, b


def _split_sorted(y_pos, scores):
    """Each class's scores, ascending, as two views of one buffer (sorted in place)."""
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)
    scores = np.ascontiguousarray(scores)
    buf = np.empty_like(scores)
    n_pos = _kernels().split_into(y_pos, scores, buf)
    pos, neg = buf[:n_pos], buf[n_pos:]
    if buf.shape[0] >= PARALLEL_MIN:
        _both(pos.sort, neg.sort)
    else:
        pos.sort()
        neg.sort()
    return pos, neg


def _cut(pos, neg):
    """(a, b): pos[:a], neg[:b] hold every score <= a middle positive, the rest are above it,
    so each half's merge is independent of the other's. None below PARALLEL_MIN."""
    if pos.shape[0] + neg.shape[0] < PARALLEL_MIN or pos.shape[0] < 2:
        return None
    v = pos[pos.shape[0] // 2]
    return int(np.searchsorted(pos, v, "right")), int(np.searchsorted(neg, v, "right"))


def auc_unweighted(y_pos, scores):
    """Exact ROC AUC of an unweighted binary problem with both classes present."""
    pos, neg = _split_sorted(y_pos, scores)
    k = _kernels()
    cut = _cut(pos, neg)
    if cut is None:
        area2 = k.auc_from_sorted(pos, neg)
    else:
        a, b = cut
        lo, hi = _both(lambda: k.auc_from_sorted(pos[:a], neg[:b]),
                       lambda: k.auc_from_sorted(pos[a:], neg[b:]))
        # positives above the cut also outrank every negative below it (2 per pair)
        area2 = int(lo) + int(hi) + (pos.shape[0] - a) * 2 * b
    return float(area2 / (2.0 * pos.shape[0] * neg.shape[0]))


def ap_unweighted(y_pos, scores):
    """sklearn's average precision of an unweighted binary problem with positives present."""
    pos, neg = _split_sorted(y_pos, scores)
    k = _kernels()
    cut = _cut(pos, neg)
    total = float(pos.shape[0])
    if cut is None:
        return float(k.ap_part(pos, neg, total, 0.0, 0.0))
    a, b = cut
    hi, lo = _both(lambda: k.ap_part(pos[a:], neg[b:], total, 0.0, 0.0),
                   lambda: k.ap_part(pos[:a], neg[:b], total, float(pos.shape[0] - a),
                                     float(neg.shape[0] - b)))
    return float(hi + lo)
