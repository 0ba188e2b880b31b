"""TensorBoardWriter: event files read back with TensorBoard's own reader and compared with
scikit-learn / numpy on the same data; cadence; bad input."""
from __future__ import annotations

import os

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.util import tensor_util

import tallyml
from tallyml.export import TensorBoardWriter
from tallyml.export import tensorboard as tbmod
from tallyml.monitoring import LatencyTracker, ResourceMonitor

BACKEND = "numpy"


def read(logdir):
    acc = ea.EventAccumulator(str(logdir), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0,
                                                          ea.HISTOGRAMS: 0})
    acc.Reload()
    return acc


def scalars(acc, tag):
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_metrics_scalars_every_n_steps_equal_sklearn(tmp_path):
    rng = np.random.default_rng(7)
    tb = TensorBoardWriter(tmp_path, every_n=3)
    m = tb.track(tallyml.MulticlassMetrics(3, backend=BACKEND), name="val")
    b = tb.track(tallyml.BinaryMetrics(backend=BACKEND), name="bin")
    ys, ps, yb, sb = [], [], [], []
    expected = {}
    wrote = []
    for step in range(10):
        y, p = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
        t, s = rng.integers(0, 2, 50), rng.random(50)
        m.update(y, p)
        b.update(t, s)
        ys.append(y), ps.append(p), yb.append(t), sb.append(s)
        if tb.step(step):
            wrote.append(step)
            Y, P = np.concatenate(ys), np.concatenate(ps)
            T, S = np.concatenate(yb), (np.concatenate(sb) >= 0.5).astype(int)
            expected[step] = (accuracy_score(Y, P), f1_score(Y, P, average="macro"), len(Y),
                              matthews_corrcoef(T, S))
    tb.close()
    assert wrote == [2, 5, 8]  # every third call
    acc = read(tmp_path)
    for tag, idx in (("val/accuracy", 0), ("val/f1", 1), ("val/count", 2), ("bin/mcc", 3)):
        got = scalars(acc, tag)
        assert [s for s, _ in got] == wrote, tag
        for s, v in got:
            # event files store float32
            assert v == pytest.approx(np.float32(expected[s][idx]), rel=1e-6, abs=1e-7), (tag, s)
    tags = set(acc.Tags()["scalars"])
    assert {"val/precision", "val/recall", "val/cohen_kappa", "bin/f1"} <= tags


def test_latency_and_resources_scalars(tmp_path):
    rng = np.random.default_rng(3)
    lat = LatencyTracker()
    d = rng.lognormal(-5, 1, 2000)
    lat.record_many(d, n=2)
    with TensorBoardWriter(tmp_path) as tb:
        tb.track(lat, name="predict")
        tb.track(ResourceMonitor(interval=1.0), name="res")
        tb.log(step=5)
    acc = read(tmp_path)
    assert scalars(acc, "predict/count") == [(5, 2000.0)]
    assert scalars(acc, "predict/predictions") == [(5, 4000.0)]
    (step, p99), = scalars(acc, "predict/p99_seconds")
    assert p99 == pytest.approx(np.quantile(d, 0.99), rel=0.01)
    assert scalars(acc, "predict/max_seconds")[0][1] == pytest.approx(d.max(), rel=1e-6)
    (_, rss), = scalars(acc, "res/process_rss_bytes")
    assert rss > 1e6
    tags = set(acc.Tags()["scalars"])
    assert not any(t.endswith("_percent") for t in tags)  # base units: ratios
    assert "res/process_cpu_seconds_total" in tags


def test_every_seconds_cadence_uses_the_clock(tmp_path, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(tbmod.time, "monotonic", lambda: now[0])
    tb = TensorBoardWriter(tmp_path, every_n=None, every_seconds=10)
    m = tb.track(tallyml.BinaryMetrics(backend=BACKEND), name="b")
    m.update([1, 0], [1, 1])
    logged = []
    for i in range(30):
        now[0] += 1.0
        if tb.step():
            logged.append(i + 1)
    tb.close()
    assert logged == [10, 20, 30]
    assert [s for s, _ in scalars(read(tmp_path), "b/count")] == [10, 20, 30]


class _Binned:
    """Extension-point object: anything with ``binned_counts()`` and the curves methods is
    logged as a PR curve and score histograms."""

    def __init__(self, edges, pos, neg):
        self.edges, self.pos, self.neg = edges, pos, neg

    def binned_counts(self):
        return self.edges, self.pos, self.neg

    def roc_auc(self):
        return 0.75

    def precision_recall_curve(self):  # pragma: no cover - presence is what counts
        raise NotImplementedError

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def test_pr_curve_and_histograms_from_binned_counts(tmp_path):
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 5000)
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1 - 1e-9)
    edges = np.linspace(0, 1, 21)
    pos = np.histogram(s[y == 1], edges)[0]
    neg = np.histogram(s[y == 0], edges)[0]
    with TensorBoardWriter(tmp_path) as tb:
        tb.track(_Binned(edges, pos, neg), name="cur")
        tb.log(step=1)
    acc = read(tmp_path)
    assert scalars(acc, "cur/roc_auc") == [(1, 0.75)]
    (event,) = acc.Tensors("cur/pr_curve")
    data = tensor_util.make_ndarray(event.tensor_proto)  # rows: TP, FP, TN, FN, precision, recall
    thresholds = edges[:-1]
    tp = np.array([np.sum((s >= t) & (y == 1)) for t in thresholds])
    fp = np.array([np.sum((s >= t) & (y == 0)) for t in thresholds])
    np.testing.assert_array_equal(data[0], tp)
    np.testing.assert_array_equal(data[1], fp)
    np.testing.assert_array_equal(data[2], np.sum(y == 0) - fp)
    np.testing.assert_array_equal(data[3], np.sum(y == 1) - tp)
    np.testing.assert_allclose(data[4], tp / (tp + fp), rtol=1e-6)
    np.testing.assert_allclose(data[5], tp / np.sum(y == 1), rtol=1e-6)
    (h,) = acc.Histograms("cur/scores_positive")
    assert h.histogram_value.num == np.sum(y == 1)
    np.testing.assert_array_equal(h.histogram_value.bucket, pos)


def test_bad_input(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError, match="logdir .* cannot be created"):
        TensorBoardWriter(blocker / "runs")
    with pytest.raises(ValueError, match="every_n"):
        TensorBoardWriter(tmp_path, every_n=0)
    with pytest.raises(ValueError, match="every_seconds"):
        TensorBoardWriter(tmp_path, every_seconds=-1)
    with pytest.raises(ValueError, match="neither"):
        TensorBoardWriter(tmp_path, every_n=None)
    tb = TensorBoardWriter(tmp_path / "ok")
    with pytest.raises(TypeError, match="obj must be"):
        tb.track(object())
    tb.track(tallyml.BinaryMetrics(backend=BACKEND), name="b")
    with pytest.raises(ValueError, match="already tracked"):
        tb.track(tallyml.BinaryMetrics(backend=BACKEND), name="b")
    with pytest.raises(ValueError, match="step"):
        tb.log(step=-1)
    tb.close()
    with pytest.raises(RuntimeError, match="closed"):
        tb.step()
    assert not scalars_or_empty(tmp_path / "ok")


def scalars_or_empty(path):
    acc = read(path)
    return acc.Tags()["scalars"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only directories")
def test_unwritable_logdir(tmp_path):  # pragma: no cover - CI runs as a normal user
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(OSError, match="not writable"):
            TensorBoardWriter(ro)
    finally:
        ro.chmod(0o700)


def test_real_curves_pr_curve_counts_at_the_kept_thresholds(tmp_path):
    from tallyml.curves import BinaryCurves, MulticlassCurves

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 3000)
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    c = BinaryCurves(backend=BACKEND)
    c.update(y, s)
    t = rng.integers(0, 3, 500)
    mc = MulticlassCurves(3, backend=BACKEND)
    mc.update(t, rng.dirichlet(np.ones(3), 500))
    with TensorBoardWriter(tmp_path, max_curve_bins=101) as tb:
        tb.track(c, name="cur")
        tb.track(mc, name="multi")
        tb.log(step=2)
    acc = read(tmp_path)
    assert scalars(acc, "cur/roc_auc")[0][1] == pytest.approx(c.roc_auc(), rel=1e-6)
    (event,) = acc.Tensors("cur/pr_curve")
    data = tensor_util.make_ndarray(event.tensor_proto)
    kept, _, _ = tbmod.coarsen(c.edges(), c.hist[:, 1], c.hist[:, 0], 101)
    assert 50 <= data.shape[1] == kept.size <= 101
    # TP / FP at each kept threshold, counted from the raw scores (positive when s >= t)
    np.testing.assert_array_equal(data[0], [np.sum(s[y == 1] >= th) for th in kept])
    np.testing.assert_array_equal(data[1], [np.sum(s[y == 0] >= th) for th in kept])
    (h,) = acc.Histograms("cur/scores_negative")
    assert h.histogram_value.num == np.sum(y == 0)
    tensors = set(acc.Tags()["tensors"])
    assert {"multi/pr_curve_class0", "multi/pr_curve_class1", "multi/pr_curve_class2"} <= tensors


def test_gpu_readings_are_logged_per_device(tmp_path, monkeypatch):
    mon = ResourceMonitor(interval=1.0, gpu=False)
    reading = mon.snapshot()
    device = {"index": 0, "nvml_index": 3, "name": "H100", "utilization_percent": 87.0,
              "memory_used_bytes": 4096, "power_watts": None}
    monkeypatch.setattr(mon, "snapshot", lambda: dict(reading, gpu={
        "available": True, "reason": None, "devices": [device]}))
    with TensorBoardWriter(tmp_path) as tb:
        tb.track(mon, name="res")
        tb.log(step=0)
    acc = read(tmp_path)
    assert scalars(acc, "res/gpu0/utilization_ratio") == [(0, pytest.approx(0.87))]
    assert scalars(acc, "res/gpu0/memory_used_bytes") == [(0, 4096.0)]
    assert scalars(acc, "res/gpu_available") == [(0, 1.0)]
    tags = acc.Tags()["scalars"]
    assert not any("nvml_index" in t or "power_watts" in t for t in tags)
