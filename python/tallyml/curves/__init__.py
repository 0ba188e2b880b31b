"""Threshold sweeps and probabilistic metrics: streaming binned curves in constant memory, and
exact one-shot functions that are drop-in replacements for scikit-learn's.

Imports are lazy: numba loads on the first update or exact call."""
from __future__ import annotations

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
