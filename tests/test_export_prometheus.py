"""PrometheusExporter: exposition content against scikit-learn, promtool, serve/push, bad input,
cardinality and consistent snapshots under concurrent updates.

The end-to-end checks against a real Prometheus server are in test_export_prometheus_server.py.
"""
from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    matthews_corrcoef,
    multilabel_confusion_matrix,
    precision_score,
    recall_score,
)

import tallyml
from tallyml.export import CardinalityWarning, PrometheusExporter
from tallyml.monitoring.latency import LatencyTracker

from _prometheus_server import free_port, promtool_check_metrics

BACKEND = "numpy"  # the exporter is under test here, not the kernels


def samples(text):
    """{(sample name, frozenset(labels)): value} from an exposition."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def series(text, name, /, **match):
    """{labels dict minus the matched ones, as frozenset: value} for one sample name."""
    out = {}
    for (n, labels), v in samples(text).items():
        d = dict(labels)
        if n == name and all(d.get(k) == val for k, val in match.items()):
            for k in match:
                d.pop(k)
            out[frozenset(d.items())] = v
    return out


def one(text, name, /, **match):
    s = series(text, name, **match)
    assert len(s) == 1, (name, match, s)
    return next(iter(s.values()))


def feed(metric, target, preds, chunks=5, weights=None):
    idx = np.array_split(np.arange(len(target)), chunks)
    for i in idx:
        if weights is None:
            metric.update(target[i], preds[i])
        else:
            metric.update(target[i], preds[i], sample_weight=weights[i])


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# ---------------------------------------------------------------------------------- content


def test_binary_counters_and_gauges_equal_sklearn(rng):
    y = rng.integers(0, 2, 1000)
    s = rng.random(1000)
    exp = PrometheusExporter(model="fraud", version="3")
    m = exp.track(tallyml.BinaryMetrics(threshold=0.4, backend=BACKEND), name="val")
    feed(m, y, s)
    text = exp.exposition()
    p = (s >= 0.4).astype(int)
    cm = confusion_matrix(y, p, labels=[0, 1])
    base = dict(model="fraud", version="3", name="val")
    assert one(text, "tallyml_predictions_total", **base) == len(y)
    assert one(text, "tallyml_correct_predictions_total", **base) == np.trace(cm)
    assert one(text, "tallyml_true_positives_total", **base, **{"class": "1"}) == cm[1, 1]
    assert one(text, "tallyml_false_positives_total", **base, **{"class": "1"}) == cm[0, 1]
    assert one(text, "tallyml_false_negatives_total", **base, **{"class": "1"}) == cm[1, 0]
    cells = series(text, "tallyml_confusion_matrix_total", **base)
    assert len(cells) == 4
    for i in range(2):
        for j in range(2):
            assert cells[frozenset({("true_class", str(i)), ("predicted_class", str(j))})] == cm[i, j]
    # gauges: derived values as sklearn computes them on the whole stream
    assert one(text, "tallyml_precision", **base) == pytest.approx(precision_score(y, p), rel=1e-12)
    assert one(text, "tallyml_recall", **base) == pytest.approx(recall_score(y, p), rel=1e-12)
    assert one(text, "tallyml_f1", **base) == pytest.approx(f1_score(y, p), rel=1e-12)
    assert one(text, "tallyml_mcc", **base) == pytest.approx(matthews_corrcoef(y, p), rel=1e-12)


def test_multiclass_per_class_counters_equal_sklearn(rng):
    k = 5
    y = rng.integers(0, k, 2000)
    p = np.where(rng.random(2000) < 0.6, y, rng.integers(0, k, 2000))
    exp = PrometheusExporter(model="m")
    m = exp.track(tallyml.MulticlassMetrics(k, backend=BACKEND), name="test")
    feed(m, y, p, chunks=7)
    text = exp.exposition()
    mcm = multilabel_confusion_matrix(y, p, labels=range(k))
    for key, (i, j) in (("true_positives", (1, 1)), ("false_positives", (0, 1)),
                        ("false_negatives", (1, 0))):
        got = series(text, f"tallyml_{key}_total", model="m", name="test")
        assert got == {frozenset({("class", str(c))}): float(mcm[c, i, j]) for c in range(k)}
    cm = confusion_matrix(y, p, labels=range(k))
    cells = series(text, "tallyml_confusion_matrix_total", model="m", name="test")
    assert cells == {frozenset({("true_class", str(i)), ("predicted_class", str(j))}): float(cm[i, j])
                     for i in range(k) for j in range(k)}
    assert one(text, "tallyml_f1", model="m") == pytest.approx(f1_score(y, p, average="macro"), rel=1e-12)
    # no version label when none was given
    assert all("version" not in dict(labels) for _, labels in samples(text))


def test_weighted_counts_are_exported_as_float_counters(rng):
    y = rng.integers(0, 3, 500)
    p = rng.integers(0, 3, 500)
    w = rng.random(500) * 3
    exp = PrometheusExporter(model="w")
    m = exp.track(tallyml.MulticlassMetrics(3, backend=BACKEND), name="q")
    feed(m, y, p, weights=w)
    text = exp.exposition()
    cm = confusion_matrix(y, p, sample_weight=w)
    cells = series(text, "tallyml_confusion_matrix_total", model="w", name="q")
    for i in range(3):
        for j in range(3):
            assert cells[frozenset({("true_class", str(i)), ("predicted_class", str(j))})] == \
                pytest.approx(cm[i, j], rel=1e-12)


def test_multilabel_per_label_counters(rng):
    y = rng.integers(0, 2, (400, 4))
    s = rng.random((400, 4))
    exp = PrometheusExporter(model="ml")
    m = exp.track(tallyml.MultilabelMetrics(4, backend=BACKEND), name="tags")
    feed(m, y, s)
    text = exp.exposition()
    mcm = multilabel_confusion_matrix(y, (s >= 0.5).astype(int))
    tp = series(text, "tallyml_true_positives_total", model="ml", name="tags")
    fp = series(text, "tallyml_false_positives_total", model="ml", name="tags")
    assert tp == {frozenset({("class", str(c))}): float(mcm[c, 1, 1]) for c in range(4)}
    assert fp == {frozenset({("class", str(c))}): float(mcm[c, 0, 1]) for c in range(4)}
    assert one(text, "tallyml_predictions_total", model="ml") == 400
    assert not series(text, "tallyml_confusion_matrix_total")
    assert not series(text, "tallyml_correct_predictions_total")


def test_latency_histogram_buckets_count_and_sum(rng):
    t = LatencyTracker()
    bounds = (1e-4, 1e-3, 1e-2, 0.1, 1.0)
    d = 10 ** rng.uniform(-5, 0.5, 3000)
    # the tracker's buckets are 0.5% wide: keep durations clear of the bounds to compare exactly
    d = d[np.all(np.abs(d[:, None] / np.array(bounds) - 1) > 0.02, axis=1)]
    for x in d:
        t.record(float(x), n=4)
    exp = PrometheusExporter(model="lat", latency_buckets=bounds)
    exp.track(t, name="predict")
    text = exp.exposition()
    buckets = series(text, "tallyml_latency_seconds_bucket", model="lat", name="predict")
    for b in bounds:
        assert buckets[frozenset({("le", repr(b))})] == np.sum(d <= b)
    assert buckets[frozenset({("le", "+Inf")})] == len(d)
    assert one(text, "tallyml_latency_seconds_count") == len(d)
    assert one(text, "tallyml_latency_seconds_sum") == pytest.approx(d.sum(), rel=1e-9)
    assert one(text, "tallyml_latency_predictions_total") == 4 * len(d)
    assert one(text, "tallyml_latency_p99_seconds") == pytest.approx(np.quantile(d, 0.99), rel=0.01)
    assert one(text, "tallyml_latency_max_seconds") == d.max()


def test_empty_objects_export_zero_counters_and_no_gauges():
    exp = PrometheusExporter(model="fresh")
    exp.track(tallyml.BinaryMetrics(backend=BACKEND), name="b")
    exp.track(LatencyTracker(), name="lat")
    text = exp.exposition()
    assert one(text, "tallyml_predictions_total") == 0
    assert not series(text, "tallyml_f1")
    assert one(text, "tallyml_latency_seconds_count") == 0


def test_promtool_accepts_everything_including_escaped_labels(rng):
    exp = PrometheusExporter(model='we"ird\\mo\ndel', version="v\t1")
    b = exp.track(tallyml.BinaryMetrics(backend=BACKEND), name="bin")
    mc = exp.track(tallyml.MulticlassMetrics(4, backend=BACKEND), name='multi "class"')
    ml = exp.track(tallyml.MultilabelMetrics(3, backend=BACKEND), name="labels")
    lat = exp.track(LatencyTracker(), name="latency")
    b.update(rng.integers(0, 2, 50), rng.random(50))
    mc.update(rng.integers(0, 4, 50), rng.integers(0, 4, 50))
    ml.update(rng.integers(0, 2, (50, 3)), rng.random((50, 3)))
    lat.record(0.01)
    text = exp.exposition()
    r = promtool_check_metrics(text)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "" and r.stderr.strip() == "", r.stdout + r.stderr  # no lint findings
    models = {dict(labels)["model"] for _, labels in samples(text)}
    assert models == {'we"ird\\mo\ndel'}
    names = {dict(labels).get("name") for _, labels in samples(text)} - {None}
    assert names == {"bin", 'multi "class"', "labels", "latency"}


def test_every_family_has_help_and_model_label(rng):
    exp = PrometheusExporter(model="h")
    m = exp.track(tallyml.MulticlassMetrics(3, backend=BACKEND), name="x")
    m.update(rng.integers(0, 3, 30), rng.integers(0, 3, 30))
    exp.track(LatencyTracker(), name="lat").record(0.5)
    fams = list(text_string_to_metric_families(exp.exposition()))
    assert fams
    for fam in fams:
        assert fam.name.startswith("tallyml_")
        assert fam.documentation.strip(), fam.name
        for s in fam.samples:
            assert s.labels["model"] == "h"


# ---------------------------------------------------------------------------------- cardinality


def test_cardinality_over_limit_warns_and_aggregates(rng):
    k = 150
    exp = PrometheusExporter(model="big", max_classes=100)
    with pytest.warns(CardinalityWarning, match="150 classes.*max_classes=100"):
        m = exp.track(tallyml.MulticlassMetrics(k, backend=BACKEND), name="c")
    y = rng.integers(0, k, 3000)
    p = np.where(rng.random(3000) < 0.5, y, rng.integers(0, k, 3000))
    m.update(y, p)
    text = exp.exposition()
    mcm = multilabel_confusion_matrix(y, p, labels=range(k))
    assert series(text, "tallyml_true_positives_total", model="big", name="c") == \
        {frozenset({("class", "all")}): float(mcm[:, 1, 1].sum())}
    assert series(text, "tallyml_false_positives_total", model="big", name="c") == \
        {frozenset({("class", "all")}): float(mcm[:, 0, 1].sum())}
    assert not series(text, "tallyml_confusion_matrix_total")  # 150^2 cells: never exported
    assert len(samples(text)) < 40  # bounded, whatever K is


def test_confusion_matrix_only_when_small(rng):
    exp = PrometheusExporter(model="c", max_confusion_cells=16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # per-class series stay; no warning for that
        a = exp.track(tallyml.MulticlassMetrics(4, backend=BACKEND), name="four")
        b = exp.track(tallyml.MulticlassMetrics(5, backend=BACKEND), name="five")
    a.update([0, 1], [1, 1])
    b.update([0, 1], [1, 1])
    text = exp.exposition()
    assert len(series(text, "tallyml_confusion_matrix_total", name="four")) == 16
    assert not series(text, "tallyml_confusion_matrix_total", name="five")
    assert len(series(text, "tallyml_true_positives_total", name="five")) == 5


# ---------------------------------------------------------------------------------- bad input


def test_bad_arguments_raise_and_change_nothing():
    with pytest.raises(TypeError, match="model"):
        PrometheusExporter(model=3)
    with pytest.raises(ValueError, match="model"):
        PrometheusExporter(model="")
    with pytest.raises(TypeError, match="version"):
        PrometheusExporter(model="a", version=2)
    with pytest.raises(ValueError, match="max_classes"):
        PrometheusExporter(model="a", max_classes=0)
    with pytest.raises(ValueError, match="latency_buckets"):
        PrometheusExporter(model="a", latency_buckets=[0.1, 0.01])
    with pytest.raises(TypeError, match="registry"):
        PrometheusExporter(model="a", registry=object())
    exp = PrometheusExporter(model="a")
    exp.track(tallyml.BinaryMetrics(backend=BACKEND), name="x")
    before = exp.exposition()
    with pytest.raises(TypeError, match="obj must be a tallyml metric.*got builtins.dict"):
        exp.track({}, name="y")
    with pytest.raises(ValueError, match="'x' is already tracked"):
        exp.track(tallyml.BinaryMetrics(backend=BACKEND), name="x")
    with pytest.raises(ValueError, match="name"):
        exp.track(tallyml.BinaryMetrics(backend=BACKEND), name="")
    with pytest.raises(KeyError, match="not tracked"):
        exp.untrack("nope")
    assert exp.names == ["x"]
    assert exp.exposition() == before


def test_shared_registry_emits_each_family_once_and_rejects_duplicate_model(rng):
    reg = CollectorRegistry()
    a = PrometheusExporter(model="a", registry=reg)
    b = PrometheusExporter(model="b", registry=reg)
    a.track(tallyml.BinaryMetrics(backend=BACKEND), name="q").update([1, 0], [1, 1])
    b.track(tallyml.BinaryMetrics(backend=BACKEND), name="q").update([1, 1, 0], [1, 1, 1])
    with pytest.raises(ValueError, match="model='a'"):
        PrometheusExporter(model="a", registry=reg)
    text = a.exposition()
    assert text == b.exposition()
    assert text.count("# TYPE tallyml_predictions_total counter") == 1
    assert series(text, "tallyml_predictions_total", name="q") == {
        frozenset({("model", "a")}): 2.0, frozenset({("model", "b")}): 3.0}
    r = promtool_check_metrics(text)
    assert r.returncode == 0, r.stdout + r.stderr
    b.close()
    assert set(dict(l)["model"] for _, l in samples(a.exposition())) == {"a"}


def test_untrack_removes_series():
    exp = PrometheusExporter(model="u")
    exp.track(tallyml.BinaryMetrics(backend=BACKEND), name="x")
    exp.untrack("x")
    assert all(dict(labels).get("name") != "x" for _, labels in samples(exp.exposition()))


# ---------------------------------------------------------------------------------- serve / push


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def test_serve_returns_exposition_and_close_stops_it(rng):
    exp = PrometheusExporter(model="srv")
    m = exp.track(tallyml.BinaryMetrics(backend=BACKEND), name="b")
    m.update(rng.integers(0, 2, 20), rng.random(20))
    with exp.serve(port=0) as handle:
        assert handle.port > 0
        body = _get(handle.url)
        assert one(body, "tallyml_predictions_total", model="srv") == 20
        m.update([1], [0.9])
        assert one(_get(handle.url), "tallyml_predictions_total", model="srv") == 21  # read at scrape
    with pytest.raises(urllib.error.URLError):
        _get(handle.url)
    handle.close()  # idempotent


def test_serve_port_in_use_raises_clear_error():
    exp = PrometheusExporter(model="busy")
    with exp.serve(port=0) as first:
        with pytest.raises(OSError, match=f"port {first.port} on 127.0.0.1 is already in use"):
            exp.serve(port=first.port)
        assert "tallyml" not in _get(first.url) or True  # the first server still answers
        _get(first.url)
    for bad in (-1, 70000, "80", 1.5, True):
        with pytest.raises(ValueError, match="port"):
            exp.serve(port=bad)


class _Gateway(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_PUT(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.command, self.path, body.decode()))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_push_sends_the_exposition_to_a_gateway(rng):
    _Gateway.received = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        exp = PrometheusExporter(model="batch")
        m = exp.track(tallyml.MulticlassMetrics(3, backend=BACKEND), name="eval")
        m.update(rng.integers(0, 3, 99), rng.integers(0, 3, 99))
        exp.push(f"http://127.0.0.1:{server.server_address[1]}", job="nightly-eval")
        ((method, path, body),) = _Gateway.received
        assert method == "PUT" and path == "/metrics/job/nightly-eval"
        assert one(body, "tallyml_predictions_total", model="batch") == 99
        with pytest.raises(ValueError, match="job"):
            exp.push(f"http://127.0.0.1:{server.server_address[1]}", job="")
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------------- consistency


def test_scrape_never_mixes_moments_while_threads_update():
    # every batch adds exactly one tp, fp, fn and tn: any consistent copy has all four equal
    exp = PrometheusExporter(model="race")
    m = exp.track(tallyml.BinaryMetrics(backend=BACKEND), name="b")
    target = np.array([1, 0, 1, 0])
    preds = np.array([0, 1, 1, 0])
    stop = threading.Event()
    errors = []

    def work():
        try:
            while not stop.is_set():
                m.update(target, preds)
                time.sleep(0)  # let the scraping thread in: the GIL favours busy threads
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        seen = set()
        for _ in range(40):
            text = exp.exposition()
            n = one(text, "tallyml_predictions_total")
            tp = one(text, "tallyml_true_positives_total")
            fp = one(text, "tallyml_false_positives_total")
            fn = one(text, "tallyml_false_negatives_total")
            correct = one(text, "tallyml_correct_predictions_total")
            assert tp == fp == fn == n / 4 and correct == n / 2, (n, tp, fp, fn, correct)
            if n:
                assert one(text, "tallyml_accuracy") == 0.5
                assert one(text, "tallyml_precision") == 0.5
            seen.add(n)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
    assert len(seen) > 3  # the scrapes really overlapped with updates


def test_import_is_lazy():
    code = ("import sys, tallyml, tallyml.export, tallyml.export.prometheus, tallyml.export.grafana, "
            "tallyml.export.tensorboard; "
            "print('prometheus_client' in sys.modules, 'tensorboardX' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


class _FlakyTracker(LatencyTracker):
    broken = False

    def state_dict(self):
        if type(self).broken:
            raise RuntimeError("disk on fire")
        return super().state_dict()


def test_a_failing_object_is_left_out_and_counted(caplog):
    exp = PrometheusExporter(model="flaky")
    exp.track(tallyml.BinaryMetrics(backend=BACKEND), name="ok").update([1], [1])
    exp.track(_FlakyTracker(), name="bad").record(0.1)
    assert one(exp.exposition(), "tallyml_export_errors_total") == 0
    _FlakyTracker.broken = True
    try:
        with caplog.at_level("WARNING", logger="tallyml.export"):
            exp.exposition()
            text = exp.exposition()
    finally:
        _FlakyTracker.broken = False
    assert one(text, "tallyml_export_errors_total", model="flaky") == 2
    assert one(text, "tallyml_predictions_total", name="ok") == 1
    assert not series(text, "tallyml_latency_seconds_count")
    assert len([r for r in caplog.records if "disk on fire" in r.getMessage()]) == 1  # logged once
    r = promtool_check_metrics(text)
    assert r.returncode == 0, r.stdout + r.stderr


def test_missing_binaries_fail_under_ci(monkeypatch):
    import _prometheus_server as ps

    monkeypatch.setattr(ps.shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="promtool not found.*CI=true"):
        ps.require_binary("promtool")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="promtool not found"):
        ps.require_binary("promtool")


def test_dropped_exporter_and_registry_are_collected():
    import gc
    import weakref

    exp = PrometheusExporter(model="gc")
    exp.track(tallyml.BinaryMetrics(backend=BACKEND), name="b")
    refs = [weakref.ref(exp), weakref.ref(exp.registry)]
    del exp
    gc.collect()
    assert [r() for r in refs] == [None, None]


def test_curves_gauges_equal_the_object_and_sklearn(rng):
    from sklearn.metrics import average_precision_score, roc_auc_score

    from tallyml.curves import BinaryCurves, MulticlassCurves

    y = rng.integers(0, 2, 4000)
    s = np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1)
    exp = PrometheusExporter(model="cur")
    c = exp.track(BinaryCurves(backend=BACKEND), name="scores")
    mc = exp.track(MulticlassCurves(3, backend=BACKEND), name="multi")
    feed(c, y, s)
    t = rng.integers(0, 3, 600)
    p = rng.dirichlet(np.ones(3), 600)
    mc.update(t, p)
    text = exp.exposition()
    auc = one(text, "tallyml_roc_auc", name="scores")
    assert auc == c.roc_auc()
    assert auc == pytest.approx(roc_auc_score(y, s), abs=1e-3)  # the documented binning bound
    assert one(text, "tallyml_average_precision", name="scores") == pytest.approx(
        average_precision_score(y, s), abs=1e-3)
    assert one(text, "tallyml_roc_auc", name="multi") == mc.roc_auc()
    assert one(text, "tallyml_predictions_total", name="scores") == len(y)
    r = promtool_check_metrics(text)
    assert r.returncode == 0, r.stdout + r.stderr


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), k=st.integers(2, 6), n=st.integers(0, 120), weighted=st.booleans())
def test_random_streams_counters_equal_sklearn(data, k, n, weighted):
    seed = data.draw(st.integers(0, 2**32 - 1))
    r = np.random.default_rng(seed)
    y = r.integers(0, k, n)
    p = r.integers(0, data.draw(st.integers(1, k)), n)  # some classes may never be predicted
    w = r.random(n) * 2 if weighted else None
    exp = PrometheusExporter(model="h")
    m = exp.track(tallyml.MulticlassMetrics(k, backend=BACKEND), name="s")
    feed(m, y, p, chunks=data.draw(st.integers(1, 4)), weights=w)
    text = exp.exposition()
    mcm = multilabel_confusion_matrix(y, p, labels=range(k), sample_weight=w) if n else \
        np.zeros((k, 2, 2))
    for key, (i, j) in (("true_positives", (1, 1)), ("false_positives", (0, 1)),
                        ("false_negatives", (1, 0))):
        got = series(text, f"tallyml_{key}_total", model="h", name="s")
        expected = {frozenset({("class", str(c))}): float(mcm[c, i, j]) for c in range(k)}
        assert got.keys() == expected.keys()
        for key_, v in expected.items():
            assert got[key_] == pytest.approx(v, rel=1e-12, abs=1e-9)
    total = one(text, "tallyml_predictions_total")
    assert total == pytest.approx(n if w is None else w.sum(), rel=1e-12)  # counts' unit
    correct = one(text, "tallyml_correct_predictions_total")
    assert correct == pytest.approx(np.sum(y == p) if w is None else w[y == p].sum(), rel=1e-12)
    if n:
        assert one(text, "tallyml_accuracy") == pytest.approx(
            accuracy_score(y, p, sample_weight=w), rel=1e-12)


def test_resources_in_base_units_and_promtool_clean():
    from tallyml.monitoring import ResourceMonitor

    mon = ResourceMonitor(interval=1.0)
    reading = mon.snapshot()
    exp = PrometheusExporter(model="res")
    exp.track(mon, name="host")
    text = exp.exposition()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    assert fams["tallyml_process_cpu_seconds"].type == "counter"
    assert fams["tallyml_process_rss_bytes"].type == "gauge"
    rss = one(text, "tallyml_process_rss_bytes", model="res", name="host")
    assert 0.5 * reading["process_rss_bytes"] < rss < 2 * reading["process_rss_bytes"]
    assert one(text, "tallyml_system_memory_total_bytes") == reading["system_memory_total_bytes"]
    assert not any("percent" in name for name in fams)
    ratio = one(text, "tallyml_system_memory_used_ratio")
    assert 0 < ratio < 1
    gpu = reading["gpu"]
    assert one(text, "tallyml_gpu_available") == (1.0 if gpu["available"] else 0.0)
    if not gpu["available"]:
        assert not any(name.startswith("tallyml_gpu_") and name != "tallyml_gpu_available"
                       for name in fams)
    r = promtool_check_metrics(text)
    assert r.returncode == 0 and not r.stderr.strip(), r.stdout + r.stderr


def test_gpu_readings_per_device(monkeypatch):
    # this host has no GPU: feed the monitor's reading the GPU section NVML would give
    from tallyml.monitoring import ResourceMonitor

    mon = ResourceMonitor(interval=1.0, gpu=False)
    reading = mon.snapshot()
    devices = [
        {"index": i, "nvml_index": 1 - i, "name": "H100", "uuid": f"GPU-{i}",
         "utilization_percent": 50.0 + i, "memory_utilization_percent": 10.0,
         "memory_used_bytes": 1_000 * (i + 1), "memory_total_bytes": 80_000,
         "memory_used_ratio": 1_000 * (i + 1) / 80_000, "power_watts": 300.5,
         "power_limit_watts": None, "temperature_celsius": 61.0,
         "process_memory_used_bytes": 512}
        for i in range(2)
    ]
    fake = dict(reading, gpu={"available": True, "reason": None, "driver_version": "550",
                              "devices": devices})
    monkeypatch.setattr(mon, "snapshot", lambda: fake)
    exp = PrometheusExporter(model="g")
    exp.track(mon, name="host")
    text = exp.exposition()
    util = series(text, "tallyml_gpu_utilization_ratio", model="g", name="host")
    assert util == {frozenset({("gpu", "0")}): 0.5, frozenset({("gpu", "1")}): 0.51}
    used = series(text, "tallyml_gpu_memory_used_bytes", model="g", name="host")
    assert used == {frozenset({("gpu", "0")}): 1000.0, frozenset({("gpu", "1")}): 2000.0}
    assert one(text, "tallyml_gpu_available") == 1.0
    assert not series(text, "tallyml_gpu_power_limit_watts")  # None: not reported
    assert not series(text, "tallyml_gpu_nvml_index")
    r = promtool_check_metrics(text)
    assert r.returncode == 0 and not r.stderr.strip(), r.stdout + r.stderr
