"""Pure functions from confusion counts to metric values.

No I/O, no state, no kernels: numpy in, floats or float arrays out. Every function reproduces
scikit-learn 1.9 on the counts sklearn itself would build, including where it warns
(``UndefinedMetricWarning`` exactly when sklearn emits its own with ``zero_division="warn"``) and
what it returns for each ``zero_division`` in ("warn", 0, 1, nan).

Count layouts
    cm            (K, K) confusion matrix, rows = true label, columns = predicted.
    mcm           (C, 2, 2) per class/label, ``[[tn, fp], [fn, tp]]``.
    samples_hist  1-D histogram over per-sample (tp, fp, fn) triplets, in the bin order of
                  ``triplets(L)``; what average="samples" and subset accuracy need.

Sample weights are already inside the counts (float64 counts). Choosing which rows of ``cm`` /
``mcm`` take part (the label set) is the caller's job.
"""
from __future__ import annotations

import math
import warnings
from numbers import Real

import numpy as np

from ._errors import TallymlWarning, UndefinedMetricWarning

__all__ = [
    "AVERAGES",
    "check_average",
    "check_zero_division",
    "zero_division_value",
    "triplets",
    "mcm_from_cm",
    "support",
    "precision_recall_fscore_support",
    "specificity",
    "jaccard",
    "accuracy",
    "subset_accuracy",
    "hamming_loss_mcm",
    "balanced_accuracy",
    "matthews_corrcoef",
    "cohen_kappa",
    "normalize_confusion",
]

#: Every ``average`` value the set-wise formulas understand ("binary" means: one row, the
#: positive class, averaged over nothing; the caller selects that row).
AVERAGES = (None, "binary", "micro", "macro", "weighted", "samples")


# --------------------------------------------------------------------------------------------
# argument checks


def check_average(average, allowed) -> None:
    """Raise ValueError unless ``average`` is one of ``allowed`` (None or strings)."""
    if average is None or isinstance(average, str):
        if average in tuple(allowed):
            return
    raise ValueError(f"average must be one of {tuple(allowed)!r}; got {average!r}")


def _is_nan(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isnan(value)


def check_zero_division(value) -> None:
    """Raise ValueError unless ``value`` is "warn", 0, 1 or nan (sklearn's choices)."""
    if isinstance(value, str):
        if value == "warn":
            return
    elif isinstance(value, Real) and (_is_nan(value) or value in (0, 1)):
        return
    raise ValueError(f"zero_division must be one of 'warn', 0, 1 or nan; got {value!r}")


def zero_division_value(value) -> float:
    """The number a 0/0 is replaced by ("warn" behaves like 0)."""
    check_zero_division(value)
    if isinstance(value, str):
        return 0.0
    return math.nan if _is_nan(value) else float(value)


# --------------------------------------------------------------------------------------------
# count layouts


def triplets(num_labels: int):
    """(tp, fp, fn) int64 arrays of every samples-histogram bin, in bin order.

    Bins are grouped by s = tp + fp + fn, then by r = fp + fn, then by fn (the order of
    ``tallyml._backends.reference.triplet_index``)."""
    n = int(num_labels)
    if n < 0:
        raise ValueError(f"num_labels must be >= 0; got {num_labels!r}")
    s_list, r_list, fn_list = [], [], []
    for s in range(n + 1):
        for r in range(s + 1):
            fn = np.arange(r + 1, dtype=np.int64)
            fn_list.append(fn)
            r_list.append(np.full(r + 1, r, dtype=np.int64))
            s_list.append(np.full(r + 1, s, dtype=np.int64))
    s = np.concatenate(s_list)
    r = np.concatenate(r_list)
    fn = np.concatenate(fn_list)
    return s - r, r - fn, fn


def _num_labels_of_hist(samples_hist) -> int:
    size = len(samples_hist)
    n = 0
    while (n + 1) * (n + 2) * (n + 3) // 6 < size:
        n += 1
    if (n + 1) * (n + 2) * (n + 3) // 6 != size:
        raise ValueError(f"samples_hist has length {size}, which is not triplet_bins(L) for any L")
    return n


def mcm_from_cm(cm):
    """(K, K) confusion matrix -> (K, 2, 2) one-vs-rest matrices ``[[tn, fp], [fn, tp]]``."""
    cm = np.asarray(cm)
    tp = np.diagonal(cm).copy()
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    tn = cm.sum() - tp - fp - fn
    return np.stack([tn, fp, fn, tp], axis=1).reshape(-1, 2, 2)


def support(mcm):
    """Number (or weight) of true samples of each class: tp + fn."""
    mcm = np.asarray(mcm)
    return mcm[:, 1, 0] + mcm[:, 1, 1]


# --------------------------------------------------------------------------------------------
# division and averaging with sklearn's zero_division rules


def _warn(metric, modifier, average, size):
    """sklearn's ill-defined message: per label, or per sample for average="samples"."""
    axis0, axis1 = ("label", "sample") if average == "samples" else ("sample", "label")
    where = "due to" if size == 1 else f"in {axis1}s with"
    warnings.warn(
        f"{metric.capitalize()} is ill-defined and being set to 0.0 {where} no {modifier} "
        f"{axis0}s. Use `zero_division` parameter to control this behavior.",
        UndefinedMetricWarning,
        stacklevel=4,
    )


def _divide(num, den, metric, modifier, average, warn_for, zero_division):
    """num / den with 0/0 (any den == 0) replaced by the zero_division value; warns like
    sklearn's ``_prf_divide`` (only for "warn" and only for metrics listed in ``warn_for``)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    mask = den == 0
    result = num / np.where(mask, 1.0, den)
    if not mask.any():
        return result
    result[mask] = zero_division_value(zero_division)
    if isinstance(zero_division, str) and metric in warn_for:
        _warn(metric, modifier, average, result.shape[0])
    return result


def _nanaverage(values, weights=None) -> float:
    """sklearn's ``_nanaverage``: NaNs left out; weights summing to zero are ignored. The same
    numpy reductions as sklearn, so that printed reports round identically."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] == 0:
        return math.nan
    mask = np.isnan(values)
    if mask.all():
        return math.nan
    if weights is not None:
        keep = ~mask
        w = np.asarray(weights, dtype=np.float64)[keep]
        total = np.sum(w)
        if total != 0:
            return float(np.sum(values[keep] * w) / total)
        return float(np.mean(values[keep]))
    return float(np.nanmean(values))


def _average(values, weights=None) -> float:
    """Plain (weighted) mean: NaN propagates (sklearn's ``_average``)."""
    values = np.asarray(values, dtype=np.float64)
    if weights is None:
        return float(np.mean(values)) if values.shape[0] else math.nan
    w = np.asarray(weights, dtype=np.float64)
    total = np.sum(w)
    if total == 0:
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
    return float(np.sum(values * w) / total)


def _samples_view(samples_hist, zero_weight_samples, num_labels):
    """Per-bin (tp, fp, fn, weight) of the bins that hold samples.

    sklearn scales each sample's counts by its weight, so a sample of weight 0 behaves like a
    (0, 0, 0) sample of weight 0: it cannot be seen in a float histogram, hence the flag."""
    if samples_hist is None:
        raise ValueError('average="samples" needs samples_hist')
    hist = np.asarray(samples_hist)
    if hist.ndim != 1 or _num_labels_of_hist(hist) != num_labels:
        raise ValueError(
            f"samples_hist must have length triplet_bins({num_labels}) = "
            f"{(num_labels + 1) * (num_labels + 2) * (num_labels + 3) // 6} for {num_labels} "
            f"labels; got shape {hist.shape}"
        )
    tp, fp, fn = triplets(num_labels)
    keep = hist != 0
    tp, fp, fn, w = tp[keep], fp[keep], fn[keep], hist[keep].astype(np.float64)
    if zero_weight_samples:
        zero = np.zeros(1, dtype=np.int64)
        tp, fp, fn = (np.concatenate([a, zero]) for a in (tp, fp, fn))
        w = np.concatenate([w, np.zeros(1)])
    return tp, fp, fn, w


def _split_mcm(mcm):
    mcm = np.asarray(mcm)
    if mcm.ndim != 3 or mcm.shape[1:] != (2, 2):
        raise ValueError(f"mcm must have shape (C, 2, 2); got {mcm.shape}")
    return mcm[:, 0, 0], mcm[:, 0, 1], mcm[:, 1, 0], mcm[:, 1, 1]


# --------------------------------------------------------------------------------------------
# set-wise metrics


def precision_recall_fscore_support(
    mcm,
    *,
    beta=1.0,
    average=None,
    zero_division="warn",
    warn_for=("precision", "recall", "f-score"),
    samples_hist=None,
    zero_weight_samples=False,
):
    """sklearn's ``precision_recall_fscore_support`` from per-class counts.

    average=None: float arrays (and the support array); otherwise floats and support None.
    "binary" expects the positive class's row only (``mcm[[pos]]``). "samples" reads
    ``samples_hist``; ``zero_weight_samples`` says that some sample had weight 0 (sklearn then
    sees a 0/0 for it and warns)."""
    check_average(average, AVERAGES)
    check_zero_division(zero_division)
    if not isinstance(beta, Real) or isinstance(beta, bool) or not beta >= 0:
        raise ValueError(f"beta must be a number >= 0; got {beta!r}")
    tn, fp, fn, tp = _split_mcm(mcm)
    true_sum = tp + fn
    weights = None
    if average == "samples":
        tp, fp, fn, weights = _samples_view(samples_hist, zero_weight_samples, tp.shape[0])
        pred_sum, t_sum = tp + fp, tp + fn
    else:
        pred_sum, t_sum = tp + fp, true_sum
        if average == "micro":
            tp, pred_sum, t_sum = (np.asarray([a.sum()]) for a in (tp, pred_sum, t_sum))
        elif average == "weighted":
            weights = true_sum
    precision = _divide(tp, pred_sum, "precision", "predicted", average, warn_for, zero_division)
    recall = _divide(tp, t_sum, "recall", "true", average, warn_for, zero_division)
    if np.isposinf(beta):
        fscore = recall
    elif beta == 0:
        fscore = precision
    else:
        beta2 = float(beta) ** 2
        den = beta2 * np.asarray(t_sum, np.float64) + np.asarray(pred_sum, np.float64)
        fscore = _divide((1 + beta2) * np.asarray(tp, np.float64), den, "f-score",
                         "true nor predicted", average, warn_for, zero_division)
    if average is None:
        return precision, recall, fscore, true_sum
    return (_nanaverage(precision, weights), _nanaverage(recall, weights),
            _nanaverage(fscore, weights), None)


def specificity(mcm, *, average=None, zero_division="warn", samples_hist=None,
                zero_weight_samples=False):
    """True-negative rate tn / (tn + fp) per class (recall of the negative class); averaged
    like recall (weighted by support). Not in sklearn: it warns under the same rules."""
    check_average(average, AVERAGES)
    check_zero_division(zero_division)
    tn, fp, fn, tp = _split_mcm(mcm)
    weights = None
    if average == "samples":
        num_labels = tp.shape[0]
        s_tp, s_fp, s_fn, weights = _samples_view(samples_hist, zero_weight_samples, num_labels)
        # a zero-weight sample has its counts scaled to 0: a 0/0, as sklearn's samplewise counts
        counted = weights != 0
        tn, fp = (num_labels - s_tp - s_fp - s_fn) * counted, s_fp * counted
    elif average == "micro":
        tn, fp = np.asarray([tn.sum()]), np.asarray([fp.sum()])
    elif average == "weighted":
        weights = tp + fn
    spec = _divide(tn, tn + fp, "specificity", "negative", average, ("specificity",),
                   zero_division)
    return spec if average is None else _nanaverage(spec, weights)


def jaccard(mcm, *, average=None, zero_division="warn", samples_hist=None,
            zero_weight_samples=False):
    """sklearn's ``jaccard_score`` from per-class counts (NaN propagates in averages, as in
    sklearn, which does not accept zero_division=nan for it)."""
    check_average(average, AVERAGES)
    check_zero_division(zero_division)
    tn, fp, fn, tp = _split_mcm(mcm)
    weights = None
    if average == "samples":
        tp, fp, fn, weights = _samples_view(samples_hist, zero_weight_samples, tp.shape[0])
    num, den = tp, tp + fp + fn
    if average == "micro":
        num, den = np.asarray([num.sum()]), np.asarray([den.sum()])
    elif average == "weighted":
        weights = tp + fn
        if not np.any(weights):
            weights = None
    score = _divide(num, den, "jaccard", "true or predicted", average, ("jaccard",),
                    zero_division)
    if average is None:
        return score
    return _average(score, weights)


# --------------------------------------------------------------------------------------------
# whole-matrix metrics


def accuracy(cm) -> float:
    """Fraction (or weight fraction) of samples on the diagonal."""
    cm = np.asarray(cm)
    total = cm.sum()
    return float(np.trace(cm) / total) if total != 0 else math.nan


def subset_accuracy(samples_hist) -> float:
    """Multilabel accuracy: fraction of samples whose whole label set is right (fp = fn = 0)."""
    hist = np.asarray(samples_hist)
    _, fp, fn = triplets(_num_labels_of_hist(hist))
    total = hist.sum()
    if total == 0:
        return math.nan
    return float(hist[(fp + fn) == 0].sum() / total)


def hamming_loss_mcm(mcm) -> float:
    """Multilabel Hamming loss: fraction of wrong (sample, label) entries."""
    tn, fp, fn, tp = _split_mcm(mcm)
    if tp.shape[0] == 0:
        return math.nan
    total = float(tn[0] + fp[0] + fn[0] + tp[0]) * tp.shape[0]
    return float((fp.sum() + fn.sum()) / total) if total != 0 else math.nan


def balanced_accuracy(cm, *, adjusted=False) -> float:
    """Mean per-class recall over classes with true support (sklearn drops the others, with a
    warning), optionally adjusted for chance."""
    cm = np.asarray(cm, dtype=np.float64)
    rows = cm.sum(axis=1)
    present = rows != 0
    if not present.all():
        warnings.warn("y_pred contains classes not in y_true", TallymlWarning, stacklevel=2)
    per_class = np.diagonal(cm)[present] / rows[present]
    if per_class.shape[0] == 0:
        return math.nan
    score = np.mean(per_class)
    if adjusted:
        # one class left: sklearn divides by zero in numpy (-> inf or nan)
        chance = 1 / per_class.shape[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            score = (score - chance) / np.float64(1 - chance)
    return float(score)


def matthews_corrcoef(cm) -> float:
    """Multiclass MCC (Gorodkin's R_K); 0.0 when a variance is zero."""
    cm = np.asarray(cm)
    t_sum = cm.sum(axis=1, dtype=np.float64)
    p_sum = cm.sum(axis=0, dtype=np.float64)
    n_correct = np.trace(cm, dtype=np.float64)
    n = p_sum.sum()
    cov_tp = n_correct * n - np.dot(t_sum, p_sum)
    cov_pp = n**2 - np.dot(p_sum, p_sum)
    cov_tt = n**2 - np.dot(t_sum, t_sum)
    prod = cov_pp * cov_tt
    if prod == 0:
        return 0.0
    return float(cov_tp / np.sqrt(prod))


def cohen_kappa(cm, *, weights=None, replace_undefined_by=math.nan) -> float:
    """Cohen's kappa, unweighted or with "linear" / "quadratic" disagreement weights; NaN (or
    ``replace_undefined_by``) with an UndefinedMetricWarning when undefined."""
    if weights not in (None, "linear", "quadratic"):
        raise ValueError(f"weights must be None, 'linear' or 'quadratic'; got {weights!r}")
    confusion = np.asarray(cm, dtype=np.float64)
    k = confusion.shape[0]
    sum0 = confusion.sum(axis=0)
    sum1 = confusion.sum(axis=1)
    total = sum0.sum()
    if total == 0:
        warnings.warn("cohen_kappa is undefined: no sample has a label in `labels`; set to "
                      f"replace_undefined_by={replace_undefined_by}", UndefinedMetricWarning,
                      stacklevel=2)
        return replace_undefined_by
    expected = np.outer(sum0, sum1) / total
    if weights is None:
        w = np.ones((k, k))
        np.fill_diagonal(w, 0)
    else:
        grid = np.zeros((k, k)) + np.arange(k)
        w = np.abs(grid - grid.T) if weights == "linear" else (grid - grid.T) ** 2
    den = np.sum(w * expected)
    if den == 0:
        warnings.warn("cohen_kappa is undefined: both raters agree on a single label; set to "
                      f"replace_undefined_by={replace_undefined_by}", UndefinedMetricWarning,
                      stacklevel=2)
        return replace_undefined_by
    return float(1 - np.sum(w * confusion) / den)


def normalize_confusion(cm, normalize=None):
    """sklearn's ``confusion_matrix(normalize=...)``: over true rows, predicted columns or all;
    0/0 becomes 0. ``None`` returns ``cm`` unchanged."""
    if normalize is None:
        return np.asarray(cm)
    if not isinstance(normalize, str) or normalize not in ("true", "pred", "all"):
        raise ValueError(f"normalize must be one of 'true', 'pred', 'all' or None; got {normalize!r}")
    cm = np.asarray(cm)
    with np.errstate(all="ignore"):
        if normalize == "true":
            out = cm / cm.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            out = cm / cm.sum(axis=0, keepdims=True)
        else:
            out = cm / cm.sum()
    return np.nan_to_num(out)
