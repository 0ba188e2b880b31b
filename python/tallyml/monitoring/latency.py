"""Per-call latency: a fixed-memory, mergeable, log-bucketed histogram of durations."""
from __future__ import annotations

import collections
import functools
import math
import threading
import time
from numbers import Real

import numpy as np

from . import _loghist

__all__ = ["LatencyTracker"]

_perf_counter = time.perf_counter
_log10 = math.log10
_floor = math.floor
_INF = math.inf
_OFFSET = _loghist.OFFSET
_LAST = _loghist.LAST
_STANDARD_QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999))
# Recorded durations wait in a deque (append is atomic, ~40 ns) and are folded into the
# histogram in batches, so the per-call path takes no lock; this caps the queue's length.
_FLUSH_AT = 2048


class _Timer:
    """What :meth:`LatencyTracker.time` returns: a context manager and a decorator.

    One object per ``with`` block keeps concurrent blocks in several threads independent."""

    __slots__ = ("_tracker", "_n", "_start")

    def __init__(self, tracker: "LatencyTracker", n: int):
        self._tracker = tracker
        self._n = n
        self._start = 0.0

    def __enter__(self):
        self._start = _perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb):
        # perf_counter differences are finite and >= 0: no validation needed here.
        tracker = self._tracker
        tracker._push(_perf_counter() - self._start)
        if self._n != 1:
            tracker._push_n(self._n - 1)
        if len(tracker._pending) >= _FLUSH_AT:
            tracker._flush()
        return False

    def __call__(self, func):
        tracker, n = self._tracker, self._n

        @functools.wraps(func)
        def timed(*args, **kwargs):
            start = _perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                tracker.record(_perf_counter() - start, n)

        return timed


class LatencyTracker:
    """Durations of calls, in seconds, summarised by a log-bucketed histogram.

    Memory is fixed (3361 int64 counts, 27 KB, plus a queue of at most 2048 recent durations that
    is folded into the counts on every read and whenever it fills) whatever the number of calls;
    recording takes no lock, and concurrent threads lose nothing. Quantiles are within
    0.5 % relative of ``numpy.quantile`` over the same samples (for durations in [1 ns, 1e5 s]);
    count, sum, min and max are exact. Trackers merge by addition (threads, processes, replicas).

    Use ``record(seconds, n=batch_size)``, ``with tracker.time(n=...):``, ``@tracker.time()`` or
    ``record_many(durations)``. A call that raises inside ``time()`` is still recorded. Rates
    (calls and predictions per second) are over the wall-clock time since the tracker was created
    or reset (for merged trackers: since the earliest of them).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._reset_state()

    def _reset_state(self) -> None:
        self._pending = collections.deque()  # durations not yet in the histogram
        self._pending_n = collections.deque()  # n - 1 of recorded calls with n != 1
        self._push = self._pending.append
        self._push_n = self._pending_n.append
        self._view = np.zeros(_loghist.NUM_BINS, dtype=np.int64)
        self._sum = 0.0
        self._min = _INF
        self._max = -_INF
        self._predictions = 0
        self._start_time = time.time()

    # -- recording ---------------------------------------------------------------------------

    def record(self, seconds: float, n: int = 1) -> None:
        """Record one call that took ``seconds`` and served ``n`` predictions."""
        try:
            v = float(seconds)
        except (TypeError, ValueError):
            raise TypeError(f"seconds must be a number; got {seconds!r}") from None
        if not 0.0 <= v < _INF:  # also rejects NaN
            raise ValueError(f"seconds must be a finite duration >= 0; got {seconds!r}")
        if n.__class__ is not int:
            n = _check_n(n)
        elif n < 0:
            raise ValueError(f"n must be an integer >= 0; got {n!r}")
        self._push(v)
        if n != 1:
            self._push_n(n - 1)
        if len(self._pending) >= _FLUSH_AT:
            self._flush()

    def _flush(self) -> None:
        """Fold the queued durations into the histogram (takes the lock)."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        # Only the lock holder pops; other threads only append, so popping the length seen at
        # the start never loses an item appended meanwhile (it waits for the next flush).
        pending, pending_n = self._pending, self._pending_n
        k = len(pending)
        if k:
            pop = pending.popleft
            d = np.array([pop() for _ in range(k)], dtype=np.float64)
            self._add_batch(d, k)
        k = len(pending_n)
        if k:
            pop = pending_n.popleft
            self._predictions += sum([pop() for _ in range(k)])

    def _add_batch(self, d: np.ndarray, predictions: int) -> None:
        """Add validated durations (lock held)."""
        self._view += _loghist.bin_counts(d)
        self._sum += float(d.sum())
        self._min = min(self._min, float(d.min()))
        self._max = max(self._max, float(d.max()))
        self._predictions += predictions

    def record_many(self, durations, n=1) -> None:
        """Record a batch of calls. ``n``: predictions per call, one int for all or one per call."""
        d = np.asarray(durations)
        if d.dtype.kind not in "fiu":
            raise TypeError(f"durations must be a numeric array; got dtype {d.dtype}")
        d = np.ascontiguousarray(d, dtype=np.float64).ravel()
        if np.ndim(n) == 0:
            total_n = _check_n(n) * d.size
        else:
            na = np.asarray(n)
            if na.dtype.kind not in "iu" or na.shape != np.shape(durations):
                raise ValueError(
                    f"n must be an int or an integer array shaped like durations "
                    f"{np.shape(durations)}; got dtype {na.dtype}, shape {na.shape}"
                )
            if na.size and na.min() < 0:
                raise ValueError("n must be >= 0 for every call")
            total_n = int(na.sum())
        if d.size == 0:
            return
        pos, counts, total, lo, hi = _loghist.count_batch(d)
        if pos >= 0:
            raise ValueError(
                f"durations must be finite and >= 0; got {d[pos]!r} at position {pos}"
            )
        with self._lock:
            self._view += counts
            self._sum += total
            self._min = min(self._min, lo)
            self._max = max(self._max, hi)
            self._predictions += total_n

    def time(self, n: int = 1) -> _Timer:
        """Context manager (``with tracker.time():``) and decorator (``@tracker.time()``)."""
        if n.__class__ is not int or n < 0:
            n = _check_n(n)
        return _Timer(self, n)

    def reset(self) -> None:
        with self._lock:
            self._reset_state()

    # -- reading -----------------------------------------------------------------------------

    def _copy_state(self) -> tuple[np.ndarray, float, float, float, int, float]:
        with self._lock:
            self._flush_locked()
            return (self._view.copy(), self._sum, self._min, self._max, self._predictions,
                    self._start_time)

    @property
    def count(self) -> int:
        """Number of recorded calls."""
        with self._lock:
            self._flush_locked()
            return int(self._view.sum())

    def quantile(self, q):
        """Estimated ``numpy.quantile(durations, q)`` (q a float or an array of them in [0, 1]).

        NaN while nothing was recorded."""
        qa = np.asarray(q, dtype=np.float64)
        if not (np.all(qa >= 0.0) and np.all(qa <= 1.0)):
            raise ValueError(f"q must be in [0, 1]; got {q!r}")
        counts, _, vmin, vmax, _, _ = self._copy_state()
        out = _loghist.quantiles(counts, np.atleast_1d(qa), vmin, vmax)
        return float(out[0]) if qa.ndim == 0 else out.reshape(qa.shape)

    def cumulative_counts(self, bounds) -> np.ndarray:
        """Calls with duration ``<= b`` for each bound ``b`` in seconds (Prometheus ``le``
        buckets; ``inf`` allowed). Exact for bounds outside [min, max], otherwise only calls
        within 0.5 % of a bound may be counted on the wrong side of it."""
        b = np.asarray(bounds, dtype=np.float64)
        if b.ndim != 1 or np.isnan(b).any():
            raise ValueError(f"bounds must be a 1-D sequence of numbers; got {bounds!r}")
        counts, _, vmin, vmax, _, _ = self._copy_state()
        return _loghist.cumulative_counts(counts, b, vmin, vmax)

    def snapshot(self) -> dict:
        """Plain dict: counts, exact sum/min/max/mean, p50/p90/p99/p99.9 and rates."""
        counts, total, vmin, vmax, preds, start = self._copy_state()
        n = int(counts.sum())
        elapsed = max(time.time() - start, 0.0)
        qs = _loghist.quantiles(counts, np.array([q for _, q in _STANDARD_QUANTILES]), vmin, vmax)
        snap = {
            "count": n,
            "predictions": preds,
            "sum_seconds": total,
            "mean_seconds": total / n if n else math.nan,
            "min_seconds": vmin if n else math.nan,
            "max_seconds": vmax if n else math.nan,
        }
        for (name, _), value in zip(_STANDARD_QUANTILES, qs):
            snap[f"{name}_seconds"] = float(value)
        snap["elapsed_seconds"] = elapsed
        snap["calls_per_second"] = n / elapsed if elapsed > 0 else 0.0
        snap["predictions_per_second"] = preds / elapsed if elapsed > 0 else 0.0
        return snap

    # -- merging and persistence -------------------------------------------------------------

    def merge(self, other: "LatencyTracker") -> "LatencyTracker":
        """Add ``other``'s recordings into this tracker (in place); returns ``self``."""
        if not isinstance(other, LatencyTracker):
            raise TypeError(f"other must be a LatencyTracker; got {type(other).__name__}")
        counts, total, vmin, vmax, preds, start = other._copy_state()
        with self._lock:
            self._view += counts
            self._sum += total
            self._min = min(self._min, vmin)
            self._max = max(self._max, vmax)
            self._predictions += preds
            self._start_time = min(self._start_time, start)
        return self

    def state_dict(self) -> dict:
        counts, total, vmin, vmax, preds, start = self._copy_state()
        return {
            "layout": _loghist.LAYOUT,
            "counts": counts,
            "sum_seconds": total,
            "min_seconds": vmin,
            "max_seconds": vmax,
            "predictions": preds,
            "start_time": start,
        }

    def load_state_dict(self, state: dict) -> None:
        """Replace this tracker's state; checks everything before changing anything."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict; got {type(state).__name__}")
        missing = {"layout", "counts", "sum_seconds", "min_seconds", "max_seconds",
                   "predictions", "start_time"} - state.keys()
        if missing:
            raise ValueError(f"state is missing keys {sorted(missing)}")
        if tuple(state["layout"]) != _loghist.LAYOUT:
            raise ValueError(
                f"state has bucket layout {tuple(state['layout'])}, this version uses "
                f"{_loghist.LAYOUT}"
            )
        counts = np.asarray(state["counts"])
        if counts.shape != (_loghist.NUM_BINS,) or counts.dtype.kind not in "iu":
            raise ValueError(
                f"state['counts'] must be an integer array of shape ({_loghist.NUM_BINS},); "
                f"got {counts.dtype} {counts.shape}"
            )
        if counts.size and counts.min() < 0:
            raise ValueError("state['counts'] must be >= 0")
        preds = _check_n(state["predictions"], name="state['predictions']")
        with self._lock:
            self._pending.clear()
            self._pending_n.clear()
            self._view[:] = counts
            self._sum = float(state["sum_seconds"])
            self._min = float(state["min_seconds"])
            self._max = float(state["max_seconds"])
            self._predictions = preds
            self._start_time = float(state["start_time"])

    def __getstate__(self):
        return self.state_dict()

    def __setstate__(self, state):
        self._lock = threading.Lock()
        self._reset_state()
        self.load_state_dict(state)

    def __repr__(self) -> str:
        return f"LatencyTracker(count={self.count})"


def _check_n(n, name: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{name} must be an integer; got {type(n).__name__}")
    n = int(n)
    if n < 0:
        raise ValueError(f"{name} must be an integer >= 0; got {n}")
    return n
