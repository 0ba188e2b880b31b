"""Where a batch lives: host (numpy and array-likes) or a GPU (``__cuda_array_interface__``:
CuPy, PyTorch, numba device arrays), and the shape/dtype checks of device arrays.

Rules (documented in docs/gpu.md):

* One call never mixes host and device arrays (ValueError naming them).
* ``backend="auto"``: the first batch of device arrays moves the state to the device (the
  counts so far are copied there once) and it stays there; later host batches are copied to
  the device and counted there. Reading values, merging, ``state_dict()`` and pickling copy
  the counts back to the host; unpickled ``"auto"`` objects start on the host again.
* ``backend="cuda"``: the state lives on the device from construction.
* A host backend named explicitly (``"native"``, ``"numba"``, ``"numpy"``) refuses device arrays.

Device arrays are checked without reading their data: dimensions, matching lengths and dtypes
(labels: bool or integer; scores: float32 or float64; sample_weight: float64). Values (labels
out of range, NaN scores, negative weights) are checked by the kernels, as on the host.
"""
from __future__ import annotations

import numpy as np

from .._backends.cuda import is_device

__all__: list[str] = []  # private module

_NAMES = ("target", "preds", "sample_weight")
_SCORES = frozenset((np.dtype(np.float32), np.dtype(np.float64)))


def any_device(target, preds, sample_weight) -> bool:
    return is_device(target) or is_device(preds) or (sample_weight is not None and is_device(sample_weight))


def placement(target, preds, sample_weight) -> bool:
    """True when the batch lives on the device, False on the host; ValueError when it mixes."""
    where = [(name, is_device(x)) for name, x in zip(_NAMES, (target, preds, sample_weight))
             if x is not None]
    dev = [name for name, d in where if d]
    if dev and len(dev) != len(where):
        host = [name for name, d in where if not d]
        raise ValueError(
            f"{' and '.join(dev)} {'is a CUDA device array' if len(dev) == 1 else 'are CUDA device arrays'}"
            f" but {' and '.join(host)} {'is' if len(host) == 1 else 'are'} on the host: pass all of "
            "target, preds and sample_weight on the same side")
    return bool(dev)


def views(target, preds, sample_weight):
    """numba device views (zero-copy) of a device batch."""
    from .._backends import cuda

    t = cuda.device_view(target, "target")
    p = cuda.device_view(preds, "preds")
    w = None if sample_weight is None else cuda.device_view(sample_weight, "sample_weight")
    return t, p, w


def check_labels(name, x):
    dt = np.dtype(x.dtype)
    if dt.kind not in "biu":
        raise TypeError(f"{name} on the device must hold bool or integer labels; got dtype {dt}")


def check_preds(name, x, allow_scores=True):
    """'scores' or 'labels' by dtype (never by value), as on the host."""
    dt = np.dtype(x.dtype)
    if dt.kind == "f":
        if not allow_scores:
            raise TypeError(f"{name} must be integer labels; got dtype {dt}")
        if dt not in _SCORES:
            raise TypeError(f"{name} scores on the device must be float32 or float64; got dtype {dt}")
        return "scores"
    check_labels(name, x)
    return "labels"


def check_ndim(name, x, ndim, what):
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {what}; got an array of shape {tuple(x.shape)}")


def check_rows(target, preds, weight):
    n = int(target.shape[0])
    if int(preds.shape[0]) != n:
        raise ValueError(
            f"target and preds must have the same number of samples; got {n} and {int(preds.shape[0])}")
    if weight is not None:
        if weight.ndim != 1 or int(weight.shape[0]) != n:
            raise ValueError(
                f"sample_weight must have shape ({n},) to match target; got shape {tuple(weight.shape)}")
        if np.dtype(weight.dtype) != np.float64:
            raise TypeError(
                f"sample_weight on the device must have dtype float64; got {np.dtype(weight.dtype)}")
