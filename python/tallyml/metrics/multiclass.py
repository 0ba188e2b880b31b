"""MulticlassMetrics: streaming multiclass metrics from a (K, K) confusion matrix."""
from __future__ import annotations

import math

import numpy as np

from .. import _formulas as F
from .. import _validate as V
from .._backends.hot import MAX_ROWS as _HOT_ROWS
from ._base import _PENDING_MAX
from . import _device as D
from . import _topk
from ._confusion import _ConfusionMetrics, seen_labels

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
    top_k : None, int or sequence of ints in [1, num_classes]
        Also count top-k accuracy for these k (sklearn's ``top_k_accuracy_score`` with
        ``labels=range(num_classes)``, ties ranked as it ranks them), in the same pass over the
        scores as the confusion matrix. Such an object needs (N, K) scores: updates with (N,)
        labels (and ``update_one``) raise ValueError, since labels carry no ranking.
    zero_division, validate, backend, num_threads
        As for ``BinaryMetrics``.

    ``update(target, preds)``: ``preds`` are (N,) integer labels or (N, K) float scores (the
    prediction is the first maximum). State: a (K, K) confusion matrix, int64 until the first
    weighted update and float64 from then on, plus a (K,) uint8 ``seen`` mask that weighted
    updates fill (labels of zero-weight samples do not show in the counts). With ``top_k``: a
    (len(top_k),) hits array of the same dtype, merged, pickled and reset with the rest.
    """

    _KIND = "multiclass"
    _CONFIG = ("num_classes", "ignore_index")
    _AVERAGES = ("macro", "micro", "weighted", None)
    _DEVICE_ATTRS = ("_state", "_seen")

    def __init__(self, num_classes, *, labels="seen", ignore_index=None, zero_division="warn",
                 validate=True, backend="auto", top_k=None, num_threads=0):
        self._num_classes = V.positive_int("num_classes", num_classes, 2)
        self._labels = V.choice("labels", labels, ("seen", "all"))
        self._use_all = labels == "all"
        self._ignore_index = V.ignore_index(ignore_index)
        self._top_k = _check_top_k(top_k, self._num_classes)
        if self._top_k is not None:
            # instance-level: objects without top_k keep the class's state layout and config
            self._COUNT_ATTRS = ("_state", "_topk_hits")
            self._CONFIG = type(self)._CONFIG + ("top_k",)
            self._topk_ks = np.array(self._top_k, dtype=np.int64)
        self._setup(zero_division, validate, backend, num_threads)

    def _init_args(self):
        args = {"num_classes": self._num_classes, "labels": self._labels,
                "ignore_index": self._ignore_index, "zero_division": self._zero_division,
                "validate": self._validate, "backend": self._backend_request,
                "num_threads": self._nt}
        if self._top_k is not None:
            args["top_k"] = list(self._top_k)
        return args

    @property
    def num_classes(self) -> int:
        return self._num_classes

    def _new_arrays(self):
        k = self._num_classes
        out = {"_state": np.zeros((k, k), dtype=np.int64), "_seen": np.zeros(k, dtype=np.uint8)}
        if self._top_k is not None:
            out["_topk_hits"] = np.zeros(len(self._top_k), dtype=np.int64)
        return out

    @property
    def top_k(self):
        """The k values whose top-k accuracy is counted (sorted), or None."""
        return None if self._top_k is None else list(self._top_k)

    def _ring_capable(self) -> bool:
        # the top-k path carries no window hooks; a subclass's own update() would run twice for
        # a batch on the window's general path
        return (self._top_k is None and type(self).update is MulticlassMetrics.update
                and self._has_fast_paths())

    def _bind_args(self):
        return (self._ignore_index,)

    def _hot_key(self, target, preds):
        """The hot-tier kernel name and ``_tier_up`` key for these arrays (as ``update``: 1-D
        labels or (N, K) scores)."""
        kind = "multiclass_scores" if preds.ndim == 2 else "multiclass_labels"
        return kind, (target.dtype, preds.dtype, preds.ndim)

    def _check_compatible(self, other, what: str):
        if isinstance(other, MulticlassMetrics) and other._top_k != self._top_k:
            raise ValueError(f"cannot {what}: top_k differs ({self._top_k!r} vs {other._top_k!r})")
        super()._check_compatible(other, what)

    # ------------------------------------------------------------ scalar path
    def update_one(self, target, pred) -> None:
        """Count one sample: integer ``target`` and integer ``pred`` labels. Unweighted. Refused
        (ValueError) when ``top_k`` is configured: a label carries no ranking."""
        k = self._num_classes
        # the common case first (see BinaryMetrics.update_one): int labels in range, no
        # ignore_index, no top_k
        if (type(target) is int and type(pred) is int and 0 <= target < k and 0 <= pred < k
                and self._ignore_index is None and self._top_k is None):
            pend = self._pend
            pend.append(target * k + pred)
            if len(pend) > _PENDING_MAX:
                self._drain()
            return
        self._update_one_checked(target, pred)

    def _update_one_checked(self, target, pred) -> None:
        """update_one for every other case: other types, ignore_index, and the errors."""
        if self._top_k is not None:
            raise ValueError(_LABELS_NO_TOPK)
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
        if self._top_k is not None:
            return self._update_topk(target, preds, sample_weight)
        # hot path: a bound native call for a dtype pair seen before (1-D labels or (N, K)
        # scores); it takes contiguous writable arrays only and returns False otherwise
        # hot tier: a compiled small-batch kernel for the dtypes (and preds ndim) of the last
        # calls; -1 means a bad value or shape (nothing counted: the paths below raise it)
        if (type(target) is _ndarray and type(preds) is _ndarray and target.dtype is self._hot_t
                and preds.dtype is self._hot_p and sample_weight is None and target.ndim == 1
                and preds.ndim == self._hot_nd):
            n = len(target)
            if n == len(preds) and n <= _HOT_ROWS:
                # acquire/release, not `with`: the context-manager protocol costs ~0.15 us
                # more, a tenth of a hot call
                lock = self._lock
                lock.acquire()
                try:
                    if self._ring is None:
                        if not self._float and not self._on_device:
                            c = self._hot_ep(target, preds, self._has_ign, self._ign, self._state)
                            if c >= 0:
                                self._count += c
                                return
                    # a view's front (Windowed, Decayed): the kernel's variant for the view
                    # counts into the view's vector and books it (a window's bucket change
                    # included); -2: not for it (windows.py, the views' _point_front)
                    elif self._wclock is None or self._wclock() < self._wedge:
                        c = self._hot_ep(target, preds, self._has_ign, self._ign,
                                         self._wring)
                        if c >= 0:
                            return
                finally:
                    lock.release()
                if self._ring is not None:  # a window's front: a new bucket, or an error
                    return self._ring_slow(target, preds, sample_weight)
        if (sample_weight is None and type(target) is _ndarray and type(preds) is _ndarray
                and target.ndim == 1 and len(target) == len(preds)):
            key = (target.dtype, preds.dtype)
            small = len(target) <= _HOT_ROWS
            call = self._bound.get(key)
            if call is not None and preds.ndim == call.ndim and (
                    call.ndim == 1 or preds.shape[1] == self._num_classes):
                if small and self._hot_on:
                    self._tier_up(*self._hot_key(target, preds))
                if self._count_bound(call, target, preds):
                    return
        if self._ring is not None:  # a window's front: the window's general path
            return self._ring_slow(target, preds, sample_weight)
        fn = None
        # fast path: contiguous 1-D label arrays of a dtype pair seen before
        if (sample_weight is None and type(target) is _ndarray and type(preds) is _ndarray
                and target.ndim == 1 == preds.ndim and len(target) == len(preds)
                and target.flags.c_contiguous and preds.flags.c_contiguous):
            fn = self._kernels.get((target.dtype, preds.dtype))
        if fn is None:
            if self._on_device or D.any_device(target, preds, sample_weight):
                return self._update_device(target, preds, sample_weight)
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
                    call = self._bound_call((target.dtype, preds.dtype), *self._bind_args())
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

    def _kernel_config(self):
        return self._has_ign, self._ign

    def _preds_ndim(self, preds):
        # float dtypes are (N, K) scores, label dtypes (N,) labels (the kernels check K)
        return 2 if preds.dtype.kind == "f" else 1

    def _direct_below(self):
        # csrc/src/multiclass.cpp direct(): rows / 4 < K*K + 1; numba_cpu._mc_serial: n < K*K
        kk = self._num_classes ** 2
        return 4 * (kk + 1) if self._backend_name == "native" else kk

    def _scaled_entry(self, t, p):
        """The weighted kernel for dtypes (t, p) (``_count_scaled``), remembered on the object;
        None when the hot tier is off for this object, the dtypes are not ones ``update`` takes
        as they are, with ``top_k`` (its hits have no hot kernel), when a subclass has its own
        update, or while the kernel is not loaded."""
        if not (self._hot_on and t in _LABELS and (p in _LABELS or p in _SCORES)
                and self._top_k is None and type(self).update is MulticlassMetrics.update):
            return None
        name = "multiclass_scores_w" if p.kind == "f" else "multiclass_labels_w"
        ep = self._hot_entry(name, (t, p, name), eager=True)
        if ep is not None:
            self._whot_t, self._whot_p, self._whot_ep = t, p, ep
        return ep

    # ------------------------------------------------------------ device path (see _base)
    def _device_args(self, target, preds, sample_weight):
        k = self._num_classes
        if self._validate:
            D.check_ndim("target", target, 1, "1-D (n_samples,)")
            D.check_labels("target", target)
            if preds.ndim == 2:
                if int(preds.shape[1]) != k:
                    raise ValueError(
                        f"preds scores must have shape (n_samples, {k}); got {tuple(preds.shape)}")
                if D.check_preds("preds", preds) != "scores":
                    raise TypeError(f"2-D preds must be float scores; got dtype {np.dtype(preds.dtype)}")
            else:
                D.check_ndim("preds", preds, 1, f"(n_samples,) labels or (n_samples, {k}) scores")
                D.check_preds("preds", preds, allow_scores=False)
        D.check_rows(target, preds, sample_weight)
        return target, preds, sample_weight

    def _host_args(self, target, preds, sample_weight):
        return self._prepare(target, preds, sample_weight)[:3]

    def _count_device(self, target, preds, weight, device):
        fn = self._be.multiclass_scores if preds.ndim == 2 else self._be.multiclass_labels
        ignore = self._ignore_index
        counted = int(target.shape[0]) - self._n_ignored(target, device)
        with self._lock:
            if weight is None and not self._float:
                fn(target, preds, None, ignore, self._state, None)
            else:
                if weight is None:  # float64 counts are only ever fed weights
                    weight = np.ones(int(target.shape[0]))
                if not self._float:
                    state = self._float_copy(self._state)
                    seen = self._be.to_device_state(self._be.to_host(self._seen))
                    fn(target, preds, weight, ignore, state, seen)
                    self._state, self._seen, self._float = state, seen, True
                else:
                    fn(target, preds, weight, ignore, self._state, self._seen)
            self._count += counted

    def _update_topk(self, target, preds, sample_weight):
        if self._on_device or D.any_device(target, preds, sample_weight):
            raise ValueError("top_k accuracy is counted on the host: copy device arrays to the host, "
                             "or create the metric without top_k to count on the GPU")
        target, preds, sample_weight, _ = self._prepare(target, preds, sample_weight)
        if preds.ndim != 2:
            raise ValueError(_LABELS_NO_TOPK)
        n = len(target)
        if n == 0:
            return
        if not self._validate:  # the kernel needs C-contiguous scores
            preds = np.ascontiguousarray(preds)
        ignore = self._ignore_index
        counted = n if ignore is None else n - int(np.count_nonzero(target == ignore))
        be, ks = self._backend_name, self._topk_ks
        with self._lock:
            if sample_weight is None and not self._float:
                _topk.count(be, target, preds, None, ignore, self._state, None, ks, self._topk_hits)
            else:
                if sample_weight is None:  # float64 counts are only ever fed weights
                    sample_weight = np.ones(n)
                if not self._float:
                    state = self._state.astype(np.float64)
                    seen = self._seen.copy()
                    hits = self._topk_hits.astype(np.float64)
                    _topk.count(be, target, preds, sample_weight, ignore, state, seen, ks, hits)
                    self._state, self._seen, self._topk_hits = state, seen, hits
                    self._float = True
                else:
                    _topk.count(be, target, preds, sample_weight, ignore, self._state, self._seen,
                                ks, self._topk_hits)
            self._count += counted

    # ------------------------------------------------------------ values
    def top_k_accuracy(self, k=None):
        """Fraction (weight fraction) of samples whose true class is among the k highest scores:
        sklearn's ``top_k_accuracy_score(..., k=k, labels=range(num_classes))``. ``k`` must be
        one of ``top_k``; None gives a dict k -> value for every configured k. NaN when every
        counted sample had zero weight (sklearn raises then)."""
        if self._top_k is None:
            raise ValueError("top_k_accuracy needs MulticlassMetrics(..., top_k=...)")
        if k is not None:
            if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
                raise TypeError(f"k must be an int or None; got {k!r}")
            if int(k) not in self._top_k:
                raise ValueError(f"k = {k!r} was not configured; top_k is {self._top_k}")
        arrays, count = self._snapshot()
        self._check_empty(count)
        total = arrays["_state"].sum()
        hits = arrays["_topk_hits"]
        values = {kk: (float(h / total) if total != 0 else math.nan)
                  for kk, h in zip(self._top_k, hits.tolist())}
        return values if k is None else values[int(k)]

    def compute(self) -> dict:
        """Every metric with its default arguments, in a dict; with ``top_k`` also
        ``top_<k>_accuracy`` for each configured k."""
        out = super().compute()
        if self._top_k is not None:
            out.update({f"top_{k}_accuracy": v for k, v in self.top_k_accuracy().items()})
        return out

    def confusion_matrix(self, normalize=None) -> np.ndarray:
        """sklearn's ``confusion_matrix`` over ``label_set()`` (the seen labels, or all K)."""
        V.choice("normalize", normalize, (None, "true", "pred", "all"))
        cm, seen, _ = self._read_any()
        idx = self._label_idx(seen, self._use_all)
        return F.normalize_confusion(self._sub(cm, idx), normalize)

    def _read_any(self):
        arrays, count = self._snapshot()
        return arrays["_state"], seen_labels(arrays), count


_LABELS_NO_TOPK = ("preds are labels, but top_k accuracy needs (n_samples, num_classes) scores: "
                   "update this MulticlassMetrics(top_k=...) with scores")


def _check_top_k(top_k, num_classes):
    """None, or the sorted distinct k values, each an int in [1, num_classes]."""
    if top_k is None:
        return None
    values = [top_k] if isinstance(top_k, (int, np.integer, bool, np.bool_)) else top_k
    try:
        values = list(values)
    except TypeError:
        raise TypeError(f"top_k must be None, an int or a sequence of ints; got {top_k!r}") from None
    if not values:
        raise ValueError("top_k must hold at least one k; got an empty sequence")
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"top_k must be None, an int or a sequence of ints; got {top_k!r}")
        if not 1 <= v <= num_classes:
            raise ValueError(f"top_k values must be in [1, num_classes={num_classes}]; got {int(v)}")
    return sorted({int(v) for v in values})


def _scalar_label(name, v):
    if isinstance(v, (bool, np.bool_, int, np.integer)):
        return int(v)
    raise TypeError(f"{name} must be an integer label; got {v!r} ({type(v).__name__})")
