"""Grafana dashboard (classic JSON model), its provisioning YAML, and Prometheus recording rules
for the series a :class:`~tallyml.export.prometheus.PrometheusExporter` exports.

Quality panels are computed in PromQL from the exported counters over a window (the ``window``
template variable, or the dashboard's time range for the tables), not from the lifetime gauges:
``increase()`` of tp / fp / fn gives exactly the windowed precision, recall and F1, for one
replica or summed over a fleet.

Template variables: ``datasource`` (a Prometheus data source), ``model``, ``name`` (the names the
metric objects were tracked under; "All" by default) and ``window``.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

__all__ = ["dashboard", "write_dashboard", "provisioning_yaml", "recording_rules", "expressions"]

_DS = {"type": "prometheus", "uid": "${datasource}"}

# label selectors used by every query
_Q = 'model="$model",name=~"$name"'  # quality: one series set per tracked metric object
_R = 'model="$model"'  # resources and latency


def _inc(metric: str, by: str = "name", window: str = "$window", sel: str = _Q) -> str:
    return f"sum by ({by}) (increase({metric}{{{sel}}}[{window}]))"


def _ratio(num: str, den: str) -> str:
    # "den > 0" drops classes with nothing to divide; they are absent rather than NaN
    return f"({num}) / (({den}) > 0)"


def _class_quality(window: str, by: str):
    """Per-class precision, recall, F1 and support over ``window``, with scikit-learn's
    zero_division=0 semantics for the classes present in the window: a class seen only in
    targets has precision 0, one seen only in predictions recall 0; classes absent from both
    are left out (sklearn's default label set), so macro averages match sklearn's."""
    tp = _inc("tallyml_true_positives_total", by, window)
    fp = _inc("tallyml_false_positives_total", by, window)
    fn = _inc("tallyml_false_negatives_total", by, window)
    seen_as_zero = f"(({tp} + {fp} + {fn}) > 0) * 0"
    precision = f"({_ratio(tp, f'{tp} + {fp}')}) or {seen_as_zero}"
    recall = f"({_ratio(tp, f'{tp} + {fn}')}) or {seen_as_zero}"
    f1 = _ratio(f"2 * {tp}", f"2 * {tp} + {fp} + {fn}")
    support = f"{tp} + {fn}"
    return precision, recall, f1, support


def _target(expr, legend="", ref="A", instant=False, fmt="time_series"):
    t = {"refId": ref, "datasource": _DS, "expr": expr, "legendFormat": legend, "range": not instant,
         "instant": instant, "format": fmt}
    return t


class _Layout:
    def __init__(self):
        self.panels = []
        self.y = 0
        self._x = 0
        self._row_h = 0
        self._id = 0

    def row(self, title):
        self._newline()
        self._id += 1
        self.panels.append({"id": self._id, "type": "row", "title": title, "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.y += 1

    def _newline(self):
        if self._x:
            self.y += self._row_h
            self._x = 0
            self._row_h = 0

    def add(self, panel, w, h):
        if self._x + w > 24:
            self._newline()
        self._id += 1
        panel = dict(panel, id=self._id, datasource=_DS,
                     gridPos={"h": h, "w": w, "x": self._x, "y": self.y})
        self._x += w
        self._row_h = max(self._row_h, h)
        self.panels.append(panel)
        return panel


def _stat(title, expr, unit="percentunit", decimals=3, legend="{{name}}", description=""):
    return {"type": "stat", "title": title, "description": description,
            "targets": [_target(expr, legend)],
            "fieldConfig": {"defaults": {"unit": unit, "decimals": decimals}, "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "value", "graphMode": "area", "textMode": "auto"}}


def _timeseries(title, targets, unit="percentunit", description="", min_=None, max_=None):
    defaults = {"unit": unit, "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 0,
                                         "showPoints": "never", "spanNulls": True}}
    if min_ is not None:
        defaults["min"] = min_
    if max_ is not None:
        defaults["max"] = max_
    return {"type": "timeseries", "title": title, "description": description, "targets": targets,
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "none"}}}


def _templating(model):
    return {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []},
        {"name": "model", "label": "Model", "type": "query", "datasource": _DS,
         "definition": "label_values(tallyml_predictions_total, model)",
         "query": {"query": "label_values(tallyml_predictions_total, model)", "refId": "model"},
         "current": {"selected": True, "text": model, "value": model},
         "refresh": 2, "sort": 1, "multi": False, "includeAll": False, "hide": 0, "options": []},
        {"name": "name", "label": "Metric set", "type": "query", "datasource": _DS,
         "definition": 'label_values(tallyml_predictions_total{model="$model"}, name)',
         "query": {"query": 'label_values(tallyml_predictions_total{model="$model"}, name)',
                   "refId": "name"},
         "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
         "refresh": 2, "sort": 1, "multi": True, "includeAll": True, "allValue": ".*", "hide": 0,
         "options": []},
        {"name": "window", "label": "Quality window", "type": "interval",
         "query": "1m,5m,15m,1h,6h,1d", "auto": False,
         "current": {"selected": True, "text": "5m", "value": "5m"},
         "options": [{"selected": v == "5m", "text": v, "value": v}
                     for v in ("1m", "5m", "15m", "1h", "6h", "1d")],
         "hide": 0, "refresh": 2},
    ]}


def dashboard(model: str, *, title=None, uid=None) -> dict:
    """The dashboard as a dict (Grafana's classic JSON model) with ``model`` preselected."""
    if not isinstance(model, str) or not model:
        raise ValueError(f"model must be a non-empty string; got {model!r}")
    lay = _Layout()

    # ---- overview
    lay.row("Overview")
    lay.add(_stat("Predictions / s",
                  f"sum by (name) (rate(tallyml_predictions_total{{{_Q}}}[$__rate_interval]))",
                  unit="short", decimals=1), 4, 4)
    acc = _ratio(_inc("tallyml_correct_predictions_total"), _inc("tallyml_predictions_total"))
    lay.add(_stat("Accuracy ($window)", acc,
                  description="correct / predictions over the window (multiclass, binary)"), 4, 4)
    p, r, f1, _ = _class_quality("$window", "name, class")
    lay.add(_stat("Macro F1 ($window)", f"avg by (name) ({f1})"), 4, 4)
    lay.add(_stat("MCC (lifetime)", f"tallyml_mcc{{{_Q}}}"), 4, 4)
    lay.add(_stat("Predictions (lifetime)", f"sum by (name) (tallyml_predictions_total{{{_Q}}})",
                  unit="short", decimals=0), 4, 4)
    lay.add(_stat("p99 latency ($window)",
                  "histogram_quantile(0.99, sum by (le, name) (rate("
                  f"tallyml_latency_seconds_bucket{{{_R}}}[$window])))", unit="s", decimals=4), 4, 4)

    # ---- quality over time
    lay.row("Quality over time")
    lay.add(_timeseries("Accuracy", [_target(acc, "{{name}}")], min_=0, max_=1), 12, 8)
    lay.add(_timeseries("Macro precision / recall / F1", [
        _target(f"avg by (name) ({p})", "precision {{name}}", "A"),
        _target(f"avg by (name) ({r})", "recall {{name}}", "B"),
        _target(f"avg by (name) ({f1})", "F1 {{name}}", "C"),
    ], min_=0, max_=1), 12, 8)
    tp, fp, fn = (_inc(f"tallyml_{k}_total") for k in ("true_positives", "false_positives", "false_negatives"))
    lay.add(_timeseries("Micro precision / recall / F1", [
        _target(_ratio(tp, f"{tp} + {fp}"), "precision {{name}}", "A"),
        _target(_ratio(tp, f"{tp} + {fn}"), "recall {{name}}", "B"),
        _target(_ratio(f"2 * {tp}", f"2 * {tp} + {fp} + {fn}"), "F1 {{name}}", "C"),
    ], min_=0, max_=1), 12, 8)
    lay.add(_timeseries("Lifetime values (gauges)", [
        _target(f"tallyml_accuracy{{{_Q}}}", "accuracy {{name}}", "A"),
        _target(f"tallyml_mcc{{{_Q}}}", "MCC {{name}}", "B"),
        _target(f"tallyml_roc_auc{{{_Q}}}", "AUROC {{name}}", "C"),
    ], unit="short", min_=-1, max_=1), 12, 8)

    # ---- per class
    lay.row("Per class")
    pc, rc, fc, sc = _class_quality("$__range", "name, class")
    table = {"type": "table", "title": "Per-class quality (dashboard range)",
             "targets": [_target(pc, "", "precision", True, "table"),
                         _target(rc, "", "recall", True, "table"),
                         _target(fc, "", "f1", True, "table"),
                         _target(sc, "", "support", True, "table")],
             "transformations": [{"id": "merge", "options": {}},
                                 {"id": "organize", "options": {
                                     "excludeByName": {"Time": True},
                                     "renameByName": {"Value #precision": "precision",
                                                      "Value #recall": "recall",
                                                      "Value #f1": "F1",
                                                      "Value #support": "support"}}}],
             "fieldConfig": {"defaults": {"decimals": 4}, "overrides": []},
             "options": {"showHeader": True, "sortBy": [{"displayName": "class", "desc": False}]}}
    lay.add(table, 12, 10)
    # a heat-coloured matrix: Grafana's "grouping to matrix" turns the (true, predicted, count)
    # rows into a K x K table whose cells are coloured by value; one panel per metric set
    heat = {"type": "table", "title": "Confusion matrix heatmap: $name (dashboard range)",
            "description": "rows: true class, columns: predicted class; counts over the range",
            "repeat": "name", "repeatDirection": "h", "maxPerRow": 2,
            "targets": [_target(
                "sum by (true_class, predicted_class) (increase("
                f"tallyml_confusion_matrix_total{{{_Q}}}[$__range]))",
                "", "A", True, "table")],
            "transformations": [{"id": "groupingToMatrix", "options": {
                "rowField": "true_class", "columnField": "predicted_class",
                "valueField": "Value", "emptyValue": "zero"}}],
            "fieldConfig": {"defaults": {
                "decimals": 0, "color": {"mode": "continuous-BlPu"},
                "custom": {"align": "center", "cellOptions": {"type": "color-background",
                                                              "mode": "gradient"}}},
                "overrides": [{"matcher": {"id": "byName", "options": "true_class\\predicted_class"},
                               "properties": [{"id": "custom.cellOptions",
                                               "value": {"type": "auto"}}]}]},
            "options": {"showHeader": True, "cellHeight": "sm"}}
    lay.add(heat, 12, 10)

    # ---- latency
    lay.row("Latency")
    lay.add(_timeseries("Latency quantiles", [
        _target("histogram_quantile(%s, sum by (le, name) (rate(tallyml_latency_seconds_bucket{%s}"
                "[$__rate_interval])))" % (q, _R), f"p{label} {{{{name}}}}", ref)
        for q, label, ref in ((0.5, "50", "A"), (0.9, "90", "B"), (0.99, "99", "C"))
    ], unit="s"), 12, 8)
    lay.add(_timeseries("Calls and predictions / s", [
        _target(f"sum by (name) (rate(tallyml_latency_seconds_count{{{_R}}}[$__rate_interval]))",
                "calls {{name}}", "A"),
        _target(f"sum by (name) (rate(tallyml_latency_predictions_total{{{_R}}}[$__rate_interval]))",
                "predictions {{name}}", "B"),
    ], unit="short"), 12, 8)

    # ---- resources
    lay.row("Resources")
    lay.add(_timeseries("Process CPU (cores busy)", [
        _target(f"sum by (name) (rate(tallyml_process_cpu_seconds_total{{{_R}}}[$__rate_interval]))",
                "from CPU seconds {{name}}", "A"),
        _target(f"tallyml_process_cpu_ratio{{{_R}}}", "sampler {{name}}", "B"),
    ], unit="percentunit"), 6, 8)
    for title, metric, unit in _RESOURCE_PANELS:
        lay.add(_timeseries(title, [_target(f"{metric}{{{_R}}}", _legend(metric))], unit=unit), 6, 8)

    name = re.sub(r"[^a-zA-Z0-9_-]", "-", model)
    return {
        "id": None,
        "uid": uid or ("tallyml-" + name)[:40],
        "title": title or f"tallyml: {model}",
        "description": "Model quality, latency and resources exported by tallyml",
        "tags": ["tallyml"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": _templating(model),
        "annotations": {"list": []},
        "links": [],
        "panels": lay.panels,
    }


# (title, metric, unit): the ResourceMonitor readings the dashboard plots
_RESOURCE_PANELS = (
    ("Process memory (RSS)", "tallyml_process_rss_bytes", "bytes"),
    ("GPU utilisation", "tallyml_gpu_utilization_ratio", "percentunit"),
    ("GPU memory used", "tallyml_gpu_memory_used_bytes", "bytes"),
)


def _legend(metric):
    return "GPU {{gpu}}" if metric.startswith("tallyml_gpu_") else "{{name}}"


def expressions(dash: dict) -> list:
    """Every PromQL expression in a dashboard (panel targets, nested rows included)."""
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append(t["expr"])
            walk(p.get("panels", []))

    walk(dash.get("panels", []))
    return out


def _yaml(value, indent=0) -> str:
    """Block-style YAML for dicts, lists and scalars (strings JSON-quoted, which YAML reads as
    double-quoted scalars): enough for provisioning and rule files, without a YAML package."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return pad + "{}\n"
        out = []
        for k, v in value.items():
            key = json.dumps(str(k)) if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(k)) else k
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{key}:\n{_yaml(v, indent + 1)}")
            else:
                out.append(f"{pad}{key}: {_yaml_scalar(v)}\n")
        return "".join(out)
    if isinstance(value, list):
        if not value:
            return pad + "[]\n"
        out = []
        for v in value:
            if isinstance(v, (dict, list)) and v:
                body = _yaml(v, indent + 1)
                out.append(f"{pad}- {body.lstrip()}")
            else:
                out.append(f"{pad}- {_yaml_scalar(v)}\n")
        return "".join(out)
    return pad + _yaml_scalar(value) + "\n"


def _yaml_scalar(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return json.dumps(str(v))


def provisioning_yaml(dashboards_dir, *, folder="tallyml", provider="tallyml") -> str:
    """A Grafana dashboard provider (``provisioning/dashboards/*.yaml``) that loads the JSON
    files in ``dashboards_dir``."""
    doc = {"apiVersion": 1, "providers": [{
        "name": provider, "orgId": 1, "folder": folder, "type": "file",
        "disableDeletion": False, "allowUiUpdates": True, "updateIntervalSeconds": 30,
        "options": {"path": str(Path(dashboards_dir).resolve()), "foldersFromFilesStructure": False},
    }]}
    return _yaml(doc)


def write_dashboard(model, out_path=None):
    """Write the dashboard JSON for ``model`` to ``out_path`` (default ``tallyml-<model>.json``)
    and its provisioning YAML beside it (same stem, ``.yaml``). Returns both paths."""
    dash = dashboard(model)
    if out_path is None:
        out_path = f"{dash['uid']}.json"
    out = Path(os.fspath(out_path))
    if out.suffix.lower() in (".yaml", ".yml"):
        raise ValueError(f"out_path must be the dashboard's .json path; got {str(out)!r}")
    if out.exists() and out.is_dir():
        raise ValueError(f"out_path {str(out)!r} is a directory; give a file name")
    if not out.parent.exists():
        raise FileNotFoundError(f"out_path: directory {str(out.parent)!r} does not exist")
    yaml_path = out.with_suffix(".yaml")
    text = json.dumps(dash, indent=2) + "\n"
    provisioning = provisioning_yaml(out.parent)
    out.write_text(text)
    yaml_path.write_text(provisioning)
    return out, yaml_path


def recording_rules(*, windows=("5m", "1h")) -> str:
    """Prometheus recording rules (YAML) for windowed micro precision, recall and F1 and
    accuracy per model and name, e.g. ``tallyml:precision:ratio_5m``."""
    rules = []
    for w in windows:
        if not re.fullmatch(r"\d+[smhdwy]", w):
            raise ValueError(f"windows must be Prometheus durations like '5m'; got {w!r}")
        sel = ""
        by = "model, name"
        tp = f"sum by ({by}) (increase(tallyml_true_positives_total{sel}[{w}]))"
        fp = f"sum by ({by}) (increase(tallyml_false_positives_total{sel}[{w}]))"
        fn = f"sum by ({by}) (increase(tallyml_false_negatives_total{sel}[{w}]))"
        ok = f"sum by ({by}) (increase(tallyml_correct_predictions_total{sel}[{w}]))"
        n = f"sum by ({by}) (increase(tallyml_predictions_total{sel}[{w}]))"
        rules += [
            {"record": f"tallyml:precision:ratio_{w}", "expr": _ratio(tp, f"{tp} + {fp}")},
            {"record": f"tallyml:recall:ratio_{w}", "expr": _ratio(tp, f"{tp} + {fn}")},
            {"record": f"tallyml:f1:ratio_{w}", "expr": _ratio(f"2 * {tp}", f"2 * {tp} + {fp} + {fn}")},
            {"record": f"tallyml:accuracy:ratio_{w}", "expr": _ratio(ok, n)},
        ]
    return _yaml({"groups": [{"name": "tallyml", "rules": rules}]})
