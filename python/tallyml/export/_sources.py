"""Readers that turn a tracked tallyml object into a consistent, exporter-neutral snapshot.

Exporters never hook into ``update()``: they read the counts when scraped or flushed. Each
tracked object gets one *source* here; ``read()`` returns a plain snapshot (numbers and numpy
arrays, already copied) that the Prometheus collector and the TensorBoard writer format.

Consistency: a stateful object (metrics, curves, latency) is read through ``state_dict()``, which
copies the whole state under the object's lock, and the copy is loaded into a private clone
that only this source touches. Counters and derived values all come from that one copy, so a
scrape never mixes tp from one moment with fp from another, and computing derived values never
holds the live object's lock.
"""
from __future__ import annotations

import math
import pickle
import threading
import warnings
from dataclasses import dataclass, field

import numpy as np

from .._errors import TallymlWarning

__all__ = ["CardinalityWarning"]


class CardinalityWarning(TallymlWarning):
    """An exporter aggregated per-class series because there were more classes than its limit."""


# --------------------------------------------------------------------------------------------
# snapshots


@dataclass
class MetricsSnapshot:
    """Confusion counts of a BinaryMetrics / MulticlassMetrics / MultilabelMetrics."""

    task: str  # "binary" | "multiclass" | "multilabel"
    count: float  # samples counted (sum of their weights when weighted)
    classes: list  # class (or label) names, one per entry of tp/fp/fn
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    confusion: np.ndarray | None  # (K, K) rows = true; None for multilabel
    values: dict  # scalar derived values, name -> float
    correct: float | None = None  # trace of the confusion matrix; None for multilabel


@dataclass
class CurvesSnapshot:
    """Binned score histograms of a BinaryCurves (one curve) plus its scalar values."""

    values: dict
    count: float | None  # samples counted (sum of weights), when the object says
    # curve name -> (bin lower edges ascending, positives per bin, negatives per bin)
    curves: dict


@dataclass
class ResourceSnapshot:
    """One resource reading in base units: ``values`` name -> float (names end in their unit),
    ``gpus`` a list of (index, name -> float)."""

    values: dict
    gpus: list


@dataclass
class LatencySnapshot:
    """Latency histogram: cumulative counts at ``bounds`` (seconds, ascending), total count and
    sum of durations, predictions counted, and summary figures (seconds)."""

    bounds: np.ndarray
    cumulative: np.ndarray
    count: float
    sum: float
    predictions: float
    stats: dict  # min/max/mean/p50/p90/p99/p999 _seconds, calls_/predictions_per_second


# --------------------------------------------------------------------------------------------
# helpers


def _quiet(fn, *args, **kwargs):
    """Call a formula with tallyml's undefined-metric warnings silenced: a scrape or a flush
    reports NaN/zero_division values as they are; the warning belongs to interactive calls."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TallymlWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kwargs)


def _scalar(value):
    """A plain float for int/float/numpy scalars and 0-d arrays; None for anything else."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "biuf":
        return float(value)
    return None


def _scalars(mapping) -> dict:
    out = {}
    for key, value in mapping.items():
        v = _scalar(value)
        if v is not None:
            out[str(key)] = v
    return out


class _Clone:
    """A private copy of a stateful object, refreshed from ``state_dict()`` at each read."""

    def __init__(self, obj):
        if not (hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict")):
            raise TypeError(f"{type(obj).__name__} has no state_dict()/load_state_dict()")
        self._obj = obj
        self._clone = pickle.loads(pickle.dumps(obj))
        # "warn" gives the same values as 0 (sklearn); 0 keeps scrape threads free of warnings
        if getattr(self._clone, "_zero_division", None) == "warn":
            self._clone._zero_division = 0.0
        self._lock = threading.Lock()  # the clone is shared by concurrent scrapes

    def read(self, fn):
        """``fn(clone, state)`` with the clone holding one atomic copy of the object's state."""
        state = self._obj.state_dict()  # one atomic copy, taken under the object's lock
        with self._lock:
            self._clone.load_state_dict(state)
            return fn(self._clone, state)


# --------------------------------------------------------------------------------------------
# sources


class MetricsSource:
    kind = "metrics"

    def __init__(self, obj):
        self._clone = _Clone(obj)
        cm = self._counts(obj.state_dict(), obj)
        if cm.ndim == 3:
            self.task = "multilabel"
        elif hasattr(obj, "num_classes"):
            self.task = "multiclass"
        else:
            self.task = "binary"
        self.num_classes = 1 if self.task == "binary" else cm.shape[0]
        self._last = None  # (state, values) of the previous read

    @staticmethod
    def _counts(state, m):
        # the full state (all K classes), not confusion_matrix(), which keeps only the labels
        # seen so far: class label values must not shift as new classes appear
        cm = state.get("state") if isinstance(state, dict) else None
        if not isinstance(cm, np.ndarray):
            cm = m.confusion_matrix()
        return np.array(cm, dtype=np.float64)

    def read(self) -> MetricsSnapshot:
        return self._clone.read(self._read)

    def _read(self, m, state) -> MetricsSnapshot:
        cm = self._counts(state, m)
        # in the counts' own unit (samples, or the sum of weights once weighted), so that
        # correct / predictions is the accuracy either way
        count = float(cm[0].sum() if cm.ndim == 3 else cm.sum()) if cm.size else 0.0
        # idle models are the common case in a fleet: recompute the gauges only on new counts
        if self._last is not None and _same_state(self._last[0], state):
            values = self._last[1]
        else:
            values = _derived(m) if count else {}
            self._last = (state, values)
        if self.task == "multilabel":
            # (L, 2, 2) [[tn, fp], [fn, tp]] per label
            tp, fp, fn = cm[:, 1, 1], cm[:, 0, 1], cm[:, 1, 0]
            return MetricsSnapshot(
                self.task, count, [str(i) for i in range(len(tp))], tp, fp, fn, None, values
            )
        if self.task == "binary":
            # the positive class only: precision/recall/F1 of a binary stream are about label 1
            tp, fp, fn = cm[1:, 1], cm[:1, 1], cm[1:, 0]
            return MetricsSnapshot(self.task, count, ["1"], tp, fp, fn, cm, values, np.trace(cm))
        diag = np.diag(cm)
        tp, fp, fn = diag, cm.sum(axis=0) - diag, cm.sum(axis=1) - diag
        return MetricsSnapshot(
            self.task, count, [str(i) for i in range(len(tp))], tp, fp, fn, cm, values, diag.sum()
        )


def _same_state(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for key, x in a.items():
        y = b[key]
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)
                    and x.dtype == y.dtype and np.array_equal(x, y)):
                return False
        elif not (x == y or (x != x and y != y)):
            return False
    return True


_VALUE_METHODS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "specificity",
                  "jaccard", "mcc", "cohen_kappa", "hamming_loss")


def _derived(m) -> dict:
    """Scalar values of ``m.compute()``; when compute() refuses (e.g. a value undefined for
    this stream), the methods one by one, leaving out those that refuse."""
    try:
        return _scalars(_quiet(m.compute))
    except (ValueError, ZeroDivisionError):
        pass
    out = {}
    for key in _VALUE_METHODS:
        fn = getattr(m, key, None)
        if fn is None:
            continue
        try:
            v = _scalar(_quiet(fn))
        except (ValueError, ZeroDivisionError):
            continue
        if v is not None:
            out[key] = v
    return out


class CurvesSource:
    kind = "curves"

    _VALUES = ("roc_auc", "average_precision", "brier_score", "log_loss")

    def __init__(self, obj):
        self._clone = _Clone(obj)
        self._last = None

    def read(self) -> CurvesSnapshot:
        return self._clone.read(self._read)

    def _read(self, c, state) -> CurvesSnapshot:
        if self._last is not None and _same_state(self._last[0], state):
            values = self._last[1]
        else:
            values = self._values(c)
            self._last = (state, values)
        count = _scalar(getattr(c, "total_weight", None))
        return CurvesSnapshot(values, count, _binned_counts(c))

    def _values(self, c) -> dict:
        values = {}
        for key in self._VALUES:
            fn = getattr(c, key, None)
            if fn is None:
                continue
            try:
                v = _scalar(_quiet(fn))
            except ValueError:  # e.g. a single class seen so far: not defined yet
                v = math.nan
            if v is not None:
                values[key] = v
        return values


def _binned_counts(c) -> dict:
    """Binned score histograms of a curves object: ``{curve: (lower_edges, positives,
    negatives)}``; ``"scores"`` for a binary object, ``"class<k>"`` per class/label for
    one-vs-rest multiclass and multilabel objects (one-vs-one pairs are left out).

    Read from ``edges()`` (bin lower edges, ascending) and ``hist`` ((nb, 2) or (K, nb, 2),
    [..., 0] negatives, [..., 1] positives), the layout of tallyml's curves classes; another
    object can offer ``binned_counts()`` returning (edges, positives, negatives) instead."""
    getter = getattr(c, "binned_counts", None)
    if callable(getter):
        edges, pos, neg = getter()
        return {"scores": (np.asarray(edges, dtype=np.float64), np.asarray(pos, dtype=np.float64),
                           np.asarray(neg, dtype=np.float64))}
    edges = getattr(c, "edges", None)
    hist = getattr(c, "hist", None)
    if edges is None or not isinstance(hist, np.ndarray):
        return {}
    edges = np.asarray(edges() if callable(edges) else edges, dtype=np.float64)
    hist = hist.astype(np.float64)
    nb = edges.size
    if hist.ndim == 2 and hist.shape == (nb, 2):
        return {"scores": (edges, hist[:, 1], hist[:, 0])}
    if hist.ndim == 3 and hist.shape[1:] == (nb, 2):
        return {f"class{k}": (edges, hist[k, :, 1], hist[k, :, 0]) for k in range(hist.shape[0])}
    return {}


_PERCENT = "_percent"
# readings that only grow: exported as counters; readings that describe the reading itself: left out
_CUMULATIVE = {"process_cpu_seconds": "process_cpu_seconds_total"}
_SKIP = {"timestamp_seconds", "cpu_window_seconds", "nvml_index", "index"}
# Prometheus reserves _count/_sum/_bucket for histograms and summaries
_RENAME = {"cpu_count": "process_usable_cpus"}


def _flatten_resources(snap: dict):
    values, gpus = {}, []
    for key, value in snap.items():
        if isinstance(value, dict) and key.startswith("gpu"):
            if "available" in value:
                values["gpu_available"] = 1.0 if value["available"] else 0.0
            gpus.extend(_gpu_entries(value))
            continue
        if isinstance(value, (list, tuple)) and key.startswith("gpu"):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    gpus.extend(_gpu_entries(item, default_index=i))
            continue
        v = _scalar(value)
        if v is None or isinstance(value, bool) or key in _SKIP:
            continue
        if key in _CUMULATIVE:
            values[_CUMULATIVE[key]] = v
            continue
        name, v = _base_unit(str(key), v)
        values[name] = v
    return values, gpus


def _gpu_entries(d: dict, default_index=None):
    if "available" in d and "devices" not in d:
        return []  # {"available": False, "reason": ...}: no GPU series at all
    if "devices" in d and isinstance(d["devices"], (list, tuple)):
        out = []
        for i, item in enumerate(d["devices"]):
            if isinstance(item, dict):
                out.extend(_gpu_entries(item, default_index=i))
        return out
    if default_index is None and not any(_scalar(v) is not None for v in d.values()):
        return []
    index = d.get("index", default_index if default_index is not None else 0)
    vals = {}
    for key, value in d.items():
        if key in _SKIP or isinstance(value, bool):
            continue
        v = _scalar(value)
        if v is None:
            continue
        name, v = _base_unit(str(key), v)
        vals[name] = v
    return [(int(index), vals)] if vals else []


def _base_unit(name: str, value: float):
    """Prometheus wants base units: percentages become ratios."""
    name = _RENAME.get(name, name)
    if name.endswith(("_count", "_sum", "_bucket")):
        name += "_value"
    if name.endswith(_PERCENT):
        return name[: -len(_PERCENT)] + "_ratio", value / 100.0
    return name, value


class ResourceSource:
    kind = "resources"

    def __init__(self, obj):
        self._obj = obj

    def read(self) -> ResourceSnapshot:
        snap = _latest_resource_reading(self._obj)
        values, gpus = _flatten_resources(snap)
        return ResourceSnapshot(values, gpus)


def _latest_resource_reading(monitor) -> dict:
    """The sampler's latest reading while its thread runs (reading again would shorten its CPU
    window), otherwise a fresh one."""
    if getattr(monitor, "running", False):
        history = monitor.history()
        if history:
            return history[-1]
    return monitor.snapshot()


#: histogram bucket upper bounds (seconds) for latency: 10 us .. 60 s, about 3 per decade
DEFAULT_LATENCY_BUCKETS = (
    1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)


class LatencySource:
    kind = "latency"

    def __init__(self, obj, buckets=DEFAULT_LATENCY_BUCKETS):
        self._clone = _Clone(obj)
        self._bounds = np.asarray(buckets, dtype=np.float64)

    def read(self) -> LatencySnapshot:
        return self._clone.read(self._read)

    def _read(self, t, _state) -> LatencySnapshot:
        snap = t.snapshot()
        count = float(snap.get("count", 0))
        cumulative = np.asarray(t.cumulative_counts(self._bounds), dtype=np.float64)
        total = _first(snap, ("sum_seconds", "total_seconds", "sum"))
        if total is None:
            mean = _first(snap, ("mean_seconds", "mean"))
            total = (mean or 0.0) * count if count else 0.0
        predictions = _first(snap, ("predictions", "predictions_total", "n", "items"))
        stats = {}
        for key, value in snap.items():
            v = _scalar(value)
            if v is None or key in ("count", "predictions", "sum_seconds", "elapsed_seconds"):
                continue
            if key.endswith("_seconds") or key.endswith("_per_second"):
                stats[key] = v
        return LatencySnapshot(
            self._bounds, cumulative, count, float(total),
            float(predictions if predictions is not None else count), stats,
        )


def _first(d: dict, keys):
    for key in keys:
        v = _scalar(d.get(key))
        if v is not None:
            return v
    return None


def make_source(obj, *, latency_buckets=DEFAULT_LATENCY_BUCKETS):
    """Pick the reader for ``obj`` by what it can do (duck typing keeps ``import tallyml`` free
    of the heavier classes and lets exporters read any object with the same interface)."""
    if hasattr(obj, "cumulative_counts") and hasattr(obj, "quantile"):
        return LatencySource(obj, latency_buckets)
    if hasattr(obj, "roc_auc") and hasattr(obj, "precision_recall_curve"):
        return CurvesSource(obj)
    if hasattr(obj, "confusion_matrix") and hasattr(obj, "compute"):
        return MetricsSource(obj)
    if hasattr(obj, "snapshot") and hasattr(obj, "summary"):
        return ResourceSource(obj)
    raise TypeError(
        "obj must be a tallyml metric (BinaryMetrics, MulticlassMetrics, MultilabelMetrics), "
        "curves object, ResourceMonitor or LatencyTracker; got "
        f"{type(obj).__module__}.{type(obj).__qualname__}"
    )
