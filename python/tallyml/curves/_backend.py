"""One calling convention over the curve kernels of every backend (numpy reference, numba;
"native" uses numba until the C++ entry points are bound, see docs/curves.md).

Each ``check_*`` raises the contract's ValueError for the first bad sample; each ``count_*``
assumes a validated batch, so a failed update never touches the state."""
from __future__ import annotations

import numpy as np

from ._layout import BinLayout

__all__ = ["check_binary", "check_multiclass", "check_multilabel", "count_binary",
           "count_multiclass", "count_multilabel", "multiclass_topk", "kernels"]

_BAD_TARGET, _BAD_SCORE, _SCORE_RANGE, _BAD_WEIGHT = 1, 2, 3, 4


def kernels(backend: str):
    """numba serves "native" for everything the C++ core does not cover yet."""
    if backend == "numpy":
        from . import _kernels_numpy as k
    else:
        from . import _kernels_numba as k
    return k


def _message(kind, row, col, target, scores, weight, high):
    where = (lambda name, c: f"{name}[{row}]" if c < 0 else f"{name}[{row}, {c}]")
    if kind == _BAD_TARGET:
        v = target[row] if col < 0 else target[row, col]
        return f"{where('target', col)} = {int(v)} is outside [0, {high})"
    if kind == _BAD_WEIGHT:
        return f"{where('sample_weight', -1)} = {float(weight[row])!r} is not a finite non-negative number"
    v = float(scores[row] if scores.ndim == 1 else scores[row, col])
    if kind == _BAD_SCORE:
        return f"{where('preds', col)} = {v!r} is not finite"
    return (f"{where('preds', col)} = {v!r} is outside [0, 1] (pass logits=True for "
            "unbounded scores)")


def _ign(ignore_index):
    return (0, False) if ignore_index is None else (int(ignore_index), True)


def check_binary(backend, target, scores, weight, ignore_index, logits):
    if backend == "native":
        return  # the C++ entry point validates the batch before counting
    ii, has = _ign(ignore_index)
    row, kind = kernels(backend).first_bad_1d(target, scores, weight, ii, has, logits)
    if row >= 0:
        raise ValueError(_message(kind, row, -1, target, scores, weight, 2))


def check_multiclass(backend, target, scores, weight, ignore_index, logits):
    backend = "numba" if backend == "native" else backend
    ii, has = _ign(ignore_index)
    row, col, kind = kernels(backend).first_bad_multiclass(target, scores, weight, ii, has,
                                                           logits)
    if row >= 0:
        raise ValueError(_message(kind, row, col, target, scores, weight, scores.shape[1]))


def check_multilabel(backend, target, scores, weight, logits):
    backend = "numba" if backend == "native" else backend
    row, col, kind = kernels(backend).first_bad_multilabel(target, scores, weight, logits)
    if row >= 0:
        raise ValueError(_message(kind, row, col, target, scores, weight, 2))


def _layout_args(layout: BinLayout):
    return layout.kind, layout.a, layout.shift, layout.base, layout.half


_layout_arrays: dict = {}
_native_fns: dict = {}


def _native_fn(target, scores, weighted):
    """The ctypes function for this dtype pair (cached: the per-call path does one dict get)."""
    key = (target.dtype.char, scores.dtype.char, weighted)
    fn = _native_fns.get(key)
    if fn is None:
        from .. import _native
        from .._backends.native import _LABEL_CHARS, _SCORE_CHARS

        try:
            name = f"tm_curves_binary_{_LABEL_CHARS[key[0]]}_{_SCORE_CHARS[key[1]]}"
        except KeyError:
            raise TypeError(f"native backend: unsupported dtypes target {target.dtype}, "
                            f"preds {scores.dtype}") from None
        fn = _native_fns[key] = _native.function(name + ("_w" if weighted else ""))
    return fn


def _native_binary(target, scores, weight, ignore_index, layout, logits, eps, hist, psum, sums,
                   num_threads=0):
    from .. import _native

    n = target.shape[0]
    if n == 0:
        return
    lay = _layout_arrays.get(layout)
    if lay is None:
        lay = _layout_arrays[layout] = np.array(_layout_args(layout), dtype=np.int64)
    fn = _native_fn(target, scores, weight is not None)
    addr = _native.address
    has, ii = (0, 0) if ignore_index is None else (1, int(ignore_index))
    if weight is None:
        rc = fn(addr(target), addr(scores), n, has, ii, addr(lay), logits, eps, addr(hist),
                addr(psum), addr(sums), hist.shape[0], num_threads)
    else:
        rc = fn(addr(target), addr(scores), addr(weight), n, has, ii, addr(lay), logits, eps,
                addr(hist), addr(psum), addr(sums), hist.shape[0], num_threads)
    if rc:
        _native.raise_for(rc)


def count_binary(backend, target, scores, weight, ignore_index, layout, logits, eps, hist,
                 psum, sums, num_threads=0):
    """num_threads: threads the C++ core may use (0: its own choice); the other backends run on
    the calling thread."""
    if backend == "native":
        return _native_binary(target, scores, weight, ignore_index, layout, logits, eps, hist,
                              psum, sums, num_threads)
    ii, has = _ign(ignore_index)
    if backend == "numpy":
        kernels("numpy").count_binary(target, scores, weight, ii, has, layout, logits, eps,
                                      hist, psum, sums)
    else:
        kernels(backend).count_binary(target, scores, weight, ii, has, *_layout_args(layout),
                                      logits, eps, hist, psum, sums)


def count_multiclass(backend, target, scores, weight, ignore_index, layout, logits, eps, by_true,
                     hist, psum, sums):
    ii, has = _ign(ignore_index)
    if backend == "numpy":
        kernels("numpy").count_multiclass(target, scores, weight, ii, has, layout, logits, eps,
                                          by_true, hist, psum, sums)
    else:
        kernels(backend).count_multiclass(target, scores, weight, ii, has,
                                          *_layout_args(layout), logits, eps, by_true, hist,
                                          psum, sums)


def count_multilabel(backend, target, scores, weight, layout, logits, eps, hist, psum, sums):
    if backend == "numpy":
        kernels("numpy").count_multilabel(target, scores, weight, layout, logits, eps, hist,
                                          psum, sums)
    else:
        kernels(backend).count_multilabel(target, scores, weight, *_layout_args(layout), logits,
                                          eps, hist, psum, sums)


def multiclass_topk(target, scores, k_max, weight, ignore_index, hits, backend="numba"):
    """Top-k hits for k = 1..k_max (for MulticlassMetrics' top_k accuracy): hits[k-1] += w for
    every sample whose true class is among its k highest scores, ties ranked as sklearn's
    top_k_accuracy_score. Validates (labels in [0, K), finite scores, weights) before counting.
    target (N,) int; scores (N, K) float32/float64 C-contiguous; hits (k_max,) int64 or
    float64."""
    if not 1 <= k_max <= scores.shape[1] or hits.shape != (k_max,):
        raise ValueError(f"k_max must be in [1, {scores.shape[1]}] and hits of shape (k_max,); "
                         f"got k_max={k_max}, hits.shape={hits.shape}")
    check_multiclass(backend, target, scores, weight, ignore_index, True)
    if backend == "numpy":
        kernels("numpy").multiclass_topk(target, scores, k_max, weight, ignore_index, hits)
    else:
        ii, has = _ign(ignore_index)
        kernels(backend).multiclass_topk(target, scores, k_max, weight, ii, has, hits)
