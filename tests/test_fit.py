"""FitMonitor: the documented rules on a real training run and on constructed curves."""
import math

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

import tallyml
from tallyml.fit import FitMonitor


def _digits(train_size):
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, train_size=train_size, test_size=600, random_state=0)


def test_tree_depth_sweep_underfits_then_overfits():
    """Deeper and deeper trees on 300 digits: shallow trees cannot fit the training set
    (underfitting); past the depth where the training error reaches 0 the validation error stops
    improving while the gap stays wide (overfitting)."""
    Xtr, Xva, ytr, yva = _digits(300)
    changes = []
    f = FitMonitor(target_train_error=0.3, min_steps=1, patience=3, gap_tolerance=0.1,
                   on_change=changes.append)
    states, train_err = [], []
    for depth in range(1, 16):
        m = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(Xtr, ytr)
        tr = 1 - accuracy_score(ytr, m.predict(Xtr))
        va = 1 - accuracy_score(yva, m.predict(Xva))
        states.append(f.update(train_error=tr, val_error=va))
        train_err.append(tr)
    assert states[0] == "underfitting"
    assert states[-1] == "overfitting"
    # underfitting exactly where the training error is above the target
    for s, tr in zip(states, train_err):
        assert (s == "underfitting") == (tr > 0.3)
    # it was healthy in between (learning: the validation error still improved)
    assert "healthy" in states[states.index("underfitting") + 1:states.index("overfitting")]
    assert [c["state"] for c in changes] == ["underfitting", "healthy", "overfitting"]
    ind = f.indicators()
    assert ind["gap"] == pytest.approx(ind["val_error"] - ind["train_error"])
    assert ind["overfitting"] == pytest.approx(ind["train_error"] / ind["val_error"])
    assert ind["underfitting"] == pytest.approx(1 - ind["overfitting"])
    assert f.best_step is not None and f.best_step < 15


def test_partial_fit_on_tiny_sample_with_metric_objects_and_scores():
    """SGD trained epoch by epoch on 60 digits with accuracy scores (higher is better)."""
    Xtr, Xva, ytr, yva = _digits(60)
    clf = SGDClassifier(loss="log_loss", alpha=1e-6, learning_rate="constant", eta0=0.05,
                        random_state=0)
    # improvements under 1 point of accuracy do not count (min_delta)
    f = FitMonitor(patience=3, gap_tolerance=0.05, stop_patience=8, min_delta=0.01)
    states = []
    classes = np.unique(np.r_[ytr, yva])
    for epoch in range(40):
        clf.partial_fit(Xtr / 16, ytr, classes=classes)
        states.append(f.update(train=accuracy_score(ytr, clf.predict(Xtr / 16)),
                               val=accuracy_score(yva, clf.predict(Xva / 16))))
    # 60 samples are memorised: training accuracy 1, validation far lower, no more progress
    assert f.indicators()["train_error"] == 0.0
    assert states[-1] == "overfitting"
    assert f.should_stop


class _FakeMetric:
    """Stands in for a tallyml metric object (has update() and a named reading)."""

    def __init__(self, value):
        self.value = value

    def update(self, *a):
        pass

    def accuracy(self):
        return self.value


def test_metric_objects_are_read_through_metric_name():
    f = FitMonitor(metric="accuracy")
    f.update(train=_FakeMetric(0.9), val=_FakeMetric(0.8))
    assert f.indicators()["train_error"] == pytest.approx(0.1)
    with pytest.raises(TypeError, match="metric"):
        FitMonitor().update(train=_FakeMetric(0.9), val=0.8)


def test_rules_on_constructed_curves():
    # a gap that keeps growing while validation stops improving: overfitting after patience
    f = FitMonitor(patience=3, gap_tolerance=0.05)
    tr = [0.30, 0.20, 0.15, 0.10, 0.06, 0.03, 0.01]
    va = [0.32, 0.25, 0.22, 0.22, 0.23, 0.23, 0.24]
    got = [f.update(train_error=a, val_error=b) for a, b in zip(tr, va)]
    assert got[:4] == ["healthy"] * 4
    assert got[-1] == "overfitting"
    # validation rising with training falling: overfitting even with a small gap
    g = FitMonitor(patience=2, gap_tolerance=1.0)
    got = [g.update(train_error=a, val_error=b) for a, b in
           [(0.2, 0.2), (0.19, 0.205), (0.18, 0.21)]]
    assert got == ["healthy", "healthy", "overfitting"]
    # a wide gap that is closing is learning, not overfitting
    h = FitMonitor(patience=2, gap_tolerance=0.05)
    got = [h.update(train_error=0.1, val_error=v) for v in (0.5, 0.4, 0.3, 0.2)]
    assert got == ["healthy"] * 4
    # underfitting only after min_steps
    u = FitMonitor(target_train_error=0.1, min_steps=3)
    got = [u.update(train_error=0.5, val_error=0.5) for _ in range(4)]
    assert got == ["healthy", "healthy", "underfitting", "underfitting"]


def test_callbacks_values_and_early_stopping():
    seen = {"overfitting": 0, "healthy": 0}
    f = FitMonitor(patience=2, gap_tolerance=0.0, stop_patience=3,
                   on_overfitting=lambda i: seen.__setitem__("overfitting", seen["overfitting"] + 1),
                   on_healthy=lambda i: seen.__setitem__("healthy", seen["healthy"] + 1))
    assert math.isnan(f.values()["overfitting_ratio"]) and f.indicators() is None
    for v in (0.3, 0.31, 0.32, 0.33, 0.34):
        f.update(train_error=0.1, val_error=v)
    assert seen["overfitting"] + seen["healthy"] == 5 and seen["overfitting"] >= 1
    assert f.should_stop and f.best_step == 1
    vals = f.values()
    assert vals["overfitting_detected"] == 1.0 and vals["should_stop"] == 1.0
    assert vals["generalization_gap"] == pytest.approx(0.24)
    assert len(f.history()) == 5


def test_contract_and_bad_input():
    f = tallyml.FitMonitor()
    assert f.update(train_error=0.1, val_error=0.12) in ("healthy", "overfitting", "underfitting")
    with pytest.raises(TypeError, match="exactly one"):
        f.update(train_error=0.1)
    with pytest.raises(ValueError, match="val_error must be finite"):
        f.update(train_error=0.1, val_error=float("nan"))
    assert f.step == 1  # failed calls change nothing
    with pytest.raises(ValueError, match="patience"):
        FitMonitor(patience=0)
    with pytest.raises(ValueError, match="event"):
        f.add_callback("sometimes", print)
    with pytest.raises(TypeError, match="callable"):
        f.add_callback("change", 3)
