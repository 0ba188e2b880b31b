"""Drift monitoring cost: histogram updates (large batches and per-call overhead at 64 scores)
and change detectors, each beside a baseline in the same group, each result checked.

Run: PYTHONPATH=python python -m pytest benchmarks/bench_drift.py --benchmark-enable -q
Groups: drift-update-1M (throughput), drift-update-64 (per call), detector-100k (river per value
vs tallyml batch). Nothing here asserts timing.
"""
import numpy as np
import pytest

from tallyml import _native
from tallyml.drift import ADWIN, DDM, PageHinkley, ScoreDrift

BACKENDS = (["native"] if _native.available() else []) + ["numba", "numpy"]

rng = np.random.default_rng(0)
REF = rng.beta(2, 5, 50_000)
BIG = rng.beta(2, 5, 1_000_000)
SMALL = rng.beta(2, 5, 64)
STREAM = np.r_[rng.normal(0, 1, 50_000), rng.normal(1, 1, 50_000)]
ERRORS = (rng.random(100_000) < np.where(np.arange(100_000) < 50_000, 0.1, 0.3)).astype(np.int8)


def _expected_window(values, drift):
    """The window histogram computed directly (numpy searchsorted + bincount)."""
    last = values[-drift.window:]
    return np.concatenate(
        [np.bincount(np.searchsorted(e, last, side="right"), minlength=len(e) + 1)
         for e in (drift.coarse_edges[0], drift.fine_edges[0])])


@pytest.mark.parametrize("backend", BACKENDS)
def test_update_1m(benchmark, backend):
    benchmark.group = "drift-update-1M"
    # a window as long as the batch: every value is binned (a shorter window skips the rows it
    # would evict within the batch)
    d = ScoreDrift(REF, window=len(BIG), backend=backend)
    d.update(BIG[:1000])  # compile / warm up
    benchmark(d.update, BIG)
    d.reset()
    d.update(BIG)
    assert np.array_equal(d.window_counts(), _expected_window(BIG, d))


def test_update_1m_baseline_np_histogram(benchmark):
    """Baseline: numpy's own histogram of the same data against the same two binnings."""
    benchmark.group = "drift-update-1M"
    d = ScoreDrift(REF, window=len(BIG))
    edges = [np.r_[-np.inf, e, np.inf] for e in (d.coarse_edges[0], d.fine_edges[0])]
    out = benchmark(lambda: [np.histogram(BIG, bins=e)[0] for e in edges])
    assert out[0].sum() == len(BIG)


@pytest.mark.parametrize("backend", BACKENDS)
def test_update_64(benchmark, backend):
    benchmark.group = "drift-update-64"
    d = ScoreDrift(REF, window=1000, backend=backend)
    d.update(SMALL)
    benchmark(d.update, SMALL)
    assert d.count % 64 == 0


def _river_hits(det, values):
    out = []
    for i, x in enumerate(values):
        det.update(x)
        if det.drift_detected:
            out.append(i)
    return out


@pytest.mark.parametrize("name", ["PageHinkley", "ADWIN", "DDM"])
def test_detector_tallyml_batch(benchmark, name):
    benchmark.group = f"detector-100k-{name}"
    cls = {"PageHinkley": PageHinkley, "ADWIN": ADWIN, "DDM": DDM}[name]
    data = ERRORS if name == "DDM" else STREAM
    cls().update_many(data[:100])
    hits = benchmark(lambda: cls().update_many(data))
    river = pytest.importorskip("river.drift")
    rcls = {"PageHinkley": river.PageHinkley, "ADWIN": river.ADWIN, "DDM": river.binary.DDM}[name]
    assert hits.tolist() == _river_hits(rcls(), data.tolist())


@pytest.mark.parametrize("name", ["PageHinkley", "ADWIN", "DDM"])
def test_detector_river_per_value(benchmark, name):
    benchmark.group = f"detector-100k-{name}"
    river = pytest.importorskip("river.drift")
    rcls = {"PageHinkley": river.PageHinkley, "ADWIN": river.ADWIN, "DDM": river.binary.DDM}[name]
    data = (ERRORS if name == "DDM" else STREAM).tolist()
    hits = benchmark.pedantic(lambda: _river_hits(rcls(), data), rounds=3, iterations=1)
    assert hits == (DDM if name == "DDM" else {"PageHinkley": PageHinkley, "ADWIN": ADWIN}[name])(
    ).update_many(np.asarray(data)).tolist()
