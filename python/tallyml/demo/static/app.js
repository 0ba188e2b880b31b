// tallyml demo page: polls the demo's own server once a second and draws SVG charts.
// No libraries: the page must work offline, from the port the demo serves.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const COLORS = ["#58a6ff", "#3fb950", "#d29922", "#bc8cff", "#f85149", "#39c5cf"];
const W = 640, H = 240, M = { left: 48, right: 44, top: 22, bottom: 24 };

function el(tag, attrs, parent) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function niceRange(lo, hi) {
  if (!isFinite(lo) || !isFinite(hi)) return [0, 1];
  if (hi - lo < 1e-12) { const pad = Math.abs(hi) * 0.1 || 1; return [lo - pad, hi + pad]; }
  const pad = (hi - lo) * 0.08;
  return [lo - pad, hi + pad];
}

function fmtTick(v) {
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 1000) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 0.1) return v.toFixed(2);
  return v.toPrecision(2);
}

// series: [{name, points: [[x, y], ...]}]; opts: {xMax, xLabel, yMin, yMax, markers, bands}
function lineChart(svg, series, opts) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const ys = [];
  for (const s of series) for (const p of s.points) if (p[1] !== null && isFinite(p[1])) ys.push(p[1]);
  let [y0, y1] = niceRange(Math.min(...ys), Math.max(...ys));
  // a natural bound (0 for rates, 1 for scores) becomes the axis end when the data respects it
  if (opts.yMin !== undefined && (!ys.length || Math.min(...ys) >= opts.yMin)) y0 = opts.yMin;
  if (opts.yMax !== undefined && (!ys.length || Math.max(...ys) <= opts.yMax)) y1 = opts.yMax;
  const x0 = 0, x1 = opts.xMax > 0 ? opts.xMax : 1;
  const px = x => M.left + (x - x0) / (x1 - x0) * (W - M.left - M.right);
  const py = y => H - M.bottom - (y - y0) / (y1 - y0) * (H - M.top - M.bottom);
  for (const [a, b] of opts.bands || []) {
    el("rect", { class: "band", x: px(a), y: M.top, width: Math.max(1, px(b) - px(a)),
                 height: H - M.top - M.bottom }, svg);
  }
  el("line", { class: "axis", x1: M.left, y1: H - M.bottom, x2: W - M.right, y2: H - M.bottom }, svg);
  el("line", { class: "axis", x1: M.left, y1: M.top, x2: M.left, y2: H - M.bottom }, svg);
  for (let i = 0; i <= 4; i++) {
    const v = y0 + (y1 - y0) * i / 4;
    el("line", { class: "axis", x1: M.left - 3, y1: py(v), x2: W - M.right, y2: py(v), "stroke-opacity": 0.35 }, svg);
    el("text", { class: "tick", x: M.left - 6, y: py(v) + 4, "text-anchor": "end" }, svg).textContent = fmtTick(v);
  }
  for (let i = 0; i <= 5; i++) {
    const v = x0 + (x1 - x0) * i / 5;
    el("text", { class: "tick", x: px(v), y: H - 6, "text-anchor": "middle" }, svg).textContent =
      fmtTick(v) + (i === 5 ? (opts.xLabel || " s") : "");
  }
  for (const m of opts.markers || []) {
    if (m.x < x0 || m.x > x1) continue;
    el("line", { class: "marker", x1: px(m.x), y1: M.top, x2: px(m.x), y2: H - M.bottom }, svg);
    el("text", { class: "marker-label", x: px(m.x) + 3, y: M.top + 9 }, svg).textContent = m.label;
  }
  let lx = M.left + 4;
  series.forEach((s, i) => {
    const color = s.color || COLORS[i % COLORS.length];
    let d = "", n = 0, pen = false;
    for (const [x, y] of s.points) {
      if (y === null || !isFinite(y)) { pen = false; continue; }
      d += (pen ? "L" : "M") + px(x).toFixed(1) + "," + py(y).toFixed(1);
      pen = true; n++;
    }
    const path = el("path", { class: "series", d: d || "M0,0", stroke: color, "data-series": s.name,
                              "data-points": n }, svg);
    if (!d) path.setAttribute("visibility", "hidden");
    el("rect", { x: lx, y: 4, width: 10, height: 10, fill: color }, svg);
    const t = el("text", { class: "legend", x: lx + 14, y: 13 }, svg);
    t.textContent = s.name;
    lx += 24 + 6.5 * s.name.length;
  });
}

// ---- Prometheus text format: name{labels} value ------------------------------------------
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/);
    if (m) out.push({ name: m[1], labels: m[2] || "", value: m[3] });
  }
  return out;
}

function formatValue(raw, kind) {
  const v = Number(raw);
  if (raw === "NaN" || !isFinite(v)) return "–";
  switch (kind) {
    case "ratio": return v.toFixed(3);
    case "ms": return (v * 1000).toPrecision(3) + " ms";
    case "percent": return (v * 100).toFixed(1) + " %";
    case "bytes": return (v / 1048576).toFixed(1) + " MB";
    case "int": return Math.round(v).toLocaleString("en-US");
    default: return v.toPrecision(3);
  }
}

function showMetrics(samples) {
  for (const node of document.querySelectorAll("[data-metric]")) {
    const name = node.dataset.metric, match = node.dataset.match || "";
    const s = samples.find(x => x.name === name && x.labels.includes(match));
    if (!s) continue;
    node.dataset.value = s.value;  // the exact token of the exposition (tests compare it)
    node.textContent = formatValue(s.value, node.dataset.format);
  }
}

// ---- charts from the recorded history ------------------------------------------------------
function pts(history, key, scale) {
  return history.map(p => [p.time, p[key] === null ? null : p[key] * (scale || 1)]);
}

function driftBands(history) {
  const bands = [];
  let start = null;
  for (const p of history) {
    if (p.drift_detected === 1 && start === null) start = p.time;
    if (p.drift_detected !== 1 && start !== null) { bands.push([start, p.time]); start = null; }
  }
  if (start !== null && history.length) bands.push([start, history[history.length - 1].time]);
  return bands;
}

const EVENT_LABELS = { covariate_shift: "covariate shift", concept_shift: "concept shift",
                       retrained: "retrained" };

function showHistory(data) {
  const h = data.history, xMax = data.schedule.duration;
  const markers = data.events.filter(e => EVENT_LABELS[e.kind])
                             .map(e => ({ x: e.time, label: EVENT_LABELS[e.kind] }));
  const common = { xMax, markers };
  lineChart(document.getElementById("chart-quality"), [
    { name: "accuracy (window)", points: pts(h, "accuracy_window") },
    { name: "estimated accuracy (window)", points: pts(h, "estimated_accuracy_window") },
    { name: "accuracy (total)", points: pts(h, "accuracy") },
    { name: "ROC AUC", points: pts(h, "roc_auc") },
  ], { ...common, yMax: 1 });
  lineChart(document.getElementById("chart-drift"), [
    { name: "PSI", points: pts(h, "psi") },
    { name: "KS", points: pts(h, "ks") },
  ], { ...common, yMin: 0, bands: driftBands(h) });
  lineChart(document.getElementById("chart-latency"), [
    { name: "p50", points: pts(h, "latency_p50_seconds", 1000) },
    { name: "p99", points: pts(h, "latency_p99_seconds", 1000) },
  ], { ...common, yMin: 0 });
  lineChart(document.getElementById("chart-resources"), [
    { name: "CPU %", points: pts(h, "cpu_ratio", 100) },
    { name: "RSS MB", points: pts(h, "rss_bytes", 1 / 1048576) },
  ], { ...common, yMin: 0 });
  const rounds = [...new Set(data.training.map(r => r.round))];
  const train = [];
  for (const r of rounds) {
    const rows = data.training.filter(x => x.round === r);
    const tag = r === 0 ? "initial" : "retrain " + r;
    train.push({ name: tag + " train", points: rows.map(x => [x.epoch, x.train_accuracy]) });
    train.push({ name: tag + " val", points: rows.map(x => [x.epoch, x.val_accuracy]) });
  }
  const epochs = Math.max(1, ...data.training.map(r => r.epoch));
  lineChart(document.getElementById("chart-training"), train, { xMax: epochs, xLabel: " epochs" });
  const ol = document.getElementById("events");
  ol.innerHTML = "";
  for (const e of data.events) {
    const li = document.createElement("li");
    li.textContent = `${e.time.toFixed(2)} s  ${e.kind.replace("_", " ")}: ${e.detail}`;
    ol.appendChild(li);
  }
}

function showSnapshot(snap) {
  const d = snap.demo;
  const phase = document.getElementById("phase");
  phase.textContent = d.phase;
  phase.className = "badge " + d.phase;
  document.getElementById("clock").textContent = `${d.now.toFixed(1)} / ${d.duration.toFixed(0)} s`;
  document.getElementById("progress-bar").style.width = (100 * d.progress).toFixed(1) + "%";
  const tbody = document.querySelector("#alerts tbody");
  tbody.innerHTML = "";
  for (const a of snap.alerts) {
    const tr = document.createElement("tr");
    for (const [text, cls] of [[a.name], [a.state, a.state], [a.severity], [a.expr]]) {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    tr.dataset.alert = a.name;
    tr.dataset.state = a.state;
    tbody.appendChild(tr);
  }
  const gpu = snap.resources && snap.resources.gpu, node = document.getElementById("gpu");
  node.textContent = !gpu ? "–" : gpu.available ? `${(gpu.devices || []).length} device(s)` : "none";
  node.title = gpu && !gpu.available ? gpu.reason : "";  // why there is none, on hover
}

async function poll() {
  try {
    const [hist, snap, metrics] = await Promise.all([
      fetch("/api/history").then(r => r.json()),
      fetch("/api/snapshot").then(r => r.json()),
      fetch("/metrics").then(r => r.text()),
    ]);
    showHistory(hist);
    showSnapshot(snap);
    showMetrics(parseMetrics(metrics));
    document.getElementById("conn").textContent = "live";
    document.body.dataset.updated = String(Date.now());
  } catch (err) {
    document.getElementById("conn").textContent = "disconnected (the demo has ended)";
  }
}

poll();
setInterval(poll, 1000);
