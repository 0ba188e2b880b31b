"""Exporters: Prometheus (collector, HTTP endpoint, push), Grafana dashboards, TensorBoard.

Every exporter reads tallyml objects when it is scraped or flushed, never per prediction.
Submodules load lazily so that ``import tallyml`` stays cheap (prometheus_client and
tensorboardX are imported only when an exporter is created).
"""
from __future__ import annotations

import importlib

__all__ = [
    "PrometheusExporter",
    "ServerHandle",
    "CardinalityWarning",
    "TensorBoardWriter",
    "dashboard",
    "write_dashboard",
    "provisioning_yaml",
    "recording_rules",
    "rule_file",
    "write_rule_file",
]

_WHERE = {
    "PrometheusExporter": "prometheus",
    "ServerHandle": "prometheus",
    "CardinalityWarning": "_sources",
    "TensorBoardWriter": "tensorboard",
    "dashboard": "grafana",
    "write_dashboard": "grafana",
    "provisioning_yaml": "grafana",
    "recording_rules": "grafana",
    "rule_file": "alerting",
    "write_rule_file": "alerting",
}


def __getattr__(name):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
