"""Curves benchmarks (pytest-benchmark): streaming binned update and exact AUROC / AP, each group
holding the baselines (numpy, scikit-learn, torchmetrics when installed) beside tallyml, every
result asserted correct, fixed seeds.

    PYTHONPATH=python pytest benchmarks/bench_curves.py --benchmark-enable -q
    TALLYML_BENCH_N=10000000 ...   # the issue's 10M-prediction floors

Ratios (tallyml vs sklearn / torchmetrics) are printed in the group tables; no timing assertion.
"""
import os

import numpy as np
import pytest
import sklearn.metrics as skm

from tallyml.curves import BinaryCurves, average_precision_score, roc_auc_score
from tallyml.curves._layout import DEFAULT_LAYOUT, bin_index_numpy

N = int(os.environ.get("TALLYML_BENCH_N", "1000000"))
BOUND = 1e-3


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, N).astype(np.int8)
    s = np.clip(rng.beta(2, 5, N) + 0.25 * y, 0, 1).astype(np.float32)
    return y, s, skm.roc_auc_score(y, s), skm.average_precision_score(y, s)


# ---------------------------------------------------------------- streaming binned update


@pytest.mark.benchmark(group="curves-binned-update")
@pytest.mark.parametrize("backend", ["native", "numba"])
def test_binned_update_tallyml(benchmark, data, backend):
    y, s, auc, ap = data
    if backend == "native":
        from tallyml import _native

        if not _native.available():
            pytest.skip("native core not built")
    c = BinaryCurves(backend=backend)
    c.update(y[:10], s[:10])  # compile / load outside the timing
    c.reset()

    def run():
        c.reset()
        c.update(y, s)

    benchmark(run)
    assert c.hist.sum() == N
    assert abs(c.roc_auc() - auc) <= BOUND and abs(c.average_precision() - ap) <= BOUND


@pytest.mark.benchmark(group="curves-binned-update")
def test_binned_update_numpy_baseline(benchmark, data):
    y, s, auc, _ = data

    def run():
        b = bin_index_numpy(s, DEFAULT_LAYOUT)
        return np.bincount(b * 2 + y, minlength=2 * DEFAULT_LAYOUT.num_bins)

    h = benchmark(run).reshape(-1, 2)
    assert h.sum() == N


@pytest.mark.benchmark(group="curves-binned-update")
def test_binned_update_torchmetrics_baseline(benchmark, data):
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics")
    y, s, auc, _ = data
    yt, st = torch.from_numpy(y.astype(np.int64)), torch.from_numpy(s)
    metric = tm.classification.BinaryAUROC(thresholds=100)

    def run():
        metric.reset()
        metric.update(st, yt)

    benchmark(run)
    assert abs(float(metric.compute()) - auc) < 1e-2


# ---------------------------------------------------------------- exact one-shot


@pytest.mark.benchmark(group="curves-exact-auroc")
def test_exact_auroc_tallyml(benchmark, data):
    y, s, auc, _ = data
    roc_auc_score(y[:100], s[:100])
    got = benchmark(roc_auc_score, y, s)
    assert got == pytest.approx(auc, rel=1e-12)


@pytest.mark.benchmark(group="curves-exact-auroc")
def test_exact_auroc_sklearn(benchmark, data):
    y, s, auc, _ = data
    assert benchmark(skm.roc_auc_score, y, s) == auc


@pytest.mark.benchmark(group="curves-exact-ap")
def test_exact_ap_tallyml(benchmark, data):
    y, s, _, ap = data
    average_precision_score(y[:100], s[:100])
    got = benchmark(average_precision_score, y, s)
    assert got == pytest.approx(ap, rel=1e-12)


@pytest.mark.benchmark(group="curves-exact-ap")
def test_exact_ap_sklearn(benchmark, data):
    y, s, _, ap = data
    assert benchmark(skm.average_precision_score, y, s) == ap


# ------------------------------------------- exact one-shot: float64, many ties, weights


def _exact_case(kind):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, N).astype(np.int8)
    s = rng.random(N)
    w = None
    if kind == "ties":  # scores rounded to 2 decimals: 101 distinct values
        s = np.round(s, 2)
    elif kind == "weighted":  # float64 weighted sweeps run the core's radix sort
        w = rng.random(N)
    return y, s, w


EXACT_KINDS = ("f64", "ties", "weighted")
_exact_cache = {}


def exact_case(kind):
    if kind not in _exact_cache:
        _exact_cache[kind] = _exact_case(kind)
    return _exact_cache[kind]


@pytest.mark.parametrize("fn", ["roc_auc_score", "average_precision_score"])
@pytest.mark.parametrize("kind", EXACT_KINDS)
def test_exact_more_tallyml(benchmark, fn, kind):
    benchmark.group = f"curves-exact-{fn}-{kind}"
    y, s, w = exact_case(kind)
    ours = {"roc_auc_score": roc_auc_score, "average_precision_score": average_precision_score}[fn]
    ours(y[:100], s[:100])
    got = benchmark(ours, y, s, sample_weight=w)
    assert got == pytest.approx(getattr(skm, fn)(y, s, sample_weight=w), rel=1e-12)


@pytest.mark.parametrize("fn", ["roc_auc_score", "average_precision_score"])
@pytest.mark.parametrize("kind", EXACT_KINDS)
def test_exact_more_sklearn(benchmark, fn, kind):
    benchmark.group = f"curves-exact-{fn}-{kind}"
    y, s, w = exact_case(kind)
    got = benchmark(getattr(skm, fn), y, s, sample_weight=w)
    assert got == pytest.approx(float(roc_auc_score(y, s, sample_weight=w)
                                      if fn == "roc_auc_score"
                                      else average_precision_score(y, s, sample_weight=w)),
                                rel=1e-12)
