"""Exporter costs (pytest-benchmark; run with ``--benchmark-enable``).

scrape
    One scrape (``generate_latest``) of a registry holding 100 models x 10 classes: tallyml's
    collector (which copies each state, computes the derived gauges and formats ~14,000
    series), once with idle models (gauges reused: the counts did not change) and once with
    every model updated since the last scrape (every gauge recomputed), beside
    prometheus_client's own labelled counters holding the same counter series (the cost of
    formatting alone).
update_overhead
    ``update()`` with 64 samples on a metric with and without an exporter tracking it. The
    exporter never hooks ``update()`` (it reads at scrape time), so the two must be the same
    function doing the same work: asserted, and the timings show it.
"""
from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import tallyml
from tallyml.export import PrometheusExporter

MODELS, K = 100, 10


def _fleet():
    rng = np.random.default_rng(0)
    reg = CollectorRegistry()
    metrics = []
    for i in range(MODELS):
        exp = PrometheusExporter(model=f"model-{i:03d}", registry=reg)
        m = exp.track(tallyml.MulticlassMetrics(K), name="quality")
        y = rng.integers(0, K, 1000)
        m.update(y, np.where(rng.random(1000) < 0.8, y, rng.integers(0, K, 1000)))
        metrics.append(m)
    return reg, metrics


@pytest.mark.benchmark(group="scrape 100 models x 10 classes")
def test_scrape_tallyml(benchmark):
    reg, metrics = _fleet()
    text = benchmark(generate_latest, reg).decode()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    tp = fams["tallyml_true_positives"].samples
    assert len(tp) == MODELS * K
    cm = metrics[7].confusion_matrix()
    got = {s.labels["class"]: s.value for s in tp if s.labels["model"] == "model-007"}
    assert got == {str(c): float(cm[c, c]) for c in range(K)}
    assert len(fams["tallyml_confusion_matrix"].samples) == MODELS * K * K


@pytest.mark.benchmark(group="scrape 100 models x 10 classes")
def test_scrape_tallyml_every_model_updated(benchmark):
    # worst case: every model got new counts since the last scrape, so every gauge is recomputed
    reg, metrics = _fleet()
    y = np.arange(K)

    def update_all():
        for m in metrics:
            m.update(y, y)
        return (reg,), {}

    text = benchmark.pedantic(generate_latest, setup=update_all, rounds=5).decode()
    counts = {s.labels["model"]: s.value for f in text_string_to_metric_families(text)
              if f.name == "tallyml_predictions" for s in f.samples}
    assert counts == {f"model-{i:03d}": float(m.count) for i, m in enumerate(metrics)}


@pytest.mark.benchmark(group="scrape 100 models x 10 classes")
def test_scrape_prometheus_client_counters_baseline(benchmark):
    reg = CollectorRegistry()
    names = ("tp", "fp", "fn")
    counters = {n: Counter(f"base_{n}", n, ["model", "class"], registry=reg) for n in names}
    cells = Counter("base_cm", "cm", ["model", "true_class", "predicted_class"], registry=reg)
    for i in range(MODELS):
        for c in range(K):
            for n in names:
                counters[n].labels(f"model-{i:03d}", str(c)).inc(c)
            for j in range(K):
                cells.labels(f"model-{i:03d}", str(c), str(j)).inc(1)
    text = benchmark(generate_latest, reg).decode()
    assert text.count("base_tp_total{") == MODELS * K


def _batch():
    rng = np.random.default_rng(1)
    return rng.integers(0, K, 64), rng.integers(0, K, 64)


@pytest.mark.benchmark(group="update() with 64 samples, K=10")
def test_update_without_exporter(benchmark):
    m = tallyml.MulticlassMetrics(K)
    y, p = _batch()
    benchmark(m.update, y, p)
    assert m.count > 0 and m.count % 64 == 0


@pytest.mark.benchmark(group="update() with 64 samples, K=10")
def test_update_with_exporter_attached(benchmark):
    m = tallyml.MulticlassMetrics(K)
    exp = PrometheusExporter(model="attached")
    exp.track(m, name="quality")
    # nothing is patched or wrapped: the same method, no per-instance override
    assert "update" not in vars(m) and type(m).update is tallyml.MulticlassMetrics.update
    y, p = _batch()
    benchmark(m.update, y, p)
    assert m.count > 0 and m.count % 64 == 0
    text = exp.exposition()
    assert f"tallyml_predictions_total{{model=\"attached\",name=\"quality\"}} {float(m.count)}" in text
