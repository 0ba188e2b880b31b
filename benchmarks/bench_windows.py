"""Cost of an update with a window attached, against the same update with no window.

Batches of 1,000 binary scores (and 1,000 multiclass labels, K = 10), the default backend.
Run: PYTHONPATH=python python -m pytest benchmarks/bench_windows.py --benchmark-enable -q
(``python benchmarks/bench_windows.py`` prints the overhead table of ``tallyml bench``:
``tallyml._bench.calls.window_overhead``, medians of interleaved rounds, wall and CPU time).
The target is <= 10% over no window; every result is checked against the plain object.
Figures and the machine's load at the time: docs/performance.md, "Windows".
"""
import numpy as np
import pytest

import tallyml

BATCH = 1000
N_BATCHES = 200  # a round spans several bucket closings of every window below


def _data(kind):
    rng = np.random.default_rng(0)
    if kind == "binary":
        return [(rng.integers(0, 2, BATCH).astype(np.int8), rng.random(BATCH).astype(np.float32))
                for _ in range(N_BATCHES)]
    return [(rng.integers(0, 10, BATCH).astype(np.int32), rng.integers(0, 10, BATCH).astype(np.int32))
            for _ in range(N_BATCHES)]


def _template(kind):
    return tallyml.BinaryMetrics() if kind == "binary" else tallyml.MulticlassMetrics(10, labels="all")


WINDOWS = {
    "none": None,
    "samples=100k/10": dict(samples=100_000, buckets=10),  # a bucket closes every 10 updates
    "samples=1M/10": dict(samples=1_000_000, buckets=10),   # ... every 100 updates
    "updates=100/10": dict(updates=100, buckets=10),
    "updates=1000/10": dict(updates=1000, buckets=10),
    "seconds=3600/60": dict(seconds=3600.0, buckets=60),
    "decayed(samples)": "decay",
    "decayed(seconds)": "decay-seconds",
}


def _make(kind, spec):
    t = _template(kind)
    if spec is None:
        return t, t
    if spec == "decay":
        d = tallyml.Decayed(t, half_life=50_000)
        return d, d
    if spec == "decay-seconds":
        d = tallyml.Decayed(t, half_life=60.0, unit="seconds")
        return d, d
    w = tallyml.Windowed(t, **spec)
    return w, w


def _round(obj, data):
    up = obj.update
    for y, p in data:
        up(y, p)


def _check(kind, obj, data):
    ref = _template(kind)
    for y, p in data:
        ref.update(y, p)
    got = obj.total() if isinstance(obj, tallyml.Windowed) else obj
    if isinstance(obj, tallyml.Decayed):
        return
    # the benchmark loop ran the data many times: compare per-round counts
    cm, one = got.confusion_matrix(), ref.confusion_matrix()
    assert cm.sum() % one.sum() == 0 and (cm == one * (cm.sum() // one.sum())).all()


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
@pytest.mark.parametrize("name", list(WINDOWS))
def test_update_with_window(benchmark, kind, name):
    benchmark.group = f"window overhead: {kind}, batches of {BATCH}"
    data = _data(kind)
    obj, _ = _make(kind, WINDOWS[name])
    _round(obj, data)  # warm-up (kernel lookup)
    benchmark(_round, obj, data)
    _check(kind, obj, data)


def main():
    import os

    from tallyml._bench.calls import window_overhead
    from tallyml._bench.suite import _format_window_overhead

    print(f"load average {os.getloadavg()[0]:.1f}")
    print("\n".join(_format_window_overhead(window_overhead())))
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
