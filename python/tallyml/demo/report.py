"""The end-of-run report: ``report.json`` (everything recorded: summary, time series, events,
training curves, final snapshot, ROC curve) and ``report.html``, one self-contained page with
inline SVG plots drawn from that same JSON (no scripts, no external files)."""
from __future__ import annotations

import html
import json
import math
import os
import warnings

from .web import json_safe

__all__ = ["build_report", "write_report", "line_chart_svg"]

_COLORS = ("#1f6feb", "#2da44e", "#bf8700", "#8250df", "#cf222e", "#1b7c83")
_W, _H = 640, 240
_ML, _MR, _MT, _MB = 52, 44, 24, 26


def _finite(v):
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def _tick(v):
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 0.1:
        return f"{v:.2f}"
    return f"{v:.2g}"


def line_chart_svg(series, *, x_max, title="", x_label="s", y_min=None, y_max=None,
                   markers=(), bands=()) -> str:
    """An inline SVG line chart. ``series``: [(name, [(x, y), ...])]; y None/NaN breaks the
    line; ``markers``: [(x, label)] dashed verticals; ``bands``: [(x0, x1)] shaded spans."""
    ys = [y for _, pts in series for _, y in pts if _finite(y)]
    lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    if hi - lo < 1e-12:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    else:
        pad = (hi - lo) * 0.08
        lo, hi = lo - pad, hi + pad
    # a natural bound (0 for rates, 1 for scores) becomes the axis end when the data respects it
    if y_min is not None:
        lo = y_min if not ys or min(ys) >= y_min else lo
    if y_max is not None:
        hi = y_max if not ys or max(ys) <= y_max else hi
    x_max = x_max if x_max and x_max > 0 else 1.0

    def px(x):
        return _ML + x / x_max * (_W - _ML - _MR)

    def py(y):
        return _H - _MB - (y - lo) / (hi - lo) * (_H - _MT - _MB)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" class="chart" '
           f'role="img" aria-label="{html.escape(title)}">']
    for a, b in bands:
        out.append(f'<rect x="{px(a):.1f}" y="{_MT}" width="{max(1.0, px(b) - px(a)):.1f}" '
                   f'height="{_H - _MT - _MB}" fill="#cf222e" fill-opacity="0.1"/>')
    out.append(f'<line x1="{_ML}" y1="{_H - _MB}" x2="{_W - _MR}" y2="{_H - _MB}" stroke="#999"/>')
    out.append(f'<line x1="{_ML}" y1="{_MT}" x2="{_ML}" y2="{_H - _MB}" stroke="#999"/>')
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        out.append(f'<line x1="{_ML - 3}" y1="{py(v):.1f}" x2="{_W - _MR}" y2="{py(v):.1f}" '
                   'stroke="#ddd"/>')
        out.append(f'<text x="{_ML - 6}" y="{py(v) + 4:.1f}" font-size="11" text-anchor="end" '
                   f'fill="#555">{_tick(v)}</text>')
    for i in range(6):
        v = x_max * i / 5
        label = _tick(v) + (f" {x_label}" if i == 5 else "")
        out.append(f'<text x="{px(v):.1f}" y="{_H - 6}" font-size="11" text-anchor="middle" '
                   f'fill="#555">{label}</text>')
    for x, label in markers:
        if 0 <= x <= x_max:
            out.append(f'<line x1="{px(x):.1f}" y1="{_MT}" x2="{px(x):.1f}" y2="{_H - _MB}" '
                       'stroke="#777" stroke-dasharray="4 3"/>')
            out.append(f'<text x="{px(x) + 3:.1f}" y="{_MT + 9}" font-size="10" fill="#555">'
                       f'{html.escape(label)}</text>')
    lx = _ML + 4
    for i, (name, pts) in enumerate(series):
        color = _COLORS[i % len(_COLORS)]
        d, pen = [], False
        for x, y in pts:
            if not _finite(y):
                pen = False
                continue
            d.append(f"{'L' if pen else 'M'}{px(x):.1f},{py(y):.1f}")
            pen = True
        if d:
            out.append(f'<path d="{"".join(d)}" fill="none" stroke="{color}" stroke-width="2" '
                       f'data-series="{html.escape(name)}"/>')
        out.append(f'<rect x="{lx:.0f}" y="5" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{lx + 14:.0f}" y="14" font-size="11">{html.escape(name)}</text>')
        lx += 24 + 6.5 * len(name)
    out.append("</svg>")
    return "".join(out)


def build_report(scenario) -> dict:
    """Everything the report shows, JSON-friendly (NaN as null)."""
    summary = scenario.summary()
    roc = None
    if scenario.curves.total_weight > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fpr, tpr, _ = scenario.curves.roc_curve()
        roc = {"fpr": fpr.tolist(), "tpr": tpr.tolist()}
    return json_safe({
        "summary": summary,
        "schedule": scenario.snapshot()["demo"]["schedule"],
        "history": scenario.history(),
        "events": scenario.events(),
        "training": scenario.training(),
        "roc_curve": roc,
        "snapshot": scenario.snapshot(),
    })


_EVENT_LABELS = {"covariate_shift": "covariate shift", "concept_shift": "concept shift",
                 "retrained": "retrained"}


def _pts(history, key, scale=1.0):
    return [(p["time"], None if p.get(key) is None else p[key] * scale) for p in history]


def _bands(history):
    bands, start = [], None
    for p in history:
        if p.get("drift_detected") == 1 and start is None:
            start = p["time"]
        elif p.get("drift_detected") != 1 and start is not None:
            bands.append((start, p["time"]))
            start = None
    if start is not None and history:
        bands.append((start, history[-1]["time"]))
    return bands


def _fmt(v, spec=".4f"):
    return "–" if not _finite(v) else format(v, spec)


def render_html(report: dict) -> str:
    s, h = report["summary"], report["history"]
    x_max = report["schedule"]["duration"]
    markers = [(e["time"], _EVENT_LABELS[e["kind"]]) for e in report["events"]
               if e["kind"] in _EVENT_LABELS]
    charts = [
        ("Quality over time", line_chart_svg(
            [("accuracy (window)", _pts(h, "accuracy_window")),
             ("estimated accuracy (window)", _pts(h, "estimated_accuracy_window")),
             ("accuracy (total)", _pts(h, "accuracy")), ("ROC AUC", _pts(h, "roc_auc"))],
            x_max=x_max, y_max=1.0, markers=markers, title="quality")),
        ("Score drift against the reference (shaded: drift detected)", line_chart_svg(
            [("PSI", _pts(h, "psi")), ("KS", _pts(h, "ks"))], x_max=x_max, y_min=0.0,
            markers=markers, bands=_bands(h), title="drift")),
        ("Prediction latency (ms)", line_chart_svg(
            [("p50", _pts(h, "latency_p50_seconds", 1e3)),
             ("p99", _pts(h, "latency_p99_seconds", 1e3))],
            x_max=x_max, y_min=0.0, markers=markers, title="latency")),
        ("Resources of the serving process", line_chart_svg(
            [("CPU %", _pts(h, "cpu_ratio", 100.0)), ("RSS MB", _pts(h, "rss_bytes", 2.0**-20))],
            x_max=x_max, y_min=0.0, markers=markers, title="resources")),
    ]
    train = report["training"]
    rounds = sorted({r["round"] for r in train})
    tseries = []
    for r in rounds:
        rows = [x for x in train if x["round"] == r]
        tag = "initial" if r == 0 else f"retrain {r}"
        tseries.append((f"{tag} train", [(x["epoch"], x["train_accuracy"]) for x in rows]))
        tseries.append((f"{tag} val", [(x["epoch"], x["val_accuracy"]) for x in rows]))
    charts.append(("Training curves (accuracy per epoch)", line_chart_svg(
        tseries, x_max=max([x["epoch"] for x in train] or [1]), x_label="epochs",
        title="training")))
    if report["roc_curve"]:
        roc = report["roc_curve"]
        charts.append(("ROC curve of the labelled stream", line_chart_svg(
            [("ROC", list(zip(roc["fpr"], roc["tpr"])))], x_max=1.0, x_label="FPR",
            y_min=0.0, y_max=1.0, title="roc")))

    rows = [("predictions served", f"{s['predictions']:,}"), ("labelled", f"{s['labelled']:,}"),
            ("accuracy (total)", _fmt(s["accuracy"])), ("F1 (total)", _fmt(s["f1"])),
            ("MCC (total)", _fmt(s["mcc"])), ("accuracy (last window)", _fmt(s["accuracy_window"])),
            ("estimated accuracy (last window)", _fmt(s["estimated_accuracy_window"])),
            ("ROC AUC (binned)", _fmt(s["roc_auc"])),
            ("latency p50 / p99", f"{_fmt(_ms(s['latency_p50_seconds']), '.3g')} / "
                                  f"{_fmt(_ms(s['latency_p99_seconds']), '.3g')} ms"),
            ("covariate shift injected at", _fmt(s["drift_injected_at"], ".2f") + " s"),
            ("score drift alert fired at", _fmt(s["drift_alert_at"], ".2f") + " s"),
            ("accuracy alert fired at", _fmt(s["accuracy_alert_at"], ".2f") + " s"),
            ("retrained at", _fmt(s["retrained_at"], ".2f") + " s"), ("retrainings", str(s["retrains"]))]
    summary_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                           for k, v in rows)
    phase_rows = "".join(
        f"<tr><td>{html.escape(p)}</td><td>{v['count']:,}</td><td>{_fmt(v['accuracy'])}</td>"
        f"<td>{_fmt(v['f1'])}</td><td>{_fmt(v['mcc'])}</td></tr>"
        for p, v in s["phases"].items() if v)
    events = "".join(f"<li><b>{e['time']:.2f} s</b> {html.escape(e['kind'].replace('_', ' '))}: "
                     f"{html.escape(e['detail'])}</li>" for e in report["events"])
    alerts = "".join(f"<tr><td>{html.escape(a['name'])}</td><td>{html.escape(a['state'])}</td>"
                     f"<td>{html.escape(a['severity'])}</td><td><code>{html.escape(a['expr'])}"
                     "</code></td></tr>" for a in s["alerts"])
    figs = "".join(f"<figure><figcaption>{html.escape(t)}</figcaption>{svg}</figure>"
                   for t, svg in charts)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tallyml demo report</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1340px; color: #1f2328; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 16px; margin-top: 28px; }}
table {{ border-collapse: collapse; }} th, td {{ text-align: left; padding: 3px 10px; border-bottom: 1px solid #ddd; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(620px, 1fr)); gap: 16px; }}
figure {{ margin: 0; border: 1px solid #ddd; border-radius: 6px; padding: 8px; }}
figcaption {{ color: #555; margin-bottom: 4px; }} svg {{ width: 100%; height: auto; }}
</style></head><body>
<h1>tallyml demo report</h1>
<p>Seed {s['seed']}, {s['rate']:g} predictions/s for {s['duration']:.1f} s. The data behind this
page is in <code>report.json</code>.</p>
<h2>Summary</h2><table>{summary_rows}</table>
<h2>Quality per phase</h2>
<table><tr><th>phase</th><th>labelled</th><th>accuracy</th><th>F1</th><th>MCC</th></tr>{phase_rows}</table>
<h2>Plots</h2><div class="grid">{figs}</div>
<h2>Alert rules at the end</h2>
<table><tr><th>rule</th><th>state</th><th>severity</th><th>expression</th></tr>{alerts}</table>
<h2>Events</h2><ol>{events}</ol>
</body></html>
"""


def _ms(v):
    return v * 1e3 if _finite(v) else None


def write_report(scenario, out_dir) -> tuple[str, str]:
    """Write ``report.json`` and ``report.html`` into ``out_dir`` (created if needed); returns
    their paths."""
    os.makedirs(out_dir, exist_ok=True)
    report = build_report(scenario)
    json_path = os.path.join(out_dir, "report.json")
    html_path = os.path.join(out_dir, "report.html")
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, allow_nan=False)
    with open(html_path, "w", encoding="utf-8") as f:
        f.write(render_html(report))
    return json_path, html_path
