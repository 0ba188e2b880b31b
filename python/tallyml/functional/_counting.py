"""Counting for the functional API: encoded labels in, confusion counts out, through the kernel
backend chosen by ``backend="auto"`` (or the TALLYML_BACKEND override)."""
from __future__ import annotations

import numpy as np

from .. import _backends, _formulas
from ._labels import Targets, encode, union_labels

__all__ = ["backend", "count_cm", "cm_1d", "right_wrong_total", "mcm_1d", "count_multilabel",
           "select_columns"]

# A (K, K) matrix above this many cells would cost more memory than the data it summarises;
# set-wise metrics then count the three per-class sums with bincount instead.
_DENSE_CELLS_MAX = 1 << 24


def backend():
    return _backends.load(_backends.resolve("auto"))


def _state_dtype(weight):
    return np.int64 if weight is None else np.float64


def count_cm(t_idx, p_idx, k, weight):
    """(k, k) confusion counts of label indices in [0, k)."""
    state = np.zeros((k, k), dtype=_state_dtype(weight))
    if t_idx.shape[0]:
        backend().multiclass_labels(np.ascontiguousarray(t_idx), np.ascontiguousarray(p_idx),
                                    weight, None, state, None)
    return state


def cm_1d(tg: Targets, labels=None):
    """Confusion matrix of 1-D targets over the present labels plus ``labels`` (which must be
    of the targets' kind); returns (cm over the sorted union, positions of ``labels`` or None)."""
    if labels is None:
        full, pos = tg.classes, None
    else:
        full, pos, _ = union_labels(labels, tg.classes, foreign_ok=False)
    k = full.shape[0]
    return count_cm(encode(tg.true, full), encode(tg.pred, full), k, tg.weight), pos


def right_wrong_total(tg: Targets):
    """Count (or weight) of right, of wrong and of all samples of 1-D targets; the wrong ones
    are summed directly, not as total - right, so that a small error rate keeps its digits."""
    k = tg.classes.shape[0]
    if k * k <= _DENSE_CELLS_MAX:
        cm, _ = cm_1d(tg)
        right, total = np.trace(cm), cm.sum()
        wrong = total - right if tg.weight is None else cm[~np.eye(k, dtype=bool)].sum()
        return right, wrong, total
    ok = encode(tg.true, tg.classes) == encode(tg.pred, tg.classes)
    if tg.weight is None:
        right = int(ok.sum())
        return right, ok.shape[0] - right, ok.shape[0]
    return tg.weight[ok].sum(), tg.weight[~ok].sum(), tg.weight.sum()


def mcm_1d(tg: Targets, labels=None):
    """(C, 2, 2) one-vs-rest counts of 1-D targets for ``labels`` (default: present labels),
    counting every sample (labels outside ``labels`` still make fp / fn), like sklearn."""
    if labels is None:
        full, pos, size = tg.classes, None, tg.classes.shape[0]
    else:
        full, pos, size = union_labels(labels, tg.classes)
    k = full.shape[0]
    t_idx, p_idx = encode(tg.true, full), encode(tg.pred, full)
    w = tg.weight
    if k * k <= _DENSE_CELLS_MAX:
        cm = count_cm(t_idx, p_idx, k, w)
        mcm = _formulas.mcm_from_cm(cm)
        no_tp = w is None and not np.trace(cm)
    else:
        right = t_idx == p_idx
        tp = np.bincount(t_idx[right], None if w is None else w[right], minlength=k)
        pred = np.bincount(p_idx, w, minlength=k)
        true = np.bincount(t_idx, w, minlength=k)
        total = t_idx.shape[0] if w is None else w.sum()
        fp, fn = pred - tp, true - tp
        mcm = np.stack([total - tp - fp - fn, fp, fn, tp], axis=1).reshape(-1, 2, 2)
        no_tp = w is None and not right.any()
        if w is None:
            mcm = mcm.astype(np.int64)
    if size > k:  # labels that match no sample: every sample is a true negative for them
        empty = np.zeros((size - k, 2, 2), dtype=mcm.dtype)
        empty[:, 0, 0] = t_idx.shape[0] if w is None else w.sum()
        mcm = np.concatenate([mcm, empty])
    if no_tp:
        # sklearn's counts come out as floats when no sample is right (its zeros() fallback)
        mcm = mcm.astype(np.float64)
    return mcm if pos is None else mcm[pos]


def select_columns(tg: Targets, labels):
    """Multilabel targets restricted to the columns ``labels`` (sklearn's checks)."""
    if labels is None:
        return tg.true, tg.pred
    labels = np.asarray(labels)
    num = tg.classes.shape[0]
    if labels.ndim != 1 or labels.shape[0] == 0:
        raise ValueError(f"labels must be a non-empty 1-D list of label indices; got {labels!r}")
    if labels.dtype.kind not in "iu":
        raise ValueError(
            f"All labels must be in [0, n labels) for multilabel targets. Got {labels!r}"
        )
    if labels.max() > num - 1:
        raise ValueError(
            "All labels must be in [0, n labels) for multilabel targets. "
            f"Got {labels.max()} > {num - 1}"
        )
    if labels.min() < 0:
        raise ValueError(
            f"All labels must be in [0, n labels) for multilabel targets. Got {labels.min()} < 0"
        )
    return np.ascontiguousarray(tg.true[:, labels]), np.ascontiguousarray(tg.pred[:, labels])


def count_multilabel(true, pred, weight):
    """(L, 2, 2) counts and the per-sample (tp, fp, fn) histogram of 2-D bool indicators."""
    num = true.shape[1]
    state = np.zeros((num, 2, 2), dtype=_state_dtype(weight))
    hist = np.zeros(_backends.triplet_bins(num), dtype=_state_dtype(weight))
    backend().multilabel_labels(true, pred, weight, state, hist)
    return state, hist
