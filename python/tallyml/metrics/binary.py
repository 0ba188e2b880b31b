"""BinaryMetrics: streaming binary classification metrics from a 2x2 confusion matrix."""
from __future__ import annotations

import math

import numpy as np

from .. import _formulas as F
from .. import _validate as V
from .._backends.hot import MAX_ROWS as _HOT_ROWS
from ._base import _PENDING_MAX
from . import _device as D
from ._confusion import _ConfusionMetrics

__all__ = ["BinaryMetrics"]

_ndarray = np.ndarray
_LABELS = V.BINARY_LABEL_DTYPES
_SCORES = V.SCORE_DTYPES


class BinaryMetrics(_ConfusionMetrics):
    """Streaming binary classification metrics, equal to scikit-learn's on the whole stream.

    Parameters
    ----------
    threshold : float in [0, 1]
        A score is positive when ``score >= threshold`` (compared in float64).
    logits : bool
        Scores are logits: the threshold is moved to ``logit(threshold)``; data are never
        transformed.
    ignore_index : int or None
        Samples whose target equals it are dropped entirely.
    zero_division : "warn", 0, 1 or nan
        sklearn's meaning; the default for every value method.
    validate : bool
        False skips the Python-side shape/dtype checks (the kernels still check values).
    backend : "auto", "native", "numba", "numpy" or "cuda"
        "auto" counts on the host and moves the state to the GPU on the first batch of device
        arrays (CuPy, PyTorch, numba); "cuda" keeps it there from the start (docs/gpu.md).
    num_threads : int >= 0
        Threads one large ``update()`` may use: 0 (default) decides by batch size (threads only
        for batches of about a million values and more; TALLYML_NUM_THREADS caps them), 1 keeps
        to the calling thread, n uses at most n. Results never depend on it.

    ``update(target, preds)`` takes targets in {0, 1} and preds that are labels (bool or integer
    dtype) or scores (float dtype): the dtype decides, never the values. The state is a 2x2
    confusion matrix (rows: true label, columns: predicted), int64 until the first weighted
    update, float64 from then on. ``average="binary"`` (the default) reports class 1;
    ``confusion_matrix()`` always uses labels [0, 1]; other averages and per-class values use
    the labels seen so far, like sklearn's default.
    """

    _KIND = "binary"
    _CONFIG = ("threshold", "logits", "ignore_index")
    _AVERAGES = ("binary", "micro", "macro", "weighted", None)

    def __init__(self, threshold=0.5, *, logits=False, ignore_index=None, zero_division="warn",
                 validate=True, backend="auto", num_threads=0):
        self._logits = V.flag("logits", logits)
        self._cut = V.threshold(threshold, self._logits)
        self._threshold = float(threshold)
        self._ignore_index = V.ignore_index(ignore_index)
        self._setup(zero_division, validate, backend, num_threads)

    def _init_args(self):
        return {"threshold": self._threshold, "logits": self._logits,
                "ignore_index": self._ignore_index, "zero_division": self._zero_division,
                "validate": self._validate, "backend": self._backend_request,
                "num_threads": self._nt}

    def _ring_capable(self) -> bool:
        # a subclass's own update() would run twice for a batch on the window's general path
        return type(self).update is BinaryMetrics.update and self._has_fast_paths()

    def _bind_args(self):
        return self._cut, self._ignore_index

    def _hot_key(self, target, preds):
        """The hot-tier kernel name and ``_tier_up`` key for these arrays (as ``update``)."""
        kind = "binary_scores" if preds.dtype.kind == "f" else "binary_labels"
        return kind, (target.dtype, preds.dtype)

    @property
    def threshold(self) -> float:
        return self._threshold

    def _new_arrays(self):
        return {"_state": np.zeros((2, 2), dtype=np.int64), "_seen": np.zeros(2, dtype=np.uint8)}

    # ------------------------------------------------------------ scalar path
    def update_one(self, target, pred) -> None:
        """Count one sample: ``target`` 0/1 (int or bool), ``pred`` a label (int or bool) or a
        score (float). Unweighted; a few hundred nanoseconds."""
        # the common case in as few bytecodes as possible: an int 0/1 target, a finite float
        # score (x - x is 0.0 for finite x, nan otherwise) and no ignore_index
        if (type(pred) is float and type(target) is int and pred - pred == 0.0
                and (target == 0 or target == 1) and self._ignore_index is None):
            pend = self._pend  # _push inlined: a call is a quarter of this path
            pend.append(target + target + (pred >= self._cut))
            if len(pend) > _PENDING_MAX:
                self._drain()
            return
        self._update_one_checked(target, pred)

    def _update_one_checked(self, target, pred) -> None:
        """update_one for every other case: other types, ignore_index, and the errors."""
        if type(target) is not int:
            target = _scalar_label("target", target)
        if target == self._ignore_index:
            return
        if target != 0 and target != 1:
            raise ValueError(f"target = {target} is outside [0, 2)")
        tp = type(pred)
        if tp is float:
            if pred - pred != 0.0:  # nan or +-inf
                raise ValueError(f"pred = {pred!r} is not finite")
            p = 1 if pred >= self._cut else 0
        elif tp is int or tp is bool:
            if pred != 0 and pred != 1:
                raise ValueError(f"pred = {pred} is outside [0, 2)")
            p = int(pred)
        else:
            p = _scalar_pred(pred, self._cut)
        self._push(target * 2 + p)

    # ------------------------------------------------------------ batch path
    def update(self, target, preds, sample_weight=None) -> None:
        """Count a batch. ``target`` (N,) labels in {0, 1}; ``preds`` (N,) labels or scores;
        ``sample_weight`` None or (N,) non-negative finite weights. On error nothing changes."""
        # hot tier: a compiled small-batch kernel for the dtypes of the last calls; -1 means a
        # bad value (nothing counted: the normal path below raises the error)
        if (type(target) is _ndarray and type(preds) is _ndarray and target.dtype is self._hot_t
                and preds.dtype is self._hot_p and sample_weight is None
                and target.ndim == 1 == preds.ndim):
            n = len(target)
            if n == len(preds) and n <= _HOT_ROWS:
                # acquire/release, not `with`: the context-manager protocol costs ~0.15 us
                # more, a tenth of a hot call
                lock = self._lock
                lock.acquire()
                try:
                    if self._ring is None:
                        if not self._float and not self._on_device:
                            c = self._hot_ep(target, preds, self._cut, self._has_ign,
                                             self._ign, self._state)
                            if c >= 0:
                                self._count += c
                                return
                    # a view's front (Windowed, Decayed): the kernel's variant for the view
                    # counts into the view's vector and books it (a window's bucket change
                    # included); -2: not for it (windows.py, the views' _point_front)
                    elif self._wclock is None or self._wclock() < self._wedge:
                        c = self._hot_ep(target, preds, self._cut, self._has_ign,
                                         self._ign, self._wring)
                        if c >= 0:
                            return
                finally:
                    lock.release()
                if self._ring is not None:  # a window's front: a new bucket, or an error
                    return self._ring_slow(target, preds, sample_weight)
        if (sample_weight is None and type(target) is _ndarray and type(preds) is _ndarray
                and target.ndim == 1 == preds.ndim and len(target) == len(preds)):
            key = (target.dtype, preds.dtype)
            small = len(target) <= _HOT_ROWS
            # a bound native call for a dtype pair seen before; it takes contiguous writable
            # 1-D arrays only and returns False (having done nothing) for anything else
            call = self._bound.get(key)
            if call is not None:
                if small and self._hot_on:
                    self._tier_up(*self._hot_key(target, preds))
                if self._count_bound(call, target, preds):
                    return
        if self._ring is not None:  # a window's front: the window's general path
            return self._ring_slow(target, preds, sample_weight)
        entry = None
        # fast path: contiguous 1-D arrays of a dtype pair seen before (checks cost ~1 us here)
        if (sample_weight is None and type(target) is _ndarray and type(preds) is _ndarray
                and target.ndim == 1 == preds.ndim and len(target) == len(preds)
                and target.flags.c_contiguous and preds.flags.c_contiguous):
            entry = self._kernels.get((target.dtype, preds.dtype))
        if entry is None:
            if self._on_device or D.any_device(target, preds, sample_weight):
                return self._update_device(target, preds, sample_weight)
            target, preds, sample_weight, entry = self._prepare(target, preds, sample_weight)
        n = len(target)
        if n == 0:
            return
        fn, scores = entry
        ignore = self._ignore_index
        counted = n if ignore is None else n - int(np.count_nonzero(target == ignore))
        if sample_weight is None:
            with self._lock:
                if not self._float:
                    if self._binder is not None and (target.dtype, preds.dtype) in self._kernels:
                        self._bound_call((target.dtype, preds.dtype), *self._bind_args())
                    if scores:
                        fn(target, preds, self._cut, None, ignore, self._state, self._nt)
                    else:
                        fn(target, preds, None, ignore, self._state, self._nt)
                    self._count += counted
                    return
            # float64 counts (after a weighted update) are only ever fed weights
            sample_weight = np.ones(n)
        self._update_weighted(entry, target, preds, sample_weight, counted)

    def _prepare(self, target, preds, sample_weight):
        if self._validate:
            target = V.as_array("target", target)
            preds = V.as_array("preds", preds)
            V.ndim("target", target, (1,), "1-D (n_samples,)")
            V.ndim("preds", preds, (1,), "1-D (n_samples,)")
            V.same_length(target, preds)
            target = V.labels("target", target, _LABELS)
            if preds.dtype.kind == "f":
                preds = V.scores("preds", preds)
            else:
                preds = V.labels("preds", preds, _LABELS)
            sample_weight = V.sample_weight(sample_weight, target.shape[0])
        else:
            target, preds = np.asarray(target), np.asarray(preds)
            if sample_weight is not None:
                sample_weight = np.ascontiguousarray(sample_weight, dtype=np.float64)
        scores = preds.dtype.kind == "f"
        entry = (self._be.binary_scores if scores else self._be.binary_labels, scores)
        if target.dtype in _LABELS and (preds.dtype in _LABELS or preds.dtype in _SCORES):
            self._kernels[(target.dtype, preds.dtype)] = entry
        return target, preds, sample_weight, entry

    def _update_weighted(self, entry, target, preds, weight, counted):
        fn, scores = entry
        ignore = self._ignore_index
        args = (target, preds, self._cut) if scores else (target, preds)
        with self._lock:
            self._flush()
            if not self._float:
                state = self._state.astype(np.float64)
                fn(*args, weight, ignore, state, self._nt)
                self._state, self._float = state, True
            else:
                fn(*args, weight, ignore, self._state, self._nt)
            self._count += counted
            # count_nonzero: a reduction such as .all() costs several us on a 2-cell array
            if np.count_nonzero(self._seen) < 2:
                # zero-weight samples leave no trace in the counts: record their labels
                keep = slice(None) if ignore is None else (target != ignore)
                t = target[keep]
                p = preds[keep]
                if scores:
                    p = p.astype(np.float64) >= self._cut
                for v in (0, 1):
                    if np.any(t == v) or np.any(p == v):
                        self._seen[v] = 1

    def _kernel_config(self):
        return self._cut, self._has_ign, self._ign

    def _preds_ndim(self, preds):
        return 1

    def _scaled_entry(self, t, p):
        """The weighted kernel for dtypes (t, p) (``_count_scaled``), remembered on the object;
        None when the hot
        tier is off for this object, the dtypes are not ones ``update`` takes as they are, a
        subclass has its own update, or while the kernel is not loaded."""
        if not (self._hot_on and t in _LABELS and (p in _LABELS or p in _SCORES)
                and type(self).update is BinaryMetrics.update):
            return None
        name = "binary_scores_w" if p.kind == "f" else "binary_labels_w"
        ep = self._hot_entry(name, (t, p, name), eager=True)
        if ep is not None:
            self._whot_t, self._whot_p, self._whot_ep = t, p, ep
        return ep

    # ------------------------------------------------------------ device path (see _base)
    def _device_args(self, target, preds, sample_weight):
        if self._validate:
            D.check_ndim("target", target, 1, "1-D (n_samples,)")
            D.check_ndim("preds", preds, 1, "1-D (n_samples,)")
            D.check_labels("target", target)
            D.check_preds("preds", preds)
        D.check_rows(target, preds, sample_weight)
        return target, preds, sample_weight

    def _host_args(self, target, preds, sample_weight):
        return self._prepare(target, preds, sample_weight)[:3]

    def _count_device(self, target, preds, weight, device):
        be = self._be
        scores = preds.dtype.kind == "f"
        fn = be.binary_scores if scores else be.binary_labels
        args = (target, preds, self._cut) if scores else (target, preds)
        ignore = self._ignore_index
        counted = int(target.shape[0]) - self._n_ignored(target, device)
        with self._lock:
            if weight is None and not self._float:
                fn(*args, None, ignore, self._state)
            else:
                if weight is None:  # float64 counts are only ever fed weights
                    weight = np.ones(int(target.shape[0]))
                state = self._state if self._float else self._float_copy(self._state)
                fn(*args, weight, ignore, state)
                self._state, self._float = state, True
                if np.count_nonzero(self._seen) < 2:
                    # labels of zero-weight samples: an unweighted count of the batch shows them
                    tmp = be.device_zeros((2, 2), np.int64)
                    fn(*args, None, ignore, tmp)
                    cm = be.to_host(tmp)
                    self._seen |= ((cm.sum(axis=0) + cm.sum(axis=1)) != 0).astype(np.uint8)
            self._count += counted

    # ------------------------------------------------------------ values
    def confusion_matrix(self, normalize=None) -> np.ndarray:
        """The 2x2 matrix over labels [0, 1] (sklearn's ``confusion_matrix(labels=[0, 1])``)."""
        V.choice("normalize", normalize, (None, "true", "pred", "all"))
        arrays, _ = self._snapshot()
        return F.normalize_confusion(arrays["_state"], normalize)

    def precision(self, average="binary", *, zero_division=None):
        return super().precision(average, zero_division=zero_division)

    def recall(self, average="binary", *, zero_division=None):
        return super().recall(average, zero_division=zero_division)

    def fbeta(self, beta, average="binary", *, zero_division=None):
        return super().fbeta(beta, average, zero_division=zero_division)

    def f1(self, average="binary", *, zero_division=None):
        return super().f1(average, zero_division=zero_division)

    def specificity(self, average="binary", *, zero_division=None):
        return super().specificity(average, zero_division=zero_division)

    def jaccard(self, average="binary", *, zero_division=None):
        return super().jaccard(average, zero_division=zero_division)


for _name in ("precision", "recall", "fbeta", "f1", "specificity", "jaccard"):
    getattr(BinaryMetrics, _name).__doc__ = getattr(_ConfusionMetrics, _name).__doc__
del _name


def _scalar_label(name, v):
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    raise TypeError(f"{name} must be an integer label; got {v!r} ({type(v).__name__})")


def _scalar_pred(v, cut):
    if isinstance(v, (bool, np.bool_, int, np.integer)):
        p = int(v)
        if p != 0 and p != 1:
            raise ValueError(f"pred = {p} is outside [0, 2)")
        return p
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            raise ValueError(f"pred = {f!r} is not finite")
        return 1 if f >= cut else 0
    raise TypeError(f"pred must be a label (int, bool) or a score (float); got {type(v).__name__}")
