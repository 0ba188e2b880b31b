"""The ``native`` backend: the contract of ``tallyml._backends`` served by the C++ core.

Per call: pick the entry point from a dict keyed by dtype characters, extract raw addresses
(``_native.address``), call, and raise the core's message on a non-zero return code. The GIL is
released for the duration of the call (ctypes CDLL). Empty batches return before touching the
library.
"""
from __future__ import annotations

import threading

import numpy as np

from .. import _native

__all__ = [
    "binary_labels",
    "binary_scores",
    "multiclass_labels",
    "multiclass_scores",
    "multilabel_labels",
    "multilabel_scores",
    "bind_binary",
    "bind_multiclass",
]


# numpy dtype.char -> ABI suffix. bool is passed as uint8 (numpy stores it as 0/1 bytes).
_LABEL_CHARS = {"?": "u8", "B": "u8", "b": "i8", "h": "i16", "i": "i32", "l": "i64", "q": "i64"}
_SCORE_CHARS = {"f": "f32", "d": "f64"}
for _c, _s in list(_LABEL_CHARS.items()):  # 'l' vs 'q' naming of int64 differs by platform
    if np.dtype(_c).itemsize != {"u8": 1, "i8": 1, "i16": 2, "i32": 4, "i64": 8}[_s]:
        del _LABEL_CHARS[_c]

_address = _native.address
_fb = _native.from_buffer
_ao = _native.addressof
_tables: dict[str, dict] | None = None
_tables_lock = threading.Lock()


def _build_tables() -> dict[str, dict]:
    """family -> {(target char, preds char, weighted): ctypes function}."""
    lib = _native.library()
    tables = {}
    for family in ("binary_labels", "binary_scores", "multiclass_labels", "multiclass_scores",
                   "multilabel_labels", "multilabel_scores"):
        preds_chars = _SCORE_CHARS if family.endswith("scores") else _LABEL_CHARS
        table = {}
        for tc, ts in _LABEL_CHARS.items():
            for pc, ps in preds_chars.items():
                name = f"tm_{family}_{ts}_{ps}"
                table[(tc, pc, False)] = lib.functions[name]
                table[(tc, pc, True)] = lib.functions[name + "_w"]
        tables[family] = table
    return tables


def _fn(family, target, preds, weight):
    tables = _tables
    if tables is None:
        tables = _load_tables()
    fn = tables[family].get((target.dtype.char, preds.dtype.char, weight is not None))
    if fn is None:
        kind = "scores" if family.endswith("scores") else "labels"
        raise TypeError(
            f"native backend: unsupported dtypes for {family}: target {target.dtype}, "
            f"preds {preds.dtype} (target: bool/uint8/int8/int16/int32/int64; preds: "
            + ("float32/float64" if kind == "scores" else "the same label dtypes") + ")"
        )
    return fn


def _load_tables():
    global _tables
    with _tables_lock:
        if _tables is None:
            _tables = _build_tables()
    return _tables


def binary_labels(target, preds, weight, ignore_index, state, num_threads=0):
    n = target.shape[0]
    if n == 0:
        return
    fn = _fn("binary_labels", target, preds, weight)
    has, ign = (0, 0) if ignore_index is None else (1, int(ignore_index))
    try:  # writable arrays: the cheap route; read-only ones fall back below
        pt, pp, ps = _ao(_fb(target)), _ao(_fb(preds)), _ao(_fb(state))
    except (TypeError, ValueError):
        pt, pp, ps = _address(target), _address(preds), _address(state)
    if weight is None:
        rc = fn(pt, pp, n, has, ign, ps, num_threads)
    else:
        rc = fn(pt, pp, _address(weight), n, has, ign, ps, num_threads)
    if rc:
        _native.raise_for(rc)


def binary_scores(target, scores, threshold, weight, ignore_index, state, num_threads=0):
    n = target.shape[0]
    if n == 0:
        return
    fn = _fn("binary_scores", target, scores, weight)
    has, ign = (0, 0) if ignore_index is None else (1, int(ignore_index))
    try:
        pt, pp, ps = _ao(_fb(target)), _ao(_fb(scores)), _ao(_fb(state))
    except (TypeError, ValueError):
        pt, pp, ps = _address(target), _address(scores), _address(state)
    if weight is None:
        rc = fn(pt, pp, n, threshold, has, ign, ps, num_threads)
    else:
        rc = fn(pt, pp, _address(weight), n, threshold, has, ign, ps, num_threads)
    if rc:
        _native.raise_for(rc)


def _multiclass(family, target, preds, weight, ignore_index, state, seen, num_threads):
    n = target.shape[0]
    if n == 0:
        return
    fn = _fn(family, target, preds, weight)
    has, ign = (0, 0) if ignore_index is None else (1, int(ignore_index))
    k = state.shape[0]
    seen_p = None if seen is None else _address(seen)
    if weight is None:
        rc = fn(_address(target), _address(preds), n, k, has, ign, _address(state), seen_p,
                num_threads)
    else:
        rc = fn(_address(target), _address(preds), _address(weight), n, k, has, ign,
                _address(state), seen_p, num_threads)
    if rc:
        _native.raise_for(rc)


def multiclass_labels(target, preds, weight, ignore_index, state, seen, num_threads=0):
    _multiclass("multiclass_labels", target, preds, weight, ignore_index, state, seen,
                num_threads)


def multiclass_scores(target, scores, weight, ignore_index, state, seen, num_threads=0):
    _multiclass("multiclass_scores", target, scores, weight, ignore_index, state, seen,
                num_threads)


def _multilabel(family, target, preds, threshold, weight, state, samples, num_threads):
    n = target.shape[0]
    if n == 0:
        return
    fn = _fn(family, target, preds, weight)
    num_labels = target.shape[1]
    extra = () if threshold is None else (threshold,)
    if weight is None:
        rc = fn(_address(target), _address(preds), n, num_labels, *extra, _address(state),
                _address(samples), samples.shape[0], num_threads)
    else:
        rc = fn(_address(target), _address(preds), _address(weight), n, num_labels, *extra,
                _address(state), _address(samples), samples.shape[0], num_threads)
    if rc:
        _native.raise_for(rc)


def multilabel_labels(target, preds, weight, state, samples, num_threads=0):
    _multilabel("multilabel_labels", target, preds, None, weight, state, samples, num_threads)


def multilabel_scores(target, scores, threshold, weight, state, samples, num_threads=0):
    _multilabel("multilabel_scores", target, scores, threshold, weight, state, samples,
                num_threads)


# ---------------------------------------------------------------- bound calls (hot path)
# The metric objects call these per update with a few dozen samples, where converting arguments
# is most of the cost: a bound call converts the state's address and the constants once, and per
# call only takes the two input addresses through the buffer protocol (~0.3 us each), which also
# rejects non-contiguous and read-only arrays. It returns False, having done nothing, for any
# array it cannot take that way (the caller then uses the general path).

def _entry(family_scores, family_labels, target_dtype, preds_dtype):
    scores = np.dtype(preds_dtype).kind == "f"
    family = family_scores if scores else family_labels
    key = (np.dtype(target_dtype).char, np.dtype(preds_dtype).char, False)
    return _load_tables()[family].get(key), scores


def bind_binary(target_dtype, preds_dtype, state, threshold, ignore_index, num_threads=0):
    """``call(target, preds) -> bool``: unweighted binary counts into ``state`` (int64 (2, 2))
    with fixed threshold (for float preds), ignore_index and num_threads; None when the dtypes
    have no entry point."""
    fn, scores = _entry("binary_scores", "binary_labels", target_dtype, preds_dtype)
    if fn is None:
        return None
    has, ign = (0, 0) if ignore_index is None else (1, int(ignore_index))
    thr, nt, ps = float(threshold), int(num_threads), _address(state)
    fb, ao, raise_for = _fb, _ao, _native.raise_for
    if scores:
        def call(target, preds):
            try:
                pt, pp = ao(fb(target)), ao(fb(preds))
            except (TypeError, ValueError):
                return False
            rc = fn(pt, pp, target.shape[0], thr, has, ign, ps, nt)
            if rc:
                raise_for(rc)
            return True
    else:
        def call(target, preds):
            try:
                pt, pp = ao(fb(target)), ao(fb(preds))
            except (TypeError, ValueError):
                return False
            rc = fn(pt, pp, target.shape[0], has, ign, ps, nt)
            if rc:
                raise_for(rc)
            return True
    call.state = state  # keeps the array (and so its address) alive while the call exists
    return call


def bind_multiclass(target_dtype, preds_dtype, state, ignore_index, num_threads=0):
    """``call(target, preds) -> bool``: unweighted (K, K) counts into ``state`` (int64) from
    label preds (1-D) or float scores (2-D, K columns), no ``seen`` mask; None when the dtypes
    have no entry point."""
    fn, _ = _entry("multiclass_scores", "multiclass_labels", target_dtype, preds_dtype)
    if fn is None:
        return None
    has, ign = (0, 0) if ignore_index is None else (1, int(ignore_index))
    k, nt, ps = state.shape[0], int(num_threads), _address(state)
    fb, ao, raise_for = _fb, _ao, _native.raise_for

    def call(target, preds):
        try:
            pt, pp = ao(fb(target)), ao(fb(preds))
        except (TypeError, ValueError):
            return False
        rc = fn(pt, pp, target.shape[0], k, has, ign, ps, None, nt)
        if rc:
            raise_for(rc)
        return True

    call.state = state
    return call
