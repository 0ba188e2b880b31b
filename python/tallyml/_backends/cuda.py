"""The ``cuda`` backend: the kernel contract on an NVIDIA GPU through numba.cuda.

Differences from the host backends, by design:

* Inputs may live on the device: anything exposing ``__cuda_array_interface__`` (numba device
  arrays, CuPy, PyTorch) is taken zero-copy with ``numba.cuda.as_cuda_array``, which first
  synchronises the producer's stream when the interface names one. Host numpy arrays are copied
  to the device.
* State arrays (``state``, ``samples``, ``seen``) are DEVICE arrays and stay there between
  updates: make them with :func:`to_device_state` and read them with :func:`to_host`.
* Weighted sums are float64 atomics, so their order of addition is not fixed: they equal the
  reference exactly when the partial sums are exact (e.g. weights that are multiples of a power
  of two) and to rounding otherwise. Integer counts are always exact.

Each update is two launches (count into a scratch buffer, then add scratch into the state only
when the batch had no bad value) and one 8-byte read-back that tells whether to raise. On a bad
value the wrapper reads the offending row back and raises the reference backend's exact message.

numba.cuda is imported on first use, never at import time. Without a usable GPU (and without the
simulator, ``NUMBA_ENABLE_CUDASIM=1``) every call raises :class:`CudaUnavailableError` saying why.
"""
from __future__ import annotations

import contextlib
import functools
import math
import threading

import numpy as np

from . import triplet_bins

__all__ = [
    "CudaUnavailableError",
    "available",
    "unavailable_reason",
    "configure",
    "to_device_state",
    "device_zeros",
    "to_host",
    "is_device",
    "device_view",
    "count_equal",
    "binary_labels",
    "binary_scores",
    "multiclass_labels",
    "multiclass_scores",
    "multilabel_labels",
    "multilabel_scores",
]


class CudaUnavailableError(RuntimeError):
    """The cuda backend cannot run here; the message says why (numba's own reason included)."""


# ---------------------------------------------------------------------------------------------
# Lazy loading

_load_lock = threading.Lock()
_loaded: dict[str, object] = {}


def _probe():
    """Import numba.cuda and the kernels once; remember the reason when that is impossible."""
    try:
        from numba import cuda
    except ImportError as exc:  # numba-cuda (or numba) missing
        return None, None, (f"numba.cuda cannot be imported ({exc}); install the CUDA extra: "
                            "pip install 'tallyml[cuda]'")
    if not cuda.is_available():
        why = (cuda.cuda_error()
               or "numba.cuda.is_available() is False (no CUDA GPU or no usable driver)")
        why = " ".join(str(why).split()).rstrip(" .:")  # numba's text spans several lines
        return None, None, (
            f"no usable CUDA GPU: {why}. Set NUMBA_ENABLE_CUDASIM=1 before importing numba to run "
            "the kernels on the CPU simulator (slow; for tests)."
        )
    from . import _cuda_kernels

    return cuda, _cuda_kernels, None


def _load():
    if "cuda" not in _loaded:
        with _load_lock:
            if "cuda" not in _loaded:
                cu, kernels, reason = _probe()
                _loaded.update(kernels=kernels, reason=reason)
                _loaded["cuda"] = cu
    if _loaded["cuda"] is None:
        raise CudaUnavailableError(_loaded["reason"])
    return _loaded["cuda"], _loaded["kernels"]


def available() -> bool:
    """Whether the cuda backend can run (a GPU, or the simulator)."""
    try:
        _load()
    except CudaUnavailableError:
        return False
    return True


def unavailable_reason() -> str | None:
    """Why the backend cannot run, or None when it can."""
    try:
        _load()
    except CudaUnavailableError as exc:
        return str(exc)
    return None


def _simulated() -> bool:
    from numba import config

    return bool(getattr(config, "ENABLE_CUDASIM", 0))


# The simulator cannot run kernels launched from several host threads at once (its kernel
# context is process-global), so simulated launches take turns; a GPU needs no lock.
_sim_lock = threading.Lock()


def _launch_guard():
    return _sim_lock if _simulated() else contextlib.nullcontext()


# ---------------------------------------------------------------------------------------------
# Launch configuration

_config = {"threads_per_block": None, "max_blocks": None, "max_shared_bytes": 48 * 1024}


def configure(threads_per_block=None, max_blocks=None, max_shared_bytes=None) -> dict:
    """Set launch parameters (None leaves one unchanged) and return the previous settings.

    threads_per_block: default 256 on a GPU, 32 under the simulator.
    max_blocks: cap on the grid (grid-stride loops cover the rest); default 8 per SM (at least
        128) on a GPU, 2 under the simulator.
    max_shared_bytes: per-block shared-memory budget for partial counts (default 48 KiB, the
        limit without opt-in); tasks whose bins exceed it count with global atomics instead.
    Results never depend on these."""
    previous = dict(_config)
    for name, value in (("threads_per_block", threads_per_block), ("max_blocks", max_blocks),
                        ("max_shared_bytes", max_shared_bytes)):
        if value is not None:
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int; got {value!r}")
            _config[name] = int(value)
    return previous


# numba warns (NumbaPerformanceWarning) on every launch of fewer blocks than this; a GPU grid
# is never smaller, so that small batches (an inference loop's dozens of predictions) stay quiet
# even under warnings-as-errors. Idle blocks cost a few microseconds and no global atomics.
_MIN_GPU_BLOCKS = 128


def _launch_shape(cu, n):
    """(blocks, threads per block) for a grid-stride loop over n items."""
    tpb = _config["threads_per_block"]
    cap = _config["max_blocks"]
    if _simulated():
        tpb = tpb or 32
        cap = cap or 2
        return max(1, min(cap, -(-n // tpb))), tpb
    tpb = tpb or 256
    if cap is None:
        sms = int(getattr(cu.get_current_device(), "MULTIPROCESSOR_COUNT", 16))
        cap = max(_MIN_GPU_BLOCKS, 8 * sms)
    return min(cap, max(_MIN_GPU_BLOCKS, -(-n // tpb))), tpb


# ---------------------------------------------------------------------------------------------
# Per-thread device buffers (scratch accumulators, error slot): reused between updates, one set
# per host thread so that concurrent updates never share them.

_tls = threading.local()


def _buffer(cu, key, make):
    bufs = getattr(_tls, "bufs", None)
    if bufs is None:
        bufs = _tls.bufs = {}
    dev = getattr(cu.get_current_device(), "id", 0)
    buf = bufs.get((dev,) + key)
    if buf is None:
        buf = bufs[(dev,) + key] = make()
    return buf


def _scratch(cu, acc, n):
    return _buffer(cu, ("scratch", acc, n), lambda: cu.to_device(np.zeros(n, dtype=acc)))


def _err(cu, kernels):
    return _buffer(cu, ("err",), lambda: cu.to_device(np.array([kernels.NO_ERROR], dtype=np.int64)))


def _const(cu, name, values, dtype):
    return _buffer(cu, ("const", name), lambda: cu.to_device(np.array(values, dtype=dtype)))


# ---------------------------------------------------------------------------------------------
# Arrays in and out


def is_device(x) -> bool:
    """Whether ``x`` lives on a GPU: a numba device array (real or simulated) or anything
    exposing ``__cuda_array_interface__``. Cheap, never imports numba."""
    return bool(getattr(x, "__cuda_ndarray__", False)) or hasattr(x, "__cuda_array_interface__")


_is_device = is_device


def device_view(x, name):
    """A numba device array viewing ``x`` zero-copy (numpy dtype and shape readable), for a
    device ``x``; host numpy arrays are copied to the device."""
    cu, _ = _load()
    return _as_device(cu, x, name)


def _as_device(cu, x, name):
    """A numba device array for ``x``: itself, a zero-copy view of a CUDA-array-interface
    producer (its stream synchronised by numba), or a copy of a host numpy array."""
    if getattr(x, "__cuda_ndarray__", False):
        return x
    if hasattr(x, "__cuda_array_interface__"):
        return cu.as_cuda_array(x)
    if isinstance(x, np.ndarray):
        return cu.to_device(np.ascontiguousarray(x))
    raise TypeError(
        f"{name} must be a numpy array or a CUDA array (__cuda_array_interface__); "
        f"got {type(x).__name__}"
    )


def _as_state(cu, x, name, dtype, size):
    """A flat device view of a state array, which must already live on the device."""
    if not _is_device(x):
        raise TypeError(
            f"{name} must be a CUDA device array for the cuda backend (make it with "
            f"to_device_state); got {type(x).__name__}"
        )
    d = _as_device(cu, x, name)
    if np.dtype(d.dtype) != np.dtype(dtype):
        raise TypeError(f"{name} must have dtype {np.dtype(dtype)}; got {np.dtype(d.dtype)}")
    if d.size != size:
        raise ValueError(f"{name} must have {size} elements; got shape {tuple(d.shape)}")
    if not d.is_c_contiguous():
        raise ValueError(f"{name} must be C-contiguous")
    return d.reshape(size)


def to_device_state(host_array):
    """Copy a host state array (counts, weighted sums, seen flags) to the device."""
    cu, _ = _load()
    return cu.to_device(np.ascontiguousarray(host_array))


def device_zeros(shape, dtype):
    """A zero-filled device state array."""
    return to_device_state(np.zeros(shape, dtype=dtype))


def to_host(state):
    """Copy a device state array back into a new host numpy array."""
    if isinstance(state, np.ndarray):
        return state.copy()
    cu, _ = _load()
    return _as_device(cu, state, "state").copy_to_host()


# ---------------------------------------------------------------------------------------------
# Counting equal values (ignored targets, zero weights) without copying the batch back


_nbcuda = None  # numba.cuda, bound on first use: the simulator swaps module *globals* only


@functools.lru_cache(maxsize=None)
def _count_equal_kernel(as_label: bool):
    global _nbcuda
    from numba import cuda, types

    _nbcuda = cuda

    @cuda.jit
    def _count_eq(x, value, out):
        # per-thread count, one shared-memory add per thread, one global add per block
        sh = _nbcuda.shared.array(1, types.int64)
        tid = _nbcuda.threadIdx.x
        if tid == 0:
            sh[0] = 0
        _nbcuda.syncthreads()
        c = 0
        for i in range(_nbcuda.grid(1), x.shape[0], _nbcuda.gridsize(1)):
            v = np.int64(x[i]) if as_label else x[i]
            if v == value:
                c += 1
        if c != 0:
            _nbcuda.atomic.add(sh, 0, c)
        _nbcuda.syncthreads()
        if tid == 0 and sh[0] != 0:
            _nbcuda.atomic.add(out, 0, sh[0])

    return _count_eq


def count_equal(x, value) -> int:
    """How many entries of the 1-D array ``x`` equal ``value``: an int (labels, compared as
    int64, e.g. ignore_index) or a float (weights). One launch and an 8-byte read-back."""
    cu, _ = _load()
    d = _as_device(cu, x, "x")
    n = int(d.shape[0])
    as_label = isinstance(value, (int, np.integer))
    if n == 0 or (as_label and not _INT64_MIN <= int(value) <= _INT64_MAX):
        return 0
    out = cu.to_device(np.zeros(1, dtype=np.int64))
    blocks, tpb = _launch_shape(cu, n)
    val = np.int64(value) if as_label else np.float64(value)
    with _launch_guard():
        _count_equal_kernel(as_label)[blocks, tpb](d, val, out)
    return int(out.copy_to_host()[0])


# ---------------------------------------------------------------------------------------------
# Errors: the kernel reports the first bad row; the message is built here from that row.


def _row(host, dev, r):
    if host is not None:
        return np.asarray(host[r])
    return dev[r:r + 1].copy_to_host()[0]


def _bad(kind, v, high):
    if kind == "label":
        return not 0 <= int(v) < high
    if kind == "score":
        return not math.isfinite(float(v))
    return not (float(v) >= 0 and float(v) < math.inf)


def _error(r, checks):
    """checks: (name, row values, kind, high) in the reference's order of precedence."""
    for name, vals, kind, high in checks:
        vals = np.asarray(vals)
        for c, v in enumerate(vals.reshape(-1)):
            if not _bad(kind, v, high):
                continue
            where = f"{name}[{r}]" if vals.ndim == 0 else f"{name}[{r}, {c}]"
            if kind == "label":
                return ValueError(f"{where} = {int(v)} is outside [0, {high})")
            if kind == "score":
                return ValueError(f"{where} = {float(v)!r} is not finite")
            return ValueError(f"{where} = {float(v)!r} is not a finite non-negative number")
    return RuntimeError(f"cuda backend: the kernel flagged row {r} but no value in it is bad")


# ---------------------------------------------------------------------------------------------
# The one update path


def _update(task, target, preds, weight, ignore_index, threshold, k, outs, seen, pred_kind,
            target_high):
    """Count one batch. ``outs``: [(state, name, size)] in scratch order; ``seen`` already
    validated device view or None."""
    cu, kernels = _load()
    acc = np.int64 if weight is None else np.float64
    flat = [_as_state(cu, s, name, acc, size) for s, name, size in outs]
    # Device views first: CuPy / PyTorch dtypes and shapes read as numpy's once wrapped.
    d_t = _as_device(cu, target, "target")
    d_p = _as_device(cu, preds, "preds")
    n = int(d_t.shape[0])
    if int(d_p.shape[0]) != n:
        raise ValueError(f"preds must have {n} rows like target; got {d_p.shape[0]}")
    if weight is None:
        d_w, wstep = _const(cu, "unit", [1], np.int64), 0
    else:
        d_w, wstep = _as_device(cu, weight, "sample_weight"), 1
        if np.dtype(d_w.dtype) != np.float64:
            raise TypeError(f"sample_weight must have dtype float64; got {np.dtype(d_w.dtype)}")
        if tuple(d_w.shape) != (n,):
            raise ValueError(f"sample_weight must have shape ({n},); got {tuple(d_w.shape)}")
    if n == 0:
        return

    nbins = sum(size for _, _, size in outs) + (k if seen is not None else 0)
    zero = acc(0)
    scratch = _scratch(cu, acc, nbins)
    err = _err(cu, kernels)
    blocks, tpb = _launch_shape(cu, n)
    acc_name = np.dtype(acc).name
    if ignore_index is not None and not _INT64_MIN <= int(ignore_index) <= _INT64_MAX:
        ignore_index = None  # no int64 target can equal it
    args = (d_t, d_p, d_w, np.int64(wstep), ignore_index is not None,
            np.int64(0 if ignore_index is None else ignore_index), np.float64(threshold),
            np.int64(k), seen is not None, zero, scratch, err)
    empty = _const(cu, "empty_" + acc_name, [], acc)
    out_a = flat[0]
    out_b = flat[1] if len(flat) > 1 else empty
    out_seen = seen if seen is not None else _const(cu, "empty_uint8", [], np.uint8)
    fblocks, _ = _launch_shape(cu, nbins)
    try:
        with _launch_guard():
            if task.startswith("binary"):
                kernels.binary_kernel(acc_name, task == "binary_scores")[blocks, tpb](*args)
            elif nbins * 8 <= _config["max_shared_bytes"]:
                kernels.binned_kernel(task, acc_name, True)[blocks, tpb, 0, nbins * 8](*args)
            else:  # bins too large for shared memory: atomics straight into scratch
                kernels.binned_kernel(task, acc_name, False)[blocks, tpb](*args)
            kernels.finish[fblocks, tpb](err, scratch, out_a, out_b, out_seen)
        bad_row = int(err.copy_to_host()[0])
    except BaseException:
        # Interrupted between the launches, scratch may hold part of a batch: never reuse it.
        _tls.bufs = {}
        raise
    if bad_row == kernels.NO_ERROR:
        return
    err.copy_to_device(np.array([kernels.NO_ERROR], dtype=np.int64))
    checks = [("target", _row(_host(target), d_t, bad_row), "label", target_high),
              ("preds", _row(_host(preds), d_p, bad_row), pred_kind, target_high)]
    if weight is not None:
        checks.append(("sample_weight", _row(_host(weight), d_w, bad_row), "weight", None))
    raise _error(bad_row, checks)


_INT64_MIN, _INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)


def _host(x):
    return x if isinstance(x, np.ndarray) else None


def _seen(seen, k):
    if seen is None:
        return None
    cu, _ = _load()
    return _as_state(cu, seen, "seen", np.uint8, k)


# ---------------------------------------------------------------------------------------------
# The contract (see tallyml._backends)


def binary_labels(target, preds, weight, ignore_index, state, num_threads=0):
    _update("binary_labels", target, preds, weight, ignore_index, 0.0, 2,
            [(state, "state", 4)], None, "label", 2)


def binary_scores(target, scores, threshold, weight, ignore_index, state, num_threads=0):
    _update("binary_scores", target, scores, weight, ignore_index, threshold, 2,
            [(state, "state", 4)], None, "score", 2)


def multiclass_labels(target, preds, weight, ignore_index, state, seen, num_threads=0):
    k = int(state.shape[0])
    _update("multiclass_labels", target, preds, weight, ignore_index, 0.0, k,
            [(state, "state", k * k)], _seen(seen, k), "label", k)


def multiclass_scores(target, scores, weight, ignore_index, state, seen, num_threads=0):
    k = int(state.shape[0])
    if scores.ndim != 2 or int(scores.shape[1]) != k:
        raise ValueError(f"preds must have shape (N, {k}); got {tuple(scores.shape)}")
    _update("multiclass_scores", target, scores, weight, ignore_index, 0.0, k,
            [(state, "state", k * k)], _seen(seen, k), "score", k)


def _multilabel(task, target, preds, threshold, weight, state, samples, pred_kind):
    n_labels = int(state.shape[0])
    for name, arr in (("target", target), ("preds", preds)):
        if arr.ndim != 2 or int(arr.shape[1]) != n_labels:
            raise ValueError(f"{name} must have shape (N, {n_labels}); got {tuple(arr.shape)}")
    _update(task, target, preds, weight, None, threshold, n_labels,
            [(state, "state", 4 * n_labels), (samples, "samples", triplet_bins(n_labels))],
            None, pred_kind, 2)


def multilabel_labels(target, preds, weight, state, samples, num_threads=0):
    _multilabel("multilabel_labels", target, preds, 0.0, weight, state, samples, "label")


def multilabel_scores(target, scores, threshold, weight, state, samples, num_threads=0):
    _multilabel("multilabel_scores", target, scores, threshold, weight, state, samples, "score")
