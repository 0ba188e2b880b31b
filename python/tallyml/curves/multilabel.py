"""Streaming multilabel threshold sweeps: one binary histogram per label."""
from __future__ import annotations

import numpy as np

from . import _backend as kb
from ._columns import ColumnCurves
from ._layout import make_layout
from ._state import CurveState, as_labels, as_scores, as_weight

__all__ = ["MultilabelCurves"]


class MultilabelCurves(ColumnCurves, CurveState):
    """Per-label ROC/PR/calibration state over (N, L) 0/1 targets and (N, L) scores.

    Averages: "micro", "macro", "weighted", None; sklearn's "samples" ranks the labels of each
    sample and cannot be kept in constant memory (ValueError)."""

    _KIND = "multilabel_curves"
    _CONFIG = CurveState._CONFIG + ("num_labels",)

    def __init__(self, num_labels, num_bins=None, *, layout="dyadic", logits=False,
                 backend="auto"):
        if isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer)) \
                or num_labels < 1:
            raise ValueError(f"num_labels must be a positive int; got {num_labels!r}")
        self.num_labels = int(num_labels)
        nb = make_layout(num_bins, layout).num_bins
        self._hist_shape = (self.num_labels, nb, 2)
        self._psum_shape = (self.num_labels, nb)
        self._sums_shape = (self.num_labels, 2)
        super().__init__(num_bins, layout, logits, None, backend)

    @property
    def _n_columns(self):
        return self.num_labels

    def _format(self, target, preds, sample_weight):
        t = as_labels(target, "target", 2)
        s = as_scores(preds, "preds", 2)
        if t.shape != s.shape or s.shape[1] != self.num_labels:
            raise ValueError(f"target and preds must both have shape (N, {self.num_labels}); "
                             f"got {t.shape} and {s.shape}")
        return t, s, as_weight(sample_weight, t.shape[0])

    def _check(self, t, s, w):
        kb.check_multilabel(self._backend_name, t, s, w, self.logits)

    def _init_args(self):
        return {"num_labels": self.num_labels, "num_bins": self._num_bins_arg,
                "layout": self.layout, "logits": self.logits, "backend": self._backend_request}

    def _count_batch(self, t, s, w):
        kb.count_multilabel(self._backend_name, t, s, w, self._layout, self.logits,
                            self._eps(s), self.hist, self.psum, self.sums)

    def _column(self, c):
        return self.hist[c, :, 1], self.hist[c, :, 0]

    @property
    def total_weight(self) -> float:
        return float(self.hist[0].sum()) if self.num_labels else 0.0

    def roc_auc(self, average="macro", max_fpr=None):
        """Binned AUROC per label, averaged like sklearn's multilabel roc_auc_score."""
        if average == "samples":
            raise ValueError("average='samples' is not available in constant memory")
        if max_fpr is not None and not (0 < max_fpr <= 1):
            raise ValueError(f"max_fpr must be in (0, 1] or None; got {max_fpr!r}")
        return self._auc_ovr(average, max_fpr)

    def average_precision(self, average="macro"):
        if average == "samples":
            raise ValueError("average='samples' is not available in constant memory")
        return super().average_precision(average)

    def brier_score(self, average="macro"):
        """Per-label Brier score (exact sums): mean over labels, or the array (None)."""
        return self._label_sum(0, average)

    def log_loss(self, average="macro"):
        """Per-label binary log loss (exact sums): mean over labels, or the array (None)."""
        return self._label_sum(1, average)

    def _label_sum(self, j, average):
        if average not in ("macro", None):
            raise ValueError(f"average must be 'macro' or None; got {average!r}")
        tw = self.total_weight
        v = self.sums[:, j] / tw if tw > 0 else np.full(self.num_labels, np.nan)
        return v if average is None else float(np.mean(v))
