"""The numpy reference backend: slow, obvious, and the definition the fast backends are tested
against. Written for clarity, not speed (it makes temporaries of size N freely).

Error contract shared by all backends: the first bad *sample* (lowest row index among the samples
that are not ignored) is reported; within that sample, target before preds before sample_weight,
and within a row of a 2-D argument the lowest column. Messages:
    "target[12] = 7 is outside [0, 3)"            labels (2-D: "target[12, 4] = ...")
    "preds[5] = nan is not finite"                scores (2-D: "preds[5, 2] = inf ...")
    "sample_weight[3] = -1.0 is not a finite non-negative number"
Values print as Python's repr of int/float (nan, inf, -inf).
"""
from __future__ import annotations

import numpy as np


def _fmt(name, row, col, value):
    where = f"{name}[{row}]" if col is None else f"{name}[{row}, {col}]"
    return where, value


def _label_bad(values, high):
    v = values.astype(np.int64)
    return (v < 0) | (v >= high)


def _raise_first(checks, rows):
    """checks: list of (name, bad_mask (n,) or (n, m), values, kind, high). Raise for the first row
    with any bad entry, in the order of ``checks``; ``rows`` maps kept rows to original rows."""
    first = None
    for name, bad, values, kind, high in checks:
        row_bad = bad if bad.ndim == 1 else bad.any(axis=1)
        if row_bad.any():
            r = int(np.flatnonzero(row_bad)[0])
            if first is None or r < first[0]:
                first = (r, name, bad, values, kind, high)
    if first is None:
        return
    r, name, bad, values, kind, high = first
    col = None if bad.ndim == 1 else int(np.flatnonzero(bad[r])[0])
    v = values[r] if col is None else values[r, col]
    where = f"{name}[{int(rows[r])}]" if col is None else f"{name}[{int(rows[r])}, {col}]"
    if kind == "label":
        raise ValueError(f"{where} = {int(v)} is outside [0, {high})")
    if kind == "score":
        raise ValueError(f"{where} = {float(v)!r} is not finite")
    raise ValueError(f"{where} = {float(v)!r} is not a finite non-negative number")


def _weight_check(weight):
    if weight is None:
        return []
    return [("sample_weight", ~np.isfinite(weight) | (weight < 0), weight, "weight", None)]


def _label_check(name, values, high):
    return [(name, _label_bad(values, high), values, "label", high)]


def _score_check(name, scores):
    return [(name, ~np.isfinite(scores), scores, "score", None)]


def _select(target, arrays, weight, ignore_index):
    if ignore_index is None:
        keep = np.ones(len(target), dtype=bool)
    else:
        keep = target.astype(np.int64) != ignore_index
    rows = np.flatnonzero(keep)
    w = None if weight is None else weight[keep]
    return target[keep], [a[keep] for a in arrays], w, rows


def _add(state, index, weight):
    size = state.size
    if weight is None:
        state.reshape(-1)[:] += np.bincount(index, minlength=size).astype(state.dtype)
    else:
        state.reshape(-1)[:] += np.bincount(index, weights=weight, minlength=size)


def binary_labels(target, preds, weight, ignore_index, state, num_threads=0):
    t, (p,), w, rows = _select(target, [preds], weight, ignore_index)
    _raise_first(_label_check("target", t, 2) + _label_check("preds", p, 2) + _weight_check(w), rows)
    _add(state, t.astype(np.int64) * 2 + p.astype(np.int64), w)


def binary_scores(target, scores, threshold, weight, ignore_index, state, num_threads=0):
    t, (s,), w, rows = _select(target, [scores], weight, ignore_index)
    _raise_first(_label_check("target", t, 2) + _score_check("preds", s) + _weight_check(w), rows)
    p = (s.astype(np.float64) >= threshold).astype(np.int64)
    _add(state, t.astype(np.int64) * 2 + p, w)


def _mark_seen(seen, t, p):
    if seen is not None and len(t):
        seen[np.unique(np.concatenate([t, p]))] = 1


def multiclass_labels(target, preds, weight, ignore_index, state, seen, num_threads=0):
    k = state.shape[0]
    t, (p,), w, rows = _select(target, [preds], weight, ignore_index)
    _raise_first(_label_check("target", t, k) + _label_check("preds", p, k) + _weight_check(w), rows)
    t = t.astype(np.int64)
    p = p.astype(np.int64)
    _add(state, t * k + p, w)
    _mark_seen(seen, t, p)


def multiclass_scores(target, scores, weight, ignore_index, state, seen, num_threads=0):
    k = state.shape[0]
    t, (s,), w, rows = _select(target, [scores], weight, ignore_index)
    _raise_first(_label_check("target", t, k) + _score_check("preds", s) + _weight_check(w), rows)
    t = t.astype(np.int64)
    p = np.argmax(s, axis=1).astype(np.int64) if len(s) else np.zeros(0, np.int64)
    _add(state, t * k + p, w)
    _mark_seen(seen, t, p)


def triplet_index(tp, fp, fn):
    """Dense index of the per-sample triplet (tp, fp, fn) with tp + fp + fn <= L.

    Triplets are grouped by s = tp + fp + fn (C(s+2, 3) triplets have a smaller sum), then by
    r = fp + fn (r(r+1)/2 before it), then by fn. The index does not depend on L, so histograms
    of different L agree on their common prefix."""
    s = tp + fp + fn
    r = fp + fn
    return s * (s + 1) * (s + 2) // 6 + r * (r + 1) // 2 + fn


def _multilabel(target, preds_bin, weight, state, samples, num_threads=0):
    n, l = target.shape
    t = target.astype(np.int64)
    p = preds_bin.astype(np.int64)
    idx = np.arange(l)[None, :] * 4 + t * 2 + p
    w = None if weight is None else np.repeat(weight, l)
    _add(state, idx.reshape(-1), w)
    tp = ((t == 1) & (p == 1)).sum(axis=1)
    fp = ((t == 0) & (p == 1)).sum(axis=1)
    fn = ((t == 1) & (p == 0)).sum(axis=1)
    _add(samples, triplet_index(tp, fp, fn), weight)


def multilabel_labels(target, preds, weight, state, samples, num_threads=0):
    rows = np.arange(len(target))
    _raise_first(_label_check("target", target, 2) + _label_check("preds", preds, 2)
                 + _weight_check(weight), rows)
    _multilabel(target, preds, weight, state, samples)


def multilabel_scores(target, scores, threshold, weight, state, samples, num_threads=0):
    rows = np.arange(len(target))
    _raise_first(_label_check("target", target, 2) + _score_check("preds", scores)
                 + _weight_check(weight), rows)
    _multilabel(target, scores.astype(np.float64) >= threshold, weight, state, samples)
