"""Throughput of label-free estimation (CBPE) per backend, against numpy baselines, plus the
interval coverage experiment.

Run: PYTHONPATH=python python -m pytest benchmarks/bench_estimation.py --benchmark-enable -q -s
     PYTHONPATH=python python benchmarks/bench_estimation.py coverage   # coverage table

Groups: binary (N float32 scores, no histogram and with the default 1024-bin histogram),
multiclass (N, 10) float32 probabilities (same two variants), each beside numpy's best
formulation of the same expected counts (``tallyml._bench.workloads``, also behind ``tallyml
bench``); and one 64-row update, estimated vs labelled. Each result is asserted equal to the numpy reference
kernel (fixed seeds); the summary prints scores/s (binary, target >= 1e9 single thread) and
read bandwidth (multiclass, target >= 40% of the machine's read bandwidth, measured here as
numpy's ``sum`` over the same array). Timings are never asserted.
"""
import sys

import numpy as np
import pytest

from tallyml._bench.workloads import est_numpy_binary, est_numpy_multiclass
from tallyml.estimation import EstimatedMetrics, _kernels

N_BINARY = 10_000_000
N_MC = 2_000_000
K = 10
_results: dict[str, float] = {}
BACKENDS = ["numba"] + (["native"] if _kernels.resolve("auto") == "native" else [])


@pytest.fixture(scope="module")
def binary_scores():
    return np.random.default_rng(0).random(N_BINARY, dtype=np.float32)


@pytest.fixture(scope="module")
def mc_scores():
    p = np.random.default_rng(1).dirichlet(np.ones(K), N_MC)
    return p.astype(np.float32)


def _record(benchmark, name, items, nbytes):
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        t = stats.stats.min
        _results[name] = t
        benchmark.extra_info["items_per_s"] = items / t
        benchmark.extra_info["bytes_per_s"] = nbytes / t


def _reference(task, scores, **kw):
    ref = EstimatedMetrics(task, backend="numpy", **kw)
    ref.update(scores)
    return ref.expected_confusion_matrix()


@pytest.mark.parametrize("num_bins", [0, 1024])
@pytest.mark.parametrize("backend", BACKENDS)
def test_binary(benchmark, binary_scores, backend, num_bins):
    benchmark.group = f"binary-{num_bins}bins"
    est = EstimatedMetrics("binary", num_bins=num_bins, backend=backend)
    est.update(binary_scores[:1000])  # compile / load outside the timing
    est.reset()

    def run():
        est.reset()
        est.update(binary_scores)

    benchmark(run)
    np.testing.assert_allclose(est.expected_confusion_matrix(),
                               _reference("binary", binary_scores, num_bins=num_bins), rtol=1e-9)
    _record(benchmark, f"binary {backend} bins={num_bins}", N_BINARY, binary_scores.nbytes)


@pytest.mark.parametrize("num_bins", [0, 1024])
def test_binary_numpy_baseline(benchmark, binary_scores, num_bins):
    """numpy's best formulation of the same expected counts (no checks, no variances; the
    histogram as three weighted bincounts), shared with ``tallyml bench``."""
    benchmark.group = f"binary-{num_bins}bins"
    d = {"scores": binary_scores}
    got = benchmark(lambda: est_numpy_binary(d, num_bins))
    np.testing.assert_allclose(got[0], _reference("binary", binary_scores, num_bins=num_bins),
                               rtol=1e-9)
    _record(benchmark, f"binary numpy-baseline bins={num_bins}", N_BINARY, binary_scores.nbytes)


@pytest.mark.parametrize("num_bins", [0, 1024])
@pytest.mark.parametrize("backend", BACKENDS)
def test_multiclass(benchmark, mc_scores, backend, num_bins):
    benchmark.group = f"multiclass-{num_bins}bins"
    est = EstimatedMetrics("multiclass", num_classes=K, num_bins=num_bins, backend=backend)
    est.update(mc_scores[:1000])
    est.reset()

    def run():
        est.reset()
        est.update(mc_scores)

    benchmark(run)
    np.testing.assert_allclose(est.expected_confusion_matrix(),
                               _reference("multiclass", mc_scores, num_classes=K,
                                          num_bins=num_bins), rtol=1e-9)
    _record(benchmark, f"multiclass {backend} bins={num_bins}", N_MC, mc_scores.nbytes)


@pytest.mark.parametrize("num_bins", [0, 1024])
def test_multiclass_numpy_baseline(benchmark, mc_scores, num_bins):
    """numpy's best formulation: argmax, one weighted bincount per class (no checks, no
    moments), three more per class for the histograms."""
    benchmark.group = f"multiclass-{num_bins}bins"
    d = {"scores": mc_scores}
    got = benchmark(lambda: est_numpy_multiclass(d, num_bins))
    np.testing.assert_allclose(got[0], _reference("multiclass", mc_scores, num_classes=K,
                                                  num_bins=num_bins), rtol=1e-9)
    _record(benchmark, f"multiclass numpy-baseline bins={num_bins}", N_MC, mc_scores.nbytes)


@pytest.mark.parametrize("kind", ["estimated-1024bins", "estimated-0bins", "labelled"])
def test_small_batch_call(benchmark, kind):
    """One update of 64 rows: the estimate should cost no more than the labelled update."""
    benchmark.group = "update-64-rows"
    rng = np.random.default_rng(4)
    s = rng.random(64, dtype=np.float32)
    t = (rng.random(64) < 0.5).astype(np.int8)
    if kind == "labelled":
        from tallyml import BinaryMetrics

        m = BinaryMetrics()
        benchmark(lambda: m.update(t, s))
        assert m.count > 0
    else:
        est = EstimatedMetrics("binary", num_bins=1024 if "1024" in kind else 0)
        benchmark(lambda: est.update(s))
        assert est.count > 0 and est.expected_confusion_matrix().sum() == est.count


def test_read_bandwidth(benchmark, mc_scores):
    benchmark.group = "multiclass-0bins"
    benchmark(lambda: mc_scores.sum())
    _record(benchmark, "read bandwidth (numpy sum)", N_MC, mc_scores.nbytes)


def test_zz_summary():
    if not _results:
        pytest.skip("benchmarks disabled")
    bw = _results.get("read bandwidth (numpy sum)")
    print()
    for name, t in sorted(_results.items()):
        if name.startswith("update"):
            continue
        n = N_BINARY if name.startswith("binary") else N_MC
        nbytes = n * (4 if name.startswith("binary") else 4 * K)
        line = f"{name:40s} {n / t / 1e9:7.3f} G items/s  {nbytes / t / 1e9:7.2f} GB/s"
        if bw and not name.startswith("binary"):
            line += f"  {100 * (nbytes / t) / (N_MC * 4 * K / bw):5.1f}% of read bandwidth"
        print(line)


# --------------------------------------------------------------------------------------------
# coverage experiment (python benchmarks/bench_estimation.py coverage)

def coverage_table(seeds=1000, n=2000, coverage=0.9):
    from sklearn import metrics as skm

    names = ("accuracy", "precision", "recall", "f1", "roc_auc")
    hits = dict.fromkeys(names, 0)
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        p = rng.beta(0.6, 0.8, n)
        y = (rng.random(n) < p).astype(int)
        est = EstimatedMetrics("binary", backend="numpy")
        est.update(p)
        yhat = p >= 0.5
        real = {"accuracy": skm.accuracy_score(y, yhat), "precision": skm.precision_score(y, yhat),
                "recall": skm.recall_score(y, yhat), "f1": skm.f1_score(y, yhat),
                "roc_auc": skm.roc_auc_score(y, p)}
        for m in names:
            e = est.interval(m, coverage=coverage)
            hits[m] += e.low <= real[m] <= e.high
    return {m: h / seeds for m, h in hits.items()}


if __name__ == "__main__":
    if sys.argv[1:2] == ["coverage"]:
        seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
        for cov in (0.9, 0.95):
            print(f"nominal {cov}:", coverage_table(seeds=seeds, coverage=cov))
