"""A Monitor's exposition and alert rules checked by Prometheus' own tools: ``promtool check
metrics``, ``promtool check rules``, and a real Prometheus server that scrapes the monitor's
endpoint, evaluates the generated rule file and fires the alert (read back over /api/v1/alerts
and /api/v1/rules)."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

import tallyml
from tallyml.export.alerting import engine_rule_file, rule_file, write_rule_file

from _prometheus_server import (PrometheusServer, promtool_check_metrics, promtool_check_rules,
                                require_binary)

BACKEND = "numpy"
MODEL = 'fraud "eu"'  # a label value that needs escaping, on purpose

RULES = [
    {"name": "LowF1Window", "expr": "f1_window < 0.6", "severity": "page",
     "summary": "windowed F1 below 0.6"},
    {"name": "ScoreDrift", "expr": "psi > 0.2 and not (predictions_total < 100)", "for": 120,
     "clear": "psi < 0.1", "clear_for": 60},
    {"name": "SlowAndBusy", "expr": "latency_p99_seconds > 0.5 or pending_labels >= 1000",
     "for_count": 3},
    {"name": "Overfitting", "expr": "overfitting_detected"},
]


def _monitor(**kw):
    rng = np.random.default_rng(0)
    return tallyml.Monitor("binary", model=MODEL, window=200, reference_scores=rng.random(3000),
                           drift_window=200, rules=RULES, evaluate_every=1.0, backend=BACKEND,
                           **kw)


def test_rule_file_renders_the_rules():
    m = _monitor()
    doc = rule_file(m)
    (group,) = doc["groups"]
    assert group["name"] == f"tallyml_{MODEL}" and group["interval"] == "1s"
    by = {r["alert"]: r for r in group["rules"]}
    sel = '{model="fraud \\"eu\\""}'
    assert by["LowF1Window"]["expr"] == f"tallyml_monitor_f1_window{sel} < 0.6"
    assert by["LowF1Window"]["labels"] == {"severity": "page", "model": MODEL}
    assert by["ScoreDrift"]["for"] == "2m" and by["ScoreDrift"]["keep_firing_for"] == "1m"
    assert f"tallyml_monitor_predictions_total{sel} >= 100.0" in by["ScoreDrift"]["expr"]
    assert by["SlowAndBusy"]["for"] == "2s"  # 3 evaluations, 1 s apart
    assert by["Overfitting"]["expr"] == f"tallyml_monitor_overfitting_detected{sel} != 0"
    # an engine of one's own, with a name map
    eng = tallyml.AlertEngine({"x"}, [tallyml.Rule("X", "x > 1")])
    assert engine_rule_file(eng, name_map={"x": "my_x"})["groups"][0]["rules"][0]["expr"] == "my_x > 1.0"
    assert engine_rule_file(eng, name_map=lambda n: "f_" + n)["groups"][0]["rules"][0]["expr"] == "f_x > 1.0"
    with pytest.raises(ValueError, match="group"):
        rule_file(m, group="")
    with pytest.raises(ValueError, match="doc"):
        write_rule_file("/nonexistent/x", {"rules": []})


def test_promtool_accepts_rule_file_and_exposition(tmp_path):
    require_binary("promtool")
    m = _monitor(resources=0.05)
    rng = np.random.default_rng(1)
    m.observe(rng.random(300), rng.integers(0, 2, 300), latency=0.01)
    m.observe(rng.random(50), ids=range(50))
    m.observe_fit(train_error=0.1, val_error=0.3)
    path = write_rule_file(tmp_path / "rules.yml", m.alerting_rules())
    r = promtool_check_rules(path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 4 rules found" in r.stdout
    text = m.exporter().exposition()
    r = promtool_check_metrics(text)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in m.known_values:
        family = "tallyml_monitor_" + name
        assert family + "{" in text, family
    m.close()
    # multiclass and multilabel monitors export valid text too
    for task, kw, p, t in [("multiclass", {"num_classes": 3}, rng.dirichlet(np.ones(3), 40),
                            rng.integers(0, 3, 40)),
                           ("multilabel", {"num_labels": 2}, rng.random((40, 2)),
                            rng.integers(0, 2, (40, 2)))]:
        mm = tallyml.Monitor(task, model=task, backend=BACKEND, **kw)
        mm.observe(p, t)
        r = promtool_check_metrics(mm.exporter().exposition())
        assert r.returncode == 0, r.stdout + r.stderr
        mm.close()


def test_alert_fires_in_a_real_prometheus(tmp_path):
    require_binary("prometheus")
    m = _monitor()
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 400)
    m.observe(np.where(y == 1, 0.9, 0.1), y)  # perfect predictions: nothing fires
    rules = write_rule_file(tmp_path / "rules.yml", m.alerting_rules())
    with m.serve(0) as handle, PrometheusServer([f"127.0.0.1:{handle.port}"], tmp_path,
                                                interval="1s", rule_files=[rules]) as prom:
        prom.wait_scrapes(2)
        body = prom.api("rules", type="alert")
        names = {r["name"]: r for g in body["data"]["groups"] for r in g["rules"]}
        assert set(names) == {r["name"] for r in RULES}
        assert names["LowF1Window"]["state"] == "inactive" and names["LowF1Window"]["health"] == "ok"
        # the window turns bad: the in-process rule fires, and so does Prometheus' copy
        m.observe(np.where(y[:200] == 1, 0.1, 0.9), y[:200])
        m.evaluate()
        assert {a["name"]: a["state"] for a in m.alerts()}["LowF1Window"] == "firing"

        def firing():
            alerts = prom.api("alerts")["data"]["alerts"]
            return [a for a in alerts if a["labels"]["alertname"] == "LowF1Window"
                    and a["state"] == "firing"]

        prom.wait_for("tallyml_monitor_f1_window", lambda r: r and float(r[0]["value"][1]) < 0.6)
        deadline = time.monotonic() + 30
        found = firing()
        while not found and time.monotonic() < deadline:
            time.sleep(0.5)
            found = firing()
        assert found, json.dumps(prom.api("alerts"))
        alert = found[0]
        assert alert["labels"]["model"] == MODEL and alert["labels"]["severity"] == "page"
        # the firing gauge the monitor exports agrees
        fired = prom.wait_for('tallyml_alert_firing{alert="LowF1Window"} == 1')
        assert fired[0]["metric"]["model"] == MODEL
        # Overfitting never fired: no data for it in either place
        assert not [a for a in prom.api("alerts")["data"]["alerts"]
                    if a["labels"]["alertname"] == "Overfitting"]
    m.close()
