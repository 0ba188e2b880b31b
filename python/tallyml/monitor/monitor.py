"""``Monitor``: the one object a service creates to watch a model while it runs.

It owns, and feeds from every ``observe`` call:

- realized metrics (``BinaryMetrics`` / ``MulticlassMetrics`` / ``MultilabelMetrics``) in a
  ``Windowed`` ring: the window's counts and, through ``total()``, the cumulative counts, from
  one counting pass;
- label-free estimates (``EstimatedMetrics``, windowed the same way) from the scores, so that
  something is known while labels lag;
- a bounded buffer id -> prediction for predictions whose labels come later
  (``observe_labels``); the oldest entries are evicted (and counted) when it is full;
- score drift (``ScoreDrift``) against ``reference_scores``;
- latency (``LatencyTracker``), resources (``ResourceMonitor``, a thread, optional) and fit
  (``FitMonitor``, fed by ``observe_fit``);
- alert rules (``tallyml.rules``), evaluated at most every ``evaluate_every`` seconds from the
  observe calls (and on ``evaluate()``), over the flat values of :meth:`Monitor.values`.

Reading (``values``, ``snapshot``, ``alerts``) never blocks counting for long: every component
copies its counts under its own lock.
"""
from __future__ import annotations

import collections
import math
import numbers
import threading
import time
import warnings

import numpy as np

__all__ = ["Monitor", "VALUE_GROUPS"]

_TASKS = ("binary", "multiclass", "multilabel")
# scalar values of compute(), per task (vectors such as support are left out)
_METRIC_KEYS = {
    "binary": ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "specificity",
               "jaccard", "mcc", "cohen_kappa", "hamming_loss"),
    "multilabel": ("accuracy", "precision", "recall", "f1", "specificity", "jaccard",
                   "hamming_loss"),
}
_METRIC_KEYS["multiclass"] = _METRIC_KEYS["binary"]
_DRIFT_KEYS = ("psi", "js", "hellinger", "ks", "wasserstein")
_LATENCY_KEYS = ("p50", "p90", "p99", "p999", "mean", "max")
_RESOURCE_KEYS = ("process_cpu_ratio", "process_rss_bytes", "process_memory_ratio",
                  "system_memory_used_ratio", "process_threads")
_FIT_KEYS = ("train_error", "val_error", "generalization_gap", "gap_trend", "overfitting_ratio",
             "underfitting_ratio", "overfitting_detected", "underfitting_detected", "should_stop")
_COUNT_KEYS = ("predictions_total", "labelled_total", "pending_labels", "labels_unmatched_total",
               "pending_evicted_total", "malformed_total")
_RULE_KEYS = ("name", "expr", "for", "for_count", "clear", "clear_for", "clear_count",
              "severity", "summary", "labels")


def _value_groups(task):
    metrics = _METRIC_KEYS[task]
    return {
        "counts": _COUNT_KEYS,
        "metrics": metrics,
        "metrics_window": tuple(f"{k}_window" for k in metrics),
        "estimated": tuple(f"estimated_{k}" for k in metrics),
        "estimated_window": tuple(f"estimated_{k}_window" for k in metrics),
        "drift": _DRIFT_KEYS + ("drift_detected",),
        "latency": tuple(f"latency_{k}_seconds" for k in _LATENCY_KEYS) + ("latency_calls_total",),
        "resources": _RESOURCE_KEYS,
        "fit": _FIT_KEYS,
    }


#: value names a rule may use, by group, for a binary monitor (``Monitor.known_values`` has the
#: exact set of one monitor)
VALUE_GROUPS = _value_groups("binary")


def _int_arg(name, value, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _seconds_arg(name, value, minimum=0.0):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not math.isfinite(float(value)) or float(value) < minimum:
        raise ValueError(f"{name} must be a finite number of seconds >= {minimum}; got {value!r}")
    return float(value)


def _float(v):
    """A plain float of a metric value (None for vectors); NaN stays NaN."""
    if v is None:
        return math.nan
    if np.ndim(v) != 0:
        return None
    return float(v)


def _plain(v):
    """JSON-friendly copy: numpy arrays and scalars become lists and Python numbers."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


_QUIET_LOCK = threading.Lock()


def _quiet(fn, *args):
    """Call ``fn`` with tallyml/sklearn-style warnings silenced: a monitor reads values every
    few seconds and must not flood the log with undefined-metric warnings (they are NaN/0).
    ``catch_warnings`` saves and restores the process-wide filter list; two threads interleaving
    it could leave "ignore" installed for good, hence the lock."""
    with _QUIET_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


def _compute(obj, keys):
    """{key: float} of a metric object's scalar values; NaN for all while it has no samples."""
    if obj.count == 0:
        return {k: math.nan for k in keys}
    out = _quiet(obj.compute)
    return {k: _float(out.get(k)) for k in keys}


class _TotalView:
    """What the Prometheus exporter tracks for the cumulative metrics: a read-only view of a
    ``Windowed``'s ``total()`` (one counting pass serves the window and the lifetime counts).
    It pickles as the metric object it stands for (the exporter keeps a clone of that)."""

    def __init__(self, windowed):
        self._w = windowed

    def _total(self):
        return self._w.total()

    def state_dict(self):
        return self._total().state_dict()

    def load_state_dict(self, state):  # the exporter only loads into its clone
        raise TypeError("the monitor's cumulative metrics are read-only")

    def confusion_matrix(self, *args, **kwargs):
        return self._total().confusion_matrix(*args, **kwargs)

    def compute(self):
        return self._total().compute()

    def __reduce__(self):
        return self._total().__reduce__()


class _MulticlassTotalView(_TotalView):
    @property
    def num_classes(self):
        return self._w.template.num_classes


class Monitor:
    """Watch a classification model in production: feed it with ``observe`` calls.

    Parameters
    ----------
    task : "binary", "multiclass" or "multilabel"
    num_classes : int >= 2, multiclass only
    num_labels : int >= 2, multilabel only
    threshold : float in [0, 1]
        Binary/multilabel decision: positive when ``score >= threshold``.
    logits : bool
        Scores are logits (sigmoid/softmax gives the probabilities for the estimates).
    window : int
        Samples in the sliding window of the realized and estimated metrics.
    reference_scores : array or None
        Scores of a reference period (e.g. validation): enables score drift. (N,) for binary,
        (N, K) for multiclass, (N, L) for multilabel.
    drift_window : int or None
        Samples per drift window (default: ``window``, shortened so that the reference holds
        three of them when it is short).
    drift_thresholds : "auto", "calibrate" or {statistic: value}
        As for ``ScoreDrift``.
    estimate : bool
        Keep label-free estimates (``EstimatedMetrics``). Needs probabilities in [0, 1]
        (multiclass rows summing to 1) unless ``logits=True``; label predictions (integers)
        are never estimated from.
    calibrator : fitted HistogramCalibrator / IsotonicCalibrator for the estimates, or None.
    rules : iterable of ``tallyml.Rule`` or dicts (``name``, ``expr``, optional ``for``,
        ``for_count``, ``clear``, ``clear_for``, ``clear_count``, ``severity``, ``summary``,
        ``labels``) over the names of :attr:`known_values`.
    on_alert : callable(AlertEvent) run when a rule fires or resolves (an exception it raises
        is logged, never propagated into ``observe``).
    evaluate_every : seconds between rule evaluations triggered by observe calls (0: every call).
    background : evaluate the rules in a daemon thread every ``evaluate_every`` seconds instead
        of from the observe calls (which then never pay for an evaluation).
    max_pending : predictions waiting for their labels (the oldest are evicted beyond it).
    resources : False, True, or a ResourceMonitor interval in seconds: start a sampling thread
        (``close()`` stops it). GPU readings stay off unless ``resources_gpu=True``.
    fit : a ``FitMonitor`` to use (default: a new one with its defaults).
    model : the ``model`` label of the exported series.
    zero_division : as for the metric objects (default 0: no warnings from a long-running job).
    clock : seconds, monotonic (for tests and replays).
    """

    def __init__(self, task="binary", *, num_classes=None, num_labels=None, threshold=0.5,
                 logits=False, window=10_000, reference_scores=None, drift_window=None,
                 drift_thresholds="auto", estimate=True, calibrator=None, rules=(),
                 on_alert=None, evaluate_every=1.0, background=False, max_pending=100_000,
                 resources=False,
                 resources_gpu=False, fit=None, model="model", zero_division=0,
                 clock=time.monotonic, backend="auto"):
        from ..fit import FitMonitor
        from ..monitoring import LatencyTracker
        from ..rules import AlertEngine
        from ..windows import Windowed

        if task not in _TASKS:
            raise ValueError(f"task must be one of {_TASKS}; got {task!r}")
        if task != "multiclass" and num_classes is not None:
            raise ValueError(f'num_classes is only for task="multiclass"; got {num_classes!r}')
        if task != "multilabel" and num_labels is not None:
            raise ValueError(f'num_labels is only for task="multilabel"; got {num_labels!r}')
        self.task = task
        self.num_classes = _int_arg("num_classes", num_classes, 2) if task == "multiclass" else None
        self.num_labels = _int_arg("num_labels", num_labels, 2) if task == "multilabel" else None
        self.window = _int_arg("window", window, 1)
        self.max_pending = _int_arg("max_pending", max_pending, 0)
        self.evaluate_every = _seconds_arg("evaluate_every", evaluate_every)
        if not isinstance(model, str) or not model:
            raise ValueError(f"model must be a non-empty string; got {model!r}")
        self.model = model
        if not callable(clock):
            raise TypeError(f"clock must be callable; got {clock!r}")
        self._clock = clock
        if on_alert is not None and not callable(on_alert):
            raise TypeError(f"on_alert must be callable; got {on_alert!r}")
        if fit is not None and not isinstance(fit, FitMonitor):
            raise TypeError(f"fit must be a tallyml.FitMonitor or None; got {type(fit).__name__}")
        self._logits = bool(logits)

        template = self._metric_template(threshold, logits, zero_division, backend)
        self._realized = Windowed(template, samples=self.window)
        self._estimated = None
        if estimate:
            from ..estimation import EstimatedMetrics

            est = EstimatedMetrics(task, num_classes=self.num_classes, num_labels=self.num_labels,
                                   threshold=threshold, calibrator=calibrator, logits=logits,
                                   num_bins=0, zero_division=zero_division, backend=backend)
            self._estimated = Windowed(est, samples=self.window)
        self._drift_thresholds = drift_thresholds  # kept for set_drift_reference
        self._drift = self._make_drift(reference_scores, drift_window, drift_thresholds)
        self._latency = LatencyTracker()
        self._fit = fit if fit is not None else FitMonitor()
        self._resources = None
        if resources:
            from ..monitoring import ResourceMonitor

            interval = 1.0 if resources is True else _seconds_arg("resources", resources, 1e-3)
            self._resources = ResourceMonitor(interval=interval, gpu=bool(resources_gpu)).start()

        self._groups = _value_groups(task)
        if self._drift is None:
            del self._groups["drift"]
        if self._estimated is None:
            del self._groups["estimated"], self._groups["estimated_window"]
        if self._resources is None:
            del self._groups["resources"]
        self.known_values = frozenset(n for names in self._groups.values() for n in names)

        self._lock = threading.Lock()  # pending buffer and counters
        self._pending: collections.OrderedDict = collections.OrderedDict()
        self._counts = dict.fromkeys(_COUNT_KEYS, 0)
        self._eval_lock = threading.Lock()
        self._last_eval = -math.inf
        self._engine = AlertEngine(self.known_values, actions=[on_alert] if on_alert else [],
                                   clock=clock)
        for r in rules:
            self.add_rule(r)
        self._exporter = None
        self._tensorboard = None
        self._closed = False
        self._stop = threading.Event()
        self._thread = None
        if background:
            if self.evaluate_every <= 0:
                raise ValueError("background=True needs evaluate_every > 0 seconds")
            self._thread = threading.Thread(target=self._evaluate_loop, daemon=True,
                                            name="tallyml-monitor-rules")
            self._thread.start()

    def _evaluate_loop(self):
        import logging

        while not self._stop.wait(self.evaluate_every):
            try:
                self.evaluate()
            except Exception:  # keep evaluating; a broken value must not end monitoring
                logging.getLogger("tallyml.monitor").exception("rule evaluation failed")

    # ------------------------------------------------------------------ construction helpers
    def _metric_template(self, threshold, logits, zero_division, backend):
        from ..metrics import BinaryMetrics, MulticlassMetrics, MultilabelMetrics

        if self.task == "binary":
            return BinaryMetrics(threshold, logits=logits, zero_division=zero_division,
                                 backend=backend)
        if self.task == "multiclass":
            if logits:
                raise ValueError('logits=True is for task="binary" or "multilabel" (multiclass '
                                 "predictions are the argmax, the same for logits)")
            return MulticlassMetrics(self.num_classes, labels="all", zero_division=zero_division,
                                     backend=backend)
        return MultilabelMetrics(self.num_labels, threshold, logits=logits,
                                 zero_division=zero_division, backend=backend)

    def _make_drift(self, reference, drift_window, thresholds):
        if reference is None:
            return None
        from ..drift import ScoreDrift

        ref = np.asarray(reference)
        want = 1 if self.task == "binary" else 2
        if ref.ndim != want or (want == 2 and ref.shape[1] != self._width()):
            shape = "(N,)" if want == 1 else f"(N, {self._width()})"
            raise ValueError(f"reference_scores must have shape {shape} for task={self.task!r}; "
                             f"got {ref.shape}")
        if drift_window is None:
            drift_window = max(1, min(self.window, len(ref) // 3))
        drift_window = _int_arg("drift_window", drift_window, 1)
        return ScoreDrift(ref, window=drift_window, thresholds=thresholds)

    def _width(self):
        return self.num_classes if self.task == "multiclass" else self.num_labels

    # ------------------------------------------------------------------ rules
    def add_rule(self, rule):
        """Add an alert rule (a ``tallyml.Rule`` or a dict, see the class doc); ValueError if it
        names a value this monitor does not have."""
        from ..rules import Rule

        if isinstance(rule, dict):
            unknown = sorted(set(rule) - set(_RULE_KEYS))
            if unknown or "name" not in rule or "expr" not in rule:
                raise ValueError(f"a rule dict needs 'name' and 'expr' and may have "
                                 f"{list(_RULE_KEYS[2:])}; got keys {sorted(rule)}")
            kw = {("for_" if k == "for" else k): v for k, v in rule.items()
                  if k not in ("name", "expr")}
            rule = Rule(rule["name"], rule["expr"], **kw)
        elif not isinstance(rule, Rule):
            raise TypeError(f"rules must be tallyml.Rule objects or dicts; got {type(rule).__name__}")
        return self._engine.add(rule)

    @property
    def rules(self) -> list:
        return self._engine.rules

    @property
    def engine(self):
        """The ``tallyml.AlertEngine`` holding the rules."""
        return self._engine

    # ------------------------------------------------------------------ input checks
    def _check_preds(self, preds):
        p = np.asarray(preds)
        if p.dtype.kind not in "biuf":
            raise TypeError(f"preds must be numeric scores or labels; got dtype {p.dtype}")
        n_dim = 1 if self.task == "binary" else 2
        if self.task == "multiclass" and p.ndim == 1:
            if p.dtype.kind == "f":
                raise TypeError("preds of a multiclass monitor are (N,) integer labels or "
                                f"(N, {self.num_classes}) scores; got float shape {p.shape}")
            # checked here too: a bad label waiting for its target would block every later join
            if len(p) and (p.min() < 0 or p.max() >= self.num_classes):
                i = int(np.argmax((p < 0) | (p >= self.num_classes)))
                raise ValueError(f"preds[{i}] = {p[i]} is not a class label in "
                                 f"[0, {self.num_classes})")
            return p, False
        if p.ndim != n_dim or (n_dim == 2 and p.shape[1] != self._width()):
            shape = "(N,)" if n_dim == 1 else f"(N, {self._width()})"
            raise ValueError(f"preds must have shape {shape} for task={self.task!r}; got {p.shape}")
        is_scores = p.dtype.kind == "f"
        if is_scores and len(p):
            # min/max: no temporaries the size of the batch; NaN or inf shows up in them
            lo, hi = float(p.min()), float(p.max())
            if not (math.isfinite(lo) and math.isfinite(hi)):
                bad = np.argwhere(~np.isfinite(p))[0]
                raise ValueError(f"preds[{', '.join(map(str, bad))}] is not finite "
                                 f"({p[tuple(bad)]!r})")
            if self._estimated is not None and not self._logits:
                if lo < 0.0 or hi > 1.0:
                    raise ValueError("preds must be probabilities in [0, 1] (pass logits=True for "
                                     "logits, or estimate=False)")
                if self.task == "multiclass":
                    err = np.abs(p.sum(axis=1) - 1.0)
                    if err.max() > 1e-3:
                        i = int(err.argmax())
                        raise ValueError(f"preds row {i} sums to {p[i].sum()!r}, not 1 "
                                         "(multiclass scores must be probabilities)")
        elif self.task == "binary" or self.task == "multilabel":
            if p.dtype.kind != "b" and len(p) and (p.min() < 0 or p.max() > 1):
                raise ValueError("label preds must be 0 or 1")
        return p, is_scores

    @staticmethod
    def _check_ids(ids, n):
        if isinstance(ids, (str, bytes)):
            raise TypeError("ids must be a sequence of ids, not a string")
        try:
            ids = list(np.asarray(ids).tolist() if isinstance(ids, np.ndarray) else ids)
        except TypeError:
            raise TypeError(f"ids must be a sequence; got {type(ids).__name__}") from None
        if len(ids) != n:
            raise ValueError(f"ids has {len(ids)} entries; preds has {n} rows")
        for i in ids:
            try:
                hash(i)
            except TypeError:
                raise TypeError(f"ids must be hashable; got {type(i).__name__}") from None
        return ids

    @staticmethod
    def _check_latency(latency, n):
        if latency is None:
            return None
        if isinstance(latency, (numbers.Real, np.floating, np.integer)) and not isinstance(latency, bool):
            v = float(latency)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"latency must be finite seconds >= 0; got {latency!r}")
            return v
        a = np.asarray(latency, dtype=np.float64)
        if a.ndim != 1:
            raise ValueError(f"latency must be seconds (a number, or one per call); got shape {a.shape}")
        if not np.all(np.isfinite(a) & (a >= 0)):
            raise ValueError("latency must be finite seconds >= 0")
        return a

    # ------------------------------------------------------------------ feeding
    def observe(self, preds, target=None, *, ids=None, latency=None) -> None:
        """Count a batch of predictions.

        ``preds``: scores ((N,) binary, (N, K) multiclass, (N, L) multilabel) or labels.
        ``target``: the labels when known now; else give ``ids`` and send the labels later with
        :meth:`observe_labels`. ``latency``: seconds the batch took (one number), or one
        duration per call. On bad input nothing is counted."""
        self._check_open()
        p, is_scores = self._check_preds(preds)
        n = len(p)
        if ids is not None:
            ids = self._check_ids(ids, n)
        lat = self._check_latency(latency, n)
        if target is not None:
            self._realized.update(target, p)  # validates target; counts nothing on error
        if is_scores and self._estimated is not None:
            self._estimated.update(p)
        if is_scores and self._drift is not None:
            self._drift.update(p)
        if lat is not None:
            if isinstance(lat, float):
                self._latency.record(lat, n=max(n, 1))
            else:
                self._latency.record_many(lat)
        with self._lock:
            self._counts["predictions_total"] += n
            if target is not None:
                self._counts["labelled_total"] += n
            elif ids is not None and self.max_pending:
                if self.task == "multiclass" and p.ndim == 2:
                    rows = p.argmax(axis=1).tolist()  # the count needs only the argmax
                else:
                    rows = p.tolist() if p.ndim == 1 else [r.copy() for r in p]
                pend = self._pending
                for i, row in zip(ids, rows):
                    pend[i] = row
                    pend.move_to_end(i)
                over = len(pend) - self.max_pending
                for _ in range(max(over, 0)):
                    pend.popitem(last=False)
                self._counts["pending_evicted_total"] += max(over, 0)
            self._counts["pending_labels"] = len(self._pending)
        self._maybe_evaluate()

    def observe_labels(self, ids, target) -> int:
        """Labels for predictions sent earlier with ``ids``; returns how many matched. Ids with
        no waiting prediction (never seen, evicted, or labelled already) are counted in
        ``labels_unmatched_total``. On bad input nothing changes."""
        self._check_open()
        t = np.asarray(target)
        if t.ndim == 0:
            raise ValueError("target must be a sequence of labels, one per id")
        ids = self._check_ids(ids, len(t))
        with self._lock:
            hit = [k for k, i in enumerate(ids) if i in self._pending]
            # a duplicate id in one call matches once
            seen, rows = set(), []
            for k in hit:
                if ids[k] in seen:
                    continue
                seen.add(ids[k])
                rows.append(k)
            if rows:
                preds = np.asarray([self._pending[ids[k]] for k in rows])
                try:
                    self._realized.update(t[rows], preds)  # raises before anything is taken
                except ValueError as e:
                    raise ValueError(f"{e} (positions count only the {len(rows)} entries whose "
                                     "ids matched a waiting prediction; nothing was taken)") from None
                for k in rows:
                    del self._pending[ids[k]]
            self._counts["labelled_total"] += len(rows)
            self._counts["labels_unmatched_total"] += len(ids) - len(rows)
            self._counts["pending_labels"] = len(self._pending)
        self._maybe_evaluate()
        return len(rows)

    def observe_fit(self, train=None, val=None, *, train_error=None, val_error=None) -> str:
        """One training step for the fit monitor (see ``tallyml.FitMonitor.update``); returns
        its state ("healthy", "overfitting", "underfitting")."""
        self._check_open()
        state = self._fit.update(train, val, train_error=train_error, val_error=val_error)
        self._maybe_evaluate()
        return state

    def count_malformed(self, n: int = 1) -> None:
        """Count input records that could not be read (``tallyml monitor`` uses it); exported
        as ``malformed_total``."""
        n = _int_arg("n", n, 0)
        with self._lock:
            self._counts["malformed_total"] += n

    # ------------------------------------------------------------------ reading
    def _fit_values(self):
        return self._fit.values()

    def _resource_values(self):
        hist = self._resources.history() if self._resources is not None else []
        last = hist[-1] if hist else {}
        pct = last.get("process_cpu_percent")
        out = {"process_cpu_ratio": math.nan if pct is None else pct / 100.0}
        for k in _RESOURCE_KEYS[1:]:
            v = last.get(k)
            out[k] = math.nan if v is None else float(v)
        return out

    def _drift_values(self):
        stats = self._drift.statistics()
        out = {}
        for k in _DRIFT_KEYS:
            v = stats.get(k)
            out[k] = math.nan if v is None else float(np.max(v))  # worst class/label
        d = self._drift.drifted()
        out["drift_detected"] = math.nan if d is None else float(d)
        return out

    def _latency_values(self):
        s = self._latency.snapshot()
        out = {f"latency_{k}_seconds": float(s[f"{k}_seconds"]) if s["count"] else math.nan
               for k in _LATENCY_KEYS}
        out["latency_calls_total"] = float(s["count"])
        return out

    def values(self) -> dict:
        """Every value alert rules may name: {name: float} (NaN while undefined, e.g. before the
        first labels or before the drift window has filled)."""
        keys = self._groups["metrics"]
        with self._lock:
            out = {k: float(v) for k, v in self._counts.items()}
        window, total = self._realized.window(), self._realized.total()
        out.update(_compute(total, keys))
        out.update({f"{k}_window": v for k, v in _compute(window, keys).items()})
        if self._estimated is not None:
            ew, et = self._estimated.window(), self._estimated.total()
            out.update({f"estimated_{k}": v for k, v in _compute(et, keys).items()})
            out.update({f"estimated_{k}_window": v for k, v in _compute(ew, keys).items()})
        if self._drift is not None:
            out.update(self._drift_values())
        out.update(self._latency_values())
        if self._resources is not None:
            out.update(self._resource_values())
        out.update({k: float(v) for k, v in self._fit_values().items()})
        return out

    def evaluate(self, values=None) -> list:
        """Evaluate the alert rules now; returns the state changes (``AlertEvent``s)."""
        with self._eval_lock:
            self._last_eval = self._clock()
            if values is None:
                values = self.values()
            events = self._engine.evaluate(values)
            tb = self._tensorboard
        if tb is not None:
            self._log_tensorboard(tb, values)
        return events

    def _maybe_evaluate(self):
        if self._thread is None and (self._engine.rules or self._tensorboard is not None):
            if self._clock() - self._last_eval >= self.evaluate_every \
                    and not self._eval_lock.locked():
                self.evaluate()

    def alerts(self) -> list:
        """The rules and their states: [{name, state, expr, severity, summary, active_since}]."""
        return [{"name": r.name, "state": r.state, "expr": r.expr.text, "severity": r.severity,
                 "summary": r.summary, "active_since": r.active_since}
                for r in self._engine.rules]

    def metrics(self, which="total"):
        """A new metric object with the realized counts: ``"total"`` or ``"window"``."""
        if which not in ("total", "window"):
            raise ValueError(f'which must be "total" or "window"; got {which!r}')
        return self._realized.total() if which == "total" else self._realized.window()

    def estimated(self, which="total"):
        """A new ``EstimatedMetrics`` with the label-free estimates (None with estimate=False)."""
        if which not in ("total", "window"):
            raise ValueError(f'which must be "total" or "window"; got {which!r}')
        if self._estimated is None:
            return None
        return self._estimated.total() if which == "total" else self._estimated.window()

    @property
    def drift(self):
        """The ``ScoreDrift`` (None without reference_scores)."""
        return self._drift

    def set_drift_reference(self, reference_scores) -> None:
        """Replace the score-drift reference (after retraining: the new model's scores on
        recent rows), keeping the drift window length and the threshold rule; the drift window
        restarts empty. ValueError (and nothing changes) for a monitor created without
        ``reference_scores`` or for a bad reference."""
        if self._drift is None:
            raise ValueError("this monitor has no score drift (created without reference_scores)")
        self._drift = self._make_drift(reference_scores, self._drift.window,
                                       self._drift_thresholds)

    @property
    def latency(self):
        return self._latency

    @property
    def resources(self):
        return self._resources

    @property
    def fit(self):
        return self._fit

    def snapshot(self) -> dict:
        """One plain, JSON-friendly dict of everything (the live view and reports read it)."""
        keys = self._groups["metrics"]
        values = self.values()
        snap = {
            "time": time.time(),
            "model": self.model,
            "task": self.task,
            "num_classes": self.num_classes,
            "num_labels": self.num_labels,
            "window": self.window,
            "counts": {k: int(values[k]) for k in _COUNT_KEYS},
            "metrics": {"total": {k: values[k] for k in keys},
                        "window": {k: values[f"{k}_window"] for k in keys}},
            "confusion_matrix": {"total": self._realized.total().confusion_matrix(),
                                 "window": self._realized.window().confusion_matrix()},
            "estimated": None,
            "drift": None,
            "latency": self._latency.snapshot(),
            "resources": self._resources.summary() if self._resources is not None else None,
            "fit": self._fit_values(),
            "alerts": self.alerts(),
            "values": values,
        }
        if self._estimated is not None:
            snap["estimated"] = {"total": {k: values[f"estimated_{k}"] for k in keys},
                                 "window": {k: values[f"estimated_{k}_window"] for k in keys}}
        if self._drift is not None:
            snap["drift"] = {"ready": self._drift.ready, "window": self._drift.window,
                             "statistics": {k: values[k] for k in _DRIFT_KEYS},
                             "thresholds": self._drift.thresholds,
                             "drifted": self._drift.drifted()}
        return _plain(snap)

    # ------------------------------------------------------------------ export
    def exporter(self):
        """The ``PrometheusExporter`` of this monitor (created on first call): the cumulative
        counters and gauges of the realized metrics (``name="metrics"``), latency, resources,
        and every value of :meth:`values` as ``tallyml_monitor_<value>`` gauges, plus
        ``tallyml_alert_firing{alert}`` (1 while a rule fires)."""
        with self._lock:
            if self._exporter is None:
                from ..export import PrometheusExporter
                from ._collector import MonitorCollector

                exp = PrometheusExporter(self.model)
                view = (_MulticlassTotalView if self.task == "multiclass" else _TotalView)(self._realized)
                exp.track(view, name="metrics")
                exp.track(self._latency, name="latency")
                if self._resources is not None:
                    exp.track(self._resources, name="resources")
                exp.registry.register(MonitorCollector(self))
                self._exporter = exp
            return self._exporter

    def serve(self, port=0, addr="127.0.0.1", *, page=None):
        """Serve ``/metrics`` (Prometheus), ``/snapshot.json`` and, when ``page`` is given,
        ``/`` (``page(monitor)`` returns the HTML as str or bytes) in a background thread.
        ``port=0`` picks a free port; returns a handle with ``port``, ``url`` and ``close()``."""
        from ._http import serve

        return serve(self, self.exporter().registry, port=port, addr=addr, page=page)

    def alerting_rules(self, group=None, *, evaluation_interval=None) -> dict:
        """The rules as a Prometheus rule file ({"groups": [...]}) over this monitor's exported
        series; see ``tallyml.export.alerting``."""
        from ..export.alerting import rule_file

        return rule_file(self, group=group, evaluation_interval=evaluation_interval)

    def tensorboard(self, logdir, **kwargs):
        """A ``TensorBoardWriter`` logging the cumulative metrics, latency, resources and every
        value of :meth:`values` (under ``monitor/``) at each rule evaluation (at most every
        ``evaluate_every`` seconds). Keyword arguments go to ``TensorBoardWriter``."""
        from ..export import TensorBoardWriter

        tb = TensorBoardWriter(logdir, **kwargs)
        view = (_MulticlassTotalView if self.task == "multiclass" else _TotalView)(self._realized)
        tb.track(view, name="metrics")
        tb.track(self._latency, name="latency")
        if self._resources is not None:
            tb.track(self._resources, name="resources")
        self._tensorboard = tb
        self._tb_step = 0
        return tb

    def _log_tensorboard(self, tb, values):
        self._tb_step += 1
        step = self._tb_step
        try:
            tb.log(step)
            w = tb.summary_writer
            for k, v in values.items():
                if not math.isnan(v):
                    w.add_scalar(f"monitor/{k}", v, step)
        except Exception:  # a full disk must not stop monitoring
            import logging

            logging.getLogger("tallyml.monitor").exception("TensorBoard write failed")

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict:
        """Everything counted so far (for :meth:`load_state_dict` / ``save``)."""
        from ._checkpoint import monitor_state

        return monitor_state(self)

    def load_state_dict(self, state: dict) -> None:
        """Restore counts saved by :meth:`state_dict` into a monitor of the same configuration
        (ValueError otherwise, and nothing changes)."""
        from ._checkpoint import restore_monitor

        restore_monitor(self, state)

    def save(self, path, extra=None) -> None:
        """Write a checkpoint atomically (temp file, fsync, rename); ``extra``: any picklable
        value stored beside (the CLI keeps its read offsets there)."""
        from ._checkpoint import save

        save(path, self, extra)

    def load(self, path):
        """Restore a checkpoint written by :meth:`save`; returns its ``extra``."""
        from ._checkpoint import load

        return load(path, self)

    def _config(self) -> dict:
        return {"task": self.task, "num_classes": self.num_classes, "num_labels": self.num_labels,
                "window": self.window, "estimate": self._estimated is not None,
                "drift": self._drift is not None}

    # ------------------------------------------------------------------ lifetime
    def _check_open(self):
        if self._closed:
            raise RuntimeError("this Monitor is closed")

    def close(self) -> None:
        """Stop the resource thread and remove the exporter's series; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._resources is not None:
            self._resources.stop()
        if self._exporter is not None:
            self._exporter.close()
        if self._tensorboard is not None:
            self._tensorboard.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (f"Monitor(task={self.task!r}, model={self.model!r}, window={self.window}, "
                f"rules={len(self._engine.rules)})")
