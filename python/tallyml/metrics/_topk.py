"""Top-k counting for MulticlassMetrics: the confusion matrix and the top-k hits of (N, K) scores
in one pass over the scores.

A sample is a top-k hit when its true class ranks within the k highest scores. Ties follow
scikit-learn's ``top_k_accuracy_score`` (a stable ascending argsort, reversed): among equal
scores the higher column ranks first, so the 0-based rank of the true class t is
``#{c: s_c > s_t} + #{c > t: s_c == s_t}`` and the sample is a hit for every k > rank.

Backends: "numpy" runs the reference (``_backends.reference.multiclass_scores``, then the ranks
with numpy); every other backend runs the fused numba kernel below (argmax, rank, checks and
counting in one pass per row; no C++ entry point yet). ``curves._backend.multiclass_topk``
counts the same hits without the confusion matrix (a second pass); this module supersedes it
for MulticlassMetrics. Errors follow the backend contract
(first bad sample; target, then preds, then sample_weight; the same messages), and a failed call
leaves every output as it was.
"""
from __future__ import annotations

import numpy as np

__all__: list[str] = []  # private module

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


def count(backend, target, scores, weight, ignore_index, state, seen, ks, hits):
    """state[t, argmax] += w, seen marked (when given), hits[j] += w for each sample whose true
    class ranks below ks[j]. ks: (m,) int64 ascending in [1, K]; hits: (m,) of state's dtype."""
    if target.shape[0] == 0:
        return
    if backend == "numpy":
        _count_reference(target, scores, weight, ignore_index, state, seen, ks, hits)
    else:
        _count_numba(target, scores, weight, ignore_index, state, seen, ks, hits)


def _count_reference(target, scores, weight, ignore_index, state, seen, ks, hits):
    from .._backends import reference
    from ..curves._kernels_numpy import topk_ranks  # the tie rule, shared with the curves

    reference.multiclass_scores(target, scores, weight, ignore_index, state, seen)  # validates
    t = target.astype(np.int64)
    keep = np.ones(len(t), bool) if ignore_index is None else t != ignore_index
    r = topk_ranks(t[keep], scores[keep])
    w = np.ones(len(r)) if weight is None else weight[keep]
    for j, k in enumerate(ks):
        hit = r < k
        hits[j] += int(np.count_nonzero(hit)) if hits.dtype.kind == "i" else np.sum(w[hit])


def _count_numba(target, scores, weight, ignore_index, state, seen, ks, hits):
    from . import _topk_numba as kn

    has_ig = ignore_index is not None and _INT64_MIN <= int(ignore_index) <= _INT64_MAX
    ig = int(ignore_index) if has_ig else 0
    has_w = weight is not None
    w = weight if has_w else kn.NO_WEIGHT
    has_seen = seen is not None
    s = seen if has_seen else kn.NO_SEEN
    err = kn.topk_serial(target, scores, w, has_w, ig, has_ig, ks, state, hits, s, has_seen)
    if err[0]:
        _raise(err, target, scores, weight, state.shape[0])


def _raise(err, target, scores, weight, k):
    code, row, col = int(err[0]), int(err[1]), int(err[2])
    if code == 1:
        raise ValueError(f"target[{row}] = {int(target[row])} is outside [0, {k})")
    if code == 2:
        raise ValueError(f"preds[{row}, {col}] = {float(scores[row, col])!r} is not finite")
    raise ValueError(f"sample_weight[{row}] = {float(weight[row])!r} is not a finite non-negative number")
