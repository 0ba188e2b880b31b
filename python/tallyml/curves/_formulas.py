"""Pure functions from cumulative counts (or per-bin histograms) to curves and scores. Shared by
the exact functions and the streaming curve objects; no state, no input checks."""
from __future__ import annotations

import warnings

import numpy as np

from .._errors import TallymlWarning, UndefinedMetricWarning

__all__: list[str] = []


def counts_from_hist(pos, neg, edges):
    """Per-bin positive/negative totals (ascending bins) -> (fps, tps, thresholds), highest
    threshold first, empty bins skipped: the same triple an exact sweep gives when each bin is
    one tied score."""
    nz = (pos + neg) > 0
    p = np.asarray(pos, np.float64)[nz][::-1]
    n = np.asarray(neg, np.float64)[nz][::-1]
    return np.cumsum(n), np.cumsum(p), np.asarray(edges, np.float64)[nz][::-1]


def keep_corners(a, b):
    """sklearn's drop_intermediate for ROC: keep ends and points with a nonzero 2nd diff."""
    mid = np.logical_or(np.diff(a, 2), np.diff(b, 2))
    return np.flatnonzero(np.concatenate([[True], mid, [True]]))


def keep_tp_changes(tps):
    mid = np.logical_or(np.diff(tps[:-1]), np.diff(tps[1:]))
    return np.flatnonzero(np.concatenate([[True], mid, [True]]))


def roc_from_counts(fps, tps, thr, drop_intermediate=True, stacklevel=3):
    if drop_intermediate and fps.shape[0] > 2:
        keep = keep_corners(fps, tps)
        fps, tps, thr = fps[keep], tps[keep], thr[keep]
    tps = np.concatenate([[0.0], tps])
    fps = np.concatenate([[0.0], fps])
    thr = np.concatenate([[np.inf], np.asarray(thr, np.float64)])
    if fps[-1] <= 0:
        warnings.warn(
            "No negative samples in y_true, false positive value should be meaningless",
            UndefinedMetricWarning,
            stacklevel=stacklevel,
        )
        fpr = np.full(fps.shape, np.nan)
    else:
        fpr = fps / fps[-1]
    if tps[-1] <= 0:
        warnings.warn(
            "No positive samples in y_true, true positive value should be meaningless",
            UndefinedMetricWarning,
            stacklevel=stacklevel,
        )
        tpr = np.full(tps.shape, np.nan)
    else:
        tpr = tps / tps[-1]
    return fpr, tpr, thr


def pr_from_counts(fps, tps, thr, drop_intermediate=False, stacklevel=3):
    if drop_intermediate and fps.shape[0] > 2:
        keep = keep_tp_changes(tps)
        fps, tps, thr = fps[keep], tps[keep], thr[keep]
    ps = tps + fps
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(ps != 0, tps / ps, 0.0)
    if tps[-1] == 0:
        warnings.warn(
            "No positive class found in y_true, recall is set to one for all thresholds.",
            TallymlWarning,
            stacklevel=stacklevel,
        )
        recall = np.ones(tps.shape)
    else:
        recall = tps / tps[-1]
    return (
        np.concatenate([precision[::-1], [1.0]]),
        np.concatenate([recall[::-1], [0.0]]),
        np.asarray(thr, np.float64)[::-1],
    )


def auc_from_counts(fps, tps):
    """Trapezoidal ROC area from the full (undropped) counts; both classes present."""
    f = np.diff(fps, prepend=0.0)
    t = tps + np.concatenate([[0.0], tps[:-1]])
    return float(np.dot(f, t) / (2.0 * fps[-1] * tps[-1]))


def partial_auc(fpr, tpr, max_fpr):
    """sklearn's McClish-corrected partial AUC up to max_fpr, on a ROC curve."""
    stop = np.searchsorted(fpr, max_fpr, "right")
    x_interp = [fpr[stop - 1], fpr[stop]]
    y_interp = [tpr[stop - 1], tpr[stop]]
    tpr = np.append(tpr[:stop], np.interp(max_fpr, x_interp, y_interp))
    fpr = np.append(fpr[:stop], max_fpr)
    area = float(np.trapezoid(tpr, fpr))
    min_area = 0.5 * max_fpr**2
    return 0.5 * (1 + (area - min_area) / (max_fpr - min_area))


def roc_auc_from_counts(fps, tps, thr, max_fpr=None, stacklevel=4):
    """sklearn's _binary_roc_auc_score from counts (NaN + warning when a class is missing)."""
    if fps.size == 0 or fps[-1] <= 0 or tps[-1] <= 0:
        warnings.warn(
            "Only one class is present in y_true. ROC AUC score is not defined in that case.",
            UndefinedMetricWarning,
            stacklevel=stacklevel,
        )
        return np.nan
    if max_fpr is None or max_fpr == 1:
        return auc_from_counts(fps, tps)
    fpr, tpr, _ = roc_from_counts(fps, tps, thr)
    return partial_auc(fpr, tpr, max_fpr)


def ap_from_counts(fps, tps, stacklevel=4):
    """sklearn's average precision (step integral) from counts."""
    if tps.size == 0 or tps[-1] == 0:
        warnings.warn(
            "No positive class found in y_true, recall is set to one for all thresholds.",
            TallymlWarning,
            stacklevel=stacklevel,
        )
        return 0.0
    d = np.diff(tps, prepend=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(d != 0, tps / (tps + fps), 0.0)
    return max(0.0, float(np.sum((d / tps[-1]) * prec)))


def average_scores(scores, average, support):
    """Average per-class scores: macro (plain mean, NaN propagates), weighted (by positive
    support; 0 when the support is all zero, as sklearn), None (the array)."""
    scores = np.asarray(scores, np.float64)
    if average is None:
        return scores
    if average == "weighted":
        support = np.asarray(support, np.float64)
        if np.isclose(support.sum(), 0):
            return 0.0
        scores = np.where(support == 0, 0.0, scores)
        return float(np.average(scores, weights=support))
    return float(np.mean(scores))


def calibration_bins(counts, pos, psum, n_bins, centers=None):
    """Aggregate fine bins into ``n_bins`` uniform bins of [0, 1] (sklearn's rule: a bin mean on
    an edge goes to the lower bin): returns (prob_true, prob_pred, weight) of the non-empty bins.
    Each fine bin moves as a whole, by its mean probability; with ``centers`` (the grid values
    of a uniform layout) a mean within rounding of its centre is taken as the centre, so grid
    data on a calibration edge goes to the same side as in sklearn."""
    nz = counts > 0
    mean_p = np.where(nz, psum / np.where(nz, counts, 1), 0.0)
    if centers is not None:
        snap = np.abs(mean_p - centers) <= 1e-12
        mean_p = np.where(snap, centers, mean_p)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], mean_p)
    tot = np.bincount(ids[nz], weights=counts[nz], minlength=n_bins)
    tru = np.bincount(ids[nz], weights=pos[nz], minlength=n_bins)
    sp = np.bincount(ids[nz], weights=psum[nz], minlength=n_bins)
    keep = tot != 0
    return tru[keep] / tot[keep], sp[keep] / tot[keep], tot[keep]


def calibration_error(prob_true, prob_pred, weight, norm):
    """Expected (l1), root-mean-square (l2) or maximum (max) calibration error."""
    if weight.size == 0:
        return np.nan
    gap = np.abs(prob_true - prob_pred)
    frac = weight / weight.sum()
    if norm == "l1":
        return float(np.sum(gap * frac))
    if norm == "l2":
        return float(np.sqrt(np.sum(gap**2 * frac)))
    return float(np.max(gap))
