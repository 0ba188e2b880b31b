"""Over- and under-fitting of a model in training: FitMonitor.

Feed one training and one validation value per step (epoch, evaluation, tree depth...):
errors or losses (lower is better), or scores such as accuracy or F1 (higher is better, turned
into errors as 1 - score), or tallyml metric objects read through ``metric``.

Indicators at each step (``train`` and ``val`` are errors):
    overfitting = train / val        (1: no gap; towards 0: memorising; nan when val = 0)
    underfitting = 1 - overfitting
    gap = val - train                (the generalisation gap)
    gap_trend = least-squares slope of the gap over the last ``patience + 1`` steps (per step)

Classification of each step, in this order (documented, each threshold configurable):
    1. "underfitting" when at least ``min_steps`` steps have been seen and the training error is
       above ``target_train_error`` (the model cannot even fit the data it sees);
    2. "overfitting" when the gap has been above ``gap_tolerance`` at each of the last
       ``patience`` steps and is not shrinking (least-squares slope of the last ``patience + 1``
       gaps >= 0: growing, or stuck wide after the training error reached its floor) while the
       validation error has not improved on its best (by more than ``min_delta``) for
       ``patience`` steps, or when the validation error has risen ``patience`` steps in a row
       while the training error did not (a wide gap that still buys validation improvements is
       learning, not overfitting);
    3. "healthy" otherwise.

Signals for the training loop: callbacks on every state change (``on_change``) and for each state
(``on_overfitting``, ``on_underfitting``, ``on_healthy``), ``should_stop`` (early stopping: no
improvement of the best validation error by more than ``min_delta`` for ``stop_patience`` steps),
and ``best_step`` / ``best_val_error`` (which checkpoint to keep).
"""
from __future__ import annotations

import collections
import math
import numbers
import threading

__all__ = ["FitMonitor", "FIT_STATES"]

FIT_STATES = ("healthy", "overfitting", "underfitting")


def _finite(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite; got {value!r}")
    return v


def _count(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _slope(values) -> float:
    """Least-squares slope of ``values`` against 0, 1, 2, ..."""
    n = len(values)
    if n < 2:
        return 0.0
    xm = (n - 1) / 2.0
    ym = sum(values) / n
    num = sum((i - xm) * (v - ym) for i, v in enumerate(values))
    den = sum((i - xm) ** 2 for i in range(n))
    return num / den


class FitMonitor:
    """Classify each training step as healthy, overfitting or underfitting (see module doc).

    Parameters
    ----------
    gap_tolerance : validation minus training error allowed before a growing gap counts.
    patience : steps a gap must keep growing (or the validation error keep rising).
    target_train_error : training error above which the model underfits, once ``min_steps``
        steps have been seen (None: never classify as underfitting).
    min_steps : steps before underfitting can be declared.
    metric : name of the method read from tallyml metric objects passed to ``update``
        (e.g. "accuracy", "f1"); the value is a score unless ``higher_is_better=False``.
    higher_is_better : whether ``train``/``val`` values passed to ``update`` are scores.
    stop_patience, min_delta : early-stopping rule behind ``should_stop``.
    history : steps kept in ``history()`` (a ring; memory is bounded).
    """

    def __init__(self, *, gap_tolerance: float = 0.05, patience: int = 3,
                 target_train_error: float | None = None, min_steps: int = 5,
                 metric: str | None = None, higher_is_better: bool = True,
                 stop_patience: int = 10, min_delta: float = 0.0, history: int = 10_000,
                 on_change=None, on_overfitting=None, on_underfitting=None, on_healthy=None):
        self.gap_tolerance = _finite("gap_tolerance", gap_tolerance)
        self.patience = _count("patience", patience, 1)
        self.target_train_error = (None if target_train_error is None
                                   else _finite("target_train_error", target_train_error))
        self.min_steps = _count("min_steps", min_steps, 0)
        if metric is not None and not isinstance(metric, str):
            raise TypeError(f"metric must be a method name (str) or None; got {metric!r}")
        self.metric = metric
        self.higher_is_better = bool(higher_is_better)
        self.stop_patience = _count("stop_patience", stop_patience, 1)
        self.min_delta = _finite("min_delta", min_delta)
        self._history_len = _count("history", history, 1)
        self._callbacks = {"change": [], "overfitting": [], "underfitting": [], "healthy": []}
        for key, cb in (("change", on_change), ("overfitting", on_overfitting),
                        ("underfitting", on_underfitting), ("healthy", on_healthy)):
            if cb is not None:
                self.add_callback(key, cb)
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.step = 0
        self.state = None
        self._gaps = collections.deque(maxlen=self.patience + 1)
        self._trains = collections.deque(maxlen=self.patience + 1)
        self._vals = collections.deque(maxlen=self.patience + 1)
        self._history = collections.deque(maxlen=self._history_len)
        self.best_step = None
        self.best_val_error = math.inf
        self._since_best = 0

    def __getstate__(self):  # pickle / copy: state and callbacks, not the lock
        d = dict(self.__dict__)
        del d["_lock"]
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self._lock = threading.Lock()

    def add_callback(self, event: str, callback) -> None:
        """Call ``callback(info)`` on ``event``: "change" (state changed; info has "previous"),
        "overfitting", "underfitting" or "healthy" (every step in that state)."""
        if event not in self._callbacks:
            raise ValueError(f"event must be one of {tuple(self._callbacks)}; got {event!r}")
        if not callable(callback):
            raise TypeError(f"callback must be callable; got {callback!r}")
        self._callbacks[event].append(callback)

    def _as_error(self, name, value):
        if hasattr(value, "update") and not isinstance(value, numbers.Real):
            if self.metric is None:
                raise TypeError(f"{name} is a metric object: pass FitMonitor(metric=...) to read it")
            read = getattr(value, self.metric, None)
            if read is None:
                raise ValueError(f"{name} has no metric {self.metric!r}")
            value = read() if callable(read) else read
            return self._as_error(name, float(value))
        v = _finite(name, value)
        return 1.0 - v if self.higher_is_better else v

    def update(self, train=None, val=None, *, train_error=None, val_error=None) -> str:
        """Record one step; returns its state ("healthy", "overfitting" or "underfitting").

        Pass ``train_error``/``val_error`` (lower is better), or ``train``/``val`` (scores if
        ``higher_is_better``, or metric objects read through ``metric``)."""
        if (train_error is None) == (train is None) or (val_error is None) == (val is None):
            raise TypeError("pass exactly one of train / train_error and one of val / val_error")
        tr = _finite("train_error", train_error) if train is None else self._as_error("train", train)
        va = _finite("val_error", val_error) if val is None else self._as_error("val", val)
        with self._lock:
            info, fire = self._step(tr, va)
        for key in fire:
            for cb in self._callbacks[key]:
                cb(info)
        return info["state"]

    def _step(self, tr, va):
        self.step += 1
        gap = va - tr
        self._gaps.append(gap)
        self._trains.append(tr)
        self._vals.append(va)
        if va < self.best_val_error - self.min_delta:
            self.best_val_error = va
            self.best_step = self.step
            self._since_best = 0
        else:
            self._since_best += 1

        state = "healthy"
        if (self.target_train_error is not None and self.step >= self.min_steps
                and tr > self.target_train_error):
            state = "underfitting"
        elif len(self._gaps) == self.patience + 1:
            g, t, v = list(self._gaps), list(self._trains), list(self._vals)
            wide = all(x > self.gap_tolerance for x in g[1:])
            not_shrinking = _slope(g) >= 0.0
            val_rising = (all(v[i + 1] > v[i] for i in range(self.patience))
                          and all(t[i + 1] <= t[i] for i in range(self.patience)))
            stalled = self._since_best >= self.patience
            if (wide and not_shrinking and stalled) or val_rising:
                state = "overfitting"
        previous = self.state
        self.state = state
        ratio = tr / va if va != 0 else math.nan
        info = {
            "step": self.step, "state": state, "previous": previous,
            "train_error": tr, "val_error": va, "gap": gap,
            "gap_trend": _slope(list(self._gaps)),
            "overfitting": ratio, "underfitting": 1.0 - ratio,
            "best_step": self.best_step, "should_stop": self._since_best >= self.stop_patience,
        }
        self._history.append(info)
        fire = [state] + (["change"] if state != previous else [])
        return info, fire

    @property
    def should_stop(self) -> bool:
        """Early-stopping signal: the best validation error has not improved (by more than
        ``min_delta``) for ``stop_patience`` steps."""
        return self._since_best >= self.stop_patience

    def indicators(self) -> dict | None:
        """The last step's indicators (see module doc), or None before the first step."""
        with self._lock:
            return dict(self._history[-1]) if self._history else None

    def values(self) -> dict:
        """Flat numeric values for alert rules and exporters (``overfitting_detected`` etc. are
        0/1); the ratios are nan before the first step."""
        last = self.indicators()
        nan = math.nan
        if last is None:
            return {"train_error": nan, "val_error": nan, "generalization_gap": nan,
                    "gap_trend": nan, "overfitting_ratio": nan, "underfitting_ratio": nan,
                    "overfitting_detected": 0.0, "underfitting_detected": 0.0, "should_stop": 0.0}
        return {"train_error": last["train_error"], "val_error": last["val_error"],
                "generalization_gap": last["gap"], "gap_trend": last["gap_trend"],
                "overfitting_ratio": last["overfitting"], "underfitting_ratio": last["underfitting"],
                "overfitting_detected": float(last["state"] == "overfitting"),
                "underfitting_detected": float(last["state"] == "underfitting"),
                "should_stop": float(last["should_stop"])}

    def history(self) -> list:
        """Per-step indicators, oldest first (the last ``history`` steps)."""
        with self._lock:
            return [dict(h) for h in self._history]
