"""MultilabelMetrics: streaming multilabel metrics from (L, 2, 2) counts and a histogram of
per-sample (tp, fp, fn) triplets."""
from __future__ import annotations

import math

import numpy as np

from .. import _backends
from .. import _formulas as F
from .. import _validate as V
from .._backends import reference as _ref
from . import _device as D
from ._base import _MetricsBase

__all__ = ["MultilabelMetrics", "MAX_SAMPLES_LABELS"]

#: Above this many labels the per-sample triplet histogram (``triplet_bins(L)`` cells, ~366k at
#: L = 128, cubic in L) is not kept: ``average="samples"`` raises, subset accuracy is kept by a
#: single counter of exactly right samples instead.
MAX_SAMPLES_LABELS = 128

_LABELS = V.BINARY_LABEL_DTYPES
_SCORES = V.SCORE_DTYPES
_AVERAGES = ("macro", "micro", "weighted", "samples", None)


class MultilabelMetrics(_MetricsBase):
    """Streaming multilabel classification metrics, equal to scikit-learn's on the whole stream
    (multilabel-indicator targets).

    Parameters
    ----------
    num_labels : int >= 2
    threshold, logits
        As for ``BinaryMetrics``, applied to every label's score.
    zero_division, validate, backend, num_threads
        As for ``BinaryMetrics``.

    ``update(target, preds)``: ``target`` (N, L) in {0, 1}; ``preds`` (N, L) labels (bool or
    integer dtype) or scores (float dtype). State: (L, 2, 2) counts ``[[tn, fp], [fn, tp]]`` per
    label (sklearn's ``multilabel_confusion_matrix``) and a histogram of per-sample (tp, fp, fn)
    triplets for ``average="samples"`` and subset accuracy; int64 until the first weighted
    update, float64 from then on. For L > ``MAX_SAMPLES_LABELS`` the histogram is replaced by a
    counter of exactly right samples (``average="samples"`` then raises) and counting runs in
    numpy (slower, with temporaries of the batch's size).

    ``accuracy()`` is subset accuracy (sklearn); ``label_accuracy()`` is per label.
    ``mcc()``, ``cohen_kappa()`` and ``balanced_accuracy()`` have no multilabel form in sklearn:
    they return one value per label (sklearn's function on that label's column).
    """

    _KIND = "multilabel"
    _COUNT_ATTRS = ("_state", "_samples", "_exact")
    _SEEN_ATTR = "_zero_weight"
    _CONFIG = ("num_labels", "threshold", "logits")
    _DEVICE_ATTRS = ("_state", "_samples")

    def __init__(self, num_labels, threshold=0.5, *, logits=False, zero_division="warn",
                 validate=True, backend="auto", num_threads=0):
        self._num_labels = V.positive_int("num_labels", num_labels, 2)
        self._logits = V.flag("logits", logits)
        self._cut = V.threshold(threshold, self._logits)
        self._threshold = float(threshold)
        self._wide = self._num_labels > MAX_SAMPLES_LABELS
        if self._wide and backend == "cuda":
            raise ValueError(f"backend='cuda' needs num_labels <= {MAX_SAMPLES_LABELS} (the wide form "
                             f"counts on the host); got num_labels={self._num_labels}")
        self._setup(zero_division, validate, backend, num_threads)

    def _init_args(self):
        return {"num_labels": self._num_labels, "threshold": self._threshold,
                "logits": self._logits, "zero_division": self._zero_division,
                "validate": self._validate, "backend": self._backend_request,
                "num_threads": self._nt}

    @property
    def num_labels(self) -> int:
        return self._num_labels

    @property
    def threshold(self) -> float:
        return self._threshold

    def _new_arrays(self):
        n = self._num_labels
        return {
            "_state": np.zeros((n, 2, 2), dtype=np.int64),
            "_samples": None if self._wide else np.zeros(_backends.triplet_bins(n), dtype=np.int64),
            "_exact": np.zeros(1, dtype=np.int64) if self._wide else None,
            # 1 once a sample of weight 0 was counted: sklearn sees a 0/0 for it in
            # average="samples", which a weighted histogram cannot show
            "_zero_weight": np.zeros(1, dtype=np.uint8),
        }

    # ------------------------------------------------------------ batch path
    def update(self, target, preds, sample_weight=None) -> None:
        """Count a batch: ``target`` (N, L) in {0, 1}, ``preds`` (N, L) labels or scores,
        ``sample_weight`` None or (N,). On error nothing changes."""
        if self._on_device or D.any_device(target, preds, sample_weight):
            return self._update_device(target, preds, sample_weight)
        if self._validate:
            target, preds, sample_weight = self._prepare(target, preds, sample_weight)
        else:
            target, preds = np.asarray(target), np.asarray(preds)
            if sample_weight is not None:
                sample_weight = np.ascontiguousarray(sample_weight, dtype=np.float64)
        n = target.shape[0]
        if n == 0:
            return
        scores = preds.dtype.kind == "f"
        with self._lock:
            if sample_weight is None and not self._float:
                self._count_batch(target, preds, scores, None, self._state, self._samples, self._exact)
            else:
                if sample_weight is None:  # float64 counts are only ever fed weights
                    sample_weight = np.ones(n)
                if not self._float:
                    arrays = [None if a is None else a.astype(np.float64)
                              for a in (self._state, self._samples, self._exact)]
                    self._count_batch(target, preds, scores, sample_weight, *arrays)
                    self._state, self._samples, self._exact = arrays
                    self._float = True
                else:
                    self._count_batch(target, preds, scores, sample_weight,
                                      self._state, self._samples, self._exact)
                if not self._zero_weight[0] and np.count_nonzero(sample_weight) < len(sample_weight):
                    self._zero_weight[0] = 1
            self._count += n

    def _count_batch(self, target, preds, scores, weight, state, samples, exact):
        if not self._wide:
            if scores:
                self._be.multilabel_scores(target, preds, self._cut, weight, state, samples, self._nt)
            else:
                self._be.multilabel_labels(target, preds, weight, state, samples, self._nt)
            return
        # wide: the reference checks (same messages as every backend), then numpy counting
        rows = np.arange(target.shape[0])
        second = _ref._score_check("preds", preds) if scores else _ref._label_check("preds", preds, 2)
        _ref._raise_first(_ref._label_check("target", target, 2) + second + _ref._weight_check(weight), rows)
        t = target.astype(np.int64)
        p = (preds.astype(np.float64) >= self._cut) if scores else preds.astype(np.int64)
        p = p.astype(np.int64)
        idx = (np.arange(self._num_labels)[None, :] * 4 + t * 2 + p).reshape(-1)
        right = (t == p).all(axis=1)
        if weight is None:
            state.reshape(-1)[:] += np.bincount(idx, minlength=state.size)
            exact += np.count_nonzero(right)
        else:
            state.reshape(-1)[:] += np.bincount(idx, weights=np.repeat(weight, self._num_labels),
                                                minlength=state.size)
            exact += weight[right].sum()

    def _prepare(self, target, preds, sample_weight):
        n_labels = self._num_labels
        target = V.as_array("target", target)
        preds = V.as_array("preds", preds)
        want = f"2-D (n_samples, {n_labels})"
        if target.shape == (0,):  # an empty list
            target = target.reshape(0, n_labels)
        if preds.shape == (0,):
            preds = preds.reshape(0, n_labels)
        for name, x in (("target", target), ("preds", preds)):
            if x.ndim != 2 or x.shape[1] != n_labels:
                raise ValueError(f"{name} must be {want}; got an array of shape {x.shape}")
        V.same_length(target, preds)
        target = V.labels("target", target, _LABELS)
        preds = V.scores("preds", preds) if preds.dtype.kind == "f" else V.labels("preds", preds, _LABELS)
        return target, preds, V.sample_weight(sample_weight, target.shape[0])

    # ------------------------------------------------------------ device path (see _base)
    def _move_to_device(self):
        if self._wide:
            raise ValueError(
                f"MultilabelMetrics with num_labels > {MAX_SAMPLES_LABELS} counts on the host "
                f"(got {self._num_labels}): pass host arrays")
        super()._move_to_device()

    def _device_args(self, target, preds, sample_weight):
        n_labels = self._num_labels
        want = f"2-D (n_samples, {n_labels})"
        for name, x in (("target", target), ("preds", preds)):
            if x.ndim != 2 or int(x.shape[1]) != n_labels:
                raise ValueError(f"{name} must be {want}; got an array of shape {tuple(x.shape)}")
        if self._validate:
            D.check_labels("target", target)
            D.check_preds("preds", preds)
        D.check_rows(target, preds, sample_weight)
        return target, preds, sample_weight

    def _host_args(self, target, preds, sample_weight):
        if self._validate:
            return self._prepare(target, preds, sample_weight)
        target, preds = np.asarray(target), np.asarray(preds)
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(sample_weight, dtype=np.float64)
        return target, preds, sample_weight

    def _count_device(self, target, preds, weight, device):
        n = int(target.shape[0])
        scores = preds.dtype.kind == "f"
        with self._lock:
            if weight is None and not self._float:
                self._count_batch(target, preds, scores, None, self._state, self._samples, None)
            else:
                if weight is None:  # float64 counts are only ever fed weights
                    weight = np.ones(n)
                if not self._float:
                    state, samples = self._float_copy(self._state), self._float_copy(self._samples)
                    self._count_batch(target, preds, scores, weight, state, samples, None)
                    self._state, self._samples, self._float = state, samples, True
                else:
                    self._count_batch(target, preds, scores, weight, self._state, self._samples, None)
                if not self._zero_weight[0]:
                    zeros = (int(np.count_nonzero(weight == 0)) if type(weight) is np.ndarray
                             else self._be.count_equal(weight, 0.0))
                    if zeros:
                        self._zero_weight[0] = 1
            self._count += n

    # ------------------------------------------------------------ values
    def _read(self):
        arrays, count = self._snapshot()
        self._check_empty(count)
        return arrays

    def _zd(self, zero_division):
        return self._zero_division if zero_division is None else V.zero_division(zero_division)

    def _prf(self, which, average, beta=1.0, zero_division=None):
        average = V.average(average, _AVERAGES)
        a = self._read()
        hist = self._hist(a, average)
        warn = {0: ("precision",), 1: ("recall",), 2: ("f-score",)}[which]
        return F.precision_recall_fscore_support(
            a["_state"], beta=beta, average=average, zero_division=self._zd(zero_division),
            warn_for=warn, samples_hist=hist, zero_weight_samples=bool(a["_zero_weight"][0]))[which]

    def _hist(self, arrays, average):
        if average == "samples" and arrays["_samples"] is None:
            raise ValueError(
                f'average="samples" is not available for num_labels > {MAX_SAMPLES_LABELS} '
                f"(got {self._num_labels}): the per-sample histogram is not kept")
        return arrays["_samples"]

    def confusion_matrix(self, normalize=None) -> np.ndarray:
        """(L, 2, 2) ``[[tn, fp], [fn, tp]]`` per label (sklearn's
        ``multilabel_confusion_matrix``); ``normalize`` applies per label as in
        ``confusion_matrix(normalize=...)`` of that label's column."""
        V.choice("normalize", normalize, (None, "true", "pred", "all"))
        state = self._snapshot()[0]["_state"]
        if normalize is None:
            return state
        return np.stack([F.normalize_confusion(m, normalize) for m in state])

    def accuracy(self) -> float:
        """Subset accuracy: fraction (weight fraction) of samples with every label right."""
        a = self._read()
        if a["_samples"] is not None:
            return F.subset_accuracy(a["_samples"])
        total = a["_state"][0].sum()
        return float(a["_exact"][0] / total) if total != 0 else math.nan

    def label_accuracy(self) -> np.ndarray:
        """Accuracy of each label separately, shape (L,)."""
        s = self._read()["_state"]
        total = s[0].sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            return (s[:, 0, 0] + s[:, 1, 1]) / total

    def hamming_loss(self) -> float:
        """Fraction (weight fraction) of wrong (sample, label) entries."""
        return F.hamming_loss_mcm(self._read()["_state"])

    def precision(self, average="macro", *, zero_division=None):
        """Precision (sklearn's ``precision_score``)."""
        return self._prf(0, average, zero_division=zero_division)

    def recall(self, average="macro", *, zero_division=None):
        """Recall (sklearn's ``recall_score``)."""
        return self._prf(1, average, zero_division=zero_division)

    def fbeta(self, beta, average="macro", *, zero_division=None):
        """F-beta score (sklearn's ``fbeta_score``)."""
        return self._prf(2, average, beta=beta, zero_division=zero_division)

    def f1(self, average="macro", *, zero_division=None):
        """F1 score (sklearn's ``f1_score``)."""
        return self._prf(2, average, zero_division=zero_division)

    def specificity(self, average="macro", *, zero_division=None):
        """True-negative rate tn / (tn + fp) per label, averaged like recall."""
        average = V.average(average, _AVERAGES)
        a = self._read()
        return F.specificity(a["_state"], average=average, zero_division=self._zd(zero_division),
                             samples_hist=self._hist(a, average),
                             zero_weight_samples=bool(a["_zero_weight"][0]))

    def jaccard(self, average="macro", *, zero_division=None):
        """Jaccard index (sklearn's ``jaccard_score``)."""
        average = V.average(average, _AVERAGES)
        a = self._read()
        return F.jaccard(a["_state"], average=average, zero_division=self._zd(zero_division),
                         samples_hist=self._hist(a, average),
                         zero_weight_samples=bool(a["_zero_weight"][0]))

    def support(self) -> np.ndarray:
        """Number (weight) of positive targets per label."""
        return F.support(self._read()["_state"])

    def _per_label(self, fn):
        out = np.empty(self._num_labels)
        for i, cm in enumerate(self._read()["_state"]):
            # sklearn's per-column label set: the values seen in that column
            idx = np.flatnonzero((cm.sum(axis=0) != 0) | (cm.sum(axis=1) != 0))
            out[i] = fn(cm[np.ix_(idx, idx)])
        return out

    def mcc(self) -> np.ndarray:
        """Matthews correlation coefficient of each label, shape (L,)."""
        return self._per_label(F.matthews_corrcoef)

    def cohen_kappa(self, weights=None) -> np.ndarray:
        """Cohen's kappa of each label, shape (L,) (NaN where undefined)."""
        V.choice("weights", weights, (None, "linear", "quadratic"))
        return self._per_label(lambda cm: F.cohen_kappa(cm, weights=weights))

    def balanced_accuracy(self, adjusted: bool = False) -> np.ndarray:
        """Balanced accuracy of each label, shape (L,)."""
        adjusted = V.flag("adjusted", adjusted)
        return self._per_label(lambda cm: F.balanced_accuracy(cm, adjusted=adjusted))

    def compute(self) -> dict:
        """Every metric with its default arguments, in a dict."""
        return {
            "accuracy": self.accuracy(),
            "label_accuracy": self.label_accuracy(),
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
