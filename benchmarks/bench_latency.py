"""LatencyTracker overhead per timed call, against an untimed loop of the same work in the same run.

Run: PYTHONPATH=python python -m pytest benchmarks/bench_latency.py --benchmark-enable -q -s
Each benchmark runs LOOP calls per round; the summary test prints the overhead per call (the
target is <= 1 us) and asserts only correctness, never timing.
"""
import numpy as np
import pytest

from tallyml.monitoring import LatencyTracker

LOOP = 1000
_results: dict[str, float] = {}


def _work():
    return None


def _run(benchmark, name, fn):
    benchmark.group = "timed-call"
    benchmark(fn)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None with --benchmark-disable
        _results[name] = stats.stats.min / LOOP
        benchmark.extra_info["seconds_per_call"] = _results[name]


def test_untimed_loop(benchmark):
    def loop():
        for _ in range(LOOP):
            _work()

    _run(benchmark, "untimed", loop)


def test_with_time(benchmark):
    t = LatencyTracker()

    def loop():
        for _ in range(LOOP):
            with t.time():
                _work()

    _run(benchmark, "with time()", loop)
    assert t.count % LOOP == 0 and t.count > 0


def test_decorated(benchmark):
    t = LatencyTracker()
    work = t.time()(_work)

    def loop():
        for _ in range(LOOP):
            work()

    _run(benchmark, "@time()", loop)
    assert t.count % LOOP == 0 and t.count > 0


def test_record(benchmark):
    t = LatencyTracker()
    from time import perf_counter

    def loop():
        for _ in range(LOOP):
            start = perf_counter()
            _work()
            t.record(perf_counter() - start, 32)

    _run(benchmark, "record(perf_counter diff)", loop)
    assert t.snapshot()["predictions"] == 32 * t.count


def test_record_many_vs_numpy_quantile(benchmark):
    """Batch path: 1M durations binned, compared with numpy sorting them for one quantile."""
    durations = np.random.default_rng(0).lognormal(-7, 1, 1_000_000)
    t = LatencyTracker()
    benchmark.group = "record-many-1M"
    benchmark(t.record_many, durations)
    assert t.quantile(0.99) == pytest.approx(np.quantile(durations, 0.99), rel=0.01)


def test_numpy_quantile_baseline(benchmark):
    durations = np.random.default_rng(0).lognormal(-7, 1, 1_000_000)
    benchmark.group = "record-many-1M"
    result = benchmark(np.quantile, durations, 0.99)
    assert result > 0


def test_report_overhead():
    if "untimed" not in _results:
        pytest.skip("benchmarks disabled (run with --benchmark-enable)")
    base = _results["untimed"]
    for name, per_call in _results.items():
        if name != "untimed":
            print(f"\n{name:28s} overhead {1e6 * (per_call - base):.3f} us per call "
                  f"(untimed {1e9 * base:.0f} ns)")
