"""Streaming binary threshold sweep: ROC / PR curves, AUROC, AP, calibration, Brier score and
log loss in constant memory (per-bin positive/negative histograms plus exact running sums)."""
from __future__ import annotations

import numpy as np

from . import _backend as kb
from . import _formulas as _f
from ._state import CurveState, as_labels, as_scores, as_weight

__all__ = ["BinaryCurves"]

_NORMS = ("l1", "l2", "max")


class BinaryCurves(CurveState):
    """Binary ROC/PR/calibration state.

    Parameters
    ----------
    num_bins : int or None
        Bin budget (see ``layout``); None picks the default resolution, which keeps
        |binned - exact| <= 1e-3 for AUROC and AP on continuous scores (docs/curves.md).
    layout : "dyadic" (default, finer near 0 and 1) or "uniform".
    logits : scores are logits (any real) instead of probabilities in [0, 1].
    ignore_index : samples whose target equals it are dropped.
    backend : "auto", "native", "numba" or "numpy".
    num_threads : int >= 0
        Threads the C++ core may use for one large batch (0: decided by batch size and
        TALLYML_NUM_THREADS; 1: the calling thread only). Results do not depend on it.

    ``update(target, preds, sample_weight=None)``: target (N,) 0/1 labels, preds (N,) float.
    """

    _KIND = "binary_curves"

    def __init__(self, num_bins=None, *, layout="dyadic", logits=False, ignore_index=None,
                 backend="auto", num_threads=0):
        self._hist_shape = None
        super_args = (num_bins, layout, logits, ignore_index, backend, num_threads)
        from ._layout import make_layout

        nb = make_layout(num_bins, layout).num_bins
        self._hist_shape = (nb, 2)
        self._psum_shape = (nb,)
        self._sums_shape = (2,)
        super().__init__(*super_args)

    # ------------------------------------------------------------------ update stages
    def _format(self, target, preds, sample_weight):
        t = as_labels(target, "target", 1)
        s = as_scores(preds, "preds", 1)
        if t.shape != s.shape:
            raise ValueError(f"target and preds must have the same shape; got {t.shape} and {s.shape}")
        return t, s, as_weight(sample_weight, t.shape[0])

    def _check(self, t, s, w):
        kb.check_binary(self._backend_name, t, s, w, self.ignore_index, self.logits)

    def _init_args(self):
        return {"num_bins": self._num_bins_arg, "layout": self.layout, "logits": self.logits,
                "ignore_index": self.ignore_index, "backend": self._backend_request,
                "num_threads": self._nt}

    def _count_batch(self, t, s, w):
        kb.count_binary(self._backend_name, t, s, w, self.ignore_index, self._layout,
                        self.logits, self._eps(s), self.hist, self.psum, self.sums,
                        num_threads=self._nt)

    # ------------------------------------------------------------------ counts
    def _counts(self):
        return _f.counts_from_hist(self.hist[:, 1], self.hist[:, 0], self._thresholds())

    @property
    def total_weight(self) -> float:
        return float(self.hist.sum())

    # ------------------------------------------------------------------ curves
    def roc_curve(self, drop_intermediate=True):
        """(fpr, tpr, thresholds) as sklearn.metrics.roc_curve on the binned scores: each
        threshold is a bin's lower edge (a logit when logits=True)."""
        return _f.roc_from_counts(*self._counts(), drop_intermediate)

    def precision_recall_curve(self, drop_intermediate=False):
        """(precision, recall, thresholds) as sklearn.metrics.precision_recall_curve."""
        return _f.pr_from_counts(*self._counts(), drop_intermediate)

    def roc_auc(self, average="macro", max_fpr=None):
        """Binned ROC AUC (``average`` is accepted for symmetry; binary has one score)."""
        _check_max_fpr(max_fpr)
        return _f.roc_auc_from_counts(*self._counts(), max_fpr=max_fpr)

    def average_precision(self, average="macro"):
        fps, tps, _ = self._counts()
        return _f.ap_from_counts(fps, tps)

    # ------------------------------------------------------------------ operating points
    def precision_at_recall(self, min_recall):
        """(precision, threshold): the best precision among thresholds with recall >=
        min_recall (NaN, nan when none)."""
        p, r, thr = self.precision_recall_curve()
        return _best(p[:-1], r[:-1] >= min_recall, thr)

    def recall_at_precision(self, min_precision):
        """(recall, threshold): the best recall among thresholds with precision >=
        min_precision."""
        p, r, thr = self.precision_recall_curve()
        return _best(r[:-1], p[:-1] >= min_precision, thr)

    def threshold_at_fpr(self, target_fpr):
        """(threshold, tpr, fpr): the lowest threshold whose false-positive rate does not exceed
        target_fpr (the one with the highest tpr)."""
        fpr, tpr, thr = self.roc_curve(drop_intermediate=False)
        ok = np.flatnonzero(fpr <= target_fpr)
        if ok.size == 0:
            return np.nan, np.nan, np.nan
        i = ok[-1]
        return float(thr[i]), float(tpr[i]), float(fpr[i])

    # ------------------------------------------------------------------ probabilistic
    def calibration_curve(self, n_bins=5):
        """(prob_true, prob_pred) as sklearn.calibration.calibration_curve(strategy="uniform"),
        with each fine bin assigned whole by its mean probability."""
        pt, pp, _ = self._calibration(n_bins)
        return pt, pp

    def _calibration(self, n_bins):
        if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
            raise ValueError(f"n_bins must be a positive int; got {n_bins!r}")
        counts = self.hist.sum(axis=1).astype(np.float64)
        return _f.calibration_bins(counts, self.hist[:, 1].astype(np.float64), self.psum, n_bins,
                                  self._centers())

    def calibration_error(self, n_bins=15, norm="l1"):
        """Expected ("l1"), RMS ("l2") or maximum ("max") calibration error over n_bins uniform
        bins of the positive-class probability."""
        if norm not in _NORMS:
            raise ValueError(f"norm must be one of {_NORMS}; got {norm!r}")
        return _f.calibration_error(*self._calibration(n_bins), norm)

    def brier_score(self):
        """Mean squared error of the positive-class probability (sklearn's brier_score_loss):
        an exact running sum, not binned."""
        tw = self.total_weight
        return float(self.sums[0] / tw) if tw > 0 else np.nan

    def log_loss(self):
        """Mean cross-entropy (sklearn's log_loss, probabilities clipped to [eps, 1 - eps] with
        eps of the score dtype): an exact running sum, not binned."""
        tw = self.total_weight
        return float(self.sums[1] / tw) if tw > 0 else np.nan


def _check_max_fpr(max_fpr):
    if max_fpr is not None and not (0 < max_fpr <= 1):
        raise ValueError(f"max_fpr must be in (0, 1] or None; got {max_fpr!r}")


def _best(values, ok, thr):
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return np.nan, np.nan
    i = idx[np.argmax(values[idx])]
    return float(values[i]), float(thr[i])
