"""Shared state machinery of the streaming curve objects: argument checks, backend choice,
locked updates that count all or nothing, merge by addition, state_dict / pickle, nbytes.

Written before the metrics package's common base (metrics/_base.py) existed; the semantics are
the same (see DESIGN.md, "State model") so the two can be unified without changing behaviour.
"""
from __future__ import annotations

import threading

import numpy as np

from .. import _backends
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


class CurveState:
    """Base of BinaryCurves / MulticlassCurves / MultilabelCurves.

    Subclasses set ``_hist_shape``, ``_psum_shape``, ``_sums_shape`` and implement ``_format``
    (shape/dtype checks -> arrays), ``_check`` (value checks) and ``_count``."""

    _STATE = ("hist", "psum", "sums")

    def __init__(self, num_bins, layout, logits, ignore_index, backend):
        if not isinstance(logits, (bool, np.bool_)):
            raise TypeError(f"logits must be a bool; got {type(logits).__name__}")
        if ignore_index is not None and (isinstance(ignore_index, bool)
                                         or not isinstance(ignore_index, (int, np.integer))):
            raise TypeError(f"ignore_index must be an int or None; got {ignore_index!r}")
        self._layout: BinLayout = make_layout(num_bins, layout)
        self.logits = bool(logits)
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self._backend_name = resolve_backend(backend)
        self.backend = backend
        self._lock = threading.Lock()
        self._alloc(np.int64)

    # ------------------------------------------------------------------ state
    def _alloc(self, dtype):
        self.hist = np.zeros(self._hist_shape, dtype=dtype)
        self.psum = np.zeros(self._psum_shape, dtype=np.float64)
        self.sums = np.zeros(self._sums_shape, dtype=np.float64)

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
        return int(self.hist.nbytes + self.psum.nbytes + self.sums.nbytes)

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

    def reset(self):
        with self._lock:
            self._alloc(np.int64)

    # ------------------------------------------------------------------ update
    def _eps(self, scores):
        return _EPS[np.float64 if self.logits else scores.dtype.type]

    def update(self, target, preds, sample_weight=None):
        """Count a batch: all of it, or (on a ValueError/TypeError) nothing."""
        t, s, w = self._format(target, preds, sample_weight)
        with self._lock:
            # value checks always run: a NaN or out-of-range score has no bin, and skipping the
            # check would let a kernel write outside the histogram
            self._check(t, s, w)
            old = self.hist
            if w is not None and old.dtype != np.float64:
                self.hist = old.astype(np.float64)  # first weighted batch: float64 counts
            try:
                self._count(t, s, w)
            except BaseException:
                self.hist = old  # the native core validates inside _count and writes nothing
                raise
        return self

    # ------------------------------------------------------------------ merge
    def _compatible(self, other):
        if type(other) is not type(self):
            raise TypeError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        if other._layout != self._layout or other.hist.shape != self.hist.shape \
                or other.logits != self.logits:
            raise ValueError("cannot merge curve states with different bins, shapes or logits")

    def merge(self, other):
        """Add another state of the same configuration into this one (in place)."""
        self._compatible(other)
        if other is self:
            hist, psum, sums = self.hist.copy(), self.psum.copy(), self.sums.copy()
        else:
            with other._lock:
                hist, psum, sums = other.hist.copy(), other.psum.copy(), other.sums.copy()
        with self._lock:
            if hist.dtype == np.float64 and self.hist.dtype != np.float64:
                self.hist = self.hist.astype(np.float64)
            self.hist += hist
            self.psum += psum
            self.sums += sums
        return self

    def __iadd__(self, other):
        return self.merge(other)

    def __add__(self, other):
        out = self._clone()
        out.merge(self)
        out.merge(other)
        return out

    def _clone(self):
        out = object.__new__(type(self))
        out.__setstate__(self.__getstate__())
        out.reset()
        return out

    # ------------------------------------------------------------------ persistence
    def _config(self):
        return {"layout": self._layout.state_key(), "logits": self.logits,
                "ignore_index": self.ignore_index, "backend": self.backend}

    def state_dict(self) -> dict:
        """Copies of the state arrays plus the configuration they depend on."""
        with self._lock:
            d = {name: getattr(self, name).copy() for name in self._STATE}
        d["layout"] = np.asarray(self._layout.state_key()[1:], dtype=np.int64)
        d["layout_kind"] = self._layout.name
        return d

    def load_state_dict(self, state: dict):
        """Replace the state by one from ``state_dict`` of an object with the same bins."""
        kind = state.get("layout_kind")
        params = np.asarray(state.get("layout", []))
        if kind != self._layout.name or params.tolist() != self._layout.state_key()[1:]:
            raise ValueError("state_dict was saved with a different bin layout")
        arrays = {}
        for name in self._STATE:
            a = np.asarray(state[name])
            want = getattr(self, name)
            if a.shape != want.shape:
                raise ValueError(f"state_dict[{name!r}] has shape {a.shape}; expected {want.shape}")
            if name == "hist" and a.dtype not in (np.int64, np.float64):
                raise ValueError(f"state_dict['hist'] must be int64 or float64; got {a.dtype}")
            arrays[name] = a.astype(a.dtype if name == "hist" else np.float64, copy=True)
        with self._lock:
            for name, a in arrays.items():
                setattr(self, name, a)

    def __getstate__(self):
        d = self.__dict__.copy()
        del d["_lock"]
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self._lock = threading.Lock()

    def __repr__(self):
        return (f"{type(self).__name__}(layout={self.layout!r}, num_bins={self.num_bins}, "
                f"logits={self.logits})")

    # ------------------------------------------------------------------ helpers
    def _total_weight(self, hist2):
        return float(np.sum(hist2))
