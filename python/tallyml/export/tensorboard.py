"""TensorBoard export: log tracked tallyml objects as scalars, PR curves and score histograms.

Usage from a training loop (one call per step or epoch)::

    tb = TensorBoardWriter("runs/exp1", every_n=100)
    val = tb.track(tallyml.BinaryMetrics(), name="val")
    for step, batch in enumerate(loader):
        ...
        val.update(y, p)
        tb.step(step)          # writes when 100 steps passed (or every_seconds elapsed)
    tb.close()

Tags are ``<name>/<value>``: every scalar of a metric's ``compute()`` plus ``count``; resource
readings in base units (percentages as ``_ratio``, per GPU ``<name>/gpu<i>/<reading>``); latency
count, predictions, quantiles (``p50_seconds`` ...), min/max/mean; curves' scalar values, their
PR curve (``<name>/pr_curve``, from the binned counts via ``add_pr_curve_raw``) and their score
histograms (``<name>/scores_positive`` / ``_negative``). tensorboardX is imported on construction.
"""
from __future__ import annotations

import os
import threading
import time
import uuid

import numpy as np

from ._sources import (
    CurvesSnapshot,
    LatencySnapshot,
    MetricsSnapshot,
    ResourceSnapshot,
    make_source,
)

__all__ = ["TensorBoardWriter"]


def _check_logdir(logdir) -> str:
    try:
        path = os.fspath(logdir)
    except TypeError:
        raise TypeError(f"logdir must be a path; got {type(logdir).__name__}") from None
    if not isinstance(path, str) or not path:
        raise ValueError(f"logdir must be a non-empty path; got {logdir!r}")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise OSError(e.errno, f"logdir {path!r} cannot be created: {e.strerror or e}") from e
    # os.access lies for root and on some network mounts: write a probe file instead
    probe = os.path.join(path, f".tallyml-probe-{uuid.uuid4().hex}")
    try:
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as e:
        raise OSError(e.errno, f"logdir {path!r} is not writable: {e.strerror or e}") from e
    return path


def _positive(name, value, kind):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not value > 0 or (kind is int and int(value) != value):
        what = "a positive integer" if kind is int else "a positive number of seconds"
        raise ValueError(f"{name} must be {what} or None; got {value!r}")
    return kind(value)


class TensorBoardWriter:
    """Log tracked tallyml objects to TensorBoard event files at a chosen cadence.

    Parameters
    ----------
    logdir : directory for the event files (created; must be writable).
    every_n : write on every ``every_n``-th call of :meth:`step` (default 1: every call).
    every_seconds : also write when this many seconds passed since the last write.
        With both given, whichever comes first; ``every_n=None`` and ``every_seconds=T`` is
        time-based only.
    flush_secs : how often tensorboardX flushes to disk.
    max_curve_bins : curves' bins are merged down to at most this many for PR curves and
        histograms (at the kept thresholds the counts stay exact).
    """

    def __init__(self, logdir, *, every_n=1, every_seconds=None, flush_secs=10,
                 max_curve_bins=201):
        every_n = _positive("every_n", every_n, int)
        self.max_curve_bins = _positive("max_curve_bins", max_curve_bins, int)
        if self.max_curve_bins < 2:
            raise ValueError(f"max_curve_bins must be at least 2; got {max_curve_bins!r}")
        every_seconds = _positive("every_seconds", every_seconds, float)
        flush_secs = _positive("flush_secs", flush_secs, float)
        if every_n is None and every_seconds is None:
            raise ValueError("give every_n or every_seconds (or both); got neither")
        self.logdir = _check_logdir(logdir)
        from tensorboardX import SummaryWriter

        self.every_n, self.every_seconds = every_n, every_seconds
        self._writer = SummaryWriter(logdir=self.logdir, flush_secs=flush_secs or 10)
        self._lock = threading.Lock()
        self._sources: dict = {}
        self._calls = 0
        self._since = 0
        self._last_time = time.monotonic()
        self._closed = False

    @property
    def summary_writer(self):
        """The underlying ``tensorboardX.SummaryWriter``, to log your own values beside
        tallyml's into the same event files."""
        return self._writer

    def track(self, obj, name=None):
        """Log ``obj`` (a metric, curves object, ResourceMonitor or LatencyTracker) under the
        tag prefix ``name`` (default: its kind). Returns ``obj``."""
        source = make_source(obj)
        name = source.kind if name is None else name
        if not isinstance(name, str) or not name or name.startswith("/") or name.endswith("/"):
            raise ValueError(f"name must be a non-empty tag prefix without leading/trailing '/'; got {name!r}")
        with self._lock:
            if name in self._sources:
                raise ValueError(f"name {name!r} is already tracked by this writer")
            self._sources[name] = source
        return obj

    def untrack(self, name):
        with self._lock:
            if name not in self._sources:
                raise KeyError(f"name {name!r} is not tracked by this writer")
            del self._sources[name]

    def step(self, step=None) -> bool:
        """Count one step; write everything when the cadence says so. ``step`` is the global
        step recorded with the values (default: the number of calls so far). Returns whether
        it wrote."""
        with self._lock:
            self._check_open()
            self._calls += 1
            self._since += 1
            due = (self.every_n is not None and self._since >= self.every_n) or (
                self.every_seconds is not None
                and time.monotonic() - self._last_time >= self.every_seconds
            )
            if not due:
                return False
            self._write(self._calls if step is None else step)
            return True

    def log(self, step=None):
        """Write everything now, whatever the cadence."""
        with self._lock:
            self._check_open()
            self._write(self._calls if step is None else step)

    def flush(self):
        with self._lock:
            self._check_open()
            self._writer.flush()

    def close(self):
        with self._lock:
            if not self._closed:
                self._closed = True
                self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check_open(self):
        if self._closed:
            raise RuntimeError("this TensorBoardWriter is closed")

    # ---------------------------------------------------------------- writing

    def _write(self, step):
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"step must be a non-negative integer; got {step!r}")
        step = int(step)
        w = self._writer
        for name, source in self._sources.items():
            snap = source.read()
            if isinstance(snap, MetricsSnapshot):
                w.add_scalar(f"{name}/count", snap.count, step)
                for key, v in snap.values.items():
                    if key != "count":
                        w.add_scalar(f"{name}/{key}", v, step)
            elif isinstance(snap, ResourceSnapshot):
                for key, v in snap.values.items():
                    w.add_scalar(f"{name}/{key}", v, step)
                for index, vals in snap.gpus:
                    for key, v in vals.items():
                        w.add_scalar(f"{name}/gpu{index}/{key}", v, step)
            elif isinstance(snap, LatencySnapshot):
                w.add_scalar(f"{name}/count", snap.count, step)
                w.add_scalar(f"{name}/predictions", snap.predictions, step)
                for key, v in snap.stats.items():
                    w.add_scalar(f"{name}/{key}", v, step)
            elif isinstance(snap, CurvesSnapshot):
                for key, v in snap.values.items():
                    w.add_scalar(f"{name}/{key}", v, step)
                for curve, (edges, pos, neg) in snap.curves.items():
                    suffix = "" if curve == "scores" else f"_{curve}"
                    edges, pos, neg = coarsen(edges, pos, neg, self.max_curve_bins)
                    _pr_curve(w, f"{name}/pr_curve{suffix}", edges, pos, neg, step)
                    _histogram(w, f"{name}/scores_positive{suffix}", edges, pos, step)
                    _histogram(w, f"{name}/scores_negative{suffix}", edges, neg, step)
        self._since = 0
        self._last_time = time.monotonic()


def coarsen(edges, pos, neg, max_bins):
    """Merge adjacent bins so at most ``max_bins`` remain, keeping as new lower edges the
    original edges nearest to an even grid over [edges[0], edges[-1]]: counts at the kept
    thresholds stay exact (a curves object may hold thousands of bins; TensorBoard draws
    a few hundred points)."""
    edges = np.asarray(edges, dtype=np.float64)
    if edges.size <= max_bins:
        return edges, np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    grid = np.linspace(edges[0], edges[-1], max_bins)
    keep = np.unique(np.clip(np.searchsorted(edges, grid), 0, edges.size - 1))
    keep[0] = 0  # the first bin must start at the first edge, so nothing is dropped
    keep = np.unique(keep)
    return (edges[keep], np.add.reduceat(np.asarray(pos, dtype=np.float64), keep),
            np.add.reduceat(np.asarray(neg, dtype=np.float64), keep))


def pr_counts(pos, neg):
    """TP, FP, TN, FN at each bin's lower edge as threshold (positive when score >= edge),
    from per-bin positive and negative counts (bins ascending in score)."""
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    tp = np.cumsum(pos[::-1])[::-1]
    fp = np.cumsum(neg[::-1])[::-1]
    fn = pos.sum() - tp
    tn = neg.sum() - fp
    return tp, fp, tn, fn


def _pr_curve(w, tag, edges, pos, neg, step):
    tp, fp, tn, fn = pr_counts(pos, neg)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 1.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
    w.add_pr_curve_raw(tag, tp, fp, tn, fn, precision, recall, global_step=step,
                       num_thresholds=len(tp))


def _histogram(w, tag, edges, counts, step):
    counts = np.asarray(counts, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    if edges.size == counts.size + 1:
        lower, upper = edges[:-1], edges[1:]
    else:  # edges are the bins' lower edges; the last bin ends at the last edge + one step
        lower = edges
        upper = np.append(edges[1:], edges[-1] + (edges[-1] - edges[-2] if edges.size > 1 else 1.0))
    total = counts.sum()
    if total <= 0:
        return  # TensorBoard rejects an empty histogram; nothing to show yet
    nz = np.flatnonzero(counts)
    mid = (lower + upper) / 2  # each score stands at its bin's middle
    w.add_histogram_raw(
        tag, min=float(lower[nz[0]]), max=float(upper[nz[-1]]), num=float(total),
        sum=float((mid * counts).sum()), sum_squares=float((mid * mid * counts).sum()),
        bucket_limits=upper.tolist(), bucket_counts=counts.tolist(), global_step=step,
    )
