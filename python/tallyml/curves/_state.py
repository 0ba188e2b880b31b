"""Shared state machinery of the streaming curve objects: argument checks, backend choice,
locked updates that count all or nothing, merge by addition, state_dict / pickle, nbytes.

``CurveState`` extends the metric objects' common base (``metrics/_base.py``), so merging,
checkpoints, windows, decay and shared slots are the same mechanism for every metric object.
"""
from __future__ import annotations

import numpy as np

from .. import _backends
from ..metrics._base import _MetricsBase
from . import _backend as kb
from ._layout import BinLayout, make_layout

__all__: list[str] = []

_EPS = {np.float32: float(np.finfo(np.float32).eps), np.float64: float(np.finfo(np.float64).eps)}
_LABEL_DTYPES = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8)


def as_labels(x, name, ndim):
    a = np.asarray(x)
    if a.dtype.type not in _LABEL_DTYPES:
        raise TypeError(f"{name} must hold bool or integer labels; got dtype {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D; got shape {a.shape}")
    return np.ascontiguousarray(a)


def as_scores(x, name, ndim):
    a = np.asarray(x)
    if a.dtype.kind != "f":
        raise TypeError(f"{name} must hold float scores (float32 or float64); got dtype {a.dtype}")
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D; got shape {a.shape}")
    return np.ascontiguousarray(a)


def as_weight(x, n):
    if x is None:
        return None
    w = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},); got {w.shape}")
    return w


def resolve_backend(backend):
    """"auto" -> native when the C++ core loads, else numba. The C++ core counts binary curves;
    multiclass/multilabel curves and "cuda" run on numba for now (docs/curves.md)."""
    name = _backends.resolve(backend)
    if name == "native":
        from .. import _native

        _native.library()  # an explicit backend="native" fails loudly when the core is missing
        return "native"
    return "numpy" if name == "numpy" else "numba"


class CurveState(_MetricsBase):
    """Base of BinaryCurves / MulticlassCurves / MultilabelCurves, on the metric objects' common
    base (``metrics/_base.py``): the lock, merge by addition, state_dict / pickle, save / load,
    windows, decay, shared-memory slots, Dask and torch.distributed all work as for the
    confusion-count objects.

    State: ``hist`` (per-bin negative/positive counts; int64 until the first weighted batch,
    float64 from then on, like every count), ``psum`` and ``sums`` (float64 sums of scores and
    losses: ``_SUM_ATTRS``, always float64).

    Subclasses set ``_KIND``, ``_hist_shape``, ``_psum_shape``, ``_sums_shape`` and extra
    ``_CONFIG`` names, and implement ``_format`` (shape/dtype checks -> arrays), ``_check``
    (value checks), ``_count_batch`` and ``_init_args``."""

    _STATE = ("hist", "psum", "sums")
    _COUNT_ATTRS = ("_hist",)
    _SUM_ATTRS = ("_psum", "_sums")
    _DEVICE_ATTRS = ()
    _CONFIG = ("layout", "logits", "ignore_index")

    def __init__(self, num_bins, layout, logits, ignore_index, backend, num_threads=0):
        if not isinstance(logits, (bool, np.bool_)):
            raise TypeError(f"logits must be a bool; got {type(logits).__name__}")
        if ignore_index is not None and (isinstance(ignore_index, bool)
                                         or not isinstance(ignore_index, (int, np.integer))):
            raise TypeError(f"ignore_index must be an int or None; got {ignore_index!r}")
        self._layout: BinLayout = make_layout(num_bins, layout)
        self._num_bins_arg = num_bins
        self._logits = bool(logits)
        self._ignore_index = None if ignore_index is None else int(ignore_index)
        self._setup("warn", True, resolve_backend(backend), num_threads)
        self._backend_request = backend

    # ------------------------------------------------------------------ state
    def _new_arrays(self):
        return {"_hist": np.zeros(self._hist_shape, dtype=np.int64),
                "_psum": np.zeros(self._psum_shape, dtype=np.float64),
                "_sums": np.zeros(self._sums_shape, dtype=np.float64)}

    @property
    def _state(self):  # the base's name for the main count array
        return self._hist

    @property
    def hist(self) -> np.ndarray:
        """Per-bin counts (negatives, positives) of the scores, by bin."""
        return self._hist

    @property
    def psum(self) -> np.ndarray:
        """Per-bin sums of the scores (probability space), for calibration curves."""
        return self._psum

    @property
    def sums(self) -> np.ndarray:
        """Exact running sums behind the Brier score and log loss."""
        return self._sums

    @property
    def logits(self) -> bool:
        return self._logits

    @property
    def ignore_index(self):
        return self._ignore_index

    @property
    def num_bins(self) -> int:
        """Number of histogram bins (per class / label)."""
        return self._layout.num_bins

    @property
    def layout(self) -> str:
        return self._layout.name

    @property
    def nbytes(self) -> int:
        """Bytes held by the state arrays: independent of the number of samples seen."""
        return int(self._hist.nbytes + self._psum.nbytes + self._sums.nbytes)

    def _config(self) -> dict:
        out = {name: getattr(self, name) for name in self._CONFIG if name != "layout"}
        out["layout"] = [str(v) if isinstance(v, str) else int(v) for v in self._layout.state_key()]
        return out

    def edges(self) -> np.ndarray:
        """Lower edge of every bin, in probability space (float64, increasing)."""
        return self._layout.edges()

    def _centers(self):
        """Grid values of a uniform layout (None for dyadic)."""
        if self._layout.name != "uniform":
            return None
        return np.arange(self._layout.num_bins, dtype=np.float64) / self._layout.a

    def _thresholds(self) -> np.ndarray:
        """Bin lower edges in the space of the scores (logits when logits=True)."""
        e = self._layout.edges()
        if not self.logits:
            return e
        with np.errstate(divide="ignore"):
            return np.log(e) - np.log1p(-e)

    # ------------------------------------------------------------------ update
    def _eps(self, scores):
        return _EPS[np.float64 if self.logits else scores.dtype.type]

    def update(self, target, preds, sample_weight=None):
        """Count a batch: all of it, or (on a ValueError/TypeError) nothing."""
        t, s, w = self._format(target, preds, sample_weight)
        ignore = self._ignore_index
        counted = t.shape[0] if ignore is None or t.ndim != 1 else t.shape[0] - int(
            np.count_nonzero(t == ignore))
        with self._lock:
            # value checks always run: a NaN or out-of-range score has no bin, and skipping the
            # check would let a kernel write outside the histogram
            self._check(t, s, w)
            old = self._hist
            if w is not None and old.dtype != np.float64:
                self._hist = old.astype(np.float64)  # first weighted batch: float64 counts
            try:
                self._count_batch(t, s, w)
            except BaseException:
                self._hist = old  # the native core validates inside _count_batch, writes nothing
                raise
            self._float = self._hist.dtype == np.float64
            self._count += counted
        return self

    def _check_compatible(self, other, what: str):
        if type(other) is not type(self):
            raise TypeError(f"cannot {what} {type(other).__name__} and {type(self).__name__}")
        mine, theirs = self._config(), other._config()
        for name in self._CONFIG:
            if mine[name] != theirs[name]:
                raise ValueError(f"cannot {what} curve states with different bins, shapes or "
                                 f"options: {name} is {mine[name]!r} vs {theirs[name]!r}")

    def __repr__(self):
        return (f"{type(self).__name__}(layout={self.layout!r}, num_bins={self.num_bins}, "
                f"logits={self.logits})")

    # ------------------------------------------------------------------ helpers
    def _total_weight(self, hist2):
        return float(np.sum(hist2))
