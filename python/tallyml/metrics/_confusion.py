"""Metric values of a (K, K) confusion matrix, shared by BinaryMetrics and MulticlassMetrics.

Label set. scikit-learn computes on the labels present in targets or predictions unless a
``labels`` argument says otherwise; the metric objects follow it: ``_label_set(seen, use_all)``
gives the class indices a value is computed over. Metrics whose sklearn function has no
``labels`` argument (balanced accuracy) always use the seen labels; metrics that do not depend on
absent classes (accuracy, MCC, Hamming loss) use the full matrix.

"Seen" is ``seen | (row sums + column sums > 0)``: unweighted and positively weighted samples
are visible in the counts; the ``seen`` mask records the labels of zero-weight samples, which
the counts cannot show.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _formulas as F
from .. import _validate as V
from .._backends.hot import MAX_ROWS as _HOT_ROWS
from ._base import _MetricsBase

__all__: list[str] = []  # private module

_NORMALIZE = (None, "true", "pred", "all")
_KAPPA_WEIGHTS = (None, "linear", "quadratic")


def seen_labels(arrays) -> np.ndarray:
    """Labels seen so far (bool mask): in the counts, or recorded by the seen mask (labels of
    zero-weight samples leave no count)."""
    cm = arrays["_state"]
    return (arrays["_seen"] != 0) | (cm.sum(axis=0) != 0) | (cm.sum(axis=1) != 0)


class _ConfusionMetrics(_MetricsBase):
    """Values from ``self._state`` (K, K) and ``self._seen`` (K,) uint8."""

    _COUNT_ATTRS = ("_state",)
    _SEEN_ATTR = "_seen"
    #: the update paths write the seen mask only with float64 counts (weighted: labels of
    #: zero-weight samples); unweighted labels show in the counts (windows.py relies on it)
    _SEEN_ONLY_WEIGHTED = True
    #: averages accepted by precision/recall/... (subclasses with another default override the
    #: public methods to change it)
    _AVERAGES: tuple = ()
    #: whether per-class values use all K classes (MulticlassMetrics(labels="all"))
    _use_all = False

    # ------------------------------------------------------------ the weighted hot path
    # (Decayed's, see _MetricsBase._count_scaled): the checks and the call are the same for both
    # subclasses; they give their kernels' constants, the preds' shape and the kernel lookup
    def _kernel_config(self) -> tuple:
        """The hot kernels' arguments after (target, preds): the object's constants."""
        raise NotImplementedError

    def _preds_ndim(self, preds) -> int:
        """The ndim ``update`` takes preds of this dtype with."""
        raise NotImplementedError

    def _direct_below(self):
        """The weighted multiclass kernels' last argument: the batch size below which this
        backend's weighted kernel adds straight into the state (the hot kernel follows the same
        summation order); None where the kernels take none."""
        return None

    def _count_scaled(self, target, preds, ramp, scale) -> bool:
        """See ``_MetricsBase._count_scaled``: (N,) targets of N <= hot.MAX_ROWS rows and the
        preds ``update`` takes for them, counted by the hot tier's weighted kernel once it is
        loaded for their dtypes (``_scaled_entry``)."""
        if not (type(target) is np.ndarray and type(preds) is np.ndarray and target.ndim == 1):
            return False
        n = len(target)
        # (the kernel checks the ramp's length)
        if n != len(preds) or n > _HOT_ROWS or preds.ndim != self._preds_ndim(preds):
            return False
        ep = self._whot_ep
        if target.dtype is not self._whot_t or preds.dtype is not self._whot_p or ep is None:
            ep = self._scaled_entry(target.dtype, preds.dtype)
            if ep is None:
                return False
        if n == 0:  # update() counts nothing and keeps int64 counts int64
            return True
        direct = self._direct_below()
        tail = (self._seen, ramp, scale) if direct is None else (self._seen, ramp, scale, direct)
        return self._count_scaled_hot(ep, (target, preds) + self._kernel_config(), tail)

    def _read(self):
        """(cm, seen_mask, count) snapshot; raises on an empty stream."""
        arrays, count = self._snapshot()
        self._check_empty(count)
        return arrays["_state"], seen_labels(arrays), count

    def _canonical_arrays(self, arrays):
        # the seen mask as the values read it: the unweighted paths leave it alone (labels show
        # in the counts), the weighted ones set it, so one stream counted along other paths
        # (merged halves, an int64 part before a float64 one) gives the same state_dict
        arrays["_seen"] = seen_labels(arrays).astype(np.uint8)
        return arrays

    def _label_idx(self, seen, use_all):
        return np.arange(seen.shape[0]) if use_all else np.flatnonzero(seen)

    @staticmethod
    def _sub(cm, idx):
        return cm[np.ix_(idx, idx)]

    def _zd(self, zero_division):
        return self._zero_division if zero_division is None else V.zero_division(zero_division)

    def _mcm(self, average, one_vs_rest=F.mcm_from_cm):
        """(mcm, mode) for a set-wise metric: "binary" selects class 1's one-vs-rest row."""
        average = V.average(average, self._AVERAGES)
        cm, seen, _ = self._read()
        if average == "binary":
            return one_vs_rest(cm)[[1]], "micro"
        idx = self._label_idx(seen, self._use_all)
        # the one-vs-rest counts of the label set come from the full matrix: with
        # labels="all" nothing is outside it, with "seen" the unseen rows and columns are zero
        return one_vs_rest(self._sub(cm, idx)), average

    # ------------------------------------------------------------ confusion matrix
    def label_set(self) -> np.ndarray:
        """Class indices that per-class values (``average=None``, ``support()``) refer to."""
        _, seen, _ = self._read()
        return self._label_idx(seen, self._use_all)

    # ------------------------------------------------------------ values
    def accuracy(self) -> float:
        """Fraction (weight fraction) of correctly predicted samples."""
        cm, _, _ = self._read()
        return F.accuracy(cm)

    def hamming_loss(self) -> float:
        """Fraction of wrong predictions (1 - accuracy, computed from the wrong cells)."""
        cm, _, _ = self._read()
        total = cm.sum()
        return float((total - np.trace(cm)) / total) if total != 0 else math.nan

    def balanced_accuracy(self, adjusted: bool = False) -> float:
        """Mean recall over the classes present in the targets (sklearn's
        ``balanced_accuracy_score``, which takes no label set: always the seen labels)."""
        adjusted = V.flag("adjusted", adjusted)
        cm, seen, _ = self._read()
        return F.balanced_accuracy(self._sub(cm, np.flatnonzero(seen)), adjusted=adjusted)

    def mcc(self) -> float:
        """Matthews correlation coefficient (0.0 when undefined, like sklearn)."""
        cm, _, _ = self._read()
        return F.matthews_corrcoef(cm)

    def cohen_kappa(self, weights=None) -> float:
        """Cohen's kappa; ``weights`` None, "linear" or "quadratic" (over label positions in
        the label set, like sklearn). NaN when undefined."""
        V.choice("weights", weights, _KAPPA_WEIGHTS)
        cm, seen, _ = self._read()
        return F.cohen_kappa(self._sub(cm, self._label_idx(seen, self._use_all)), weights=weights)

    def precision(self, average="macro", *, zero_division=None):
        """Precision (sklearn's ``precision_score``); ``zero_division`` defaults to the one
        given at construction."""
        mcm, avg = self._mcm(average)
        return F.precision_recall_fscore_support(
            mcm, average=avg, zero_division=self._zd(zero_division), warn_for=("precision",))[0]

    def recall(self, average="macro", *, zero_division=None):
        """Recall (sklearn's ``recall_score``)."""
        mcm, avg = self._mcm(average)
        return F.precision_recall_fscore_support(
            mcm, average=avg, zero_division=self._zd(zero_division), warn_for=("recall",))[1]

    def fbeta(self, beta, average="macro", *, zero_division=None):
        """F-beta score (sklearn's ``fbeta_score``)."""
        mcm, avg = self._mcm(average)
        return F.precision_recall_fscore_support(
            mcm, beta=beta, average=avg, zero_division=self._zd(zero_division),
            warn_for=("f-score",))[2]

    def f1(self, average="macro", *, zero_division=None):
        """F1 score (sklearn's ``f1_score``)."""
        return self.fbeta(1.0, average, zero_division=zero_division)

    def specificity(self, average="macro", *, zero_division=None):
        """True-negative rate tn / (tn + fp) (recall of the negatives), averaged like recall."""
        mcm, avg = self._mcm(average, _one_vs_rest_exact_tn)
        return F.specificity(mcm, average=avg, zero_division=self._zd(zero_division))

    def jaccard(self, average="macro", *, zero_division=None):
        """Jaccard index (sklearn's ``jaccard_score``)."""
        mcm, avg = self._mcm(average)
        return F.jaccard(mcm, average=avg, zero_division=self._zd(zero_division))

    def support(self) -> np.ndarray:
        """Number (weight) of true samples of each class in ``label_set()``."""
        mcm, _ = self._mcm(None)
        return F.support(mcm)

    def compute(self) -> dict:
        """Every metric with its default arguments, in a dict."""
        return {
            "accuracy": self.accuracy(),
            "balanced_accuracy": self.balanced_accuracy(),
            "precision": self.precision(),
            "recall": self.recall(),
            "f1": self.f1(),
            "specificity": self.specificity(),
            "jaccard": self.jaccard(),
            "mcc": self.mcc(),
            "cohen_kappa": self.cohen_kappa(),
            "hamming_loss": self.hamming_loss(),
            "support": self.support(),
        }


def _one_vs_rest_exact_tn(cm):
    """(K, 2, 2) one-vs-rest counts whose tn keeps an exact zero with float64 (weighted) counts.

    ``tn = total - tp - fp - fn`` leaves rounding residue (1e-15 instead of 0), which turns
    specificity's 0/0 into 1.0. Here ``tn[c]`` is a sum of non-negative terms
    ``rowsum[i] - cm[i, c]`` (i != c), each exactly 0 when row i holds nothing outside column c."""
    cm = np.asarray(cm)
    tp = np.diagonal(cm).copy()
    off = cm.copy()
    np.fill_diagonal(off, 0)
    fp, fn = off.sum(axis=0), off.sum(axis=1)
    rest = cm.sum(axis=1)[:, None] - cm  # rest[i, c]: row i outside column c
    np.fill_diagonal(rest, 0)
    tn = rest.sum(axis=0)
    return np.stack([tn, fp, fn, tp], axis=1).reshape(-1, 2, 2)
