"""Prometheus export: a collector that reads tallyml objects at scrape time.

Nothing happens per prediction: ``update()`` only adds into counts, and the collector copies the
counts when Prometheus scrapes (or when ``exposition()`` / ``push()`` is called).

Exported families (every sample carries ``model``, ``version`` when given, and ``name``, the name
the object was tracked under):

metrics (BinaryMetrics, MulticlassMetrics, MultilabelMetrics)
    ``tallyml_predictions_total``                      samples counted (weights when weighted)
    ``tallyml_correct_predictions_total``              diagonal of the confusion matrix
    ``tallyml_{true_positives,false_positives,false_negatives}_total{class}``
        per class (multilabel: per label; binary: the positive class ``1`` only), while the
        number of classes is at most ``max_classes``; above it one ``class="all"`` series holds
        the sums (micro totals) and a :class:`CardinalityWarning` is emitted at ``track()``.
    ``tallyml_confusion_matrix_total{true_class,predicted_class}``  when K*K <= max_confusion_cells
    ``tallyml_<value>`` gauges for every scalar of ``compute()`` (accuracy, f1, mcc, ...)
        with each object's defaults (binary: the positive class; multiclass and multilabel:
        macro averages); lifetime values, while the counters give any window in PromQL
curves (BinaryCurves, MulticlassCurves, MultilabelCurves)
    ``tallyml_roc_auc``, ``tallyml_average_precision``, ``tallyml_brier_score``,
    ``tallyml_log_loss`` gauges (NaN while undefined, e.g. one class seen so far)
resources (ResourceMonitor)
    ``tallyml_<reading>`` gauges in base units (percentages become ``_ratio``), counters for
    ``*_seconds_total`` readings; per GPU ``tallyml_gpu_<reading>{gpu}``
latency (LatencyTracker)
    ``tallyml_latency_seconds`` histogram, ``tallyml_latency_predictions_total`` counter,
    ``tallyml_latency_{p50,p90,p99,p999,min,max,mean}_seconds`` gauges (lifetime; quantiles 1%)

plus ``tallyml_export_errors_total{model}``: reads that failed (that object's series are left
out of the scrape; the rest is served).

Counters reset when the object is reset; PromQL's ``rate``/``increase`` handle that. Reads are
consistent: each object's state is copied once, under its lock, per scrape.
prometheus_client is imported only when an exporter is created.
"""
from __future__ import annotations

import errno
import logging
import math
import re
import threading
import warnings

import numpy as np

from ._sources import (
    DEFAULT_LATENCY_BUCKETS,
    CardinalityWarning,
    CurvesSnapshot,
    LatencySnapshot,
    MetricsSnapshot,
    ResourceSnapshot,
    make_source,
)

__all__ = ["PrometheusExporter", "ServerHandle", "CardinalityWarning"]

_log = logging.getLogger("tallyml.export")
_NAME_OK = re.compile(r"[^a-zA-Z0-9_]")

_HELP = {
    "predictions": "Samples counted by a tallyml metric (sum of sample weights when weighted).",
    "correct_predictions": "Samples whose predicted class equals the true class (binary, multiclass).",
    "true_positives": "True positives per class counted by a tallyml metric.",
    "false_positives": "False positives per class counted by a tallyml metric.",
    "false_negatives": "False negatives per class counted by a tallyml metric.",
    "confusion_matrix": "Confusion matrix cells counted by a tallyml metric (rows: true_class).",
    "latency_seconds": "Duration of timed calls recorded by a tallyml LatencyTracker.",
    "latency_predictions": "Predictions made by the calls a tallyml LatencyTracker timed.",
}


def _metric_name(key: str) -> str:
    name = _NAME_OK.sub("_", key).strip("_").lower()
    return "tallyml_" + (name or "value")


def _check_label(value, what):
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str; got {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must be a non-empty string")
    return value


class _Families:
    """Samples grouped by family, turned into prometheus_client Metric objects at the end."""

    def __init__(self):
        self._fams: dict = {}

    def add(self, family, typ, help_, suffix, labels, value):
        entry = self._fams.get(family)
        if entry is None:
            entry = self._fams[family] = (typ, help_, [])
        elif entry[0] != typ:  # a name reused with another type: keep the first, never clash
            return
        entry[2].append((family + suffix, labels, float(value)))

    def metrics(self):
        from prometheus_client.metrics_core import Metric

        for family, (typ, help_, samples) in self._fams.items():
            m = Metric(family, help_, typ)
            for name, labels, value in samples:
                m.add_sample(name, labels, value)
            yield m


class _Tracked:
    __slots__ = ("name", "source", "aggregate", "confusion")

    def __init__(self, name, source, aggregate, confusion):
        self.name, self.source = name, source
        self.aggregate, self.confusion = aggregate, confusion


class _Hub:
    """The one collector registered per registry: several exporters (models) sharing a registry
    must emit each family once, with all their samples in it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._exporters: list = []

    def add(self, exporter):
        with self._lock:
            key = exporter._key()
            for other in self._exporters:
                if other._key() == key:
                    raise ValueError(
                        f"an exporter for model={key[0]!r} version={key[1]!r} is already "
                        "registered in this registry"
                    )
            self._exporters.append(exporter)

    def remove(self, exporter):
        with self._lock:
            if exporter in self._exporters:
                self._exporters.remove(exporter)

    def describe(self):
        return []  # names are dynamic; this also stops the registry from collecting at register

    def collect(self):
        with self._lock:
            exporters = list(self._exporters)
        fams = _Families()
        for exporter in exporters:
            exporter._emit(fams)
        return list(fams.metrics())


_hubs_lock = threading.Lock()


def _hub_for(registry) -> _Hub:
    # kept on the registry itself: a side table keyed by registry would keep every registry
    # (and its exporters) alive, since the hub refers back to them
    with _hubs_lock:
        hub = getattr(registry, "_tallyml_hub", None)
        if hub is None:
            hub = _Hub()
            registry.register(hub)
            registry._tallyml_hub = hub
        return hub


class ServerHandle:
    """A running metrics endpoint. ``close()`` stops it (also on leaving a ``with`` block)."""

    def __init__(self, server, thread, addr):
        self._server, self._thread = server, thread
        self.addr = addr
        self.port = server.server_address[1]
        host = f"[{addr}]" if ":" in addr else addr
        self.url = f"http://{host}:{self.port}/metrics"
        self._closed = False

    def close(self):
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self._closed else "serving"
        return f"ServerHandle({self.url!r}, {state})"


class PrometheusExporter:
    """Export tallyml metrics, curves, resource and latency readings to Prometheus.

    ``PrometheusExporter(model="fraud")``, then ``exp.track(obj, name=...)`` for each object,
    then ``exp.serve(port=...)`` (pull), ``exp.push(gateway, job=...)`` (batch jobs) or
    ``exp.exposition()`` (text). Objects are read when scraped, never per prediction.

    Parameters
    ----------
    model : label value put on every sample.
    version : optional ``version`` label.
    registry : a ``prometheus_client.CollectorRegistry`` to join (e.g. ``prometheus_client.REGISTRY``
        to serve alongside other metrics); default: a private one, see ``registry``.
        Several exporters (models) may share a registry.
    max_classes : above this many classes, per-class counters collapse into ``class="all"``.
    max_confusion_cells : the confusion matrix is exported when K*K is at most this.
    latency_buckets : histogram upper bounds in seconds for latency trackers.
    """

    def __init__(self, model, *, version=None, registry=None, max_classes=100,
                 max_confusion_cells=400, latency_buckets=DEFAULT_LATENCY_BUCKETS):
        _check_label(model, "model")
        if version is not None:
            _check_label(version, "version")
        for arg, value in (("max_classes", max_classes), ("max_confusion_cells", max_confusion_cells)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{arg} must be a positive integer; got {value!r}")
        try:
            buckets = np.asarray(latency_buckets, dtype=np.float64)
        except (TypeError, ValueError):
            buckets = np.empty(0)
        if buckets.ndim != 1 or buckets.size == 0 or not np.all(np.isfinite(buckets)) or \
                np.any(buckets <= 0) or np.any(np.diff(buckets) <= 0):
            raise ValueError(
                "latency_buckets must be a non-empty, strictly increasing sequence of finite "
                f"positive seconds; got {latency_buckets!r}"
            )
        from prometheus_client import CollectorRegistry

        if registry is None:
            registry = CollectorRegistry(auto_describe=True)
        elif not isinstance(registry, CollectorRegistry):
            raise TypeError(f"registry must be a prometheus_client.CollectorRegistry; got {type(registry).__name__}")
        self.model, self.version = model, version
        self.registry = registry
        self.max_classes = int(max_classes)
        self.max_confusion_cells = int(max_confusion_cells)
        self._buckets = tuple(float(b) for b in buckets)
        self._labels = {"model": model} if version is None else {"model": model, "version": version}
        self._lock = threading.Lock()
        self._tracked: dict = {}
        self._errors = 0
        self._failed: set = set()
        self._hub = _hub_for(registry)
        self._hub.add(self)

    # ---------------------------------------------------------------- tracking

    def _key(self):
        return (self.model, self.version)

    def track(self, obj, name=None):
        """Export ``obj`` (a metric, curves object, ResourceMonitor or LatencyTracker) under
        ``name`` (default: its kind). Returns ``obj``, so ``m = exp.track(BinaryMetrics())``."""
        if name is not None:
            _check_label(name, "name")
        source = make_source(obj, latency_buckets=self._buckets)
        if name is None:
            name = source.kind
        aggregate = confusion = False
        if source.kind == "metrics":
            k = source.num_classes
            aggregate = k > self.max_classes
            confusion = source.task != "multilabel" and (2 if source.task == "binary" else k) ** 2 <= self.max_confusion_cells
        with self._lock:
            if name in self._tracked:
                raise ValueError(f"name {name!r} is already tracked by this exporter (model={self.model!r})")
            self._tracked[name] = _Tracked(name, source, aggregate, confusion)
        if aggregate:
            what = "labels" if source.task == "multilabel" else "classes"
            warnings.warn(
                f"model={self.model!r} name={name!r} has {source.num_classes} {what}, more than "
                f"max_classes={self.max_classes}: per-class counters are exported as one "
                'class="all" series holding their sums (raise max_classes to get them per class)',
                CardinalityWarning,
                stacklevel=2,
            )
        return obj

    def untrack(self, name):
        """Stop exporting the object tracked under ``name``."""
        with self._lock:
            if name not in self._tracked:
                raise KeyError(f"name {name!r} is not tracked by this exporter")
            del self._tracked[name]

    @property
    def names(self):
        with self._lock:
            return list(self._tracked)

    def close(self):
        """Remove this exporter from its registry (its model's series disappear)."""
        self._hub.remove(self)

    # ---------------------------------------------------------------- output

    def exposition(self) -> str:
        """The registry's metrics in Prometheus' text format."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode("utf-8")

    def serve(self, port=0, addr="127.0.0.1") -> ServerHandle:
        """Serve ``/metrics`` over HTTP in a background thread; ``port=0`` picks a free port
        (read it from ``handle.port``). Returns a handle with ``close()``."""
        if isinstance(port, bool) or not isinstance(port, (int, np.integer)) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an integer in [0, 65535]; got {port!r}")
        _check_label(addr, "addr")
        from prometheus_client import start_http_server

        try:
            server, thread = start_http_server(int(port), addr=addr, registry=self.registry)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise OSError(e.errno, f"cannot serve metrics: port {port} on {addr} is already in use") from e
            raise OSError(e.errno, f"cannot serve metrics on {addr}:{port}: {e.strerror or e}") from e
        return ServerHandle(server, thread, addr)

    def push(self, gateway_url, job, *, grouping_key=None, timeout=30.0):
        """Push the registry's metrics to a Prometheus Pushgateway (for batch jobs), replacing
        the group ``job`` (+ ``grouping_key``)."""
        _check_label(gateway_url, "gateway_url")
        _check_label(job, "job")
        from prometheus_client import push_to_gateway

        push_to_gateway(gateway_url, job=job, registry=self.registry,
                        grouping_key=grouping_key, timeout=timeout)

    # ---------------------------------------------------------------- collection

    def _emit(self, fams: _Families):
        with self._lock:
            tracked = list(self._tracked.values())
        for t in tracked:
            base = dict(self._labels, name=t.name)
            try:
                snap = t.source.read()
            except Exception as e:  # noqa: BLE001 - one broken object must not fail the scrape
                self._note_error(t.name, e)
                continue
            if isinstance(snap, MetricsSnapshot):
                self._emit_metrics(fams, base, t, snap)
            elif isinstance(snap, CurvesSnapshot):
                if snap.count is not None:
                    fams.add("tallyml_predictions", "counter", _HELP["predictions"], "_total",
                             base, snap.count)
                self._emit_gauges(fams, base, snap.values)
            elif isinstance(snap, ResourceSnapshot):
                self._emit_resources(fams, base, snap)
            elif isinstance(snap, LatencySnapshot):
                self._emit_latency(fams, base, snap)
        self._emit_errors(fams)  # after the reads, so this scrape's failures are counted

    def _note_error(self, name, exc):
        with self._lock:
            self._errors += 1
            first = name not in self._failed
            self._failed.add(name)
        if first:  # once per object: a scrape every few seconds must not flood the log
            _log.warning("tallyml exporter (model=%r): reading %r failed: %r; its series are "
                         "left out of scrapes while it fails", self.model, name, exc)

    @staticmethod
    def _emit_gauges(fams, base, values, skip=()):
        for key, value in values.items():
            if key in skip:
                continue
            family = _metric_name(key)
            fams.add(family, "gauge", f"{key} computed by tallyml from the counts (lifetime value).",
                     "", base, value)

    def _emit_errors(self, fams):
        fams.add("tallyml_export_errors", "counter",
                 "Reads of tracked objects that failed during scrapes (their series were left out).",
                 "_total", self._labels, self._errors)

    def _emit_metrics(self, fams, base, t, s: MetricsSnapshot):
        fams.add("tallyml_predictions", "counter", _HELP["predictions"], "_total", base, s.count)
        if s.correct is not None:
            fams.add("tallyml_correct_predictions", "counter", _HELP["correct_predictions"], "_total",
                     base, s.correct)
        per_class = (("true_positives", s.tp), ("false_positives", s.fp), ("false_negatives", s.fn))
        for key, arr in per_class:
            family = "tallyml_" + key
            if t.aggregate:
                fams.add(family, "counter", _HELP[key], "_total", dict(base, **{"class": "all"}), arr.sum())
                continue
            for cls, v in zip(s.classes, arr):
                fams.add(family, "counter", _HELP[key], "_total", dict(base, **{"class": cls}), v)
        if t.confusion and s.confusion is not None:
            k = s.confusion.shape[0]
            for i in range(k):
                for j in range(k):
                    fams.add("tallyml_confusion_matrix", "counter", _HELP["confusion_matrix"], "_total",
                             dict(base, true_class=str(i), predicted_class=str(j)), s.confusion[i, j])
        self._emit_gauges(fams, base, s.values, skip=("count", "support"))

    def _emit_resources(self, fams, base, s: ResourceSnapshot):
        for key, value in s.values.items():
            if key.endswith("_total"):
                fams.add(_metric_name(key[: -len("_total")]), "counter", _resource_help(key),
                         "_total", base, value)
            else:
                fams.add(_metric_name(key), "gauge", _resource_help(key), "", base, value)
        for index, vals in s.gpus:
            labels = dict(base, gpu=str(index))
            for key, value in vals.items():
                key = key if key.startswith("gpu_") else "gpu_" + key
                fams.add(_metric_name(key), "gauge", _resource_help(key) + " (per GPU, CUDA order)",
                         "", labels, value)

    def _emit_latency(self, fams, base, s: LatencySnapshot):
        fam = "tallyml_latency_seconds"
        h = _HELP["latency_seconds"]
        for bound, c in zip(s.bounds, s.cumulative):
            fams.add(fam, "histogram", h, "_bucket", dict(base, le=_le(bound)), c)
        fams.add(fam, "histogram", h, "_bucket", dict(base, le="+Inf"), s.count)
        fams.add(fam, "histogram", h, "_count", base, s.count)
        fams.add(fam, "histogram", h, "_sum", base, s.sum)
        fams.add("tallyml_latency_predictions", "counter", _HELP["latency_predictions"], "_total",
                 base, s.predictions)
        for key, v in s.stats.items():
            fams.add(_metric_name("latency_" + key), "gauge",
                     f"Latency {key} over the tracker's lifetime (quantiles within 1%).", "", base, v)


_UNITS = {"_ratio": "ratio", "_bytes": "bytes", "_seconds_total": "seconds, cumulative",
          "_watts": "watts", "_celsius": "degrees Celsius"}


def _resource_help(key: str) -> str:
    unit = next((u for suffix, u in _UNITS.items() if key.endswith(suffix)), None)
    what = key.replace("_", " ")
    return f"Resource reading '{what}' from a tallyml ResourceMonitor" + (f" ({unit})." if unit else ".")


def _le(bound: float) -> str:
    # Prometheus' own formatting of le values: shortest float repr
    return "+Inf" if math.isinf(bound) else repr(float(bound))
