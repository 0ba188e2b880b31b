"""scikit-learn's classification metrics, computed from confusion counts.

Each function checks its arguments and targets (sklearn's rules, ``_labels``), maps labels to
indices, counts through the kernel backend (``_counting``) and reduces the counts with the pure
formulas (``tallyml._formulas``). Names, signatures, defaults, results, warnings and errors follow
scikit-learn 1.9; the warnings are tallyml's own classes (``UndefinedMetricWarning`` where sklearn
emits its UndefinedMetricWarning, ``TallymlWarning`` for its plain UserWarnings).
"""
from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np

from .. import _formulas as F
from .._errors import TallymlWarning
from . import _counting as C
from ._labels import _as_array, check_targets

__all__ = [
    "accuracy_score",
    "balanced_accuracy_score",
    "cohen_kappa_score",
    "confusion_matrix",
    "f1_score",
    "fbeta_score",
    "hamming_loss",
    "jaccard_score",
    "matthews_corrcoef",
    "multilabel_confusion_matrix",
    "precision_recall_fscore_support",
    "precision_score",
    "recall_score",
    "zero_one_loss",
]

_SETWISE_AVERAGES = (None, "micro", "macro", "weighted", "samples")


# --------------------------------------------------------------------------------------------
# argument checks (sklearn's validate_params raises ValueError subclasses; so do we)


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a bool; got {value!r}")


def _check_pos_label(pos_label):
    if pos_label is not None and not isinstance(pos_label, (Real, str, np.bool_)):
        raise ValueError(f"pos_label must be a number, a string, a bool or None; got {pos_label!r}")


def _check_beta(beta):
    if not isinstance(beta, Real) or isinstance(beta, bool) or not beta >= 0:
        raise ValueError(f"beta must be a number >= 0; got {beta!r}")


def _check_warn_for(warn_for):
    if not isinstance(warn_for, (list, tuple, set)):
        raise ValueError(f"warn_for must be a list, tuple or set; got {warn_for!r}")


# --------------------------------------------------------------------------------------------
# set-wise metrics (precision, recall, F, jaccard)


def _set_wise_labels(tg, average, labels, pos_label):
    """sklearn's ``_check_set_wise_labels``: the labels to score and average="binary" rules."""
    if average == "binary":
        if tg.kind == "binary":
            present = tg.classes
            if not _contains(present, pos_label) and present.shape[0] >= 2:
                raise ValueError(
                    f"pos_label={pos_label!r} is not a valid label. It should be one of {present}"
                )
            return [pos_label]
        options = [a for a in _SETWISE_AVERAGES if tg.kind != "multiclass" or a != "samples"]
        raise ValueError(
            f"Target is {tg.kind} but average='binary'. Please choose another average setting, "
            f"one of {options!r}."
        )
    if pos_label not in (None, 1):
        warnings.warn(
            f"Note that pos_label (set to {pos_label!r}) is ignored when average != 'binary' (got "
            f"{average!r}). You may use labels=[pos_label] to specify a single positive class.",
            TallymlWarning,
            stacklevel=4,
        )
    return labels


def _contains(values, item) -> bool:
    if isinstance(item, str) != (values.dtype.kind in "UO"):
        return False
    return bool(np.any(values == item))


def _setwise_counts(tg, labels, samplewise):
    """(mcm, samples histogram or None, whether some sample has zero weight)."""
    if tg.kind != "multilabel-indicator":
        if samplewise:
            raise ValueError(
                "Samplewise metrics are not available outside of multilabel classification."
            )
        return C.mcm_1d(tg, labels), None, False
    true, pred = C.select_columns(tg, labels)
    mcm, hist = C.count_multilabel(true, pred, tg.weight)
    zero_weight = tg.weight is not None and bool((tg.weight == 0).any())
    return mcm, hist, zero_weight


def _prepare_setwise(y_true, y_pred, labels, pos_label, average, sample_weight, zero_division,
                     allowed_zero_division=None):
    F.check_average(average, _SETWISE_AVERAGES + ("binary",))
    F.check_zero_division(zero_division)
    if allowed_zero_division is not None and not (
        isinstance(zero_division, str) or zero_division in allowed_zero_division
    ):
        raise ValueError(f"zero_division must be one of 'warn', 0 or 1; got {zero_division!r}")
    _check_pos_label(pos_label)
    tg = check_targets(y_true, y_pred, sample_weight)
    labels = _set_wise_labels(tg, average, labels, pos_label)
    return _setwise_counts(tg, labels, average == "samples")


def precision_recall_fscore_support(
    y_true,
    y_pred,
    *,
    beta=1.0,
    labels=None,
    pos_label=1,
    average=None,
    warn_for=("precision", "recall", "f-score"),
    sample_weight=None,
    zero_division="warn",
):
    """Precision, recall, F-beta and support (``sklearn.metrics.precision_recall_fscore_support``)."""
    _check_beta(beta)
    _check_warn_for(warn_for)
    mcm, hist, zero_weight = _prepare_setwise(y_true, y_pred, labels, pos_label, average,
                                              sample_weight, zero_division)
    return F.precision_recall_fscore_support(
        mcm, beta=beta, average=average, zero_division=zero_division, warn_for=warn_for,
        samples_hist=hist, zero_weight_samples=zero_weight,
    )


def precision_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary",
                    sample_weight=None, zero_division="warn"):
    """Precision tp / (tp + fp) (``sklearn.metrics.precision_score``)."""
    return precision_recall_fscore_support(
        y_true, y_pred, labels=labels, pos_label=pos_label, average=average,
        warn_for=("precision",), sample_weight=sample_weight, zero_division=zero_division,
    )[0]


def recall_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary",
                 sample_weight=None, zero_division="warn"):
    """Recall tp / (tp + fn) (``sklearn.metrics.recall_score``)."""
    return precision_recall_fscore_support(
        y_true, y_pred, labels=labels, pos_label=pos_label, average=average,
        warn_for=("recall",), sample_weight=sample_weight, zero_division=zero_division,
    )[1]


def fbeta_score(y_true, y_pred, *, beta, labels=None, pos_label=1, average="binary",
                sample_weight=None, zero_division="warn"):
    """F-beta score (``sklearn.metrics.fbeta_score``)."""
    return precision_recall_fscore_support(
        y_true, y_pred, beta=beta, labels=labels, pos_label=pos_label, average=average,
        warn_for=("f-score",), sample_weight=sample_weight, zero_division=zero_division,
    )[2]


def f1_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary", sample_weight=None,
             zero_division="warn"):
    """F1 score (``sklearn.metrics.f1_score``)."""
    return fbeta_score(y_true, y_pred, beta=1, labels=labels, pos_label=pos_label,
                       average=average, sample_weight=sample_weight, zero_division=zero_division)


def jaccard_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary",
                  sample_weight=None, zero_division="warn"):
    """Jaccard index tp / (tp + fp + fn) (``sklearn.metrics.jaccard_score``; zero_division
    "warn", 0 or 1)."""
    mcm, hist, zero_weight = _prepare_setwise(y_true, y_pred, labels, pos_label, average,
                                              sample_weight, zero_division, (0, 1))
    return F.jaccard(mcm, average=average, zero_division=zero_division, samples_hist=hist,
                     zero_weight_samples=zero_weight)


# --------------------------------------------------------------------------------------------
# confusion matrices


def confusion_matrix(y_true, y_pred, *, labels=None, sample_weight=None, normalize=None):
    """Confusion matrix, rows = true label, columns = predicted (``sklearn.metrics.confusion_matrix``)."""
    if normalize is not None and (not isinstance(normalize, str)
                                  or normalize not in ("true", "pred", "all")):
        raise ValueError(f"normalize must be one of 'true', 'pred', 'all' or None; got {normalize!r}")
    cm = _confusion(y_true, y_pred, labels, sample_weight, names=("y_true", "y_pred"))
    if cm.shape == (1, 1):
        warnings.warn(
            "A single label was found in 'y_true' and 'y_pred'. For the confusion matrix to have "
            "the correct shape, use the 'labels' parameter to pass all known labels.",
            TallymlWarning,
            stacklevel=2,
        )
    return F.normalize_confusion(cm, normalize)


def _confusion(y_true, y_pred, labels, sample_weight, names):
    """The (K, K) matrix of sklearn's confusion_matrix (labels given: their order, samples with
    other labels dropped), int64 unless the weights are not integers."""
    tg = check_targets(y_true, y_pred, sample_weight, names=names)
    if tg.kind not in ("binary", "multiclass"):
        raise ValueError(f"{tg.kind} is not supported")
    if labels is None:
        cm, _ = C.cm_1d(tg)
    else:
        given = np.asarray(labels)
        if given.size == 0:
            raise ValueError("'labels' should contain at least one label.")
        cm, pos = C.cm_1d(tg, given)
        if not np.isin(tg.true, given).any():
            raise ValueError("At least one label specified must be in y_true")
        # a label given twice keeps its last position, like sklearn's label -> index dict
        last = {label: i for i, label in enumerate(given.tolist())}
        keep = np.array([last[label] == i for i, label in enumerate(given.tolist())])
        cm = cm[np.ix_(pos, pos)] * np.outer(keep, keep)
    if tg.weight is not None and tg.weight_integral:
        cm = cm.astype(np.int64)
    return cm


def multilabel_confusion_matrix(y_true, y_pred, *, sample_weight=None, labels=None,
                                samplewise=False):
    """Per-label (or per-sample) ``[[tn, fp], [fn, tp]]`` matrices
    (``sklearn.metrics.multilabel_confusion_matrix``)."""
    _check_bool(samplewise, "samplewise")
    tg = check_targets(y_true, y_pred, sample_weight)
    w = tg.weight
    if tg.kind != "multilabel-indicator":
        if samplewise:
            raise ValueError(
                "Samplewise metrics are not available outside of multilabel classification."
            )
        mcm = C.mcm_1d(tg, labels)
        if w is not None:  # tn the way sklearn derives it, so that exact zeros stay zeros
            mcm[:, 0, 0] = w.sum() - mcm[:, 0, 1] - mcm[:, 1, 0] - mcm[:, 1, 1]
        return mcm
    true, pred = C.select_columns(tg, labels)
    if samplewise:
        # one matrix per sample: the output itself is as large as the input, plain numpy
        scale = np.ones(true.shape[0], dtype=np.int64) if w is None else w
        tp = (true & pred).sum(axis=1) * scale
        fp = (~true & pred).sum(axis=1) * scale
        fn = (true & ~pred).sum(axis=1) * scale
        tn = scale * true.shape[1] - tp - fp - fn
        return np.stack([tn, fp, fn, tp], axis=1).reshape(-1, 2, 2)
    mcm, _ = C.count_multilabel(true, pred, w)
    if w is not None:
        mcm[:, 0, 0] = w.sum() - mcm[:, 0, 1] - mcm[:, 1, 0] - mcm[:, 1, 1]
    return mcm


# --------------------------------------------------------------------------------------------
# whole-matrix metrics


def accuracy_score(y_true, y_pred, *, normalize=True, sample_weight=None):
    """Accuracy; subset accuracy for multilabel targets (``sklearn.metrics.accuracy_score``)."""
    _check_bool(normalize, "normalize")
    tg = check_targets(y_true, y_pred, sample_weight)
    if tg.kind == "multilabel-indicator":
        _, hist = C.count_multilabel(tg.true, tg.pred, tg.weight)
        if normalize:
            return F.subset_accuracy(hist)
        _, fp, fn = F.triplets(tg.true.shape[1])
        return float(hist[(fp + fn) == 0].sum())
    right, _, total = C.right_wrong_total(tg)
    return float(right / total) if normalize else float(right)


def zero_one_loss(y_true, y_pred, *, normalize=True, sample_weight=None):
    """1 - accuracy, or the number (weight) of wrong samples (``sklearn.metrics.zero_one_loss``)."""
    score = accuracy_score(y_true, y_pred, normalize=normalize, sample_weight=sample_weight)
    if normalize:
        return 1 - score
    if sample_weight is not None:
        return float(np.sum(np.asarray(sample_weight, dtype=np.float64)) - score)
    return float(_as_array(y_true, "y_true").shape[0] - score)


def hamming_loss(y_true, y_pred, *, sample_weight=None):
    """Fraction of wrong labels (``sklearn.metrics.hamming_loss``)."""
    tg = check_targets(y_true, y_pred, sample_weight)
    if tg.kind == "multilabel-indicator":
        mcm, _ = C.count_multilabel(tg.true, tg.pred, tg.weight)
        return F.hamming_loss_mcm(mcm)
    _, wrong, total = C.right_wrong_total(tg)
    return float(wrong / total)


def balanced_accuracy_score(y_true, y_pred, *, sample_weight=None, adjusted=False):
    """Mean recall over the classes present in y_true (``sklearn.metrics.balanced_accuracy_score``)."""
    _check_bool(adjusted, "adjusted")
    cm = _confusion(y_true, y_pred, None, sample_weight, names=("y_true", "y_pred"))
    return F.balanced_accuracy(cm, adjusted=adjusted)


def matthews_corrcoef(y_true, y_pred, *, sample_weight=None):
    """Matthews correlation coefficient (``sklearn.metrics.matthews_corrcoef``)."""
    cm = _confusion(y_true, y_pred, None, sample_weight, names=("y_true", "y_pred"))
    return F.matthews_corrcoef(cm)


def cohen_kappa_score(y1, y2, *, labels=None, weights=None, sample_weight=None,
                      replace_undefined_by=np.nan):
    """Cohen's kappa between two annotators (``sklearn.metrics.cohen_kappa_score``)."""
    if weights is not None and (not isinstance(weights, str) or weights not in ("linear", "quadratic")):
        raise ValueError(f"weights must be None, 'linear' or 'quadratic'; got {weights!r}")
    if not (isinstance(replace_undefined_by, Real) and not isinstance(replace_undefined_by, bool)
            and (math.isnan(replace_undefined_by) or -1 <= replace_undefined_by <= 1)):
        raise ValueError(
            f"replace_undefined_by must be a number in [-1, 1] or nan; got {replace_undefined_by!r}"
        )
    try:
        cm = _confusion(y1, y2, labels, sample_weight, names=("y1", "y2"))
    except ValueError as exc:
        if "At least one label specified must be in y_true" in str(exc):
            raise ValueError(
                "At least one label in `labels` must be present in `y1` (even though "
                "`cohen_kappa_score` is otherwise agnostic to the order of `y1` and `y2`)."
            ) from exc
        raise
    return F.cohen_kappa(cm, weights=weights, replace_undefined_by=replace_undefined_by)

