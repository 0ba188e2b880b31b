"""One-shot metrics with scikit-learn's names, signatures and results.

A drop-in for the matching ``sklearn.metrics`` functions (scikit-learn 1.9 semantics: target
types, label sets, ``average``, ``zero_division``, warnings and errors), counted by tallyml's
kernels and reduced by the same formulas as the streaming metric objects::

    from tallyml.functional import f1_score
    f1_score(y_true, y_pred, average="macro")

Differences from scikit-learn: warnings are tallyml's classes (``UndefinedMetricWarning``,
``TallymlWarning``); negative sample weights are rejected; sparse inputs are densified.
"""
from .classification import (
    accuracy_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    fbeta_score,
    hamming_loss,
    jaccard_score,
    matthews_corrcoef,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    zero_one_loss,
)
from .report import classification_report

# ---- curves block: exact threshold-sweep and probabilistic drop-ins (tallyml.curves.exact) ----
from ..curves.exact import (
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
    # curves block
    "average_precision_score",
    "brier_score_loss",
    "calibration_curve",
    "det_curve",
    "log_loss",
    "precision_recall_curve",
    "roc_auc_score",
    "roc_curve",
    "top_k_accuracy_score",
    # confusion-count metrics
    "accuracy_score",
    "balanced_accuracy_score",
    "classification_report",
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
