"""Kernel backends: one contract, several implementations.

Every backend module exposes the functions below with exactly these signatures. Callers (the
metric-state layer) pass arrays that are already contiguous, of a supported dtype and of matching
shapes; the kernels own the *value* checks, fused into the counting pass: labels out of range,
NaN/inf scores, NaN/negative/inf weights. A kernel that finds a bad value raises ``ValueError``
naming the argument, the position and the value, and leaves every output array exactly as it was
(it counts into private partials and adds them only when the whole batch is valid).

Dtypes
    labels (target, label preds): bool, int8, int32, int64 (multiclass also uint8, int16)
    scores: float32, float64
    sample_weight: None or float64 (finite, >= 0)
    state: int64 when sample_weight is None, float64 otherwise

Functions
    binary_labels(target, preds, weight, ignore_index, state)
        target, preds: (N,) labels in {0, 1} (ignored samples are not checked);
        state: (2, 2), state[t, p] += 1 (or += weight).
    binary_scores(target, scores, threshold, weight, ignore_index, state)
        scores: (N,) float; positive when float64(score) >= threshold (exact comparison).
    multiclass_labels(target, preds, weight, ignore_index, state, seen)
        labels in [0, K) with K = state.shape[0]; state (K, K), state[t, p] += 1.
        seen: (K,) uint8 or None; when given, seen[t] = seen[p] = 1 for every counted sample
        (the label set of a weighted stream cannot be derived from weighted counts).
    multiclass_scores(target, scores, weight, ignore_index, state, seen)
        scores: (N, K) float, C-contiguous; pred = argmax (first maximum wins).
    multilabel_labels(target, preds, weight, state, samples)
    multilabel_scores(target, scores, threshold, weight, state, samples)
        target: (N, L) labels in {0, 1}; preds (N, L) labels or scores;
        state: (L, 2, 2), state[l, t, p] += 1;
        samples: 1-D histogram over the per-sample triplet (tp, fp, fn), index
        ``reference.triplet_index(tp, fp, fn)``; length ``triplet_bins(L)``.

ignore_index is None or an int: samples whose target equals it are skipped entirely.

Every function also takes a keyword ``num_threads=0`` (0: the backend decides, by batch size and
the TALLYML_NUM_THREADS environment variable; 1: single thread; n: at most n threads). Backends
that cannot use threads accept and ignore it. Results never depend on it.
"""
from __future__ import annotations

import importlib
import os
import threading

#: host backends: inputs and state are numpy arrays
BACKENDS = ("native", "numba", "numpy")
#: device backends: state lives on a GPU, inputs may (see ``cuda``'s docstring)
DEVICE_BACKENDS = ("cuda",)
ALL_BACKENDS = BACKENDS + DEVICE_BACKENDS
ENV_VAR = "TALLYML_BACKEND"

_modules: dict[str, object] = {}
_lock = threading.Lock()
_MODULE_NAMES = {"native": "native", "numba": "numba_cpu", "numpy": "reference", "cuda": "cuda"}


def triplet_bins(num_labels: int) -> int:
    """Number of (tp, fp, fn) triplets with tp + fp + fn <= L."""
    n = num_labels
    return (n + 1) * (n + 2) * (n + 3) // 6


def load(name: str):
    """Import a backend module by its public name (lazily: numba costs ~0.3 s to import)."""
    mod = _modules.get(name)
    if mod is None:
        with _lock:
            mod = _modules.get(name)
            if mod is None:
                mod = importlib.import_module(f"{__name__}.{_MODULE_NAMES[name]}")
                _modules[name] = mod
    return mod


def resolve(backend: str) -> str:
    """Turn ``backend="auto"`` (or the TALLYML_BACKEND override) into a concrete name.

    "auto" resolves to a host backend here; the metric objects move to "cuda" on their first
    batch of device arrays (see ``tallyml.metrics._base``)."""
    if not isinstance(backend, str) or backend not in ("auto",) + ALL_BACKENDS:
        raise ValueError(
            f"backend must be one of 'auto', 'native', 'numba', 'numpy', 'cuda'; got {backend!r}"
        )
    if backend == "auto":
        forced = os.environ.get(ENV_VAR, "").strip()
        if forced:
            if forced not in ALL_BACKENDS:
                raise ValueError(
                    f"environment variable {ENV_VAR} must be one of {ALL_BACKENDS}; got {forced!r}"
                )
            return forced
        return "native" if native_available() else "numba"
    return backend


def native_available() -> bool:
    from .. import _native

    return _native.available()
