"""Prometheus collector of a Monitor's values: ``tallyml_monitor_<value>{model}`` for every
name of ``Monitor.values()`` (counters for the ``*_total`` ones, gauges otherwise) and
``tallyml_alert_firing{model, alert, severity}`` (1 while the rule fires, else 0).

The series name of a value is always ``tallyml_monitor_<value>``, so an alert rule renders to
PromQL by a fixed mapping (``series_name``), see ``tallyml.export.alerting``."""
from __future__ import annotations

__all__ = ["MonitorCollector", "series_name", "PREFIX"]

PREFIX = "tallyml_monitor_"


def series_name(value: str) -> str:
    return PREFIX + value


class MonitorCollector:
    """Reads the monitor when scraped (never per prediction)."""

    def __init__(self, monitor):
        self._monitor = monitor

    def describe(self):
        return []  # names are known only at collect time; this skips a collect at register

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        m = self._monitor
        values = m.values()
        out = []
        for name in sorted(values):
            v = values[name]
            if name.endswith("_total"):
                fam = CounterMetricFamily(series_name(name[: -len("_total")]),
                                          f"tallyml Monitor value {name}", labels=["model"])
            else:
                fam = GaugeMetricFamily(series_name(name), f"tallyml Monitor value {name}",
                                        labels=["model"])
            fam.add_metric([m.model], v)
            out.append(fam)
        firing = GaugeMetricFamily("tallyml_alert_firing",
                                   "1 while a tallyml Monitor alert rule fires, else 0.",
                                   labels=["model", "alert", "severity"])
        for a in m.alerts():
            firing.add_metric([m.model, a["name"], a["severity"]], float(a["state"] == "firing"))
        out.append(firing)
        return out
