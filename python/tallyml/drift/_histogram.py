"""Binning for drift: edges fixed from a reference, counting kernels behind one small interface.

Bin layout (every backend reproduces it exactly)
    A group of B bins is described by its B - 1 sorted *interior* edges ``e_1 < ... < e_{B-1}``;
    a value ``x`` falls in bin ``#{j : e_j <= x}``. The outer bins are open (values below the
    reference's range count in bin 0, above it in bin B - 1), so a current window can never lose
    samples to the binning. Several groups (one per class or label, and a coarse and a fine binning
    of the same column) are laid out flat: group g owns the interior edges
    ``edges[off[g]:off[g+1]]`` and the bins ``counts[off[g] + g : off[g+1] + g + 1]``.

Backends: ``numba`` (default; nogil kernels, no temporaries of the batch's size) and ``numpy``
(the obvious reference the tests compare against). Both check values and leave ``counts``
unchanged when a value is bad.
"""
from __future__ import annotations

import os
import threading

import numpy as np

__all__: list[str] = []  # private module

_lock = threading.Lock()
_numba_mod = None
BACKENDS = ("native", "numba", "numpy")


def kernels():
    """The numba kernel module, imported on first use."""
    global _numba_mod
    if _numba_mod is None:
        with _lock:
            if _numba_mod is None:
                from . import _kernels_numba

                _numba_mod = _kernels_numba
    return _numba_mod


def resolve_backend(backend: str) -> str:
    """``auto``: the TALLYML_BACKEND override when it names a drift backend ("cuda" counts on
    the CPU with numba: drift windows are small host arrays), else native when the C++ core
    loads, else numba."""
    if backend == "auto":
        forced = os.environ.get("TALLYML_BACKEND", "").strip()
        if forced in BACKENDS:
            return forced
        if forced == "cuda":
            return "numba"
        from .. import _native

        return "native" if _native.available() else "numba"
    if backend not in BACKENDS:
        raise ValueError(
            f"backend must be one of 'auto', 'native', 'numba', 'numpy'; got {backend!r}")
    if backend == "native":
        from .. import _native

        _native.library()  # raises NativeLibraryError saying where it looked and why
    return backend


# ----------------------------------------------------------------------------- edges
def quantile_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """Interior edges at the reference's quantiles 1/bins, ..., (bins-1)/bins.

    Repeated quantiles (point masses) are merged, and edges at or below the reference minimum are
    dropped (they would leave bin 0 empty), so a group may get fewer than ``bins`` bins."""
    q = np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    q = np.unique(q)
    return q[q > reference.min()]


def uniform_edges(lo: float, hi: float, bins: int) -> np.ndarray:
    """Interior edges of ``bins`` equal-width bins over [lo, hi]."""
    return lo + (hi - lo) * (np.arange(1, bins, dtype=np.float64) / bins)


def full_edges(interior: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Interior edges plus the reference's range as outer edges (for bin centres)."""
    return np.concatenate([[lo], interior, [hi]])


class Layout:
    """The flat multi-group layout: which column each group reads and its interior edges."""

    def __init__(self, columns, interior_edges, uniform=None):
        """uniform: per group None or (low, high) when the edges are ``uniform_edges(low, high,
        len(edges) + 1)`` (lets the kernels bin by arithmetic)."""
        self.columns = np.asarray(columns, dtype=np.int64)
        uniform = uniform or [None] * len(interior_edges)
        self.uni_lo = np.array([u[0] if u else 0.0 for u in uniform], dtype=np.float64)
        self.uni_scale = np.array([(len(e) + 1) / (u[1] - u[0]) if u else 0.0
                                   for u, e in zip(uniform, interior_edges)], dtype=np.float64)
        self.edge_offsets = np.zeros(len(interior_edges) + 1, dtype=np.int64)
        self.edge_offsets[1:] = np.cumsum([len(e) for e in interior_edges])
        self.edges = (np.concatenate(interior_edges).astype(np.float64) if interior_edges
                      else np.zeros(0))
        self.bin_offsets = self.edge_offsets + np.arange(len(interior_edges) + 1)
        self.size = int(self.bin_offsets[-1])
        self._native_args = None

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_native_args"] = None  # raw addresses mean nothing in another process
        d.pop("native_fns", None)
        return d

    def native_args(self):
        """Addresses of the fixed layout arrays and a position buffer for the C kernel (taken
        once: extracting an address costs ~1 us)."""
        if self._native_args is None:
            from .. import _native

            self.bad = np.zeros(2, dtype=np.int64)
            self._native_args = tuple(_native.address(a) for a in (
                self.columns, self.edges, self.edge_offsets, self.uni_lo, self.uni_scale))
            self.native_fns = {np.dtype(np.float32): _native.function("tm_drift_hist_f32"),
                               np.dtype(np.float64): _native.function("tm_drift_hist_f64")}
            self.bad_address = _native.address(self.bad)
        return self._native_args

    def group(self, counts: np.ndarray, g: int) -> np.ndarray:
        return counts[..., self.bin_offsets[g]:self.bin_offsets[g + 1]]


_EMPTY = Layout([], [])  # no groups: the native kernel then only validates

# ----------------------------------------------------------------------------- counting
def _where(name, row, col, ndim):
    return f"{name}[{row}]" if ndim == 1 else f"{name}[{row}, {col}]"


def hist_numpy(values2d, start, stop, layout: Layout, counts, name, ndim):
    v = values2d[start:stop]
    bad = ~np.isfinite(v)
    if bad.any():
        r = int(np.flatnonzero(bad.any(axis=1))[0])
        c = int(np.flatnonzero(bad[r])[0])
        raise ValueError(f"{_where(name, start + r, c, ndim)} = {float(v[r, c])!r} is not finite")
    add = np.zeros(layout.size, dtype=np.int64)
    for g in range(len(layout.columns)):
        lo, hi = layout.edge_offsets[g], layout.edge_offsets[g + 1]
        idx = np.searchsorted(layout.edges[lo:hi], v[:, layout.columns[g]].astype(np.float64),
                              side="right")
        add[layout.bin_offsets[g]:layout.bin_offsets[g + 1]] += np.bincount(idx, minlength=hi - lo + 1)
    counts += add


def hist(backend, values2d, start, stop, layout, counts, name, ndim, validate=True):
    """Add rows [start, stop) of a (N, C) float array into ``counts`` (flat, int64)."""
    if backend == "numpy":
        hist_numpy(values2d, start, stop, layout, counts, name, ndim)
        return
    if backend == "native":
        _hist_native(values2d, start, stop, layout, counts, name, ndim, validate)
        return
    r, c = kernels().hist(values2d, start, stop, layout.columns, layout.edges,
                          layout.edge_offsets, layout.uni_lo, layout.uni_scale, counts, validate)
    if r >= 0:
        raise ValueError(f"{_where(name, r, c, ndim)} = {float(values2d[r, c])!r} is not finite")


def _hist_native(values2d, start, stop, layout, counts, name, ndim, validate):
    from .. import _native

    cols, edges, offs, ulo, usc = layout.native_args()
    address = _native.address
    rc = layout.native_fns[values2d.dtype](
        address(values2d), values2d.shape[0], values2d.shape[1], start, stop,
        len(layout.columns), cols, edges, offs, ulo, usc, address(counts), counts.shape[0],
        1 if validate else 0, layout.bad_address)
    if rc == _native.ERR_VALUE:
        r, c = int(layout.bad[0]), int(layout.bad[1])
        raise ValueError(f"{_where(name, r, c, ndim)} = {float(values2d[r, c])!r} is not finite")
    if rc:
        _native.raise_for(rc)


def check_finite(backend, values2d, name, ndim, offset=0):
    """Raise for the first non-finite value; ``offset`` is added to the reported row."""
    if backend == "numpy":
        bad = ~np.isfinite(values2d)
        if not bad.any():
            return
        r = int(np.flatnonzero(bad.any(axis=1))[0])
        c = int(np.flatnonzero(bad[r])[0])
    elif backend == "native" and values2d.dtype in (np.float32, np.float64):
        # the histogram kernel with no groups only validates
        from .. import _native

        pos = np.zeros(2, dtype=np.int64)
        cols, edges, offs, ulo, usc = _EMPTY.native_args()
        fn = _EMPTY.native_fns[values2d.dtype]
        addr = _native.address(pos)
        rc = fn(_native.address(values2d), values2d.shape[0], values2d.shape[1], 0,
                values2d.shape[0], 0, cols, edges, offs, ulo, usc, addr, 0, 1, addr)
        if rc == 0:
            return
        if rc != _native.ERR_VALUE:
            _native.raise_for(rc)
        r, c = int(pos[0]), int(pos[1])
    else:
        r, c = kernels().check_finite(values2d)
        if r < 0:
            return
    raise ValueError(
        f"{_where(name, r + offset, c, ndim)} = {float(values2d[r, c])!r} is not finite")


def label_counts(backend, labels, start, stop, counts, name):
    k = counts.shape[0]
    if backend == "numpy":
        v = labels[start:stop].astype(np.int64)
        bad = (v < 0) | (v >= k)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name}[{start + r}] = {int(v[r])} is outside [0, {k})")
        counts += np.bincount(v, minlength=k)
        return
    r = kernels().label_counts(labels, start, stop, counts)
    if r >= 0:
        raise ValueError(f"{name}[{r}] = {int(labels[r])} is outside [0, {k})")


def argmax_counts(backend, scores, start, stop, counts, name):
    if backend == "numpy":
        check_finite("numpy", scores[start:stop], name, 2, start)
        counts += np.bincount(np.argmax(scores[start:stop], axis=1), minlength=counts.shape[0])
        return
    r, c = kernels().argmax_counts(scores, start, stop, counts)
    if r >= 0:
        raise ValueError(f"{name}[{r}, {c}] = {float(scores[r, c])!r} is not finite")


def positive_counts(backend, values, start, stop, threshold, counts, name):
    if backend == "numpy":
        v = values[start:stop]
        check_finite("numpy", v, name, 2, start)
        pos = (v.astype(np.float64) >= threshold).astype(np.int64)
        idx = 2 * np.arange(v.shape[1])[None, :] + pos
        counts += np.bincount(idx.ravel(), minlength=counts.shape[0])
        return
    r, c = kernels().positive_counts(values, start, stop, threshold, counts)
    if r >= 0:
        raise ValueError(f"{name}[{r}, {c}] = {float(values[r, c])!r} is not finite")
