"""End to end with a real Prometheus server: it scrapes two tallyml replicas of one model, and
the tests query it over its HTTP API.

- scraped values equal the objects' counts;
- PromQL over the exported counters gives the precision, recall and F1 tallyml computes, per
  replica and fleet-wide (sum over replicas == merged states);
- every PromQL expression of the generated Grafana dashboard runs and returns data;
- the generated recording rules pass ``promtool check rules`` and evaluate.
"""
from __future__ import annotations

import contextlib
import re
import threading
import urllib.parse
import urllib.request
import json

import numpy as np
import pytest

import tallyml
from tallyml.curves import BinaryCurves
from tallyml.export import PrometheusExporter
from tallyml.export.grafana import dashboard, expressions, recording_rules
from tallyml.monitoring import LatencyTracker, ResourceMonitor

from _prometheus_server import PrometheusServer, promtool_check_rules, require_binary, values

BACKEND = "numpy"
MODEL = 'shop "eu"'  # a label value that needs escaping, on purpose
K = 4
WINDOW = "30s"


class Replica:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.exp = PrometheusExporter(model=MODEL, version="7")
        self.bin = self.exp.track(tallyml.BinaryMetrics(backend=BACKEND), name="bin")
        self.mc = self.exp.track(tallyml.MulticlassMetrics(K, backend=BACKEND), name="mc")
        self.ml = self.exp.track(tallyml.MultilabelMetrics(3, backend=BACKEND), name="ml")
        # 5 classes; targets never 3, predictions never 4: zero_division cases in every window
        self.gap = self.exp.track(tallyml.MulticlassMetrics(5, backend=BACKEND), name="gap")
        self.cur = self.exp.track(BinaryCurves(backend=BACKEND), name="scores")
        self.lat = self.exp.track(LatencyTracker(), name="predict")
        self.res = self.exp.track(ResourceMonitor(interval=0.5), name="resources")
        self.handle = None

    def step(self, n=64):
        r = self.rng
        y = r.integers(0, 2, n)
        score = np.clip(y * 0.3 + r.random(n) * 0.7, 0, 1)
        self.bin.update(y, score)
        self.cur.update(y, score)
        t = r.integers(0, K, n)
        self.mc.update(t, np.where(r.random(n) < 0.7, t, r.integers(0, K, n)))
        self.ml.update(r.integers(0, 2, (n, 3)), r.random((n, 3)))
        self.gap.update(np.array([0, 1, 2, 4])[r.integers(0, 4, n)], r.integers(0, 4, n))
        self.lat.record_many(r.lognormal(-6, 1, 8), n=8)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    require_binary("prometheus")
    work = tmp_path_factory.mktemp("prometheus")
    replicas = [Replica(1), Replica(2)]
    for r in replicas:
        for _ in range(5):
            r.step()
        r.res.start()
        r.handle = r.exp.serve(port=0)
    rules = work / "tallyml-rules.yml"
    rules.write_text(recording_rules(windows=(WINDOW,)))
    server = PrometheusServer([f"127.0.0.1:{r.handle.port}" for r in replicas], work,
                              rule_files=[rules])
    running = threading.Event()
    running.set()
    stop = threading.Event()

    def updater():
        while not stop.wait(0.2):
            if running.is_set():
                for r in replicas:
                    r.step()

    thread = threading.Thread(target=updater, daemon=True)
    thread.start()

    @contextlib.contextmanager
    def paused():
        """Stop updates and wait until Prometheus holds the final counts."""
        running.clear()
        try:
            server.wait_scrapes(2)
            yield
        finally:
            running.set()

    try:
        server.start()
        server.wait_scrapes(3)
        yield {"server": server, "replicas": replicas, "paused": paused, "rules": rules}
    finally:
        stop.set()
        thread.join()
        server.stop()
        for r in replicas:
            r.handle.close()
            r.res.stop()


def by_instance(fleet, result):
    """{replica index: value} for a result with one series per target."""
    ports = {r.handle.port: i for i, r in enumerate(fleet["replicas"])}
    out = {}
    for item in result:
        port = int(item["metric"]["instance"].rsplit(":", 1)[1])
        out[ports[port]] = float(item["value"][1])
    return out


def sel(name):
    return f'{{model="{_esc(MODEL)}",version="7",name="{name}"}}'


def _esc(v):
    return v.replace("\\", "\\\\").replace('"', '\\"')


def test_scraped_counts_equal_the_objects(fleet):
    server = fleet["server"]
    with fleet["paused"]():
        for name, attr in (("bin", "bin"), ("mc", "mc"), ("ml", "ml")):
            got = by_instance(fleet, server.query(f"tallyml_predictions_total{sel(name)}"))
            assert got == {i: getattr(r, attr).count for i, r in enumerate(fleet["replicas"])}
        got = by_instance(fleet, server.query(f"tallyml_roc_auc{sel('scores')}"))
        assert got == {i: r.cur.roc_auc() for i, r in enumerate(fleet["replicas"])}
        got = by_instance(fleet, server.query(f"tallyml_latency_seconds_count{sel('predict')}"))
        assert got == {i: r.lat.count for i, r in enumerate(fleet["replicas"])}
        cm = fleet["replicas"][0].mc.confusion_matrix(normalize=None)
        res = server.query(f'tallyml_confusion_matrix_total{sel("mc")}')
        cells = {(m["metric"]["true_class"], m["metric"]["predicted_class"]): float(m["value"][1])
                 for m in res if by_instance(fleet, [m]).keys() == {0}}
        assert cells == {(str(i), str(j)): float(cm[i, j]) for i in range(K) for j in range(K)}


def _prf_queries(name, agg=""):
    """PromQL for per-class precision, recall, F1 (agg: e.g. 'sum without (instance)')."""
    tp, fp, fn = (f"{agg} (tallyml_{k}_total{sel(name)})" for k in
                  ("true_positives", "false_positives", "false_negatives"))
    return {
        "precision": f"{tp} / ({tp} + {fp})",
        "recall": f"{tp} / ({tp} + {fn})",
        "f1": f"2 * {tp} / (2 * {tp} + {fp} + {fn})",
    }


def test_promql_precision_recall_f1_equal_tallyml_per_replica(fleet):
    server = fleet["server"]
    with fleet["paused"]():
        for i, r in enumerate(fleet["replicas"]):
            inst = f"127.0.0.1:{r.handle.port}"
            for key, q in _prf_queries("mc").items():
                res = [m for m in server.query(q) if m["metric"]["instance"] == inst]
                per_class = {m["metric"]["class"]: float(m["value"][1]) for m in res}
                expected = getattr(r.mc, key)(average=None)
                assert per_class.keys() == {str(c) for c in range(K)}
                for c in range(K):
                    assert per_class[str(c)] == pytest.approx(expected[c], rel=1e-12), (key, c)
                macro = server.query(f'avg by (instance) ({q})')
                macro = {m["metric"]["instance"]: float(m["value"][1]) for m in macro}[inst]
                assert macro == pytest.approx(getattr(r.mc, key)(average="macro"), rel=1e-12)
            # binary: the exported class is the positive one
            for key, q in _prf_queries("bin").items():
                got = {m["metric"]["instance"]: float(m["value"][1]) for m in server.query(q)}[inst]
                assert got == pytest.approx(getattr(r.bin, key)(), rel=1e-12), key
            acc = server.query(f"tallyml_correct_predictions_total{sel('mc')} / "
                               f"tallyml_predictions_total{sel('mc')}")
            got = {m["metric"]["instance"]: float(m["value"][1]) for m in acc}[inst]
            assert got == pytest.approx(r.mc.accuracy(), rel=1e-12)


def test_promql_fleet_sum_equals_merged_state(fleet):
    server = fleet["server"]
    with fleet["paused"]():
        a, b = fleet["replicas"]
        merged_mc = a.mc + b.mc
        merged_ml = a.ml + b.ml
        for key, q in _prf_queries("mc", "sum without (instance)").items():
            got = {m["metric"]["class"]: float(m["value"][1]) for m in server.query(q)}
            expected = getattr(merged_mc, key)(average=None)
            assert got == pytest.approx({str(c): expected[c] for c in range(K)}, rel=1e-12)
        for key, q in _prf_queries("ml", "sum without (instance)").items():
            micro = server.query(q.replace("sum without (instance)", "sum"))
            assert float(micro[0]["value"][1]) == pytest.approx(
                getattr(merged_ml, key)(average="micro"), rel=1e-12), key


def _concrete(expr, model):
    subs = {"$model": _esc(model), "$name": ".*", "$window": WINDOW, "$__rate_interval": "10s",
            "$__range": WINDOW, "$__interval": "2s"}
    for k in sorted(subs, key=len, reverse=True):
        expr = expr.replace(k, subs[k])
    assert "$" not in expr, expr
    return expr


def test_every_dashboard_query_returns_data(fleet):
    server = fleet["server"]
    dash = dashboard(MODEL)
    exprs = expressions(dash)
    assert len(exprs) >= 20
    gpu = values(server.query(f'tallyml_gpu_available{{model="{_esc(MODEL)}"}}'))
    has_gpu = any(v == 1.0 for v in gpu.values())
    empty = []
    for expr in exprs:
        q = _concrete(expr, MODEL)
        result = server.query(q)  # raises on a PromQL error
        if result:
            continue
        if "tallyml_gpu_" in q and not has_gpu:
            continue  # valid query, no GPU on this host: no GPU series (tallyml_gpu_available 0)
        empty.append(q)
    assert not empty, f"dashboard queries without data: {empty}"
    # the template variables' label_values() queries
    for var in dash["templating"]["list"]:
        m = re.fullmatch(r"label_values\((.*), (\w+)\)", var.get("definition", ""))
        if not m:
            continue
        match = _concrete(m.group(1), MODEL)
        body = server.api(f"label/{m.group(2)}/values", **{"match[]": match})
        assert body["status"] == "success" and body["data"], (var["name"], body)
    assert MODEL in server.api("label/model/values")["data"]


def _lifetime(expr):
    """The expression over the counters' lifetime: increase(x[w]) -> x."""
    return re.sub(r"increase\((tallyml_\w+\{[^}]*\})\[[^\]]+\]\)", r"\1", expr)


def _panel(dash, title):
    for p in dash["panels"]:
        if p["title"].startswith(title):
            return {t["refId"]: t["expr"] for t in p["targets"]}
    raise KeyError(title)


def test_dashboard_quality_formulas_equal_tallyml(fleet):
    # the dashboard's windowed formulas, evaluated over the whole stream, give tallyml's
    # (sklearn's) values, including classes only in targets or only in predictions
    server = fleet["server"]
    dash = dashboard(MODEL)
    macro = _panel(dash, "Macro precision")
    micro = _panel(dash, "Micro precision")
    accuracy = _panel(dash, "Accuracy")["A"]
    with fleet["paused"]():
        for i, r in enumerate(fleet["replicas"]):
            inst = f"127.0.0.1:{r.handle.port}"

            def value(expr, name):
                q = _concrete(_lifetime(expr), MODEL).replace(
                    'name=~".*"', f'name="{name}",instance="{inst}"')
                (res,) = server.query(q)
                return float(res["value"][1])

            for name, m in (("mc", r.mc), ("gap", r.gap), ("bin", r.bin)):
                avg = "binary" if name == "bin" else "macro"
                for ref, key in (("A", "precision"), ("B", "recall"), ("C", "f1")):
                    expected = getattr(m, key)(average=avg, zero_division=0)
                    assert value(macro[ref], name) == pytest.approx(expected, rel=1e-12), (name, key)
                    if name != "bin":
                        expected = getattr(m, key)(average="micro", zero_division=0)
                        assert value(micro[ref], name) == pytest.approx(expected, rel=1e-12), (name, key)
                assert value(accuracy, name) == pytest.approx(m.accuracy(), rel=1e-12)


def test_recording_rules_pass_promtool_and_evaluate(fleet):
    r = promtool_check_rules(fleet["rules"])
    assert r.returncode == 0, r.stdout + r.stderr
    server = fleet["server"]
    for rule in ("precision", "recall", "f1", "accuracy"):
        res = server.wait_for(f'tallyml:{rule}:ratio_{WINDOW}{{name="mc"}}', timeout=30)
        assert all(0.0 <= float(m["value"][1]) <= 1.0 for m in res), res
