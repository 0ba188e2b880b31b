"""Threshold sweeps and probabilistic metrics: streaming binned curves in constant memory
(``BinaryCurves``, ``MulticlassCurves``, ``MultilabelCurves``), and exact one-shot functions that
are drop-in replacements for scikit-learn's (``roc_auc_score``, ``average_precision_score``, ...).

numba loads on the first update or exact call, not on import."""
from __future__ import annotations

from .binary import BinaryCurves
from .exact import (
    average_precision_score,
    brier_score_loss,
    calibration_curve,
    det_curve,
    log_loss,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
    top_k_accuracy_score,
)
from .multiclass import MulticlassCurves
from .multilabel import MultilabelCurves

__all__ = [
    "BinaryCurves",
    "MulticlassCurves",
    "MultilabelCurves",
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
