"""Prometheus alerting rules from tallyml's rules engine.

A ``tallyml.Rule`` reads named values (``f1_window < 0.9``); a ``tallyml.Monitor`` exports each
value ``v`` as the series ``tallyml_monitor_v{model="..."}``. ``rule_file`` renders a monitor's
rules (or any ``AlertEngine``'s, with a name map) as a Prometheus rule file, so that the same
alerts fire in Prometheus/Alertmanager as in the process. ``write_rule_file`` writes it.

The file is written as JSON, which is valid YAML (Prometheus reads it as a rule file; checked
with ``promtool check rules``): no YAML package is needed at run time.

Differences from the in-process engine, by construction of Prometheus' model: a rule's
``clear`` expression (hysteresis) has no Prometheus equivalent and is left out (the alert
resolves when ``expr`` is false; ``clear_for`` becomes ``keep_firing_for``); ``for_count``
evaluations become a duration of ``(for_count - 1) * evaluation_interval``.
"""
from __future__ import annotations

import json
import os

__all__ = ["rule_file", "engine_rule_file", "write_rule_file", "monitor_name_map"]


def _label_value(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def monitor_name_map(monitor):
    """value name -> PromQL selector of the series a Monitor exports for it."""
    from ..monitor._collector import series_name

    model = _label_value(monitor.model)
    return lambda name: f'{series_name(name)}{{model="{model}"}}'


def engine_rule_file(engine, *, group="tallyml", evaluation_interval=None, name_map=None) -> dict:
    """``{"groups": [group]}`` of an ``AlertEngine``'s rules; ``name_map`` (dict or callable):
    value name -> PromQL expression (names it lacks become ``tallyml_<name>``)."""
    if callable(name_map):
        rules = [r.to_prometheus(name_map, evaluation_interval=evaluation_interval)
                 for r in engine.rules]
        out = {"name": group, "rules": rules}
        if evaluation_interval is not None:
            out["interval"] = engine.to_prometheus(evaluation_interval=evaluation_interval)["interval"]
        return {"groups": [out]}
    return {"groups": [engine.to_prometheus(group, evaluation_interval=evaluation_interval,
                                            name_map=name_map)]}


def rule_file(monitor, *, group=None, evaluation_interval=None) -> dict:
    """A Monitor's rules as a Prometheus rule file over its exported series. ``group`` defaults
    to ``tallyml_<model>``; ``evaluation_interval`` (seconds) defaults to the monitor's
    ``evaluate_every`` when that is > 0 (it turns ``for_count`` into a duration)."""
    if evaluation_interval is None and monitor.evaluate_every > 0:
        evaluation_interval = monitor.evaluate_every
    if group is None:
        group = f"tallyml_{monitor.model}"
    if not isinstance(group, str) or not group:
        raise ValueError(f"group must be a non-empty string; got {group!r}")
    doc = engine_rule_file(monitor.engine, group=group, evaluation_interval=evaluation_interval,
                           name_map=monitor_name_map(monitor))
    for rule in doc["groups"][0]["rules"]:
        rule["labels"].setdefault("model", monitor.model)
    return doc


def write_rule_file(path, doc) -> str:
    """Write a rule-file dict (from ``rule_file``/``engine_rule_file``) to ``path``; returns the
    path. The text is JSON, valid YAML for Prometheus."""
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
        raise ValueError('doc must be a rule-file dict {"groups": [...]}')
    path = os.fspath(path)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    return path
