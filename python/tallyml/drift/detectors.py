"""Sequential change detectors on any stream of numbers: PageHinkley, DDM and ADWIN.

Each detector makes the same decisions as its namesake in ``river.drift`` (0.26) fed the same
values with the same parameters: the update rules are restated operation for operation in numba
kernels, so even floating-point rounding agrees. As in river, the detector that has just signalled
a change starts afresh with the next value (ADWIN included: its window is emptied).

``update(x)`` feeds one value and returns whether it raised a detection; ``update_many(values)``
feeds a batch in one kernel call (no per-value Python cost) and returns the positions in the
batch that raised one. ``detections`` counts them since creation or ``reset()``.
"""
from __future__ import annotations

import math
import numbers
import threading

import numpy as np

from ._histogram import kernels

__all__ = ["PageHinkley", "DDM", "ADWIN"]


def _num(name, value, *, minimum=None, above=None, integer=False, maximum=None):
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, numbers.Integral if integer else numbers.Real):
        kind = "an integer" if integer else "a real number"
        raise TypeError(f"{name} must be {kind}; got {value!r}")
    v = int(value) if integer else float(value)
    if not math.isfinite(v) or (minimum is not None and v < minimum) or (
            above is not None and v <= above) or (maximum is not None and v > maximum):
        bounds = []
        if minimum is not None:
            bounds.append(f">= {minimum}")
        if above is not None:
            bounds.append(f"> {above}")
        if maximum is not None:
            bounds.append(f"<= {maximum}")
        raise ValueError(f"{name} must be finite and {' and '.join(bounds)}; got {value!r}")
    return v


def _stream(values, name="values"):
    a = np.asarray(values)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be numeric; got dtype {a.dtype}")
    a = np.ascontiguousarray(a, dtype=np.float64).reshape(-1) if a.ndim <= 1 else None
    if a is None:
        raise ValueError(f"{name} must be a scalar or a 1-D array; got shape {np.shape(values)}")
    if a.size:
        lo, hi = a.min(), a.max()
        if not (math.isfinite(lo) and math.isfinite(hi)):
            pos = int(np.flatnonzero(~np.isfinite(a))[0])
            raise ValueError(f"{name}[{pos}] = {float(a[pos])!r} is not finite")
    return a


class _Detector:
    """Shared batch/scalar plumbing: subclasses implement ``_run(values, out) -> found``."""

    def __init__(self):
        self._lock = threading.Lock()
        self._one = np.zeros(1, dtype=np.float64)
        self._one_out = np.zeros(1, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        """Start afresh (parameters kept)."""
        self._reset_state()
        self.detections = 0
        self.seen = 0
        self.last_detection = None  # index in the stream (0-based) of the last detection

    def _check(self, a):
        return a

    def __getstate__(self):  # pickle / copy: everything but the lock
        d = dict(self.__dict__)
        del d["_lock"]
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self._lock = threading.Lock()

    def update(self, x) -> bool:
        """Feed one value; True when it raised a detection."""
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
            x = _stream(x, "x")
            if x.size != 1:
                raise ValueError(f"x must be a single number; got {x.size} values")
            x = x[0]
        v = float(x)
        if not math.isfinite(v):
            raise ValueError(f"x must be finite; got {x!r}")
        with self._lock:
            self._one[0] = v
            self._check(self._one)
            found = self._run(self._one, self._one_out)
            self._account(found, self._one_out)
            self.seen += 1
        return found > 0

    def update_many(self, values) -> np.ndarray:
        """Feed a batch; returns the positions (in the batch) that raised a detection."""
        a = self._check(_stream(values))
        out = np.empty(a.size, dtype=np.int64)
        with self._lock:
            found = self._run(a, out)
            self._account(found, out, self.seen)
            self.seen += a.size
        return out[:found].copy()

    def _account(self, found, out, base=None):
        if found:
            self.detections += found
            self.last_detection = (self.seen if base is None else base) + int(out[found - 1])

    @property
    def drift_detected(self) -> bool:
        """Whether the last value fed raised a detection (river's attribute of the same name)."""
        return bool(self._drift_flag())


class PageHinkley(_Detector):
    """Page-Hinkley test for a change in the mean, up, down or both (``mode``).

    Parameters and defaults are river's: ``min_instances=30``, ``delta=0.005``,
    ``threshold=50``, ``alpha=1 - 1e-4`` (fading factor of the cumulative sums)."""

    _MODES = {"both": 0, "up": 1, "down": 2}

    def __init__(self, min_instances: int = 30, delta: float = 0.005, threshold: float = 50.0,
                 alpha: float = 1 - 0.0001, mode: str = "both"):
        self.min_instances = _num("min_instances", min_instances, minimum=1, integer=True)
        self.delta = _num("delta", delta, minimum=0.0)
        self.threshold = _num("threshold", threshold, minimum=0.0)
        self.alpha = _num("alpha", alpha, above=0.0, maximum=1.0)
        if mode not in self._MODES:
            raise ValueError(f"mode must be 'both', 'up' or 'down'; got {mode!r}")
        self.mode = mode
        super().__init__()

    def _reset_state(self) -> None:
        self._state = np.array([0.0, 0.0, 0.0, 0.0, math.inf, -1.0, 0.0])

    def _run(self, values, out):
        return kernels().page_hinkley(self._state, values, float(self.min_instances), self.delta,
                                      self.threshold, self.alpha, self._MODES[self.mode], out)

    def _drift_flag(self):
        return self._state[6]

    @property
    def mean(self) -> float:
        """Running mean since the last detection."""
        return float(self._state[1])


class DDM(_Detector):
    """Drift Detection Method (Gama et al. 2004) on a stream of errors (1) and successes (0).

    Defaults are river's: ``warm_start=30``, ``warning_threshold=2``, ``drift_threshold=3``.
    ``warning_detected`` tells whether the last value left the detector in the warning zone."""

    def __init__(self, warm_start: int = 30, warning_threshold: float = 2.0,
                 drift_threshold: float = 3.0):
        self.warm_start = _num("warm_start", warm_start, minimum=0, integer=True)
        self.warning_threshold = _num("warning_threshold", warning_threshold, minimum=0.0)
        self.drift_threshold = _num("drift_threshold", drift_threshold, minimum=0.0)
        super().__init__()

    def _reset_state(self) -> None:
        self._state = np.array([0.0, 0.0, math.nan, math.nan, math.inf, 0.0, 0.0])
        self._warn = np.zeros(1, dtype=np.bool_)

    def _check(self, a):
        if a.size and (a.min() < 0.0 or a.max() > 1.0):
            pos = int(np.flatnonzero((a < 0.0) | (a > 1.0))[0])
            raise ValueError(f"values[{pos}] = {float(a[pos])!r}: DDM takes error indicators in [0, 1]")
        return a

    def _run(self, values, out):
        warn = self._warn if values.size == 1 else np.empty(values.size, dtype=np.bool_)
        found = kernels().ddm(self._state, values, float(self.warm_start), self.warning_threshold,
                              self.drift_threshold, out, warn)
        self._last_warnings = warn
        return found

    def update_many(self, values, *, return_warnings: bool = False):
        """As for the other detectors; with ``return_warnings=True`` also the per-value warning
        flags (bool array of the batch's length)."""
        hits = super().update_many(values)
        if return_warnings:
            return hits, self._last_warnings.copy()
        return hits

    def _drift_flag(self):
        return self._state[6]

    @property
    def warning_detected(self) -> bool:
        return bool(self._state[5])

    @property
    def error_rate(self) -> float:
        """Error rate since the last detection."""
        return float(self._state[1])


class ADWIN(_Detector):
    """ADaptive WINdowing (Bifet & Gavaldà 2007), river's variant (ADWIN2 buckets, checked
    every ``clock`` values). Defaults are river's: ``delta=0.002``, ``clock=32``,
    ``max_buckets=5``, ``min_window_length=5``, ``grace_period=10``."""

    _ROWS = 64  # bucket rows: windows up to (max_buckets + 1) * 2**64 values

    def __init__(self, delta: float = 0.002, clock: int = 32, max_buckets: int = 5,
                 min_window_length: int = 5, grace_period: int = 10):
        self.delta = _num("delta", delta, above=0.0, maximum=1.0)
        self.clock = _num("clock", clock, minimum=1, integer=True)
        self.max_buckets = _num("max_buckets", max_buckets, minimum=1, integer=True)
        self.min_window_length = _num("min_window_length", min_window_length, minimum=1, integer=True)
        self.grace_period = _num("grace_period", grace_period, minimum=0, integer=True)
        super().__init__()

    def _reset_state(self) -> None:
        self._totals = np.zeros((self._ROWS, self.max_buckets + 1))
        self._variances = np.zeros((self._ROWS, self.max_buckets + 1))
        self._fill = np.zeros(self._ROWS, dtype=np.int64)
        self._scal = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 0.0])

    def _run(self, values, out):
        return kernels().adwin(self._totals, self._variances, self._fill, self._scal, values,
                               self.delta, self.clock, self.max_buckets,
                               float(self.min_window_length), float(self.grace_period), out)

    def _drift_flag(self):
        return self._scal[5]

    @property
    def width(self) -> int:
        """Number of values in the adaptive window."""
        return int(self._scal[2])

    @property
    def estimation(self) -> float:
        """Mean of the window (0 when empty)."""
        w = self._scal[2]
        return float(self._scal[0] / w) if w else 0.0

    @property
    def variance(self) -> float:
        """Sum of squared deviations within the window (river's ``variance``)."""
        return float(self._scal[1])
