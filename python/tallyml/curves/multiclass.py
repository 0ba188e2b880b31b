"""Streaming multiclass threshold sweeps: one-vs-rest (and optionally one-vs-one) ROC/PR
histograms of every score column, plus exact Brier and log-loss sums."""
from __future__ import annotations

from itertools import combinations

import numpy as np

from . import _backend as kb
from . import _formulas as _f
from ._columns import ColumnCurves
from ._layout import make_layout
from ._state import CurveState, as_labels, as_scores, as_weight

__all__ = ["MulticlassCurves"]


class MulticlassCurves(ColumnCurves, CurveState):
    """Multiclass ROC/PR/calibration state over (N, K) scores.

    Label set: all ``num_classes`` classes (sklearn with ``labels=range(K)``): a class never
    seen as a target gets a NaN AUROC with an UndefinedMetricWarning.
    ``ovo=True`` keeps histograms per (true class, column) — K times more memory — which
    one-vs-one AUROC (Hand & Till) needs; one-vs-rest is derived from the same state.
    Multiclass scores are not required to sum to 1 (sklearn's exact roc_auc_score requires it).
    """

    _KIND = "multiclass_curves"
    _CONFIG = CurveState._CONFIG + ("num_classes", "ovo")

    def __init__(self, num_classes, num_bins=None, *, layout="dyadic", logits=False, ovo=False,
                 ignore_index=None, backend="auto"):
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
                or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2; got {num_classes!r}")
        self.num_classes = int(num_classes)
        self.ovo = bool(ovo)
        nb = make_layout(num_bins, layout).num_bins
        k = self.num_classes
        self._hist_shape = (k, k, nb) if self.ovo else (k, nb, 2)
        self._psum_shape = (k, nb)
        self._sums_shape = (2,)
        super().__init__(num_bins, layout, logits, ignore_index, backend)

    @property
    def _n_columns(self):
        return self.num_classes

    def _format(self, target, preds, sample_weight):
        t = as_labels(target, "target", 1)
        s = as_scores(preds, "preds", 2)
        if s.shape != (t.shape[0], self.num_classes):
            raise ValueError(f"preds must have shape ({t.shape[0]}, {self.num_classes}); got {s.shape}")
        return t, s, as_weight(sample_weight, t.shape[0])

    def _check(self, t, s, w):
        kb.check_multiclass(self._backend_name, t, s, w, self.ignore_index, self.logits)

    def _init_args(self):
        return {"num_classes": self.num_classes, "num_bins": self._num_bins_arg,
                "layout": self.layout, "logits": self.logits, "ovo": self.ovo,
                "ignore_index": self.ignore_index, "backend": self._backend_request}

    def _count_batch(self, t, s, w):
        kb.count_multiclass(self._backend_name, t, s, w, self.ignore_index, self._layout,
                            self.logits, self._eps(s), self.ovo, self.hist, self.psum, self.sums)

    def _column(self, c):
        if self.ovo:
            pos = self.hist[c, c]
            return pos, self.hist[:, c].sum(axis=0) - pos
        return self.hist[c, :, 1], self.hist[c, :, 0]

    @property
    def total_weight(self) -> float:
        return float(self.hist.sum()) / self.num_classes

    def roc_auc(self, average="macro", multi_class="ovr", max_fpr=None):
        """Binned AUROC: one-vs-rest ("micro", "macro", "weighted", None) or one-vs-one
        (Hand & Till; "macro" or "weighted"; needs ovo=True)."""
        if max_fpr is not None and max_fpr != 1.0:
            raise ValueError("Partial AUC computation not available in multiclass setting, "
                             f"'max_fpr' must be None; got {max_fpr!r}")
        if multi_class == "ovr":
            return self._auc_ovr(average)
        if multi_class != "ovo":
            raise ValueError(f"multi_class must be 'ovr' or 'ovo'; got {multi_class!r}")
        if not self.ovo:
            raise ValueError("one-vs-one AUROC needs MulticlassCurves(..., ovo=True)")
        if average not in ("macro", "weighted"):
            raise ValueError(f"average must be 'macro' or 'weighted' for ovo; got {average!r}")
        edges = self._thresholds()
        n_class = self.hist.sum(axis=(1, 2)) / self.num_classes
        present = np.flatnonzero(n_class > 0)
        pairs = list(combinations(present.tolist(), 2))
        if not pairs:
            return np.nan
        scores = np.empty(len(pairs))
        prevalence = np.empty(len(pairs))
        for ix, (a, b) in enumerate(pairs):
            sa = _f.roc_auc_from_counts(*_f.counts_from_hist(self.hist[a, a], self.hist[b, a], edges))
            sb = _f.roc_auc_from_counts(*_f.counts_from_hist(self.hist[b, b], self.hist[a, b], edges))
            scores[ix] = (sa + sb) / 2
            prevalence[ix] = (n_class[a] + n_class[b]) / n_class.sum()
        return float(np.average(scores, weights=prevalence if average == "weighted" else None))

    def brier_score(self):
        """Multiclass Brier score, exact running sum (sklearn's brier_score_loss with
        scale_by_half="auto": halved when num_classes == 2)."""
        tw = self.total_weight
        if tw <= 0:
            return np.nan
        v = self.sums[0] / tw
        return float(v * 0.5 if self.num_classes < 3 else v)

    def log_loss(self):
        """Mean cross-entropy of the true class (sklearn's log_loss), exact running sum."""
        tw = self.total_weight
        return float(self.sums[1] / tw) if tw > 0 else np.nan
