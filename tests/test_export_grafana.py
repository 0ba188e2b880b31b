"""Grafana dashboard generator: structure of the JSON model, the files written, bad input.

That every PromQL expression in it runs and returns data is checked against a real Prometheus
in test_export_prometheus_server.py."""
from __future__ import annotations

import json

import pytest
import yaml

from tallyml.export import write_dashboard
from tallyml.export.grafana import dashboard, expressions, provisioning_yaml, recording_rules

from _prometheus_server import promtool_check_rules


def _panels(dash):
    out = []
    for p in dash["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def test_dashboard_has_the_required_panels_and_variables():
    dash = dashboard("fraud-v2")
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert set(variables) == {"datasource", "model", "name", "window"}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["model"]["current"]["value"] == "fraud-v2"
    panels = [p for p in _panels(dash) if p["type"] != "row"]
    types = {p["type"] for p in panels}
    assert {"stat", "timeseries", "table"} <= types
    (heat,) = [p for p in panels if p["title"].startswith("Confusion matrix heatmap")]
    assert heat["transformations"][0]["id"] == "groupingToMatrix"
    assert heat["fieldConfig"]["defaults"]["custom"]["cellOptions"]["type"] == "color-background"
    assert heat["repeat"] == "name"  # one matrix per metric set
    titles = " | ".join(p["title"] for p in panels)
    for needed in ("Accuracy", "F1", "Per-class", "Confusion", "Latency quantiles", "CPU",
                   "memory", "GPU"):
        assert needed in titles, needed
    exprs = expressions(dash)
    # quality over time comes from counter increases over the chosen window
    assert any("increase(tallyml_true_positives_total" in e and "[$window]" in e for e in exprs)
    assert any("histogram_quantile(0.99" in e for e in exprs)
    for p in panels:
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for t in p["targets"]:
            assert t["datasource"] == p["datasource"]
            assert 'model="$model"' in t["expr"], t["expr"]


def test_layout_is_a_valid_grid():
    dash = dashboard("m")
    ids = [p["id"] for p in _panels(dash)]
    assert len(ids) == len(set(ids))
    cells = set()
    for p in dash["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"panels overlap at {(x, y)}"
                cells.add((x, y))


def test_write_dashboard_writes_json_and_provisioning(tmp_path):
    out = tmp_path / "board.json"
    json_path, yaml_path = write_dashboard('my "model"', out)
    assert json_path == out and yaml_path == tmp_path / "board.yaml"
    assert json.loads(out.read_text()) == json.loads(json.dumps(dashboard('my "model"')))
    prov = yaml.safe_load(yaml_path.read_text())
    assert prov["apiVersion"] == 1
    (provider,) = prov["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == str(tmp_path.resolve())
    assert yaml.safe_load(provisioning_yaml(tmp_path)) == prov


def test_write_dashboard_bad_input(tmp_path):
    with pytest.raises(ValueError, match="model"):
        write_dashboard("", tmp_path / "x.json")
    with pytest.raises(ValueError, match="model"):
        dashboard(None)
    with pytest.raises(FileNotFoundError, match="out_path"):
        write_dashboard("m", tmp_path / "missing" / "x.json")
    with pytest.raises(ValueError, match="directory"):
        write_dashboard("m", tmp_path)
    with pytest.raises(ValueError, match="json"):
        write_dashboard("m", tmp_path / "x.yaml")
    assert list(tmp_path.iterdir()) == []  # nothing written on failure


def test_recording_rules_pass_promtool(tmp_path):
    path = tmp_path / "rules.yml"
    path.write_text(recording_rules(windows=("5m", "1h")))
    r = promtool_check_rules(path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 8 rules found" in r.stdout
    with pytest.raises(ValueError, match="windows"):
        recording_rules(windows=("5 minutes",))


def test_yaml_writer_round_trips_through_a_yaml_parser():
    from tallyml.export.grafana import _yaml

    doc = {"a": 1, "b": [1, 2.5, None, True, "x"], "weird key: #": 'q"uo\\te\nnew: line',
           "nested": [{"k": "yes", "l": ["no", "null", "- dash", "~", "日本"]}, {"e": {}}, []],
           "empty": {}, "f": False}
    assert yaml.safe_load(_yaml(doc)) == doc
