"""Per-column (one-vs-rest / per-label) reductions shared by MulticlassCurves and
MultilabelCurves. A subclass provides ``_column(c) -> (pos, neg)`` histograms, ``_n_columns``
and ``_thresholds()``."""
from __future__ import annotations

import warnings

import numpy as np

from . import _formulas as _f

__all__: list[str] = []

_NORMS = ("l1", "l2", "max")


class ColumnCurves:
    def _column_counts(self, c):
        pos, neg = self._column(c)
        return _f.counts_from_hist(pos, neg, self._thresholds())

    def _micro_counts(self):
        pos = sum(self._column(c)[0] for c in range(self._n_columns))
        neg = sum(self._column(c)[1] for c in range(self._n_columns))
        return _f.counts_from_hist(pos, neg, self._thresholds())

    def _support(self):
        return np.array([float(np.sum(self._column(c)[0])) for c in range(self._n_columns)])

    def _per_column(self, fn, average, allowed):
        if average not in allowed:
            raise ValueError(f"average must be one of {allowed}; got {average!r}")
        if average == "micro":
            return fn(self._micro_counts())
        scores = np.array([fn(self._column_counts(c)) for c in range(self._n_columns)])
        return _f.average_scores(scores, average, self._support())

    def roc_curve(self, drop_intermediate=True):
        """One (fpr, tpr, thresholds) per class / label (one-vs-rest)."""
        return [_f.roc_from_counts(*self._column_counts(c), drop_intermediate)
                for c in range(self._n_columns)]

    def precision_recall_curve(self, drop_intermediate=False):
        """One (precision, recall, thresholds) per class / label (one-vs-rest)."""
        return [_f.pr_from_counts(*self._column_counts(c), drop_intermediate)
                for c in range(self._n_columns)]

    def _auc_ovr(self, average, max_fpr=None):
        return self._per_column(lambda cnt: _f.roc_auc_from_counts(*cnt, max_fpr=max_fpr),
                                average, ("micro", "macro", "weighted", None))

    def average_precision(self, average="macro"):
        """Binned average precision per class / label, averaged like sklearn ("micro",
        "macro", "weighted" by positive support, None for the per-column array)."""
        return self._per_column(lambda cnt: _f.ap_from_counts(cnt[0], cnt[1]), average,
                                ("micro", "macro", "weighted", None))

    def calibration_curve(self, n_bins=5, column=0):
        """(prob_true, prob_pred) of one class / label (one-vs-rest), uniform bins."""
        pt, pp, _ = self._calibration(n_bins, column)
        return pt, pp

    def _calibration(self, n_bins, column):
        if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
            raise ValueError(f"n_bins must be a positive int; got {n_bins!r}")
        if not 0 <= column < self._n_columns:
            raise ValueError(f"column must be in [0, {self._n_columns}); got {column!r}")
        pos, neg = self._column(column)
        pos = np.asarray(pos, np.float64)
        return _f.calibration_bins(pos + neg, pos, self.psum[column], n_bins,
                                  self._centers())

    def calibration_error(self, n_bins=15, norm="l1", average="macro"):
        """Per-column calibration error (one-vs-rest), averaged over columns ("macro") or
        returned as an array (None)."""
        if norm not in _NORMS:
            raise ValueError(f"norm must be one of {_NORMS}; got {norm!r}")
        if average not in ("macro", None):
            raise ValueError(f"average must be 'macro' or None; got {average!r}")
        errs = np.array([_f.calibration_error(*self._calibration(n_bins, c), norm)
                         for c in range(self._n_columns)])
        return errs if average is None else float(np.nanmean(errs)) if np.isfinite(errs).any() \
            else np.nan

    def _warn(self, msg):
        warnings.warn(msg, stacklevel=3)
