"""tallyml.Monitor against scikit-learn (realized metrics, cumulative and windowed), against
direct computations (label-free estimates, latency quantiles) and the drift/fit components fed
the same stream; delayed labels joined by id; rules and callbacks; bad input; checkpoints;
threads; the HTTP endpoint."""
from __future__ import annotations

import json
import math
import threading
import urllib.request
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

import tallyml
from tallyml.monitor._checkpoint import MonitorCheckpointError

BACKEND = "numpy"  # the kernels' own tests cover the compiled backends; one test below uses "auto"


def Monitor(*args, **kwargs):
    kwargs.setdefault("backend", BACKEND)
    return tallyml.Monitor(*args, **kwargs)


SK = {
    "accuracy": lambda y, p, avg: skm.accuracy_score(y, p),
    "precision": lambda y, p, avg: skm.precision_score(y, p, average=avg, zero_division=0),
    "recall": lambda y, p, avg: skm.recall_score(y, p, average=avg, zero_division=0),
    "f1": lambda y, p, avg: skm.f1_score(y, p, average=avg, zero_division=0),
    "jaccard": lambda y, p, avg: skm.jaccard_score(y, p, average=avg, zero_division=0),
    "hamming_loss": lambda y, p, avg: skm.hamming_loss(y, p),
}
SK_SINGLE = {
    "mcc": lambda y, p: skm.matthews_corrcoef(y, p),
    "cohen_kappa": lambda y, p: skm.cohen_kappa_score(y, p),
    "balanced_accuracy": lambda y, p: skm.balanced_accuracy_score(y, p),
}


def _check_against_sklearn(values, suffix, y, p, avg, labels=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's own undefined-metric warnings
        for name, fn in SK.items():
            if labels is not None and name not in ("accuracy", "hamming_loss"):
                want = fn(y, p, avg) if avg == "binary" else getattr(skm, {
                    "precision": "precision_score", "recall": "recall_score", "f1": "f1_score",
                    "jaccard": "jaccard_score"}[name])(y, p, average=avg, labels=labels, zero_division=0)
            else:
                want = fn(y, p, avg)
            assert values[name + suffix] == pytest.approx(want, rel=1e-12, abs=1e-15, nan_ok=True), name
        if y.ndim == 1:
            for name, fn in SK_SINGLE.items():
                assert values[name + suffix] == pytest.approx(fn(y, p), rel=1e-12, abs=1e-15, nan_ok=True), name


def _stream(rng, n, k=None):
    if k is None:
        y = (rng.random(n) < 0.4).astype(np.int64)
        s = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
        return y, s
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.0
    s = np.exp(logits)
    return y, s / s.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------- realized metrics
@pytest.mark.parametrize("chunks", [[700, 300, 1000, 500], [1, 99, 2400], [2500]])
def test_binary_total_and_window_equal_sklearn(chunks):
    rng = np.random.default_rng(sum(chunks) + len(chunks))
    y, s = _stream(rng, sum(chunks))
    m = Monitor("binary", window=1000, threshold=0.6, backend="auto" if len(chunks) == 1 else BACKEND)
    at = 0
    for c in chunks:
        m.observe(s[at:at + c], y[at:at + c])
        at += c
    v = m.values()
    pred = (s >= 0.6).astype(int)
    _check_against_sklearn(v, "", y, pred, "binary")
    _check_against_sklearn(v, "_window", y[-1000:], pred[-1000:], "binary")
    assert v["predictions_total"] == v["labelled_total"] == len(y)


def test_multiclass_scores_and_labels_equal_sklearn():
    rng = np.random.default_rng(1)
    y, s = _stream(rng, 1200, k=4)
    m = Monitor("multiclass", num_classes=4, window=600)
    m.observe(s[:500], y[:500])
    m.observe(s[500:].argmax(axis=1), y[500:])  # label predictions are counted too
    v = m.values()
    pred = s.argmax(axis=1)
    _check_against_sklearn(v, "", y, pred, "macro", labels=list(range(4)))
    _check_against_sklearn(v, "_window", y[-600:], pred[-600:], "macro", labels=list(range(4)))


def test_multilabel_equal_sklearn():
    rng = np.random.default_rng(2)
    y = (rng.random((800, 3)) < 0.5).astype(np.int64)
    s = np.clip(0.3 * y + 0.7 * rng.random((800, 3)), 0, 1)
    m = Monitor("multilabel", num_labels=3, window=400)
    for a in range(0, 800, 200):
        m.observe(s[a:a + 200], y[a:a + 200])
    pred = (s >= 0.5).astype(int)
    _check_against_sklearn(m.values(), "", y, pred, "macro")
    _check_against_sklearn(m.values(), "_window", y[-400:], pred[-400:], "macro")


def test_values_are_nan_before_labels_and_groups_match_compute():
    m = Monitor("binary", window=10)
    v = m.values()
    assert set(v) == m.known_values
    assert math.isnan(v["f1"]) and math.isnan(v["f1_window"]) and v["predictions_total"] == 0
    # the scalar names a monitor offers are exactly the scalars of the metric object's compute()
    for task, kw, y, p in [("binary", {}, [0, 1], [0.2, 0.9]),
                           ("multiclass", {"num_classes": 3}, [0, 1, 2], [0, 1, 1]),
                           ("multilabel", {"num_labels": 2}, [[0, 1], [1, 1]], [[0.1, 0.9], [0.8, 0.2]])]:
        mon = Monitor(task, **kw)
        mon.observe(np.array(p), np.array(y))
        obj = mon.metrics("total")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scalars = {k for k, x in obj.compute().items() if np.ndim(x) == 0}
        assert {k for k in mon.known_values if k in scalars} == scalars
        assert all(k + "_window" in mon.known_values for k in scalars)


# ---------------------------------------------------------------- delayed labels
def test_labels_joined_by_id_equal_sklearn_on_the_labelled_subset():
    rng = np.random.default_rng(3)
    y, s = _stream(rng, 2000)
    ids = [f"req-{i}" for i in range(2000)]
    m = Monitor("binary", window=100_000)
    for a in range(0, 2000, 250):
        m.observe(s[a:a + 250], ids=ids[a:a + 250])
    assert m.values()["pending_labels"] == 2000 and math.isnan(m.values()["f1"])
    order = rng.permutation(2000)[:1500]  # labels arrive out of order, a quarter never
    matched = 0
    for part in np.array_split(order, 7):
        matched += m.observe_labels([ids[i] for i in part], y[part])
    assert matched == 1500
    # labels for unknown ids and a second label for a joined id are not counted
    assert m.observe_labels(["nope", ids[order[0]]], [1, 0]) == 0
    v = m.values()
    assert v["labelled_total"] == 1500 and v["pending_labels"] == 500
    assert v["labels_unmatched_total"] == 2
    _check_against_sklearn(v, "", y[order], (s[order] >= 0.5).astype(int), "binary")


def test_multiclass_labels_joined_for_score_and_label_predictions():
    rng = np.random.default_rng(14)
    y, s = _stream(rng, 300, k=3)
    m = Monitor("multiclass", num_classes=3)
    m.observe(s[:200], ids=range(200))
    m.observe(s[200:].argmax(axis=1), ids=range(200, 300))
    assert m.observe_labels(range(300)[::-1], y[::-1]) == 300
    np.testing.assert_array_equal(m.metrics().confusion_matrix(),
                                  skm.confusion_matrix(y, s.argmax(axis=1), labels=range(3)))


def test_pending_buffer_is_bounded_and_evicts_the_oldest():
    m = Monitor("binary", max_pending=10)
    m.observe(np.linspace(0, 1, 25), ids=range(25))
    v = m.values()
    assert v["pending_labels"] == 10 and v["pending_evicted_total"] == 15
    assert m.observe_labels(range(15), np.ones(15, int)) == 0  # evicted
    assert m.observe_labels(range(15, 25), np.ones(10, int)) == 10
    assert m.metrics().count == 10


def test_bad_labels_change_nothing():
    m = Monitor("binary")
    m.observe(np.array([0.1, 0.9, 0.7]), ids=[1, 2, 3])
    before = m.snapshot()
    with pytest.raises(ValueError, match="target"):
        m.observe_labels([1, 2], [0, 5])
    with pytest.raises(ValueError, match="ids"):
        m.observe_labels([1, 2, 3], [0, 1])
    after = m.snapshot()
    assert after["counts"] == before["counts"] and after["confusion_matrix"] == before["confusion_matrix"]
    assert m.observe_labels([1, 2], [0, 1]) == 2


# ---------------------------------------------------------------- estimates, drift, latency, fit
def test_label_free_estimates_equal_expected_counts():
    rng = np.random.default_rng(4)
    s = rng.random(3000)
    m = Monitor("binary", window=1000)
    m.observe(s[:1700])
    m.observe(s[1700:])
    v = m.values()
    # calibrated scores: a sample predicted positive is correct with probability s, else 1 - s
    for name, part in (("estimated_accuracy", s), ("estimated_accuracy_window", s[-1000:])):
        want = np.where(part >= 0.5, part, 1 - part).mean()
        assert v[name] == pytest.approx(want, rel=1e-9)
    pos = s >= 0.5
    assert v["estimated_precision"] == pytest.approx(s[pos].mean(), rel=1e-9)
    assert v["estimated_recall"] == pytest.approx(s[pos].sum() / s.sum(), rel=1e-9)


def test_drift_values_follow_scoredrift_and_fire_a_rule():
    rng = np.random.default_rng(5)
    ref = rng.beta(2, 5, 6000)
    events = []
    m = Monitor("binary", window=500, reference_scores=ref, drift_window=500,
                        rules=[{"name": "score_drift", "expr": "psi > 0.2", "severity": "page"}],
                        on_alert=events.append, evaluate_every=0)
    direct = tallyml.ScoreDrift(ref, window=500)
    same = rng.beta(2, 5, 500)
    m.observe(same)
    direct.update(same)
    assert m.values()["psi"] == pytest.approx(direct.statistics()["psi"], rel=1e-12)
    assert m.alerts()[0]["state"] == "inactive" and not events
    shifted = rng.beta(5, 2, 500)
    m.observe(shifted)
    direct.update(shifted)
    v = m.values()
    assert v["psi"] == pytest.approx(direct.statistics()["psi"], rel=1e-12) and v["psi"] > 0.2
    assert v["drift_detected"] == float(direct.drifted())
    assert [e.state for e in events] == ["firing"] and events[0].rule == "score_drift"
    assert m.alerts()[0]["state"] == "firing"


def test_set_drift_reference_rebaselines():
    rng = np.random.default_rng(15)
    m = Monitor("binary", reference_scores=rng.beta(2, 5, 3000), drift_window=300)
    m.observe(rng.beta(5, 2, 300))
    old = m.drift
    with pytest.raises(ValueError):
        m.set_drift_reference(np.ones(3000))  # constant: no bins
    assert m.drift is old
    new_ref = rng.beta(5, 2, 3000)
    m.set_drift_reference(new_ref)
    assert m.drift.window == 300 and not m.drift.ready  # the window restarts empty
    batch = rng.beta(5, 2, 300)
    m.observe(batch)
    direct = tallyml.ScoreDrift(new_ref, window=300)
    direct.update(batch)
    assert m.values()["psi"] == pytest.approx(direct.statistics()["psi"], rel=1e-12)
    with pytest.raises(ValueError, match="no score drift"):
        Monitor("binary").set_drift_reference(new_ref)


def test_latency_values_follow_numpy_quantiles():
    rng = np.random.default_rng(6)
    d = rng.lognormal(-5, 1, 2000)
    m = Monitor("binary")
    for a in range(0, 2000, 100):
        m.observe(np.full(10, 0.5), latency=d[a:a + 100])
    m.observe(np.full(3, 0.5), latency=0.25)
    allv = np.append(d, 0.25)
    v = m.values()
    assert v["latency_calls_total"] == 2001
    assert v["latency_max_seconds"] == pytest.approx(allv.max(), rel=1e-12)
    assert v["latency_p50_seconds"] == pytest.approx(np.quantile(allv, 0.5), rel=0.01)
    assert v["latency_p99_seconds"] == pytest.approx(np.quantile(allv, 0.99), rel=0.01)


def test_fit_values_and_rule():
    events = []
    m = Monitor("binary", rules=[{"name": "overfit", "expr": "overfitting_detected"}],
                        on_alert=events.append, evaluate_every=0,
                        fit=tallyml.FitMonitor(patience=2, gap_tolerance=0.05))
    direct = tallyml.FitMonitor(patience=2, gap_tolerance=0.05)
    train = [0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01]
    val = [0.55, 0.4, 0.35, 0.36, 0.38, 0.41, 0.45]
    for t, v in zip(train, val):
        assert m.observe_fit(train_error=t, val_error=v) == direct.update(train_error=t, val_error=v)
    assert direct.state == "overfitting"
    assert m.values()["overfitting_detected"] == 1.0
    assert [e.rule for e in events] == ["overfit"]


# ---------------------------------------------------------------- rules
def test_rules_validation_and_cadence():
    t = [0.0]
    m = Monitor("binary", window=10, evaluate_every=5.0, clock=lambda: t[0],
                        rules=[tallyml.Rule("low_acc", "accuracy_window < 0.5", for_count=2)])
    with pytest.raises(ValueError, match="unknown values"):
        m.add_rule({"name": "x", "expr": "psi > 0.2"})  # no reference_scores: no drift values
    with pytest.raises(ValueError, match="rule dict"):
        m.add_rule({"name": "x", "expr": "f1 < 1", "bogus": 1})
    with pytest.raises(TypeError):
        m.add_rule("f1 < 1")
    bad = np.array([1, 1, 1, 1]), np.array([0.1, 0.1, 0.1, 0.1])
    m.observe(bad[1], bad[0])  # first call evaluates (t=0): pending
    assert m.alerts()[0]["state"] == "pending"
    t[0] = 1.0
    m.observe(bad[1], bad[0])  # within the cadence: not evaluated
    assert m.alerts()[0]["state"] == "pending"
    t[0] = 6.0
    m.observe(bad[1], bad[0])
    assert m.alerts()[0]["state"] == "firing"


def test_background_evaluation_fires_without_observe_calls():
    rules = [{"name": "any", "expr": "predictions_total > 0"}]
    slow = Monitor("binary", rules=rules, evaluate_every=3600, background=True)
    slow.observe(np.array([0.3]))
    assert slow.alerts()[0]["state"] == "inactive"  # observe itself does not evaluate
    slow.close()
    fired = threading.Event()
    m = Monitor("binary", rules=rules, on_alert=lambda e: fired.set(), evaluate_every=0.05,
                background=True)
    m.observe(np.array([0.3]))
    assert fired.wait(10)
    assert m.alerts()[0]["state"] == "firing"
    m.close()
    with pytest.raises(ValueError, match="background"):
        Monitor("binary", evaluate_every=0, background=True)


def test_a_failing_callback_does_not_break_observe(caplog):
    def boom(event):
        raise RuntimeError("callback failed")

    m = Monitor("binary", rules=[{"name": "any", "expr": "predictions_total > 0"}],
                        on_alert=boom, evaluate_every=0)
    m.observe(np.array([0.3]))
    assert m.alerts()[0]["state"] == "firing"
    assert "callback failed" in caplog.text


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("task,kw,preds,target,match", [
    ("binary", {}, np.array([[0.1, 0.2]]), None, "shape"),
    ("binary", {}, np.array([0.1, np.nan]), None, "finite"),
    ("binary", {}, np.array([0.1, 1.5]), None, r"\[0, 1\]"),
    ("binary", {}, np.array([0.1, 0.5]), np.array([0, 2]), "target"),
    ("binary", {}, np.array([0.1, 0.5]), np.array([0, 1, 1]), "same number"),
    ("binary", {}, np.array(["a"]), None, "numeric"),
    ("multiclass", {"num_classes": 3}, np.ones((2, 4)) / 4, None, "shape"),
    ("multiclass", {"num_classes": 3}, np.array([[0.5, 0.6, 0.1]]), None, "sums"),
    ("multiclass", {"num_classes": 3}, np.array([0.5, 0.6]), None, "integer labels"),
    ("multiclass", {"num_classes": 3}, np.array([0, 3]), np.array([0, 1]), "3"),
    ("multiclass", {"num_classes": 3}, np.array([0, -1]), None, r"preds\[1\] = -1"),
    ("multilabel", {"num_labels": 2}, np.ones((2, 3)) / 2, None, "shape"),
])
def test_bad_input_raises_and_changes_nothing(task, kw, preds, target, match):
    rng = np.random.default_rng(7)
    m = Monitor(task, window=10, **kw)
    if task == "binary":
        m.observe(rng.random(5), rng.integers(0, 2, 5), latency=0.1)
    before = m.snapshot()
    with pytest.raises((ValueError, TypeError), match=match):
        m.observe(preds, target, latency=0.2)
    after = m.snapshot()
    for key in ("counts", "confusion_matrix", "metrics", "estimated"):
        assert json.dumps(after[key]) == json.dumps(before[key])
    assert after["latency"]["count"] == before["latency"]["count"]


@pytest.mark.parametrize("kw,match", [
    ({"task": "regression"}, "task"), ({"task": "binary", "num_classes": 3}, "num_classes"),
    ({"task": "multiclass"}, "num_classes"), ({"window": 0}, "window"),
    ({"evaluate_every": -1}, "evaluate_every"), ({"model": ""}, "model"),
    ({"on_alert": 3}, "on_alert"), ({"reference_scores": np.ones((5, 2))}, "reference_scores"),
    ({"task": "multiclass", "num_classes": 3, "logits": True}, "logits"),
])
def test_bad_arguments(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Monitor(**kw)


def test_ids_and_latency_checks():
    m = Monitor("binary")
    with pytest.raises(ValueError, match="ids"):
        m.observe(np.array([0.1, 0.2]), ids=[1])
    with pytest.raises(TypeError, match="ids"):
        m.observe(np.array([0.1]), ids="a")
    with pytest.raises(ValueError, match="latency"):
        m.observe(np.array([0.1]), latency=-1.0)
    assert m.values()["predictions_total"] == 0


# ---------------------------------------------------------------- snapshot, threads, checkpoint
def test_snapshot_is_plain_json():
    rng = np.random.default_rng(8)
    y, s = _stream(rng, 400, k=3)
    m = Monitor("multiclass", num_classes=3, window=100, reference_scores=s,
                        rules=[{"name": "r", "expr": "accuracy < 2"}], evaluate_every=0)
    m.observe(s[:150], y[:150], latency=0.01)
    snap = json.loads(json.dumps(m.snapshot()))
    assert snap["counts"]["predictions_total"] == 150
    assert np.array_equal(snap["confusion_matrix"]["total"],
                          skm.confusion_matrix(y[:150], s[:150].argmax(axis=1), labels=range(3)))
    assert snap["alerts"][0]["state"] == "firing"
    assert snap["drift"]["ready"] is True and set(snap["values"]) == m.known_values


def test_threads_lose_no_counts():
    rng = np.random.default_rng(9)
    y, s = _stream(rng, 8000)
    m = Monitor("binary", window=100_000)

    def feed(part):
        for a in range(part * 2000, (part + 1) * 2000, 50):
            m.observe(s[a:a + 50], ids=list(range(a, a + 50)))
            m.observe_labels(list(range(a, a + 50)), y[a:a + 50])

    threads = [threading.Thread(target=feed, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(m.metrics().confusion_matrix(),
                                  skm.confusion_matrix(y, (s >= 0.5).astype(int)))
    assert m.values()["pending_labels"] == 0


def test_checkpoint_round_trip_and_refusals(tmp_path):
    rng = np.random.default_rng(10)
    ref = rng.random(3000)
    y, s = _stream(rng, 1500)
    kw = dict(window=500, reference_scores=ref, drift_window=500)
    m = Monitor("binary", **kw)
    m.observe(s[:1000], y[:1000], latency=0.01)
    m.observe(s[1000:], ids=range(1000, 1500))
    m.observe_fit(train_error=0.1, val_error=0.2)
    path = tmp_path / "mon.ckpt"
    m.save(path, extra={"offset": 42})
    r = Monitor("binary", **kw)
    assert r.load(path) == {"offset": 42}
    assert r.values() == pytest.approx(m.values(), nan_ok=True)
    # the restored monitor keeps counting where the first left off: the same as one monitor
    for mon in (m, r):
        mon.observe_labels(range(1000, 1500), y[1000:])
        mon.observe(s[:700], y[:700])
    assert r.values() == pytest.approx(m.values(), nan_ok=True)
    np.testing.assert_array_equal(r.metrics("window").confusion_matrix(),
                                  m.metrics("window").confusion_matrix())
    # refusals leave the target unchanged
    other = Monitor("binary", window=400, reference_scores=ref, drift_window=500)
    before = other.values()
    with pytest.raises(MonitorCheckpointError, match="configured"):
        other.load(path)
    junk = tmp_path / "junk"
    junk.write_bytes(b"hello\n")
    with pytest.raises(MonitorCheckpointError, match="not a tallyml monitor checkpoint"):
        other.load(junk)
    cut = tmp_path / "cut"
    cut.write_bytes(path.read_bytes()[:200])
    with pytest.raises(MonitorCheckpointError, match="corrupt"):
        Monitor("binary", **kw).load(cut)
    assert other.values() == pytest.approx(before, nan_ok=True)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------- HTTP endpoint
def test_serve_metrics_snapshot_and_page():
    m = Monitor("binary", model="fraud")
    m.observe(np.array([0.2, 0.8, 0.9]), np.array([0, 1, 0]))
    with m.serve(0, page=lambda mon: f"<h1>{mon.model}</h1>") as h:
        base = h.url.rsplit("/", 1)[0]
        text = urllib.request.urlopen(h.url, timeout=10).read().decode()
        assert 'tallyml_monitor_predictions_total{model="fraud"} 3.0' in text
        assert 'tallyml_predictions_total{model="fraud",name="metrics"} 3.0' in text
        snap = json.loads(urllib.request.urlopen(base + "/snapshot.json", timeout=10).read())
        assert snap["counts"]["labelled_total"] == 3
        assert urllib.request.urlopen(base + "/", timeout=10).read() == b"<h1>fraud</h1>"
    with pytest.raises(TypeError, match="page"):
        m.serve(0, page="x")
    m.close()
    with pytest.raises(RuntimeError, match="closed"):
        m.observe(np.array([0.1]))


def test_tensorboard_values_read_back(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    m = Monitor("binary", evaluate_every=0)
    tb = m.tensorboard(tmp_path / "tb")
    y = np.array([0, 1, 1, 0])
    s = np.array([0.2, 0.7, 0.4, 0.1])
    m.observe(s, y)
    m.close()
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert "monitor/f1" in tags and "metrics/f1" in tags
    assert acc.Scalars("monitor/f1")[-1].value == pytest.approx(skm.f1_score(y, s >= 0.5), rel=1e-6)
    assert tb is not None


# ---------------------------------------------------------------- random streams
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 400),
       chunk=st.integers(1, 60), window=st.sampled_from([10, 50, 100]))
def test_random_streams_with_delayed_labels_equal_sklearn(seed, n, chunk, window):
    """Any mix of immediate, delayed (in any order) and missing labels, in any chunking: the
    lifetime values equal sklearn on every labelled sample, the window values on the last
    ``window`` samples in the order their labels arrived."""
    rng = np.random.default_rng(seed)
    y, s = _stream(rng, n)
    how = rng.integers(0, 3, n)  # 0: label now, 1: label later, 2: never
    m = Monitor("binary", window=window, max_pending=n)
    arrived, waiting = [], []
    for a in range(0, n, chunk):
        idx = np.arange(a, min(a + chunk, n))
        now, later, never = idx[how[idx] == 0], idx[how[idx] == 1], idx[how[idx] == 2]
        if len(now):
            m.observe(s[now], y[now])
            arrived.extend(now)
        if len(later):
            m.observe(s[later], ids=later.tolist())
            waiting.extend(later)
        if len(never):
            m.observe(s[never])
        if waiting and rng.random() < 0.5:
            rng.shuffle(waiting)
            take, waiting = waiting[: len(waiting) // 2 + 1], waiting[len(waiting) // 2 + 1:]
            assert m.observe_labels(take, y[take]) == len(take)
            arrived.extend(take)
    v = m.values()
    assert v["predictions_total"] == n and v["labelled_total"] == len(arrived)
    assert v["pending_labels"] == len(waiting)
    if not arrived:
        assert math.isnan(v["accuracy"])
        return
    order = np.array(arrived)
    pred = (s >= 0.5).astype(int)
    _check_against_sklearn(v, "", y[order], pred[order], "binary")
    if len(order) % (window // 10) == 0:  # the window is exact at bucket boundaries
        last = order[-window:]
        _check_against_sklearn(v, "_window", y[last], pred[last], "binary")
