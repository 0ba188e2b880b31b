"""Exact one-shot curve and probabilistic metrics: drop-in replacements for scikit-learn 1.9's
functions of the same names and signatures, equal to them to 1e-12.

All threshold sweeps go through ``_sweep.clf_counts`` (per-class SIMD sort + one merge pass)
instead of sklearn's stable argsort and fancy indexing, which is where the speed comes from.
sklearn's warnings are emitted as tallyml warnings (``UndefinedMetricWarning`` /
``TallymlWarning``), with NaN results where sklearn returns NaN.
"""
from __future__ import annotations

import warnings
from itertools import combinations

import numpy as np

from .._errors import TallymlWarning, UndefinedMetricWarning
from . import _formulas as _f
from . import _sweep
from ._targets import (
    check_pos_label,
    column,
    float_scores,
    same_length,
    type_of_target,
    unique_small,
    weights,
)

__all__ = [
    "average_precision_score",
    "brier_score_loss",
    "calibration_curve",
    "det_curve",
    "log_loss",
    "precision_recall_curve",
    "roc_auc_score",
    "roc_curve",
    "top_k_accuracy_score",
]


# ---------------------------------------------------------------------------- binary sweeps


def _counts(y_true, y_score, pos_label, sample_weight):
    """sklearn's confusion_matrix_at_thresholds -> (fps, tps, thresholds)."""
    y_pos, y_score, w = _binary_inputs(y_true, y_score, pos_label, sample_weight, True)
    return _sweep.clf_counts(y_pos, y_score, w)


def _binary_inputs(y_true, y_score, pos_label, sample_weight, with_weight=False):
    """Checked (y_pos, y_score[, weight]) of a binary sweep."""
    y_type = type_of_target(y_true)
    if not (y_type == "binary" or (y_type == "multiclass" and pos_label is not None)):
        raise ValueError(f"{y_type} format is not supported")
    y_true = column(y_true, "y_true")
    y_score = float_scores(column(y_score, "y_score"), "y_score")
    same_length(("y_true", y_true), ("y_score", y_score), ("sample_weight", sample_weight))
    w = weights(sample_weight, y_true.shape[0])
    pos_label = check_pos_label(pos_label, y_true)
    y_pos = np.asarray(y_true == pos_label, dtype=bool)
    return (y_pos, y_score, w) if with_weight else (y_pos, y_score)


_keep_tp_changes = _f.keep_tp_changes


def roc_curve(y_true, y_score, *, pos_label=None, sample_weight=None, drop_intermediate=True):
    """Receiver operating characteristic (sklearn.metrics.roc_curve)."""
    fps, tps, thr = _counts(y_true, y_score, pos_label, sample_weight)
    return _roc_from_counts(fps, tps, thr, drop_intermediate)


def _roc_from_counts(fps, tps, thr, drop_intermediate=True):
    return _f.roc_from_counts(fps, tps, thr, drop_intermediate, stacklevel=4)


def precision_recall_curve(y_true, y_score, *, pos_label=None, sample_weight=None,
                           drop_intermediate=False):
    """Precision-recall pairs (sklearn.metrics.precision_recall_curve)."""
    fps, tps, thr = _counts(y_true, y_score, pos_label, sample_weight)
    return _f.pr_from_counts(fps, tps, thr, drop_intermediate, stacklevel=4)


def det_curve(y_true, y_score, pos_label=None, sample_weight=None, drop_intermediate=False):
    """Detection error tradeoff (sklearn.metrics.det_curve)."""
    fps, tps, thr = _counts(y_true, y_score, pos_label, sample_weight)
    tps = np.concatenate([[0.0], tps])
    fps = np.concatenate([[0.0], fps])
    thr = np.concatenate([[np.inf], thr.astype(np.float64)])
    if drop_intermediate and len(fps) > 2:
        keep = _keep_tp_changes(tps)
        fps, tps, thr = fps[keep], tps[keep], thr[keep]
    if np.unique(column(y_true, "y_true")).shape[0] != 2:
        raise ValueError(
            "Only one class is present in y_true. Detection error tradeoff curve is not "
            "defined in that case."
        )
    fns = tps[-1] - tps
    p_count, n_count = tps[-1], fps[-1]
    first = np.searchsorted(fps, fps[0], side="right")
    first_ind = first - 1 if first > 0 else None
    last_ind = np.searchsorted(tps, tps[-1]) + 1
    sl = slice(first_ind, last_ind)
    return fps[sl][::-1] / n_count, fns[sl][::-1] / p_count, thr[sl][::-1]


# ---------------------------------------------------------------------------- binary scores


def _binary_roc_auc(y_true, y_score, sample_weight=None, max_fpr=None, two_classes=None):
    """sklearn's _binary_roc_auc_score on a 0/1 (or bool) target column."""
    if two_classes is None:
        two_classes = len(unique_small(y_true)) == 2
    if not two_classes:
        warnings.warn(
            "Only one class is present in y_true. ROC AUC score is not defined in that case.",
            UndefinedMetricWarning,
            stacklevel=3,
        )
        return np.nan
    y_pos = np.asarray(y_true, dtype=bool) if y_true.dtype == bool else (y_true == 1)
    # every caller passes scores already through float_scores (a second isfinite pass over
    # N scores cost ~5% of a 10M call); only the shape is left to check
    if y_score.ndim != 1:
        raise ValueError(f"y_score must be 1-D; got shape {y_score.shape}")
    if sample_weight is None and (max_fpr is None or max_fpr == 1):
        return _sweep.auc_unweighted(y_pos, y_score)
    fps, tps, thr = _sweep.clf_counts(y_pos, y_score, sample_weight)
    if fps[-1] <= 0 or tps[-1] <= 0:  # one class left after dropping zero weights
        fpr, tpr, _ = _roc_from_counts(fps, tps, thr)
        return _trapezoid(fpr, tpr)
    if max_fpr is None or max_fpr == 1:
        return _f.auc_from_counts(fps, tps)
    if max_fpr <= 0 or max_fpr > 1:
        raise ValueError(f"Expected max_fpr in range (0, 1], got: {max_fpr!r}")
    fpr, tpr, _ = _roc_from_counts(fps, tps, thr)
    return _f.partial_auc(fpr, tpr, max_fpr)


def _trapezoid(x, y):
    return float(np.trapezoid(y, x))


def _binary_ap(y_true, y_score, pos_label=1, sample_weight=None):
    """sklearn's step integral of the precision-recall curve."""
    if sample_weight is None:
        y_pos, y_score = _binary_inputs(y_true, y_score, pos_label, None)
        if y_pos.any():
            return max(0.0, _sweep.ap_unweighted(y_pos, y_score))
    fps, tps, _ = _counts(y_true, y_score, pos_label, sample_weight)
    if tps[-1] == 0:
        warnings.warn(
            "No positive class found in y_true, recall is set to one for all thresholds.",
            TallymlWarning,
            stacklevel=3,
        )
        return 0.0
    return max(0.0, float(_sweep._kernels().average_precision_from_counts(fps, tps)))


# ---------------------------------------------------------------------------- averaging


def _average_binary_score(metric, y_true, y_score, average, sample_weight=None):
    """sklearn's _average_binary_score: binary, or one column (or row) at a time."""
    if average not in (None, "micro", "macro", "weighted", "samples"):
        raise ValueError(
            "average has to be one of (None, 'micro', 'macro', 'weighted', 'samples'); "
            f"got {average!r}"
        )
    y_type = type_of_target(y_true)
    if y_type not in ("binary", "multilabel-indicator"):
        raise ValueError(f"{y_type} format is not supported")
    if y_type == "binary":
        return metric(y_true, y_score, sample_weight=sample_weight)
    y_true = np.asarray(y_true)
    y_score = float_scores(y_score, "y_score")
    same_length(("y_true", y_true), ("y_score", y_score), ("sample_weight", sample_weight))
    if y_score.shape != y_true.shape:
        raise ValueError(
            f"y_score must have the shape of y_true {y_true.shape}; got {y_score.shape}"
        )
    w = weights(sample_weight, y_true.shape[0])
    axis = 1
    score_weight, average_weight = w, None
    if average == "micro":
        if w is not None:
            score_weight = np.repeat(w, y_true.shape[1])
        y_true, y_score = y_true.ravel(), y_score.ravel()
    elif average == "weighted":
        if w is not None:
            average_weight = np.sum(y_true.astype(np.float64) * w.reshape(-1, 1), axis=0)
        else:
            average_weight = np.sum(y_true, axis=0)
        if np.isclose(np.sum(average_weight), 0):
            return 0
    elif average == "samples":
        average_weight, score_weight = w, None
        axis = 0
    if y_true.ndim == 1:
        y_true = y_true.reshape(-1, 1)
        y_score = y_score.reshape(-1, 1)
    n = y_score.shape[axis]
    score = np.zeros(n)
    for c in range(n):
        yt = np.ascontiguousarray(np.take(y_true, c, axis=axis))
        ys = np.ascontiguousarray(np.take(y_score, c, axis=axis))
        score[c] = metric(yt, ys, sample_weight=score_weight)
    if average is None:
        return score
    if average_weight is not None:
        score[average_weight == 0] = 0
    return float(np.average(score, weights=average_weight))


def _labels_param(labels, n_columns, y_true, dot=""):
    labels = column(labels, "labels")
    classes = np.unique(labels)
    if len(classes) != len(labels):
        raise ValueError(f"Parameter 'labels' must be unique{dot}")
    if not np.array_equal(classes, labels):
        raise ValueError(f"Parameter 'labels' must be ordered{dot}")
    if len(classes) != n_columns:
        raise ValueError(
            f"Number of given labels ({len(classes)}) not equal to the number of columns in "
            f"'y_score' ({n_columns}){dot}"
        )
    if len(np.setdiff1d(y_true, classes)):
        raise ValueError(f"'y_true' contains labels not in parameter 'labels'{dot}")
    return classes


# ---------------------------------------------------------------------------- public scores


def roc_auc_score(y_true, y_score, *, average="macro", sample_weight=None, max_fpr=None,
                  multi_class="raise", labels=None):
    """Area under the ROC curve (sklearn.metrics.roc_auc_score)."""
    if multi_class not in ("raise", "ovr", "ovo"):
        raise ValueError(f"multi_class must be 'raise', 'ovr' or 'ovo'; got {multi_class!r}")
    if max_fpr is not None and not (0 < max_fpr <= 1):
        raise ValueError(f"max_fpr must be in (0, 1] or None; got {max_fpr!r}")
    y_type = type_of_target(y_true)
    y_true = np.asarray(y_true)
    y_score = float_scores(y_score, "y_score")
    w = None if sample_weight is None else column(sample_weight, "sample_weight", dtype=np.float64)
    if y_type == "multiclass" or (y_type == "binary" and y_score.ndim == 2 and y_score.shape[1] > 2):
        if max_fpr is not None and max_fpr != 1.0:
            raise ValueError(
                "Partial AUC computation not available in multiclass setting, 'max_fpr' must be"
                f" set to `None`, received `max_fpr={max_fpr}` instead"
            )
        if multi_class == "raise":
            raise ValueError("multi_class must be in ('ovo', 'ovr')")
        return _multiclass_roc_auc(column(y_true, "y_true"), y_score, labels, multi_class,
                                   average, w)
    if y_type == "binary":
        y_true = column(y_true, "y_true")
        classes = unique_small(y_true)
        y_bin = (y_true == classes[-1]) if len(classes) == 2 else np.zeros(len(y_true), bool)
        if y_score.ndim == 2 and y_score.shape[1] == 1:
            y_score = y_score[:, 0]
        if y_score.ndim != 1:
            raise ValueError(f"y_score must be 1-D for a binary y_true; got shape {y_score.shape}")
        same_length(("y_true", y_true), ("y_score", y_score), ("sample_weight", w))
        return _binary_roc_auc(y_bin, y_score, weights(w, len(y_true)), max_fpr,
                               len(classes) == 2)
    if y_type != "multilabel-indicator":
        raise ValueError(f"{y_type} format is not supported")
    return _average_binary_score(
        lambda yt, ys, sample_weight=None: _binary_roc_auc(yt, ys, sample_weight, max_fpr),
        y_true, y_score, average, w,
    )


def _multiclass_roc_auc(y_true, y_score, labels, multi_class, average, w):
    if y_score.ndim != 2:
        raise ValueError(
            "`y_score` needs to be of shape `(n_samples, n_classes)`, since `y_true` contains "
            f"multiple classes. Got `y_score.shape={y_score.shape}`."
        )
    if not np.allclose(1, y_score.sum(axis=1)):
        raise ValueError(
            "Target scores need to be probabilities for multiclass roc_auc, i.e. they should "
            "sum up to 1.0 over classes"
        )
    options = ("macro", "weighted", None)
    if multi_class == "ovr":
        options = ("micro",) + options
    if average not in options:
        raise ValueError(f"average must be one of {options} for multiclass problems")
    if average is None and multi_class == "ovo":
        raise NotImplementedError("average=None is not implemented for multi_class='ovo'.")
    same_length(("y_true", y_true), ("y_score", y_score), ("sample_weight", w))
    if labels is not None:
        classes = _labels_param(labels, y_score.shape[1], y_true)
    else:
        classes = np.unique(y_true)
        if len(classes) != y_score.shape[1]:
            raise ValueError(
                "Number of classes in y_true not equal to the number of columns in 'y_score'"
            )
    if multi_class == "ovo":
        if w is not None:
            raise ValueError(
                "sample_weight is not supported for multiclass one-vs-one ROC AUC, "
                "'sample_weight' must be None in this case."
            )
        encoded = np.searchsorted(classes, y_true)
        return _ovo_average(encoded, y_score, average)
    onehot = (y_true[:, None] == classes[None, :]).astype(np.int64)
    return _average_binary_score(
        lambda yt, ys, sample_weight=None: _binary_roc_auc(yt, ys, sample_weight),
        onehot, y_score, average, w,
    )


def _ovo_average(y_true, y_score, average):
    """Hand & Till (2001), as sklearn's _average_multiclass_ovo_score."""
    present = np.unique(y_true)
    n_pairs = len(present) * (len(present) - 1) // 2
    pair_scores = np.empty(n_pairs)
    prevalence = np.empty(n_pairs) if average == "weighted" else None
    for ix, (a, b) in enumerate(combinations(present, 2)):
        a_mask = y_true == a
        b_mask = y_true == b
        ab = a_mask | b_mask
        if prevalence is not None:
            prevalence[ix] = np.average(ab)
        sa = _binary_roc_auc(a_mask[ab], np.ascontiguousarray(y_score[ab, a]))
        sb = _binary_roc_auc(b_mask[ab], np.ascontiguousarray(y_score[ab, b]))
        pair_scores[ix] = (sa + sb) / 2
    return float(np.average(pair_scores, weights=prevalence))


def average_precision_score(y_true, y_score, *, average="macro", pos_label=1, sample_weight=None):
    """Average precision (sklearn.metrics.average_precision_score)."""
    y_type = type_of_target(y_true)
    y_true = np.asarray(y_true)
    present = unique_small(y_true)
    w = None if sample_weight is None else column(sample_weight, "sample_weight", dtype=np.float64)
    if y_type == "binary":
        if present.shape[0] == 2 and pos_label not in present.tolist():
            raise ValueError(
                f"pos_label={pos_label} is not a valid label. It should be one of {present}"
            )
    elif y_type == "multilabel-indicator" and pos_label != 1:
        raise ValueError(
            "Parameter pos_label is fixed to 1 for multilabel-indicator y_true. Do not set "
            "pos_label or set pos_label to 1."
        )
    elif y_type == "multiclass":
        if pos_label != 1:
            raise ValueError(
                "Parameter pos_label is fixed to 1 for multiclass y_true. Do not set pos_label "
                "or set pos_label to 1."
            )
        y_true = (column(y_true, "y_true")[:, None] == present[None, :]).astype(np.int64)
        y_score_a = np.asarray(y_score)
        if y_score_a.shape != y_true.shape:
            raise ValueError(
                "`y_score` needs to be of shape `(n_samples, n_classes)`, since `y_true` "
                f"contains multiple classes. Got `y_score.shape={y_score_a.shape}`."
            )
    return _average_binary_score(
        lambda yt, ys, sample_weight=None: _binary_ap(yt, ys, pos_label, sample_weight),
        y_true, y_score, average, w,
    )


def top_k_accuracy_score(y_true, y_score, *, k=2, normalize=True, sample_weight=None,
                         labels=None):
    """Top-k accuracy (sklearn.metrics.top_k_accuracy_score)."""
    y_true = column(y_true, "y_true")
    y_type = type_of_target(y_true)
    if y_type == "binary" and labels is not None and len(labels) > 2:
        y_type = "multiclass"
    if y_type not in ("binary", "multiclass"):
        raise ValueError(f"y type must be 'binary' or 'multiclass', got '{y_type}' instead.")
    y_score = float_scores(y_score, "y_score")
    if y_type == "binary":
        if y_score.ndim == 2 and y_score.shape[1] != 1:
            raise ValueError(
                f"`y_true` is binary while y_score is 2d with {y_score.shape[1]} classes. If "
                "`y_true` does not contain all the labels, `labels` must be provided."
            )
        y_score = column(y_score, "y_score")
    elif y_score.ndim != 2:
        raise ValueError(
            "`y_score` needs to be of shape `(n_samples, n_classes)`, since `y_true` contains "
            f"multiple classes. Got `y_score.shape={y_score.shape}`."
        )
    same_length(("y_true", y_true), ("y_score", y_score), ("sample_weight", sample_weight))
    n_score_classes = y_score.shape[1] if y_score.ndim == 2 else 2
    if labels is None:
        classes = np.unique(y_true)
        if len(classes) != n_score_classes:
            raise ValueError(
                f"Number of classes in 'y_true' ({len(classes)}) not equal to the number of "
                f"classes in 'y_score' ({n_score_classes}).You can provide a list of all known "
                "classes by assigning it to the `labels` parameter."
            )
    else:
        classes = _labels_param(labels, n_score_classes, y_true, ".")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive int; got {k!r}")
    if k >= len(classes):
        warnings.warn(
            f"'k' ({k}) greater than or equal to 'n_classes' ({len(classes)}) will result in a "
            "perfect score and is therefore meaningless.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
    encoded = np.searchsorted(classes, y_true)
    w = weights(sample_weight, len(y_true))
    if y_type == "binary":
        if k == 1:
            threshold = 0.5 if y_score.min() >= 0 and y_score.max() <= 1 else 0
            hits = (y_score > threshold).astype(np.int64) == encoded
        else:
            hits = np.ones(y_score.shape, dtype=bool)
    else:
        # rank of the true class with sklearn's tie rule (see _kernels_numba.multiclass_topk)
        ranks = _sweep._kernels().true_class_ranks(encoded.astype(np.int64),
                                                   np.ascontiguousarray(y_score))
        hits = ranks < k
    if normalize:
        return float(np.average(hits, weights=w))
    if w is None:
        return float(np.sum(hits))
    return float(np.dot(hits, w))


# ---------------------------------------------------------------------------- probabilistic


def _onehot_multiclass(y_true, labels):
    """LabelBinarizer semantics: (n, K) one-hot with K >= 2 and the sorted class list."""
    y_true = column(y_true, "y_true")
    if labels is not None:
        labels_a = np.asarray(labels)
        classes = np.unique(labels_a)
        if not np.array_equal(classes, labels_a):
            warnings.warn(
                f"Labels passed were {labels}. But this function assumes labels are ordered "
                f"lexicographically. Pass the ordered labels={classes.tolist()} and ensure that "
                "the columns of y_prob correspond to this ordering.",
                TallymlWarning,
                stacklevel=3,
            )
        if not np.isin(y_true, labels_a).all():
            undeclared = set(y_true.tolist()) - set(labels_a.tolist())
            raise ValueError(
                f"y_true contains values {undeclared} not belonging to the passed labels {labels}."
            )
    else:
        classes = np.unique(y_true)
    if classes.shape[0] == 1:
        if labels is None:
            raise ValueError(
                f"y_true contains only one label ({classes[0]}). Please provide the list of all "
                "expected class labels explicitly through the labels argument."
            )
        raise ValueError(f"The labels array needs to contain at least two labels, got {classes}.")
    onehot = (y_true[:, None] == classes[None, :]).astype(np.int64)
    return onehot, classes


def _probabilities(y_proba, name="y_proba"):
    p = np.asarray(y_proba)
    if p.dtype not in (np.float32, np.float64):
        p = p.astype(np.float64)
    if p.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D; got shape {p.shape}")
    float_scores(p, name)
    return p


def _check_range(p):
    if p.size and p.max() > 1:
        raise ValueError(f"y_prob contains values greater than 1: {p.max()}")
    if p.size and p.min() < 0:
        raise ValueError(f"y_prob contains values less than 0: {p.min()}")


def _multiclass_proba(y_true, p, sample_weight, labels):
    _check_range(p)
    same_length(("y_true", np.asarray(y_true).reshape(len(y_true), -1)), ("y_proba", p),
                ("sample_weight", sample_weight))
    onehot, classes = _onehot_multiclass(y_true, labels)
    if p.ndim == 1:
        p = p[:, None]
    if p.shape[1] == 1:
        p = np.concatenate([1 - p, p], axis=1)
    eps = np.finfo(p.dtype).eps
    if not np.all(np.isclose(p.sum(axis=1), 1, rtol=np.sqrt(eps))):
        warnings.warn(
            "The y_prob values do not sum to one. Make sure to pass probabilities.",
            TallymlWarning,
            stacklevel=3,
        )
    if classes.shape[0] != p.shape[1]:
        if labels is None:
            raise ValueError(
                f"y_true and y_prob contain different number of classes: {onehot.shape[1]} vs "
                f"{p.shape[1]}. Please provide the true labels explicitly through the labels "
                f"argument. Classes found in y_true: {classes}"
            )
        raise ValueError(
            "The number of classes in labels is different from that in y_prob. Classes found "
            f"in labels: {classes}"
        )
    return onehot, p


def log_loss(y_true, y_proba=None, *, normalize=True, sample_weight=None, labels=None):
    """Cross-entropy loss (sklearn.metrics.log_loss)."""
    if y_proba is None:
        raise TypeError("log_loss() missing required argument: 'y_proba'")
    p = _probabilities(y_proba)
    w = weights(sample_weight, p.shape[0])
    onehot, p = _multiclass_proba(y_true, p, w, labels)
    eps = np.finfo(p.dtype).eps
    p = np.clip(p, eps, 1 - eps)
    t = onehot.astype(p.dtype)
    loss = -np.sum(np.where(t != 0, t * np.log(p), 0).astype(p.dtype), axis=1)
    if normalize:
        return float(np.average(loss, weights=w))
    if w is not None:
        return float(np.dot(loss, w))
    return float(np.sum(loss))


def brier_score_loss(y_true, y_proba, *, sample_weight=None, pos_label=None, labels=None,
                     scale_by_half="auto"):
    """Brier score (sklearn.metrics.brier_score_loss)."""
    p = _probabilities(y_proba)
    w = weights(sample_weight, p.shape[0])
    if p.ndim == 1 or p.shape[1] == 1:
        y = column(y_true, "y_true")
        p1 = column(p, "y_proba")
        same_length(("y_true", y), ("y_proba", p1), ("sample_weight", w))
        y_type = type_of_target(y)
        if y_type != "binary":
            raise ValueError(
                f"The type of the target inferred from y_true is {y_type} but should be binary "
                "according to the shape of y_prob."
            )
        _check_range(p1)
        try:
            pos = check_pos_label(pos_label, y)
        except ValueError:
            classes = np.unique(y)
            if classes.dtype.kind in "OUS":
                raise
            pos = classes[-1]
        yp = (y == pos).astype(np.int64)
        onehot = np.stack([1 - yp, yp], axis=1)
        p = np.stack([1 - p1, p1], axis=1)
    else:
        onehot, p = _multiclass_proba(y_true, p, w, labels)
    t = onehot.astype(p.dtype)
    score = np.average(np.sum((t - p) ** 2, axis=1), weights=w)
    if scale_by_half == "auto":
        scale_by_half = p.shape[1] < 3
    if scale_by_half:
        score *= 0.5
    return float(score)


def calibration_curve(y_true, y_prob, *, pos_label=None, n_bins=5, strategy="uniform"):
    """Reliability diagram points (sklearn.calibration.calibration_curve)."""
    y_true = column(y_true, "y_true")
    y_prob = float_scores(column(y_prob, "y_prob"), "y_prob")
    same_length(("y_true", y_true), ("y_prob", y_prob))
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive int; got {n_bins!r}")
    pos_label = check_pos_label(pos_label, y_true)
    if y_prob.min() < 0 or y_prob.max() > 1:
        raise ValueError("y_prob has values outside [0, 1].")
    labels = np.unique(y_true)
    if len(labels) > 2:
        raise ValueError(f"Only binary classification is supported. Provided labels {labels}.")
    y_pos = y_true == pos_label
    if strategy == "quantile":
        bins = np.percentile(y_prob, np.linspace(0, 1, n_bins + 1) * 100)
    elif strategy == "uniform":
        bins = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        raise ValueError(
            "Invalid entry to 'strategy' input. Strategy must be either 'quantile' or 'uniform'."
        )
    binids = np.searchsorted(bins[1:-1], y_prob)
    bin_sums = np.bincount(binids, weights=y_prob, minlength=n_bins)
    bin_true = np.bincount(binids, weights=y_pos, minlength=n_bins)
    bin_total = np.bincount(binids, minlength=n_bins)
    nonzero = bin_total != 0
    return bin_true[nonzero] / bin_total[nonzero], bin_sums[nonzero] / bin_total[nonzero]
