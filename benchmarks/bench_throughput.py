"""Throughput of the counting workloads: tallyml's backends beside numpy, scikit-learn and
torchmetrics (skipped with a message when not installed), one pytest-benchmark group per workload
and thread count. Every benchmarked result is asserted equal to the numpy reference.

Run: PYTHONPATH=python python -m pytest benchmarks/bench_throughput.py --benchmark-enable -q
     (TALLYML_BENCH_ROWS=... changes the row count; default 10,000,000, multilabel 2,000,000)
Compare figures inside one group only; ``tallyml bench`` prints the same workloads as ratios.
"""
import os

import numpy as np
import pytest

from tallyml._bench.workloads import WORKLOADS, check, optional

ROWS = int(os.environ.get("TALLYML_BENCH_ROWS", "0")) or None
SLOW_ROWS = 2_000_000  # sklearn / torchmetrics: per-row throughput does not depend on N
CPUS = os.cpu_count() or 1

_data: dict = {}


def _workload(key, rows=None):
    w = WORKLOADS[key]
    n = rows or ROWS or w.default_n
    if (key, n) not in _data:
        d = w.make(n, 12345)
        _data[(key, n)] = (d, w.reference(d))
    return w, *_data[(key, n)]


def _run(benchmark, group, fn, expected, rows, preds=1):
    benchmark.group = group
    result = benchmark(fn)
    check(group, result, expected)
    benchmark.extra_info["rows"] = rows
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["M_pred_per_s"] = preds * rows / stats.stats.median / 1e6


KEYS = list(WORKLOADS)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("backend", ["native", "numba"])
def test_tallyml(benchmark, key, backend):
    from tallyml import _backends

    if backend == "native" and not _backends.native_available():
        pytest.skip("native library not built")
    w, d, expected = _workload(key)
    w.tallyml(d, 1, backend)  # numba: compile outside the timing
    _run(benchmark, key, lambda: w.tallyml(d, 1, backend), expected, len(d["target"]), w.preds)


@pytest.mark.parametrize("key", ["binary", "multiclass10", "argmax10"])
def test_tallyml_all_cores(benchmark, key):
    w, d, expected = _workload(key)
    _run(benchmark, key + "-all-cores", lambda: w.tallyml(d, CPUS), expected,
         len(d["target"]), w.preds)


@pytest.mark.parametrize("key", KEYS)
def test_numpy(benchmark, key):
    w, d, expected = _workload(key)
    _run(benchmark, key, lambda: w.peers["numpy"](d), expected, len(d["target"]), w.preds)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("peer", ["sklearn", "torchmetrics"])
def test_peer(benchmark, key, peer):
    if not optional(peer):
        pytest.skip(f"{peer} is not installed")
    w = WORKLOADS[key]
    w, d, expected = _workload(key, min(SLOW_ROWS, ROWS or w.default_n))
    _run(benchmark, key, lambda: w.peers[peer](d), expected, len(d["target"]), w.preds)
