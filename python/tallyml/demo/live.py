"""The demo's terminal view: rich tables with sparklines and a progress bar for the run,
refreshed a few times a second; plain periodic lines when the output is not a terminal."""
from __future__ import annotations

import math

__all__ = ["sparkline", "render", "plain_line", "LiveView", "PlainView"]

_BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values, width: int = 16) -> str:
    """The last ``width`` values as block characters scaled to their own range (NaN: space)."""
    vals = [v for v in values[-width:]]
    finite = [v for v in vals if v is not None and math.isfinite(v)]
    if not finite:
        return " " * len(vals)
    lo, hi = min(finite), max(finite)
    span = hi - lo
    out = []
    for v in vals:
        if v is None or not math.isfinite(v):
            out.append(" ")
        elif span == 0:
            out.append(_BLOCKS[len(_BLOCKS) // 2])
        else:
            out.append(_BLOCKS[min(len(_BLOCKS) - 1, int((v - lo) / span * len(_BLOCKS)))])
    return "".join(out)


def _f(v, fmt="{:.3f}"):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return fmt.format(v)


def _ms(v):
    return _f(None if v is None else v * 1000.0, "{:.3g} ms")


_STATE_STYLE = {"firing": "bold red", "pending": "yellow", "resolved": "cyan", "inactive": "dim"}
_PHASE_STYLE = {"baseline": "green", "drifted": "bold red", "retrained": "bold cyan"}


def render(scenario):
    """One frame of the terminal view (a rich renderable) from the scenario's last snapshot."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    snap = scenario.snapshot()
    hist = scenario.history()
    d = snap["demo"]
    v = snap["values"]

    def series(key):
        return [p[key] for p in hist]

    head = Table.grid(padding=(0, 2), expand=True)
    head.add_column(ratio=1)
    head.add_column(width=40)
    head.add_column(justify="right")
    head.add_row(Text.assemble(("tallyml demo ", "bold"), ("phase ", "dim"),
                               (d["phase"], _PHASE_STYLE.get(d["phase"], ""))),
                 ProgressBar(total=d["duration"], completed=d["now"], width=40),
                 f"{d['now']:.1f} / {d['duration']:.0f} s")

    quality = Table(title="quality", title_justify="left", expand=True)
    for col in ("metric", "total", "window", "estimated (window)", "trend (window)"):
        quality.add_column(col, justify="left" if col in ("metric", "trend (window)") else "right")
    for key in ("accuracy", "f1", "precision", "recall", "mcc"):
        trend = sparkline(series("accuracy_window")) if key == "accuracy" else (
            sparkline(series("f1_window")) if key == "f1" else "")
        quality.add_row(key, _f(v.get(key)), _f(v.get(f"{key}_window")),
                        _f(v.get(f"estimated_{key}_window")), trend)
    quality.add_row("roc auc", _f(d["roc_auc"]), "", "", sparkline(series("roc_auc")))

    drift = Table(title="drift", title_justify="left", expand=True)
    for col in ("statistic", "value", "threshold", "trend"):
        drift.add_column(col, justify="left" if col in ("statistic", "trend") else "right")
    thr = (snap.get("drift") or {}).get("thresholds") or {}
    for key in ("psi", "ks", "js", "wasserstein"):
        drift.add_row(key, _f(v.get(key)), _f(thr.get(key)),
                      sparkline(series(key)) if key in ("psi", "ks") else "")
    detected = v.get("drift_detected")
    drift.add_row("drifted", "yes" if detected == 1 else ("no" if detected == 0 else "–"), "", "")

    serving = Table(title="serving", title_justify="left", expand=True)
    serving.add_column("what")
    serving.add_column("value", justify="right")
    serving.add_column("trend")
    serving.add_row("predictions", f"{int(v['predictions_total']):,}", "")
    serving.add_row("labelled / pending", f"{int(v['labelled_total']):,} / {int(v['pending_labels']):,}", "")
    serving.add_row("latency p50", _ms(v.get("latency_p50_seconds")), sparkline(series("latency_p50_seconds")))
    serving.add_row("latency p99", _ms(v.get("latency_p99_seconds")), sparkline(series("latency_p99_seconds")))
    cpu = v.get("process_cpu_ratio")
    serving.add_row("process cpu", _f(None if cpu is None else 100 * cpu, "{:.1f} %"), sparkline(series("cpu_ratio")))
    rss = v.get("process_rss_bytes")
    serving.add_row("process memory", _f(None if rss is None else rss / 2**20, "{:.1f} MB"), sparkline(series("rss_bytes")))
    gpu = (snap.get("resources") or {}).get("gpu") or {}
    serving.add_row("gpu", (f"{len(gpu.get('devices', []))} device(s)" if gpu.get("available")
                            else "none"), Text(str(gpu.get("reason", ""))[:22], "dim"))

    alerts = Table(title="alert rules", title_justify="left", expand=True)
    for col in ("rule", "state", "severity", "expression"):
        alerts.add_column(col)
    for a in snap["alerts"]:
        alerts.add_row(a["name"], Text(a["state"], _STATE_STYLE.get(a["state"], "")),
                       a["severity"], a["expr"])

    events = Text()
    for e in scenario.events()[-4:]:
        events.append(f"{e['time']:7.2f} s  ", "dim")
        events.append(f"{e['kind'].replace('_', ' ')}: ", "bold")
        events.append(f"{e['detail']}\n")

    grid = Table.grid(expand=True, padding=(0, 1))
    grid.add_column(ratio=1)
    grid.add_column(ratio=1)
    grid.add_row(quality, drift)
    grid.add_row(serving, alerts)
    return Panel(Group(head, grid, events), title="tallyml", border_style="blue")


def plain_line(scenario) -> str:
    """One line of the state, for logs and pipes."""
    snap = scenario.snapshot()
    v, d = snap["values"], snap["demo"]
    firing = ",".join(a["name"] for a in snap["alerts"] if a["state"] == "firing") or "none"
    return (f"[{d['now']:7.1f}s] phase={d['phase']} predictions={int(v['predictions_total'])} "
            f"accuracy={_f(v['accuracy'])} accuracy_window={_f(v['accuracy_window'])} "
            f"estimated_window={_f(v.get('estimated_accuracy_window'))} psi={_f(v.get('psi'))} "
            f"p99={_ms(v.get('latency_p99_seconds'))} alerts={firing}")


class LiveView:
    """rich's Live display, refreshed by the caller's loop (``update``) a few times a second."""

    def __init__(self, scenario, console):
        from rich.live import Live

        self._scenario = scenario
        self._live = Live(render(scenario), console=console, auto_refresh=False,
                          transient=False, redirect_stdout=False)

    def __enter__(self):
        self._live.__enter__()
        return self

    def update(self):
        self._live.update(render(self._scenario), refresh=True)

    def __exit__(self, *exc):
        self.update()
        return self._live.__exit__(*exc)


class PlainView:
    """A line every ``every`` seconds of scenario time (and one at the end)."""

    def __init__(self, scenario, console, every):
        self._scenario, self._console, self._every = scenario, console, every
        self._next = 0.0

    def __enter__(self):
        return self

    def update(self):
        if self._scenario.now >= self._next:
            self._next = self._scenario.now + self._every
            self._console.print(plain_line(self._scenario), highlight=False, soft_wrap=True)

    def __exit__(self, *exc):
        self._console.print(plain_line(self._scenario), highlight=False, soft_wrap=True)
        return False
