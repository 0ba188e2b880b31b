"""Detection delay and false-alarm rate of tallyml's drift detectors and drift statistics.

Synthetic streams with a known change point (and long streams without one), fixed seeds:

* change detectors (PageHinkley, DDM, ADWIN with river's defaults) on N(0, 1) -> N(mu, 1) value
  streams, and on Bernoulli error streams p0 -> p1 for DDM (and ADWIN / PageHinkley on the same);
* drift statistics of ScoreDrift (window 1000, stride 100, thresholds calibrated with k = 3 on a
  20,000-sample reference) on beta(2, 5) scores -> beta(a, 5), and PredictionDrift's chi2 on
  class shares that move.

Delay: samples from the change point to the first alarm at or after it (runs without one are
counted as misses). False alarms: alarms per 100,000 samples on streams without change, and the
share of runs with at least one alarm (for the statistics: share of window evaluations above
threshold). Prints Markdown tables (the ones in docs/drift.md).

    PYTHONPATH=python python benchmarks/drift_delay.py            # full (a few minutes)
    PYTHONPATH=python python benchmarks/drift_delay.py --quick    # smoke run
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from tallyml.drift import ADWIN, DDM, PageHinkley, PredictionDrift, ScoreDrift

DETECTORS = {"PageHinkley": PageHinkley, "ADWIN": ADWIN, "DDM": DDM}


def _delays(make, streams, change):
    delays, early = [], 0
    for s in streams:
        hits = make().update_many(s)
        before = hits[hits < change]
        after = hits[hits >= change]
        early += len(before) > 0
        delays.append(after[0] - change if len(after) else None)
    found = [d for d in delays if d is not None]
    return {"median": float(np.median(found)) if found else None,
            "p90": float(np.percentile(found, 90)) if found else None,
            "missed": len(delays) - len(found), "early": early, "runs": len(delays)}


def _false_alarms(make, streams):
    alarms = [len(make().update_many(s)) for s in streams]
    total = sum(len(s) for s in streams)
    return {"per_100k": 1e5 * sum(alarms) / total, "runs_with_alarm": sum(a > 0 for a in alarms),
            "runs": len(streams), "length": len(streams[0])}


def detector_tables(runs, length, change, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for mu in (0.5, 1.0, 2.0):
        streams = [np.r_[rng.normal(0, 1, change), rng.normal(mu, 1, length - change)]
                   for _ in range(runs)]
        for name in ("PageHinkley", "ADWIN"):
            rows.append((f"N(0,1) -> N({mu},1)", name, _delays(DETECTORS[name], streams, change)))
    for p0, p1 in ((0.1, 0.2), (0.1, 0.3), (0.05, 0.5)):
        streams = [(rng.random(length) < np.where(np.arange(length) < change, p0, p1)).astype(np.int8)
                   for _ in range(runs)]
        for name in ("DDM", "ADWIN", "PageHinkley"):
            rows.append((f"errors {p0} -> {p1}", name, _delays(DETECTORS[name], streams, change)))
    quiet = []
    long_len = 20 * length
    normal = [rng.normal(0, 1, long_len) for _ in range(max(2, runs // 5))]
    errors = [(rng.random(long_len) < 0.1).astype(np.int8) for _ in range(max(2, runs // 5))]
    for name in ("PageHinkley", "ADWIN"):
        quiet.append(("N(0,1)", name, _false_alarms(DETECTORS[name], normal)))
    for name in ("DDM", "ADWIN", "PageHinkley"):
        quiet.append(("errors p=0.1", name, _false_alarms(DETECTORS[name], errors)))
    return rows, quiet


def _stat_delay(make_drift, pre, post, stride):
    """Per statistic: samples after the change until it first exceeds its threshold."""
    d = make_drift()
    for i in range(0, len(pre), stride):
        d.update(pre[i:i + stride])
    first = {}
    for i in range(0, len(post), stride):
        d.update(post[i:i + stride])
        ex = d.exceeded() or {}
        for k, v in ex.items():
            if k not in first and np.any(v):
                first[k] = i + stride
    return first


def _stat_false(make_drift, stream, stride):
    d = make_drift()
    hits, evals = {}, 0
    for i in range(0, len(stream), stride):
        d.update(stream[i:i + stride])
        ex = d.exceeded()
        if ex is None:
            continue
        evals += 1
        for k, v in ex.items():
            hits[k] = hits.get(k, 0) + bool(np.any(v))
    return hits, evals


def statistic_tables(runs, seed, window=1000, stride=100):
    rng = np.random.default_rng(seed + 1)
    ref = rng.beta(2, 5, 20_000)

    def make():
        return ScoreDrift(ref, window=window, stride=stride)

    rows = []
    for a in (2.2, 2.5, 3.0):
        per = {}
        for _ in range(runs):
            got = _stat_delay(make, rng.beta(2, 5, 2 * window), rng.beta(a, 5, 4 * window), stride)
            for k in ("psi", "js", "hellinger", "ks", "wasserstein"):
                per.setdefault(k, []).append(got.get(k))
        rows.append((f"beta(2,5) -> beta({a},5)", per))
    hits_total, evals_total = {}, 0
    for _ in range(max(2, runs // 5)):
        hits, evals = _stat_false(make, rng.beta(2, 5, 50 * window), stride)
        evals_total += evals
        for k, v in hits.items():
            hits_total[k] = hits_total.get(k, 0) + v
    pref = rng.choice(4, 20_000, p=[0.4, 0.3, 0.2, 0.1])

    def make_p():
        return PredictionDrift(pref, window=window, stride=stride)

    for shift in ((0.37, 0.3, 0.23, 0.1), (0.3, 0.3, 0.25, 0.15)):
        per = {"chi2": []}
        for _ in range(runs):
            got = _stat_delay(make_p, rng.choice(4, 2 * window, p=[0.4, 0.3, 0.2, 0.1]),
                              rng.choice(4, 4 * window, p=shift), stride)
            per["chi2"].append(got.get("chi2"))
        rows.append((f"class shares (.4,.3,.2,.1) -> {shift}", per))
    p_hits, p_evals = _stat_false(make_p, rng.choice(4, 50 * window, p=[0.4, 0.3, 0.2, 0.1]), stride)
    return rows, (hits_total, evals_total), (p_hits, p_evals)


def _fmt(v):
    return "-" if v is None else (f"{v:.0f}" if isinstance(v, float) else str(v))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="5 runs, short streams")
    args = ap.parse_args(argv)
    runs = 5 if args.quick else args.runs
    length, change = (6000, 3000) if args.quick else (10_000, 5000)
    t0 = time.perf_counter()
    rows, quiet = detector_tables(runs, length, change, args.seed)
    print(f"### Change detectors (river defaults; change at {change}, {runs} runs each)\n")
    print("| stream | detector | median delay | p90 delay | missed | alarm before change |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for stream, name, r in rows:
        print(f"| {stream} | {name} | {_fmt(r['median'])} | {_fmt(r['p90'])} | "
              f"{r['missed']}/{r['runs']} | {r['early']}/{r['runs']} |")
    print(f"\n### Change detectors without change ({quiet[0][2]['runs']} streams of "
          f"{quiet[0][2]['length']:,} values)\n")
    print("| stream | detector | alarms per 100k values | streams with an alarm |")
    print("| --- | --- | ---: | ---: |")
    for stream, name, r in quiet:
        print(f"| {stream} | {name} | {r['per_100k']:.2f} | {r['runs_with_alarm']}/{r['runs']} |")

    srows, (hits, evals), (p_hits, p_evals) = statistic_tables(runs, args.seed)
    print("\n### Drift statistics (window 1000, stride 100, thresholds calibrated k = 3)\n")
    print("| shift | statistic | median delay (samples) | p90 delay | missed (4 windows) |")
    print("| --- | --- | ---: | ---: | ---: |")
    for shift, per in srows:
        for k, vals in per.items():
            found = [v for v in vals if v is not None]
            med = float(np.median(found)) if found else None
            p90 = float(np.percentile(found, 90)) if found else None
            print(f"| {shift} | {k} | {_fmt(med)} | {_fmt(p90)} | {len(vals) - len(found)}/{len(vals)} |")
    print(f"\n### Drift statistics without change ({evals:,} window evaluations of scores, "
          f"{p_evals:,} of class shares)\n")
    print("| statistic | evaluations above threshold |")
    print("| --- | ---: |")
    for k in ("psi", "js", "hellinger", "ks", "wasserstein"):
        print(f"| {k} | {100 * hits.get(k, 0) / max(evals, 1):.2f} % |")
    print(f"| chi2 (class shares) | {100 * p_hits.get('chi2', 0) / max(p_evals, 1):.2f} % |")
    print(f"\n(took {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
