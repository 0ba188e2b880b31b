"""The native bridge: the one module that imports ctypes.

Finds ``libtallyml_core.so`` (the ``TALLYML_LIBRARY`` environment variable, else
``tallyml/lib/`` inside the installed package), loads it lazily and thread-safely on first use,
declares every signature once from a table, and checks that the library was built for this
package version. Entry-point names are generated from the same dtype tables as the C header.
"""
from __future__ import annotations

import ctypes
import importlib.resources
import os
import threading

from ._version import __version__

__all__ = [
    "NativeLibraryError",
    "LIBRARY_NAME",
    "ENV_VAR",
    "LABEL_TYPES",
    "SCORE_TYPES",
    "available",
    "library",
    "function",
    "entry_points",
    "raise_for",
    "last_error",
    "address",
    "addressof",
    "from_buffer",
]

LIBRARY_NAME = "libtallyml_core.so"
ENV_VAR = "TALLYML_LIBRARY"

# Return codes of the C ABI (tallyml.h).
OK, ERR_VALUE, ERR_ARGUMENT, ERR_MEMORY, ERR_INTERNAL = 0, 1, 2, 3, 4

# Dtype suffixes, in the order of the header's X-macro tables.
LABEL_TYPES = ("u8", "i8", "i16", "i32", "i64")
SCORE_TYPES = ("f32", "f64")


class NativeLibraryError(ImportError):
    """The native core could not be used; the message lists where it looked and why."""


_P = ctypes.c_void_p
_I64 = ctypes.c_int64
_I32 = ctypes.c_int32
_F64 = ctypes.c_double

# Argument lists per family, unweighted; the `_w` variant inserts a weight pointer after preds.
# Pointers are c_void_p so that callers pass plain integer addresses (the cheapest call path).
_FAMILIES = {
    # target, preds, n, has_ignore, ignore_index, state, num_threads
    "binary_labels": (LABEL_TYPES, (_P, _P, _I64, _I32, _I64, _P, _I32)),
    # target, scores, n, threshold, has_ignore, ignore_index, state, num_threads
    "binary_scores": (SCORE_TYPES, (_P, _P, _I64, _F64, _I32, _I64, _P, _I32)),
    # target, preds, n, num_classes, has_ignore, ignore_index, state, seen, num_threads
    "multiclass_labels": (LABEL_TYPES, (_P, _P, _I64, _I64, _I32, _I64, _P, _P, _I32)),
    "multiclass_scores": (SCORE_TYPES, (_P, _P, _I64, _I64, _I32, _I64, _P, _P, _I32)),
    # target, preds, n, num_labels, state, samples, samples_len, num_threads
    "multilabel_labels": (LABEL_TYPES, (_P, _P, _I64, _I64, _P, _P, _I64, _I32)),
    # target, scores, n, num_labels, threshold, state, samples, samples_len, num_threads
    "multilabel_scores": (SCORE_TYPES, (_P, _P, _I64, _I64, _F64, _P, _P, _I64, _I32)),
    # ---- curves block: target, scores, n, has_ignore, ignore_index, layout, logits, eps,
    #      hist, psum, sums, nbins, num_threads
    "curves_binary": (SCORE_TYPES, (_P, _P, _I64, _I32, _I64, _P, _I32, _F64, _P, _P, _P, _I64,
                                    _I32)),
}

_SCALARS = {
    "tm_last_error": ((), ctypes.c_char_p),
    "tm_version": ((), ctypes.c_char_p),
    "tm_simd_level": ((), _I32),
    "tm_set_simd_level": ((_I32,), _I32),
}


# ---- drift histograms (tallyml.drift._histogram) --------------------------------------------
# values, n_rows, n_cols, start, stop, groups, columns, edges, edge_offsets, uni_lo, uni_scale,
# counts, counts_len, validate, bad
_DRIFT = {
    f"tm_drift_hist_{sn}": ((_P, _I64, _I64, _I64, _I64, _I64, _P, _P, _P, _P, _P, _P, _I64, _I32, _P),
                            _I32)
    for sn in SCORE_TYPES
}
# ---- end drift histograms --------------------------------------------------------------------
# ==== BEGIN estimation (CBPE): tm_expected_<task>_<f32|f64>, csrc/src/expected.hpp ==========
_ESTIMATION = {
    # scores, n, cut, logits, table, table_len, mode, state, var, hist, num_bins, err
    "expected_binary": (_P, _I64, _F64, _I32, _P, _I64, _I32, _P, _P, _P, _I64, _P),
    # scores, n, k, logits, sum_tol, table, table_len, mode, state, moments, hist, num_bins, err
    "expected_multiclass": (_P, _I64, _I64, _I32, _F64, _P, _I64, _I32, _P, _P, _P, _I64, _P),
    # scores, n, l, cut, logits, table, table_len, mode, state, var, subset, hist, num_bins, err
    "expected_multilabel": (_P, _I64, _I64, _F64, _I32, _P, _I64, _I32, _P, _P, _P, _P, _I64, _P),
}
# ==== END estimation ==========================================================================


# ---- curves block: exact sweeps (csrc/src/rank.cpp) --------------------------------------------
# auc / ap: y_pos (uint8), scores, n, out, n_pos, num_threads
# sweep: y_pos, scores, weight (NULL allowed), n, fps, tps, thresholds, m, num_threads
_CURVES_EXACT = {}
for _sn in SCORE_TYPES:
    _CURVES_EXACT[f"tm_curves_auc_{_sn}"] = ((_P, _P, _I64, _P, _P, _I32), _I32)
    _CURVES_EXACT[f"tm_curves_ap_{_sn}"] = ((_P, _P, _I64, _P, _P, _I32), _I32)
    _CURVES_EXACT[f"tm_curves_sweep_{_sn}"] = ((_P, _P, _P, _I64, _P, _P, _P, _P, _I32), _I32)
del _sn
# ---- end curves block ------------------------------------------------------------------------


# ---- latency histogram (tallyml.monitoring.latency): values, n, per_decade, offset, num_bins,
# counts, stats, bad
_LOGHIST = {"tm_loghist_f64": ((_P, _I64, _F64, _I64, _I64, _P, _P, _P), _I32)}


def entry_points() -> dict[str, tuple[tuple, object]]:
    """Every exported function: name -> (argtypes, restype)."""
    table = dict(_SCALARS)
    table.update(_DRIFT)
    table.update(_LOGHIST)
    table.update(_CURVES_EXACT)
    for family, args in _ESTIMATION.items():
        for p in SCORE_TYPES:
            table[f"tm_{family}_{p}"] = (args, _I32)
    for family, (pred_types, args) in _FAMILIES.items():
        for t in LABEL_TYPES:
            for p in pred_types:
                name = f"tm_{family}_{t}_{p}"
                table[name] = (args, _I32)
                table[name + "_w"] = (args[:2] + (_P,) + args[2:], _I32)
    return table


# Exposed for the backend's hot path: addressof(from_buffer(arr)) is the cheapest way to get the
# address of a writable array (~0.3 us); it raises TypeError (read-only) or ValueError (empty).
from_buffer = ctypes.c_char.from_buffer
addressof = ctypes.addressof


def address(arr) -> int:
    """Data address of a contiguous numpy array, by the cheapest route: the buffer protocol for
    writable arrays (~0.3 us), ``__array_interface__`` for read-only or empty ones (~1 us)."""
    try:
        return addressof(from_buffer(arr))
    except (TypeError, ValueError):
        return arr.__array_interface__["data"][0]


class _Library:
    """The loaded library: the CDLL plus every declared function as an attribute."""

    def __init__(self, path: str, cdll: ctypes.CDLL):
        self.path = path
        self.cdll = cdll
        self.functions: dict[str, object] = {}


_lock = threading.Lock()
_lib: _Library | None = None
_failure: NativeLibraryError | None = None


def _candidates() -> list[tuple[str, str]]:
    """(path, where it came from) in search order."""
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return [(override, f"${ENV_VAR}")]
    out = []
    try:
        res = importlib.resources.files("tallyml").joinpath("lib", LIBRARY_NAME)
        out.append((os.fspath(res), "package resource tallyml/lib"))
    except (TypeError, ModuleNotFoundError) as exc:  # pragma: no cover - zipped installs
        out.append((f"<tallyml/lib/{LIBRARY_NAME}>", f"package resource unavailable: {exc}"))
    return out


def _load() -> _Library:
    tried = []
    for path, origin in _candidates():
        if not os.path.isfile(path):
            tried.append(f"{path} ({origin}): no such file")
            continue
        try:
            cdll = ctypes.CDLL(path)
        except OSError as exc:
            tried.append(f"{path} ({origin}): failed to load: {exc}")
            continue
        lib = _Library(path, cdll)
        missing = []
        for name, (argtypes, restype) in entry_points().items():
            try:
                fn = getattr(cdll, name)
            except AttributeError:
                missing.append(name)
                continue
            fn.argtypes = argtypes
            fn.restype = restype
            lib.functions[name] = fn
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            tried.append(f"{path} ({origin}): missing symbols ({len(missing)}): {shown}")
            continue
        version = lib.functions["tm_version"]().decode()
        if version != __version__:
            tried.append(
                f"{path} ({origin}): version mismatch: library {version!r}, "
                f"package {__version__!r} (rebuild the library)"
            )
            continue
        return lib
    raise NativeLibraryError(
        "tallyml native library unavailable; looked in:\n  " + "\n  ".join(tried)
        + "\nBuild it with: cmake -S . -B build/dev -DCMAKE_BUILD_TYPE=Release && "
        "cmake --build build/dev -j2 && cmake --install build/dev --prefix ."
    )


def library() -> _Library:
    """The loaded library (loaded on first call); raises NativeLibraryError, also on later calls."""
    global _lib, _failure
    lib = _lib
    if lib is not None:
        return lib
    with _lock:
        if _lib is None:
            if _failure is not None:
                raise _failure
            try:
                _lib = _load()
            except NativeLibraryError as exc:
                _failure = exc
                raise
        return _lib


def available() -> bool:
    """Whether the native core loads (never raises)."""
    try:
        library()
    except NativeLibraryError:
        return False
    return True


def function(name: str):
    """The declared ctypes function ``name`` (e.g. ``"tm_binary_scores_i8_f32"``)."""
    return library().functions[name]


def last_error() -> str:
    return library().functions["tm_last_error"]().decode("utf-8", "replace")


def raise_for(rc: int) -> None:
    """Turn a non-zero return code into the matching Python exception."""
    msg = last_error()
    if rc in (ERR_VALUE, ERR_ARGUMENT):
        raise ValueError(msg)
    if rc == ERR_MEMORY:
        raise MemoryError(msg)
    raise RuntimeError(f"tallyml native core failed (code {rc}): {msg}")


def _reset_for_tests() -> None:
    """Forget the loaded library or the cached failure (tests of the search logic)."""
    global _lib, _failure
    with _lock:
        _lib = None
        _failure = None
