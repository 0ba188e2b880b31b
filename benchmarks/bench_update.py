"""Per-call cost of the public update path with small batches (validation on), beside
torchmetrics and river (skipped with a message when not installed), and Python-thread scaling of
large updates on two metric objects. Every result is checked against numpy.

Run: PYTHONPATH=python python -m pytest benchmarks/bench_update.py --benchmark-enable -q
Each round makes LOOP calls: divide the reported times by LOOP for the cost of one call.
"""
import numpy as np
import pytest

from tallyml import BinaryMetrics, MulticlassMetrics
from tallyml._bench.calls import _until_hot
from tallyml._bench.timing import run_threads
from tallyml._bench.workloads import WORKLOADS, optional

LOOP = 1000
rng = np.random.default_rng(3)
T64 = (rng.random(64) < 0.5).astype(np.int8)
S64 = rng.random(64, dtype=np.float32)
Y64 = rng.integers(0, 10, 64, dtype=np.int32)
P64 = rng.integers(0, 10, 64, dtype=np.int32)
BINARY_CM = np.bincount(T64.astype(np.int64) * 2 + (S64 >= 0.5), minlength=4).reshape(2, 2)
MULTI_CM = np.bincount(Y64.astype(np.int64) * 10 + P64, minlength=100).reshape(10, 10)


def _tiered(metric, tier, target, preds):
    """"hot": the steady state of a hot loop (the hot tier loaded); "native": the bound native
    call that counts until it has (and always with TALLYML_HOT=0)."""
    if tier == "hot":
        _until_hot(metric, target, preds)
    else:
        metric._hot_on = False
    return metric


def _loop(benchmark, group, fn, rounds_done):
    benchmark.group = group
    benchmark.extra_info["calls_per_round"] = LOOP

    def many():
        for _ in range(LOOP):
            fn()
        rounds_done.append(1)

    benchmark(many)


@pytest.mark.parametrize("tier", ["hot", "native"])
@pytest.mark.parametrize("size", [64, 1])
def test_binary_update(benchmark, size, tier):
    t, s = T64[:size].copy(), S64[:size].copy()
    m = _tiered(BinaryMetrics(), tier, t, s)
    rounds = []
    _loop(benchmark, f"binary-update-{size}", lambda: m.update(t, s), rounds)
    cm = np.bincount(t.astype(np.int64) * 2 + (s >= 0.5), minlength=4).reshape(2, 2)
    np.testing.assert_array_equal(m.confusion_matrix(), cm * LOOP * len(rounds))


@pytest.mark.parametrize("tier", ["hot", "native"])
def test_multiclass_update(benchmark, tier):
    m = _tiered(MulticlassMetrics(10), tier, Y64, P64)
    rounds = []
    _loop(benchmark, "multiclass-update-64", lambda: m.update(Y64, P64), rounds)
    np.testing.assert_array_equal(m._state, MULTI_CM * LOOP * len(rounds))


def test_binary_update_one(benchmark):
    m = BinaryMetrics()
    pairs = [(int(a), float(b)) for a, b in zip(T64, S64)]
    rounds = []

    def batch():
        for a, b in pairs:
            m.update_one(a, b)
    benchmark.group = "scalar-per-64-samples"
    benchmark.extra_info["samples_per_round"] = 64
    benchmark(lambda: (batch(), rounds.append(1)))
    np.testing.assert_array_equal(m.confusion_matrix(), BINARY_CM * len(rounds))


def test_river_f1(benchmark):
    if not optional("river"):
        pytest.skip("river is not installed")
    from river.metrics import F1

    f1 = F1()
    pairs = [(bool(a), bool(b >= 0.5)) for a, b in zip(T64, S64)]
    rounds = []

    def batch():
        for a, b in pairs:
            f1.update(a, b)
        rounds.append(1)
    benchmark.group = "scalar-per-64-samples"
    benchmark(batch)
    assert f1.cm[True][True] == BINARY_CM[1, 1] * len(rounds)
    assert f1.cm[False][True] == BINARY_CM[0, 1] * len(rounds)


@pytest.mark.parametrize("cls", ["BinaryF1Score", "MulticlassF1Score"])
def test_torchmetrics_update(benchmark, cls):
    if not optional("torchmetrics"):
        pytest.skip("torchmetrics is not installed")
    import torch
    import torchmetrics.classification as tmc

    if cls == "BinaryF1Score":
        m, a, b, group = tmc.BinaryF1Score(), torch.from_numpy(S64), torch.from_numpy(T64.astype(np.int64)), "binary-update-64"
    else:
        m, a, b, group = (tmc.MulticlassF1Score(num_classes=10), torch.from_numpy(P64.astype(np.int64)),
                          torch.from_numpy(Y64.astype(np.int64)), "multiclass-update-64")
    _loop(benchmark, group, lambda: m.update(a, b), [])


@pytest.mark.parametrize("threads", [1, 2])
def test_python_threads(benchmark, threads):
    """Two metric objects, each fed half of a 10M binary workload: on two Python threads the
    two halves count at once (the core releases the GIL)."""
    w = WORKLOADS["binary"]
    d = w.make(10_000_000, 5)
    half = len(d["target"]) // 2
    parts = [(d["target"][:half], d["scores"][:half]), (d["target"][half:], d["scores"][half:])]
    ms = [BinaryMetrics(num_threads=1), BinaryMetrics(num_threads=1)]

    def go():
        jobs = [lambda m=m, p=p: m.update(*p) for m, p in zip(ms, parts)]
        if threads == 1:
            for j in jobs:
                j()
        else:
            run_threads(jobs)

    benchmark.group = "python-threads-binary-10M"
    benchmark(go)
    rounds = ms[0].count // half
    np.testing.assert_array_equal(ms[0]._state + ms[1]._state, w.reference(d) * rounds)
