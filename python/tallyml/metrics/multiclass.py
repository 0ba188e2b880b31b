"""MulticlassMetrics: streaming multiclass metrics from a (K, K) confusion matrix."""
from __future__ import annotations

import numpy as np

from .. import _formulas as F
from .. import _validate as V
from ._confusion import _ConfusionMetrics

__all__ = ["MulticlassMetrics"]

_ndarray = np.ndarray
_LABELS = V.MULTICLASS_LABEL_DTYPES
_SCORES = V.SCORE_DTYPES


class MulticlassMetrics(_ConfusionMetrics):
    """Streaming multiclass classification metrics, equal to scikit-learn's on the whole stream.

    Parameters
    ----------
    num_classes : int >= 2
        Labels are 0 .. num_classes - 1.
    labels : "seen" or "all"
        Label set of per-class and averaged values: "seen" (default) is sklearn's default (labels
        present in targets or predictions so far); "all" is sklearn with
        ``labels=range(num_classes)``. ``balanced_accuracy`` has no label set in sklearn and
        always uses the seen labels.
    ignore_index : int or None
        Samples whose target equals it are dropped entirely.
    zero_division, validate, backend, num_threads
        As for ``BinaryMetrics``.

    ``update(target, preds)``: ``preds`` are (N,) integer labels or (N, K) float scores (the
    prediction is the first maximum). State: a (K, K) confusion matrix, int64 until the first
    weighted update and float64 from then on, plus a (K,) uint8 ``seen`` mask that weighted
    updates fill (labels of zero-weight samples do not show in the counts).
    """

    _KIND = "multiclass"
    _CONFIG = ("num_classes", "ignore_index")
    _AVERAGES = ("macro", "micro", "weighted", None)

    def __init__(self, num_classes, *, labels="seen", ignore_index=None, zero_division="warn",
                 validate=True, backend="auto", num_threads=0):
        self._num_classes = V.positive_int("num_classes", num_classes, 2)
        self._labels = V.choice("labels", labels, ("seen", "all"))
        self._use_all = labels == "all"
        self._ignore_index = V.ignore_index(ignore_index)
        self._setup(zero_division, validate, backend, num_threads)

    def _init_args(self):
        return {"num_classes": self._num_classes, "labels": self._labels,
                "ignore_index": self._ignore_index, "zero_division": self._zero_division,
                "validate": self._validate, "backend": self._backend_request,
                "num_threads": self._nt}

    @property
    def num_classes(self) -> int:
        return self._num_classes

    def _new_arrays(self):
        k = self._num_classes
        return {"_state": np.zeros((k, k), dtype=np.int64), "_seen": np.zeros(k, dtype=np.uint8)}

    # ------------------------------------------------------------ scalar path
    def update_one(self, target, pred) -> None:
        """Count one sample: integer ``target`` and integer ``pred`` labels. Unweighted."""
        if type(target) is not int:
            target = _scalar_label("target", target)
        if target == self._ignore_index:
            return
        if type(pred) is not int:
            pred = _scalar_label("pred", pred)
        k = self._num_classes
        if not 0 <= target < k:
            raise ValueError(f"target = {target} is outside [0, {k})")
        if not 0 <= pred < k:
            raise ValueError(f"pred = {pred} is outside [0, {k})")
        self._push(target * k + pred)

    # ------------------------------------------------------------ batch path
    def update(self, target, preds, sample_weight=None) -> None:
        """Count a batch. ``target`` (N,) labels in [0, K); ``preds`` (N,) labels or (N, K)
        scores; ``sample_weight`` None or (N,) non-negative finite weights. On error nothing
        changes."""
        # hot path: a bound native call for a dtype pair seen before (1-D labels or (N, K)
        # scores); it takes contiguous writable arrays only and returns False otherwise
        if (sample_weight is None and type(target) is _ndarray and type(preds) is _ndarray
                and target.ndim == 1 and len(target) == len(preds)):
            call = self._bound.get((target.dtype, preds.dtype))
            if call is not None and preds.ndim == call.ndim and (
                    call.ndim == 1 or preds.shape[1] == self._num_classes):
                ignore = self._ignore_index
                counted = len(target) if ignore is None else len(target) - int(
                    np.count_nonzero(target == ignore))
                with self._lock:
                    if call.state is self._state and call(target, preds):
                        self._count += counted
                        return
        fn = None
        # fast path: contiguous 1-D label arrays of a dtype pair seen before
        if (sample_weight is None and type(target) is _ndarray and type(preds) is _ndarray
                and target.ndim == 1 == preds.ndim and len(target) == len(preds)
                and target.flags.c_contiguous and preds.flags.c_contiguous):
            fn = self._kernels.get((target.dtype, preds.dtype))
        if fn is None:
            target, preds, sample_weight, fn = self._prepare(target, preds, sample_weight)
        n = len(target)
        if n == 0:
            return
        ignore = self._ignore_index
        counted = n if ignore is None else n - int(np.count_nonzero(target == ignore))
        with self._lock:
            if sample_weight is None and not self._float:
                # bound per dtype pair: label dtypes mean 1-D preds, float dtypes (N, K) scores
                if self._binder is not None and target.dtype in _LABELS and (
                        (preds.ndim == 1 and preds.dtype in _LABELS)
                        or (preds.ndim == 2 and preds.dtype in _SCORES
                            and preds.shape[1] == self._num_classes)):
                    call = self._bound_call((target.dtype, preds.dtype), ignore)
                    if call is not None:
                        call.ndim = preds.ndim
                # the seen mask only matters for zero weights: unweighted labels show in counts
                fn(target, preds, None, ignore, self._state, None, self._nt)
            else:
                if sample_weight is None:  # float64 counts are only ever fed weights
                    sample_weight = np.ones(n)
                self._flush()
                if not self._float:
                    state = self._state.astype(np.float64)
                    seen = self._seen.copy()
                    fn(target, preds, sample_weight, ignore, state, seen, self._nt)
                    self._state, self._seen, self._float = state, seen, True
                else:
                    fn(target, preds, sample_weight, ignore, self._state, self._seen, self._nt)
            self._count += counted

    def _prepare(self, target, preds, sample_weight):
        k = self._num_classes
        if self._validate:
            target = V.as_array("target", target)
            preds = V.as_array("preds", preds)
            V.ndim("target", target, (1,), "1-D (n_samples,)")
            V.ndim("preds", preds, (1, 2), f"(n_samples,) labels or (n_samples, {k}) scores")
            V.same_length(target, preds)
            target = V.labels("target", target, _LABELS)
            if preds.ndim == 2:
                if preds.shape[1] != k:
                    raise ValueError(f"preds scores must have shape (n_samples, {k}); got {preds.shape}")
                if preds.dtype.kind != "f":
                    raise TypeError(f"2-D preds must be float scores; got dtype {preds.dtype}")
                preds = V.scores("preds", preds)
            else:
                if preds.dtype.kind == "f" and preds.size:  # (an empty list is float64)
                    raise TypeError(
                        f"1-D preds must be integer labels (scores are (n_samples, {k})); got dtype {preds.dtype}")
                preds = V.labels("preds", preds, _LABELS if preds.size else ())
            sample_weight = V.sample_weight(sample_weight, target.shape[0])
        else:
            target, preds = np.asarray(target), np.asarray(preds)
            if sample_weight is not None:
                sample_weight = np.ascontiguousarray(sample_weight, dtype=np.float64)
        fn = self._be.multiclass_scores if preds.ndim == 2 else self._be.multiclass_labels
        if preds.ndim == 1 and target.dtype in _LABELS and preds.dtype in _LABELS:
            self._kernels[(target.dtype, preds.dtype)] = fn  # the fast path is 1-D labels only
        return target, preds, sample_weight, fn

    # ------------------------------------------------------------ values
    def confusion_matrix(self, normalize=None) -> np.ndarray:
        """sklearn's ``confusion_matrix`` over ``label_set()`` (the seen labels, or all K)."""
        V.choice("normalize", normalize, (None, "true", "pred", "all"))
        cm, seen, _ = self._read_any()
        idx = self._label_idx(seen, self._use_all)
        return F.normalize_confusion(self._sub(cm, idx), normalize)

    def _read_any(self):
        arrays, count = self._snapshot()
        cm = arrays["_state"]
        seen = (arrays["_seen"] != 0) | (cm.sum(axis=0) != 0) | (cm.sum(axis=1) != 0)
        return cm, seen, count


def _scalar_label(name, v):
    if isinstance(v, (bool, np.bool_, int, np.integer)):
        return int(v)
    raise TypeError(f"{name} must be an integer label; got {v!r} ({type(v).__name__})")
