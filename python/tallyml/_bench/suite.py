"""The standard benchmark run behind ``tallyml bench``: read bandwidth, the throughput workloads
beside their peers, Python-thread scaling, per-call costs and fresh-process costs, in one
process, as one JSON-able dict; ``format_report`` turns it into the printed table."""
from __future__ import annotations

import os
import platform

import numpy as np

from . import calls, timing
from .workloads import PEER_MODULES, WORKLOADS, check, optional

__all__ = ["run", "format_report"]

#: workloads also timed with every core
ALL_CORE_KEYS = ("binary", "multiclass10", "argmax10")
#: slow peers are timed on at most this many rows (their throughput does not depend on it)
SLOW_PEER_ROWS = 2_000_000


def _machine() -> dict:
    import tallyml

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {"cpus": os.cpu_count(), "load_avg": list(load), "python": platform.python_version(),
            "numpy": np.__version__, "tallyml": tallyml.__version__, "machine": platform.machine()}


def _throughput(w, n, repeat, threads, peers, bandwidth, progress):
    d = w.make(n, 12345)
    expected = w.reference(d)
    ours = lambda: w.tallyml(d, threads)  # noqa: E731
    check(f"tallyml {w.key}", ours(), expected)
    fns = {"tallyml": ours}
    if peers:
        fns["numpy"] = lambda: w.peers["numpy"](d)
    both = timing.interleaved(fns, repeat=repeat)
    secs = {name: v["wall"] for name, v in both.items()}
    rate = {name: w.preds * n / s for name, s in secs.items()}
    row = {"key": w.key, "title": w.title, "rows": n, "threads": threads,
           "tallyml_mpred_s": rate["tallyml"] / 1e6,
           "tallyml_cpu_mpred_s": w.preds * n / both["tallyml"]["cpu"] / 1e6 if threads == 1 else None,
           "gb_s": n * w.bytes / secs["tallyml"] / 1e9,
           "pct_bandwidth": 100.0 * n * w.bytes / secs["tallyml"] / bandwidth,
           "peers_mpred_s": {}, "ratio": {}, "cpu_ratio": {}}
    if not peers:
        return row
    check(f"numpy {w.key}", fns["numpy"](), expected)
    row["cpu_ratio"]["numpy"] = both["numpy"]["cpu"] / both["tallyml"]["cpu"] if threads == 1 else None
    slow = {}
    for name in ("sklearn", "torchmetrics"):
        if name not in w.peers:  # a workload without this peer (curves: no binned sklearn)
            continue
        if not optional(PEER_MODULES[name]):
            row["peers_mpred_s"][name] = None
            progress(f"  {name} not installed: skipped")
            continue
        slow[name] = name
    rows_slow = min(n, SLOW_PEER_ROWS)
    ds = d if rows_slow == n else w.make(rows_slow, 12345)
    exp_s = expected if rows_slow == n else w.reference(ds)
    slow_secs = {}
    for name in slow:
        fn = w.peers[name]
        check(f"{name} {w.key}", fn(ds), exp_s)
        slow_secs[name] = timing.median_seconds(lambda fn=fn: fn(ds), repeat=max(3, repeat // 2))
    for name, s in secs.items():
        if name != "tallyml":
            row["peers_mpred_s"][name] = rate[name] / 1e6
    for name, s in slow_secs.items():
        row["peers_mpred_s"][name] = w.preds * rows_slow / s / 1e6
    for name, r in row["peers_mpred_s"].items():
        if r:
            row["ratio"][name] = row["tallyml_mpred_s"] / r
    return row


# ---- curves block: exact one-shot AUC / AP against sklearn in the same run --------------------
def _exact_curves(n, repeat, quick, progress):
    """tallyml.functional vs sklearn.metrics, interleaved, each result equal to 1e-12."""
    import warnings

    from .workloads import EXACT_CURVES, EXACT_DEFAULT_N

    rows = n or (200_000 if quick else EXACT_DEFAULT_N)
    out = []
    for key, (title, make, ours, theirs) in EXACT_CURVES.items():
        progress(f"{title}: {rows:,} rows ...")
        d = make(rows, 12345)
        ours((d[0][:100], d[1][:100]))  # numba kernels load outside the timing
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            secs = timing.interleaved({"tallyml": lambda: ours(d), "sklearn": lambda: theirs(d)},
                                      repeat=repeat)
            got, want = ours(d), theirs(d)
        if not abs(got - want) <= 1e-12 * abs(want):
            raise AssertionError(f"{key}: tallyml {got!r} != sklearn {want!r}")
        out.append({"key": key, "title": title, "rows": rows,
                    "tallyml_ms": secs["tallyml"]["wall"] * 1e3,
                    "sklearn_ms": secs["sklearn"]["wall"] * 1e3,
                    "ratio": secs["sklearn"]["wall"] / secs["tallyml"]["wall"]})
    return out


def _python_threads(n, repeat, key="binary"):
    """Aggregate throughput of one vs two Python threads, each updating its own metric object
    (num_threads=1) with half of the data: the GIL is released inside the core. Binary counting
    is bound by memory bandwidth (two threads gain what the memory gives two cores);
    multiclass K=10 by computation (two threads gain what a second core gives)."""
    from tallyml import BinaryMetrics, MulticlassMetrics

    w = WORKLOADS[key]
    d = {k: v for k, v in w.make(n, 99).items() if isinstance(v, np.ndarray)}
    half = n // 2
    parts = [{k: v[:half] for k, v in d.items()}, {k: v[half:] for k, v in d.items()}]
    if key == "binary":
        metrics = [BinaryMetrics(num_threads=1), BinaryMetrics(num_threads=1)]
    else:
        metrics = [MulticlassMetrics(10, num_threads=1), MulticlassMetrics(10, num_threads=1)]
    args = [list(p.values()) for p in parts]

    def one():
        for m, a in zip(metrics, args):
            m.update(*a)

    def two():
        timing.run_threads([lambda m=m, a=a: m.update(*a) for m, a in zip(metrics, args)])

    secs = {k: v["wall"] for k, v in timing.interleaved({"one": one, "two": two}, repeat=repeat).items()}
    total = metrics[0].count + metrics[1].count
    if total != n * 2 * repeat:
        raise AssertionError(f"threaded updates lost samples: {total} != {n * 2 * repeat}")
    return {"workload": key, "rows": n, "one_thread_mpred_s": n / secs["one"] / 1e6,
            "two_threads_mpred_s": n / secs["two"] / 1e6, "speedup": secs["one"] / secs["two"]}


def run(quick: bool = False, n: int | None = None, peers: bool = True, progress=print) -> dict:
    """Run every benchmark once; ``quick`` uses small inputs and few repeats (a smoke test)."""
    repeat = 3 if quick else 7
    cpus = os.cpu_count() or 1
    bw_bytes = (16 << 20) if quick else (256 << 20)
    progress("measuring read bandwidth ...")
    bw1 = timing.read_bandwidth(bw_bytes, 1, repeat)
    bwn = timing.read_bandwidth(bw_bytes, cpus, repeat) if cpus > 1 else bw1
    out = {"machine": _machine(), "quick": quick,
           "bandwidth": {"one_thread_gb_s": bw1 / 1e9, "all_threads_gb_s": bwn / 1e9,
                         "threads": cpus},
           "throughput": []}
    for w in WORKLOADS.values():
        rows = n or (max(10_000, w.default_n // 50) if quick else w.default_n)
        progress(f"{w.title}: {rows:,} rows ...")
        out["throughput"].append(_throughput(w, rows, repeat, 1, peers, bw1, progress))
        if w.key in ALL_CORE_KEYS and cpus > 1:
            out["throughput"].append(_throughput(w, rows, repeat, cpus, False, bwn, progress))
    # ---- estimation (CBPE)
    out["estimation"] = estimation(n or (200_000 if quick else None), repeat, bw1, progress)
    # ---- end estimation
    if peers and optional("sklearn"):  # curves block
        out["exact_curves"] = _exact_curves(n, 3 if not quick else 1, quick, progress)
    progress("python threads ...")
    rows = n or (200_000 if quick else 10_000_000)
    out["python_threads"] = _python_threads(rows, repeat)
    out["python_threads_multiclass"] = _python_threads(rows, repeat, "multiclass10")
    progress("small-batch calls ...")
    out["calls_us"] = calls.small_batch_calls(calls=2000 if quick else 20000, repeat=repeat,
                                              peers=peers)
    progress("fresh processes ...")
    out["import_s"] = calls.import_seconds(repeat=2 if quick else 5)
    out["first_update_s"] = calls.first_update_seconds(repeat=1 if quick else 3)
    out["rss_growth_bytes"] = calls.update_rss_growth(n or (100_000 if quick else 10_000_000))
    # ---- window overhead (windows.py): Windowed/Decayed against the plain object
    progress("window overhead ...")
    out["window_overhead"] = (calls.window_overhead(batches=10, repeat=3) if quick
                              else calls.window_overhead())
    # ---- end window overhead
    return out


# ==== BEGIN estimation (CBPE, issue 10) ===========================================================
def estimation(n, repeat, bandwidth, progress=print) -> dict:
    """Label-free expected counts (EstimatedMetrics.update, validation on) beside numpy's best
    formulation of the same counts, timed round-robin in this process; and the per-call cost of
    a 64-row update beside the labelled BinaryMetrics' one."""
    from .workloads import EST_WORKLOADS, est_check, est_reference, est_tallyml

    rows = []
    for key, (title, task, make, default_n, nbytes, items, nb, numpy_fn) in EST_WORKLOADS.items():
        rows_n = n or default_n
        if n and task == "multiclass":
            rows_n = max(1000, n // 5)
        progress(f"{title.strip()}: {rows_n:,} rows ...")
        d = make(rows_n, 12345)
        expected = est_reference(task, d, nb)
        est_check(f"tallyml {key}", est_tallyml(task, d, nb), expected)
        est_check(f"numpy {key}", numpy_fn(d, nb), expected)
        both = timing.interleaved({"tallyml": lambda: est_tallyml(task, d, nb),
                                   "numpy": lambda: numpy_fn(d, nb)}, repeat=repeat)
        t, c = both["tallyml"]["wall"], both["tallyml"]["cpu"]
        rows.append({"key": key, "title": title, "rows": rows_n,
                     "tallyml_mitems_s": items * rows_n / t / 1e6,
                     "tallyml_cpu_mitems_s": items * rows_n / c / 1e6,
                     "gb_s": nbytes * rows_n / t / 1e9,
                     "pct_bandwidth": 100.0 * nbytes * rows_n / t / bandwidth,
                     "cpu_pct_bandwidth": 100.0 * nbytes * rows_n / c / bandwidth,
                     "numpy_mitems_s": items * rows_n / both["numpy"]["wall"] / 1e6,
                     "ratio_numpy": both["numpy"]["wall"] / t})
    return {"throughput": rows, "calls_us": _estimation_calls(repeat)}


def _estimation_calls(repeat, calls=2000, size=64):
    from tallyml import BinaryMetrics, EstimatedMetrics

    rng = np.random.default_rng(7)
    s = rng.random(size, dtype=np.float32)
    t = (rng.random(size) < 0.5).astype(np.int8)
    est, est0, lab = EstimatedMetrics("binary"), EstimatedMetrics("binary", num_bins=0), \
        BinaryMetrics()
    fns = {"EstimatedMetrics binary (1024 bins)": lambda: [est.update(s) for _ in range(calls)],
           "EstimatedMetrics binary (no histogram)":
               lambda: [est0.update(s) for _ in range(calls)],
           "BinaryMetrics (labelled)": lambda: [lab.update(t, s) for _ in range(calls)]}
    for fn in fns.values():
        fn()
    both = timing.interleaved(fns, repeat=repeat)
    return {name: {"wall": v["wall"] / calls * 1e6, "cpu": v["cpu"] / calls * 1e6}
            for name, v in both.items()}


def format_estimation(e: dict) -> list:
    """The estimation section of the printed table."""
    head = (f"{'estimation (no labels)':40} {'M/s':>9} {'GB/s':>6} {'% bw':>5} {'cpu % bw':>8} "
            f"{'x numpy':>8}")
    lines = ["", head, "-" * len(head)]
    for row in e["throughput"]:
        lines.append(f"{row['title']:40} {row['tallyml_mitems_s']:>9.0f} {row['gb_s']:>6.1f} "
                     f"{row['pct_bandwidth']:>5.0f} {row['cpu_pct_bandwidth']:>8.0f} "
                     f"{row['ratio_numpy']:>8.1f}")
    lines.append("(M/s: scores (binary) or rows (multiclass) per second, one thread, validation "
                 "on; x numpy: over numpy's best formulation of the same expected counts)")
    lines.append(f"estimation per call, 64 rows (us): {'wall':>12} {'cpu':>8}")
    for name, us in e["calls_us"].items():
        lines.append(f"  {name:44} {us['wall']:8.2f} {us['cpu']:8.2f}")
    return lines
# ==== END estimation ==============================================================================


def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def format_report(r: dict) -> str:
    """The table ``tallyml bench`` prints."""
    m, bw = r["machine"], r["bandwidth"]
    lines = [
        f"tallyml {m['tallyml']}  python {m['python']}  numpy {m['numpy']}  {m['cpus']} cpus  "
        f"load avg {m['load_avg'][0]:.1f}" + ("  (--quick: small inputs, rough)" if r["quick"] else ""),
        f"read bandwidth: {bw['one_thread_gb_s']:.1f} GB/s one thread, "
        f"{bw['all_threads_gb_s']:.1f} GB/s {bw['threads']} threads",
        "",
    ]
    peer_names = ["numpy", "sklearn", "torchmetrics"]
    head = (f"{'workload':40} {'thr':>3} {'M pred/s':>9} {'GB/s':>6} {'% bw':>5} "
            + " ".join(f"{'x ' + p:>14}" for p in peer_names) + f" {'cpu M/s':>8} {'cpu x np':>8}")
    lines += [head, "-" * len(head)]
    for row in r["throughput"]:
        ratios = " ".join(f"{_fmt(row['ratio'].get(p), '.1f'):>14}" for p in peer_names)
        lines.append(f"{row['title']:40} {row['threads']:>3} {row['tallyml_mpred_s']:>9.0f} "
                     f"{row['gb_s']:>6.1f} {row['pct_bandwidth']:>5.0f} {ratios} "
                     f"{_fmt(row['tallyml_cpu_mpred_s'], '.0f'):>8} "
                     f"{_fmt(row['cpu_ratio'].get('numpy'), '.1f'):>8}")
    lines.append("(x peer: tallyml's wall-clock throughput over the peer's, timed round-robin in "
                 "this run; - not installed / not timed. cpu: the same from the thread's CPU time, "
                 "which leaves out waiting on a loaded machine; one-thread rows only)")
    if "estimation" in r:  # estimation (CBPE)
        lines += format_estimation(r["estimation"])
    lines.append("")
    for key, what in (("python_threads", "BinaryMetrics"),
                      ("python_threads_multiclass", "MulticlassMetrics(10)")):
        pt = r.get(key)
        if pt:
            lines.append(f"two Python threads, two {what}: {pt['one_thread_mpred_s']:.0f} M pred/s "
                         f"on one thread, {pt['two_threads_mpred_s']:.0f} M pred/s on two "
                         f"({pt['speedup']:.2f}x)")
    if r.get("exact_curves"):  # curves block
        lines += ["", f"{'exact one-shot (same run as sklearn)':50} {'rows':>11} {'ms':>8} "
                      f"{'sklearn ms':>10} {'x sklearn':>9}"]
        for e in r["exact_curves"]:
            lines.append(f"{e['title']:50} {e['rows']:>11,} {e['tallyml_ms']:>8.0f} "
                         f"{e['sklearn_ms']:>10.0f} {e['ratio']:>9.1f}")
    lines += ["", f"per call (us): {'wall':>30} {'cpu':>8}"]
    for name, us in r["calls_us"].items():
        lines.append(f"  {name:44} {us['wall']:8.2f} {us['cpu']:8.2f}")
    imp = r["import_s"]
    lines += ["", f"import: numpy {imp['numpy'] * 1e3:.0f} ms, tallyml {imp['tallyml'] * 1e3:.0f} ms "
              f"(+{(imp['tallyml'] - imp['numpy']) * 1e3:.0f} ms over numpy)",
              f"first update() in a fresh process: {r['first_update_s'] * 1e3:.0f} ms "
              "(import tallyml included)",
              f"peak RSS growth during one update: {r['rss_growth_bytes'] / 1e6:.2f} MB"]
    lines += _format_window_overhead(r.get("window_overhead"))
    return "\n".join(lines)


# ---- window overhead (windows.py)
def _format_window_overhead(wo) -> list:
    if not wo:
        return []
    kinds = list(wo)
    lines = ["", "window overhead: per update, batches of 1,000, over the plain object "
             "(wall / cpu; a window's bucket size in its name)",
             f"  {'':22}" + "".join(f"{k:>26}" for k in kinds)]
    lines.append(f"  {'plain (us)':22}" + "".join(
        f"{wo[k]['plain_us']['wall']:>15.2f} {wo[k]['plain_us']['cpu']:>10.2f}" for k in kinds))
    for name in wo[kinds[0]]:
        if name == "plain_us":
            continue
        lines.append(f"  {name:22}" + "".join(
            f"{100 * wo[k][name]['overhead']:>+14.1f}% {100 * wo[k][name]['cpu_overhead']:>+9.1f}%"
            for k in kinds))
    return lines
# ---- end window overhead
