"""The demo's story: a model trained on a bundled dataset, served in batches with delayed labels,
hit by drift midway, and retrained on recent labelled data when the alerts fire.

Everything runs on a *scenario clock* (seconds since the run started) that the caller advances
with :meth:`Scenario.step`: the command line passes wall-clock time, tests pass simulated time
and finish in a fraction of a second. The same clock drives the monitor's alert timing.

The data: scikit-learn's bundled breast-cancer table (569 rows, 30 features, read from the
installed package, no download). Served rows are resampled from held-out rows with a little
Gaussian noise; the *covariate shift* moves the size and texture features by ``SHIFT_SD``
standard deviations (a recalibrated measuring device), which moves the model's decision
boundary; the optional *concept shift* later flips the labels of the largest-texture rows.
"""
from __future__ import annotations

import collections
import dataclasses
import math
import time
import warnings

import numpy as np

__all__ = ["Schedule", "Scenario", "LogisticModel", "load_dataset", "SHIFT_SD", "PHASES"]

#: standard deviations added to the shifted features at the covariate shift
SHIFT_SD = 0.8
#: noise (standard deviations) added to every served row, so that resampled rows differ
NOISE_SD = 0.3
_SHIFTED = ("radius", "perimeter", "area", "texture")
#: phases of the run, in order (a prediction belongs to the phase it was made in)
PHASES = ("baseline", "drifted", "retrained")
_RETRAIN_ON = ("ScoreDrift", "AccuracyDrop")  # the alerts whose firing asks for retraining


def load_dataset():
    """(X float64 (569, 30), y int64 (569,), feature names) of scikit-learn's bundled
    breast-cancer data (read from the installed package: no network)."""
    try:
        from sklearn.datasets import load_breast_cancer
    except ImportError as e:  # scikit-learn is not a core dependency of tallyml
        raise ImportError("tallyml demo trains on a dataset bundled with scikit-learn, which "
                          "is not installed: pip install scikit-learn") from e
    data = load_breast_cancer()
    return (np.asarray(data.data, dtype=np.float64), np.asarray(data.target, dtype=np.int64),
            [str(f) for f in data.feature_names])


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))


class LogisticModel:
    """Logistic regression in numpy: standardisation fitted on the training rows, mini-batch
    gradient descent with L2. ``predict_proba`` returns P(y = 1) as float64."""

    def __init__(self, *, lr=0.1, l2=1e-3, batch=32):
        self.lr, self.l2, self.batch = lr, l2, batch
        self.mean = self.scale = self.coef = None
        self.intercept = 0.0

    def fit(self, X, y, *, epochs, rng, X_val=None, y_val=None, on_epoch=None):
        """Train from scratch; ``on_epoch(epoch, train_accuracy, val_accuracy, train_loss,
        val_loss)`` after every epoch when validation rows are given."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        self.mean = X.mean(axis=0)
        self.scale = X.std(axis=0)
        self.scale[self.scale == 0] = 1.0
        Z = (X - self.mean) / self.scale
        self.coef = np.zeros(X.shape[1])
        self.intercept = 0.0
        for epoch in range(1, epochs + 1):
            for idx in np.array_split(rng.permutation(len(y)), max(1, len(y) // self.batch)):
                g = _sigmoid(Z[idx] @ self.coef + self.intercept) - y[idx]
                self.coef -= self.lr * (Z[idx].T @ g / len(idx) + self.l2 * self.coef)
                self.intercept -= self.lr * float(g.mean())
            if on_epoch is not None and X_val is not None:
                tr_acc, tr_loss = self.evaluate(X, y)
                va_acc, va_loss = self.evaluate(X_val, y_val)
                on_epoch(epoch, tr_acc, va_acc, tr_loss, va_loss)
        return self

    def predict_proba(self, X):
        return _sigmoid(((np.asarray(X) - self.mean) / self.scale) @ self.coef + self.intercept)

    def evaluate(self, X, y):
        """(accuracy, log loss) on labelled rows."""
        p = np.clip(self.predict_proba(X), 1e-12, 1 - 1e-12)
        y = np.asarray(y, dtype=np.float64)
        acc = float(np.mean((p >= 0.5) == (y == 1)))
        loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        return acc, loss


def _round_window(n):
    """A window length that ``Windowed`` splits into 10 buckets (a multiple of 10), >= 50."""
    return int(max(50, 10 * round(n / 10)))


@dataclasses.dataclass(frozen=True)
class Schedule:
    """When things happen, in scenario seconds; every length scales with the run's duration so
    that a 5-second CI run tells the same story as a 10-minute one."""

    duration: float
    rate: float  # predictions per second
    tick: float  # seconds between served batches
    drift_at: float  # covariate shift starts
    concept_at: float | None  # concept shift starts (None: no concept shift)
    label_delay: float  # seconds between a prediction and its label
    window: int  # samples in the sliding metric window (and the drift window)
    rule_for: float  # seconds a rule's condition must hold before it fires
    sample_every: float  # seconds between rule evaluations and recorded history points
    retrain_min_labels: int  # labelled rows after an alert before retraining
    retrain_cooldown: float  # seconds after a retraining before another may start
    resources_interval: float  # seconds between resource readings

    @classmethod
    def for_run(cls, duration, rate, *, concept_shift=False):
        duration = float(duration)
        rate = float(rate)
        if not (math.isfinite(duration) and duration > 0):
            raise ValueError(f"duration must be a positive number of seconds; got {duration!r}")
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be a positive number of predictions per second; got {rate!r}")
        tick = 0.05  # 20 batches a second
        window = _round_window(min(5000.0, rate * duration * 0.06))
        return cls(
            duration=duration, rate=rate, tick=tick,
            drift_at=0.35 * duration,
            concept_at=0.7 * duration if concept_shift else None,
            label_delay=min(2.0, 0.03 * duration),
            window=window,
            rule_for=min(5.0, 0.02 * duration),
            sample_every=min(1.0, max(0.15, duration / 120)),
            retrain_min_labels=max(200, 2 * window),
            retrain_cooldown=0.1 * duration,
            resources_interval=min(1.0, max(0.1, duration / 60)),
        )


class _Stream:
    """Served rows: resampled held-out rows plus noise, shifted after the covariate shift."""

    def __init__(self, X, y, feature_names, rng):
        self._X, self._y, self._rng = X, y, rng
        self._sd = X.std(axis=0)
        self.shift = np.zeros(X.shape[1])
        self._shift_cols = [j for j, f in enumerate(feature_names) if any(k in f for k in _SHIFTED)]
        self._texture = next(j for j, f in enumerate(feature_names) if f == "worst texture")
        self._flip_above = None

    def covariate_shift(self):
        self.shift[self._shift_cols] = SHIFT_SD * self._sd[self._shift_cols]

    def concept_shift(self):
        # rows whose (served) worst texture is in the top third change their label
        self._flip_above = float(np.quantile(self._X[:, self._texture], 2 / 3))

    def draw(self, n):
        i = self._rng.integers(0, len(self._y), n)
        X = self._X[i] + self._rng.normal(0.0, NOISE_SD, (n, self._X.shape[1])) * self._sd
        y = self._y[i].copy()
        if self._flip_above is not None:
            flip = X[:, self._texture] > self._flip_above
            y[flip] = 1 - y[flip]
        return X + self.shift, y


class Scenario:
    """Train, serve, drift, detect, retrain: see the module docstring.

    ``step(now)`` serves every batch due up to scenario time ``now`` and delivers the labels
    that have arrived; ``history()``, ``events()``, ``summary()`` and ``snapshot()`` read what
    happened (any thread). ``close()`` stops the monitor's resource thread.
    """

    def __init__(self, *, duration=60.0, rate=200.0, seed=0, concept_shift=False,
                 resources=True, warm_up=True):
        from .. import BinaryMetrics, Monitor
        from ..curves import BinaryCurves

        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
        self.schedule = s = Schedule.for_run(duration, rate, concept_shift=concept_shift)
        self.seed = int(seed)
        self._rng = np.random.default_rng(self.seed)
        self._now = 0.0
        self._events: list = []
        self._history: list = []
        self._training: list = []  # one row per epoch, every training round
        import threading

        self._lock = threading.Lock()  # history/events: read by the web server's threads

        X, y, names = load_dataset()
        self.feature_names = names
        perm = self._rng.permutation(len(y))
        n_train = int(0.6 * len(y))
        tr, ho = perm[:n_train], perm[n_train:]
        self._X_train, self._y_train = X[tr], y[tr]
        self._stream = _Stream(X[ho], y[ho], names, self._rng)
        # validation: a sample of served-like rows from the held-out table (before any drift)
        self._X_val, self._y_val = self._stream.draw(max(300, 3 * s.window))

        self.monitor = None
        self.model = self._train(self._X_train, self._y_train, self._X_val, self._y_val, round_=0)
        # reference scores for drift: the model on pre-deployment rows, several windows long
        X_ref, _ = self._stream.draw(max(2000, 20 * s.window))
        reference = self.model.predict_proba(X_ref)
        self.monitor = Monitor(
            "binary", window=s.window, reference_scores=reference, drift_window=s.window,
            # rules are evaluated by _record (one values() pass feeds rules, history, views)
            rules=self._rules(), on_alert=self._on_alert, evaluate_every=1e12,
            resources=s.resources_interval if resources else False, resources_gpu=resources,
            model="demo", clock=lambda: self._now, max_pending=max(100_000, 10 * s.window))
        for row in self._training:  # the first training's curves, recorded in the fit monitor
            self.monitor.observe_fit(train=row["train_accuracy"], val=row["val_accuracy"])
        self.curves = BinaryCurves()
        self.phase_metrics = {p: BinaryMetrics(zero_division=0) for p in PHASES}
        self.monitor.exporter().track(self.curves, name="curves")
        if warm_up:
            self._warm_up(reference)

        self.phase = "baseline"
        self._next_id = 0
        self._next_batch = 0.0
        self._owed = 0.0  # fractional predictions carried to the next batch
        self._labels: collections.deque = collections.deque()  # (due, ids, y, scores, X, phase)
        self._since_alert: list = []  # (X row, y) labelled after the alert that wants retraining
        self._retrain_wanted = None  # the alert that asked for it
        self._fresh_scores = None  # the retrained model's served scores, for the new reference
        self._last_retrain = -math.inf
        self._next_sample = 0.0
        self._snapshot = None
        self._finished = False
        self._concept_done = False
        self.retrains = 0
        self._event("trained", f"logistic regression on {len(self._y_train)} rows; validation "
                    f"accuracy {self._training[-1]['val_accuracy']:.3f}")
        self._maybe_record()

    # ------------------------------------------------------------------ setup
    def _rules(self):
        s = self.schedule
        return [
            {"name": "ScoreDrift", "expr": "drift_detected", "for": s.rule_for, "for_count": 3,
             "severity": "warning", "summary": "model scores drifted from the reference"},
            {"name": "AccuracyDrop", "expr": "accuracy_window < 0.85", "for": s.rule_for,
             "for_count": 2, "clear": "accuracy_window > 0.9", "severity": "critical",
             "summary": "windowed accuracy below 0.85"},
            {"name": "EstimatedAccuracyDrop", "expr": "estimated_accuracy_window < 0.85",
             "for_count": 2, "severity": "warning",
             "summary": "label-free estimate of accuracy below 0.85"},
            {"name": "SlowPredictions", "expr": "latency_p99_seconds > 0.05", "for_count": 3,
             "severity": "warning", "summary": "p99 latency above 50 ms"},
        ]

    def _train(self, X, y, X_val, y_val, *, round_):
        s = self.schedule
        epochs = 30

        def on_epoch(epoch, tr_acc, va_acc, tr_loss, va_loss):
            row = {"round": round_, "epoch": epoch, "time": self._now,
                   "train_accuracy": tr_acc, "val_accuracy": va_acc,
                   "train_loss": tr_loss, "val_loss": va_loss}
            with self._lock:
                self._training.append(row)
            if self.monitor is not None:
                self.monitor.observe_fit(train=tr_acc, val=va_acc)

        del s
        return LogisticModel().fit(X, y, epochs=epochs, rng=self._rng, X_val=X_val, y_val=y_val,
                                   on_epoch=on_epoch)

    def _warm_up(self, reference):
        """Run every counting path once on a scratch monitor, so that JIT compilation (numba
        fallbacks) happens before the clock starts, not in the middle of the story."""
        from .. import Monitor
        from ..curves import BinaryCurves

        m = Monitor("binary", window=50, reference_scores=reference, drift_window=50,
                    rules=self._rules(), model="warmup", clock=lambda: 0.0)
        try:
            p = reference[:64]
            t = (p >= 0.5).astype(np.int64)
            m.observe(p, ids=list(range(64)), latency=1e-4)
            m.observe_labels(list(range(64)), t)
            m.observe(p, t, latency=1e-4)
            m.snapshot()
            m.exporter().exposition()
            BinaryCurves().update(t, p)
        finally:
            m.close()

    # ------------------------------------------------------------------ events and alerts
    def _event(self, kind, detail):
        with self._lock:
            self._events.append({"time": round(self._now, 4), "kind": kind, "detail": detail})

    def _on_alert(self, event):
        # runs inside observe/observe_labels (the serving loop): only note what to do
        self._event(f"alert_{event.state}", event.rule)
        triggers = ("AccuracyDrop",) if self._fresh_scores is not None else _RETRAIN_ON
        if event.rule not in triggers:
            return
        if event.state == "firing" and self._retrain_wanted is None:
            self._retrain_wanted = event.rule
            self._since_alert = []
        elif event.state != "firing" and event.rule == self._retrain_wanted:
            # the reason went away before enough labels arrived: keep waiting only while
            # another trigger still fires
            other = [a["name"] for a in self.monitor.alerts()
                     if a["state"] == "firing" and a["name"] in triggers and a["name"] != event.rule]
            self._retrain_wanted = other[0] if other else None

    # ------------------------------------------------------------------ serving
    @property
    def now(self) -> float:
        return self._now

    @property
    def done(self) -> bool:
        return self._now >= self.schedule.duration

    def step(self, now: float) -> None:
        """Advance to scenario time ``now`` (seconds since the start; never backwards)."""
        s = self.schedule
        now = min(float(now), s.duration)
        while self._next_batch <= now and self._next_batch < s.duration:
            self._now = self._next_batch
            self._story()
            self._serve_batch()
            self._deliver_labels()
            self._maybe_retrain()
            self._maybe_record()
            self._next_batch += s.tick
        self._now = max(self._now, now)
        self._deliver_labels()
        self._maybe_record()

    def finish(self) -> None:
        """Record the final state (once): call at the end of the run or on interrupt."""
        if not self._finished:
            self._finished = True
            if self.monitor.resources is not None:  # freeze the readings with the run
                self.monitor.resources.stop()
            self._record()

    def _story(self):
        s = self.schedule
        if self.phase == "baseline" and self._now >= s.drift_at:
            self._stream.covariate_shift()
            self.phase = "drifted"
            self._event("covariate_shift", f"size and texture features +{SHIFT_SD} sd")
        if s.concept_at is not None and not self._concept_done and self._now >= s.concept_at:
            self._stream.concept_shift()
            self._concept_done = True
            self.phase = "drifted"
            self._event("concept_shift", "labels flip for the largest worst-texture rows")

    def _serve_batch(self):
        s = self.schedule
        self._owed += s.rate * s.tick
        n = int(self._owed)
        self._owed -= n
        if n == 0:
            return
        X, y = self._stream.draw(n)
        t0 = time.perf_counter()
        scores = self.model.predict_proba(X)
        latency = time.perf_counter() - t0
        ids = list(range(self._next_id, self._next_id + n))
        self._next_id += n
        self.monitor.observe(scores, ids=ids, latency=latency)
        if self._fresh_scores is not None:
            self._rebaseline(scores)
        self._labels.append((self._now + s.label_delay, ids, y, scores, X, self.phase))

    def _deliver_labels(self):
        while self._labels and self._labels[0][0] <= self._now:
            _, ids, y, scores, X, phase = self._labels.popleft()
            self.monitor.observe_labels(ids, y)
            self.curves.update(y, scores)
            self.phase_metrics[phase].update(y, scores)
            if self._retrain_wanted is not None:
                self._since_alert.extend(zip(X, y))

    def _maybe_retrain(self):
        s = self.schedule
        if (self._retrain_wanted is None or len(self._since_alert) < s.retrain_min_labels
                or self._now - self._last_retrain < s.retrain_cooldown):
            return
        # the maintenance action: retrain on the rows labelled since the alert fired (recent
        # data, after the shift), then re-baseline the drift reference on the new model's scores
        rows = self._since_alert
        X = np.array([r[0] for r in rows])
        y = np.array([r[1] for r in rows], dtype=np.int64)
        cut = int(0.8 * len(y))  # the newest fifth validates
        self.retrains += 1
        before = self.model.evaluate(X[cut:], y[cut:])[0]
        model = self._train(X[:cut], y[:cut], X[cut:], y[cut:], round_=self.retrains)
        after = model.evaluate(X[cut:], y[cut:])[0]
        self.model = model
        self._fresh_scores = []
        self._last_retrain = self._now
        self._event("retrained", f"on {len(y)} rows labelled since {self._retrain_wanted} fired; "
                    f"held-out accuracy {before:.3f} -> {after:.3f}")
        self._retrain_wanted = None
        self._since_alert = []
        self.phase = "retrained"

    def _rebaseline(self, scores):
        """After a retraining the score distribution is the new model's: once it has served
        five drift windows, those scores become the drift reference (enough for ScoreDrift to
        calibrate its thresholds); until then drift is measured against the old reference."""
        self._fresh_scores.append(scores)
        fresh = np.concatenate(self._fresh_scores)
        if len(fresh) >= 5 * self.schedule.window:
            self.monitor.set_drift_reference(fresh)
            self._fresh_scores = None
            self._event("drift_reference", f"renewed from the retrained model's {len(fresh)} "
                        "latest scores")

    # ------------------------------------------------------------------ reading
    def _maybe_record(self):
        if self._now + 1e-9 < self._next_sample:
            return
        self._next_sample = self._now + self.schedule.sample_every
        self._record()

    def _record(self):
        snap = self.monitor.snapshot()
        self.monitor.evaluate(snap["values"])  # rules fire here (and TensorBoard is written)
        snap["alerts"] = self.monitor.alerts()
        point = self._point(snap["values"], snap["alerts"])
        snap["demo"] = self._demo_state(point["roc_auc"])
        with self._lock:
            self._history.append(point)
            self._snapshot = snap

    def _auc(self):
        if self.curves.total_weight == 0:
            return math.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(self.curves.roc_auc())

    def _point(self, v, alerts):
        firing = [a["name"] for a in alerts if a["state"] == "firing"]
        return {
            "time": round(self._now, 4), "phase": self.phase,
            "accuracy": v["accuracy"], "accuracy_window": v["accuracy_window"],
            "f1_window": v["f1_window"],
            "estimated_accuracy_window": v.get("estimated_accuracy_window", math.nan),
            "roc_auc": self._auc(),
            "psi": v.get("psi", math.nan), "ks": v.get("ks", math.nan),
            "drift_detected": v.get("drift_detected", math.nan),
            "latency_p50_seconds": v["latency_p50_seconds"],
            "latency_p99_seconds": v["latency_p99_seconds"],
            "cpu_ratio": v.get("process_cpu_ratio", math.nan),
            "rss_bytes": v.get("process_rss_bytes", math.nan),
            "predictions": v["predictions_total"], "labelled": v["labelled_total"],
            "pending": v["pending_labels"], "firing": firing,
        }

    def history(self) -> list:
        with self._lock:
            return list(self._history)

    def events(self) -> list:
        with self._lock:
            return list(self._events)

    def training(self) -> list:
        with self._lock:
            return list(self._training)

    def snapshot(self) -> dict:
        """The last recorded monitor snapshot plus the demo's own state (``demo``): what the
        live views show. Taken every ``schedule.sample_every`` seconds, not per call."""
        with self._lock:
            return self._snapshot

    def _demo_state(self, auc):
        return {
            "now": self._now, "duration": self.schedule.duration, "phase": self.phase,
            "progress": min(1.0, self._now / self.schedule.duration),
            "roc_auc": auc, "retrains": self.retrains,
            "schedule": dataclasses.asdict(self.schedule),
            "phases": self.phase_summary(),
        }

    def phase_summary(self) -> dict:
        """Realized quality per phase (predictions counted in the phase they were made)."""
        out = {}
        for p, m in self.phase_metrics.items():
            if m.count == 0:
                out[p] = None
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                v = m.compute()
            out[p] = {"count": int(m.count), "accuracy": float(v["accuracy"]),
                      "f1": float(v["f1"]), "mcc": float(v["mcc"])}
        return out

    def summary(self) -> dict:
        """The end-of-run figures: the monitor's values, quality per phase, what happened when."""
        v = self.monitor.values()
        ev = self.events()

        def first(kind, detail=None):
            return next((e["time"] for e in ev if e["kind"] == kind
                         and (detail is None or e["detail"] == detail)), None)

        lat = self.monitor.latency.snapshot()
        return {
            "duration": self._now, "seed": self.seed, "rate": self.schedule.rate,
            "predictions": int(v["predictions_total"]), "labelled": int(v["labelled_total"]),
            "accuracy": v["accuracy"], "f1": v["f1"], "mcc": v["mcc"],
            "accuracy_window": v["accuracy_window"],
            "estimated_accuracy_window": v.get("estimated_accuracy_window", math.nan),
            "roc_auc": self._auc(),
            "psi": v.get("psi", math.nan), "drift_detected": v.get("drift_detected", math.nan),
            "latency_p50_seconds": lat["p50_seconds"], "latency_p99_seconds": lat["p99_seconds"],
            "drift_injected_at": first("covariate_shift"),
            "drift_alert_at": first("alert_firing", "ScoreDrift"),
            "accuracy_alert_at": first("alert_firing", "AccuracyDrop"),
            "retrained_at": first("retrained"),
            "retrains": self.retrains,
            "phases": self.phase_summary(),
            "alerts": self.monitor.alerts(),
        }

    def close(self) -> None:
        self.monitor.close()
