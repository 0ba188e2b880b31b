"""LatencyTracker against numpy on the same samples: quantiles, exact moments, merge, state."""
import math
import pickle
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyml.monitoring import LatencyTracker
from tallyml.monitoring import _loghist

QS = [0.0, 0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0]


def _tracker_of(values, batch=True):
    t = LatencyTracker()
    if batch:
        t.record_many(values)
    else:
        for v in values:
            t.record(float(v))
    return t


def _assert_quantiles_close(t, values, qs=QS, tol=0.01):
    est = t.quantile(qs)
    ref = np.quantile(np.asarray(values, dtype=np.float64), qs)
    err = np.abs(est - ref)
    assert np.all(err <= tol * np.abs(ref) + 1e-300), (qs, est, ref)


def _distributions():
    rng = np.random.default_rng(12345)
    return {
        "lognormal": rng.lognormal(-7, 1.5, 20000),
        "uniform": rng.uniform(1e-4, 2e-3, 20000),
        "exponential": rng.exponential(1e-3, 20000),
        "bimodal": np.concatenate([rng.normal(1e-3, 1e-5, 9000), rng.normal(0.2, 1e-3, 1000)]),
        "heavy_tail": (rng.pareto(1.1, 20000) + 1) * 1e-5,
        "with_zeros": np.where(rng.random(5000) < 0.3, 0.0, rng.exponential(1e-2, 5000)),
        "constant": np.full(100, 0.00731),
        "single": np.array([0.5]),
        "two_far_apart": np.array([1e-8, 1e4]),
        "wide_range": 10.0 ** rng.uniform(-9, 5, 5000),
    }


@pytest.mark.parametrize("name", list(_distributions()))
def test_quantiles_within_one_percent_of_numpy(name):
    values = _distributions()[name]
    t = _tracker_of(values)
    _assert_quantiles_close(t, values)
    # the documented bound is tighter than the 1 %
    _assert_quantiles_close(t, values, tol=_loghist.RELATIVE_ERROR * (1 + 1e-9))


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.just(0.0), st.floats(1e-9, 1e5, allow_nan=False)), min_size=1, max_size=300
    ),
    q=st.floats(0.0, 1.0),
)
def test_quantile_hypothesis(values, q):
    t = _tracker_of(values, batch=False)
    _assert_quantiles_close(t, values, qs=[q], tol=_loghist.RELATIVE_ERROR * (1 + 1e-9))


def test_exact_moments_and_snapshot():
    values = _distributions()["lognormal"]
    t = LatencyTracker()
    t.record_many(values, n=4)
    snap = t.snapshot()
    assert snap["count"] == values.size
    assert snap["predictions"] == 4 * values.size
    assert snap["min_seconds"] == values.min()
    assert snap["max_seconds"] == values.max()
    assert snap["sum_seconds"] == pytest.approx(values.sum(), rel=1e-12)
    assert snap["mean_seconds"] == pytest.approx(values.mean(), rel=1e-12)
    for key, q in [("p50_seconds", 0.5), ("p90_seconds", 0.9), ("p99_seconds", 0.99),
                   ("p999_seconds", 0.999)]:
        assert snap[key] == pytest.approx(np.quantile(values, q), rel=0.01)
    assert snap["elapsed_seconds"] > 0
    assert snap["calls_per_second"] == pytest.approx(snap["count"] / snap["elapsed_seconds"])
    assert snap["predictions_per_second"] == pytest.approx(4 * snap["calls_per_second"])
    assert all(k.endswith(("_seconds", "_per_second")) or k in ("count", "predictions")
               for k in snap)


def test_empty_tracker_reads_nan():
    t = LatencyTracker()
    snap = t.snapshot()
    assert snap["count"] == 0 and snap["predictions"] == 0
    assert math.isnan(snap["p50_seconds"]) and math.isnan(snap["min_seconds"])
    assert math.isnan(t.quantile(0.5))
    assert t.cumulative_counts([0.1, math.inf]).tolist() == [0, 0]


def test_record_and_record_many_agree():
    values = _distributions()["wide_range"]
    a, b = _tracker_of(values, batch=False), _tracker_of(values, batch=True)
    sa, sb = a.state_dict(), b.state_dict()
    np.testing.assert_array_equal(sa["counts"], sb["counts"])
    assert sa["min_seconds"] == sb["min_seconds"] and sa["max_seconds"] == sb["max_seconds"]
    assert sa["sum_seconds"] == pytest.approx(sb["sum_seconds"], rel=1e-12)


def test_bin_index_formula():
    rng = np.random.default_rng(7)
    values = np.concatenate([[0.0, 1e-12, 1e-9, 1e5, 1e7, 5e-324], 10.0 ** rng.uniform(-9, 5, 2000)])
    vec = _loghist.bin_indices(values)
    assert vec.tolist() == [_loghist.bin_index(float(v)) for v in values]
    inside = (values >= 1e-9) & (values < 10.0 ** (5 - 1 / 240))
    # each in-range value lies within its bucket: midpoint within the relative bound
    ratio = _loghist.MIDPOINTS[vec[inside]] / values[inside]
    assert np.all(np.abs(ratio - 1) <= _loghist.RELATIVE_ERROR * (1 + 1e-9))
    assert vec[0] == 0 and vec[1] == 1 and vec[4] == _loghist.LAST


def test_merge_equals_one_histogram_of_both():
    d = _distributions()
    x, y = d["lognormal"], d["with_zeros"]
    a, b = _tracker_of(x), _tracker_of(y)
    b.record(0.25, n=7)
    both = _tracker_of(np.concatenate([x, y]))
    both.record(0.25, n=7)
    assert a.merge(b) is a
    sa, sb = a.state_dict(), both.state_dict()
    np.testing.assert_array_equal(sa["counts"], sb["counts"])
    assert sa["predictions"] == sb["predictions"] == x.size + y.size + 7
    assert sa["min_seconds"] == sb["min_seconds"] and sa["max_seconds"] == sb["max_seconds"]
    assert sa["sum_seconds"] == pytest.approx(sb["sum_seconds"], rel=1e-12)
    np.testing.assert_array_equal(a.quantile(QS), both.quantile(QS))
    # merging into an empty tracker copies, and merging is commutative on counts
    c = LatencyTracker().merge(b).merge(_tracker_of(x))
    np.testing.assert_array_equal(c.state_dict()["counts"], sb["counts"])


def test_merge_rejects_other_types():
    t = _tracker_of([0.1])
    before = t.state_dict()
    with pytest.raises(TypeError, match="other"):
        t.merge({"counts": before["counts"]})
    np.testing.assert_array_equal(t.state_dict()["counts"], before["counts"])


def test_state_dict_and_pickle_round_trip():
    values = _distributions()["exponential"]
    t = _tracker_of(values)
    t.record(0.003, n=5)
    for clone in (pickle.loads(pickle.dumps(t)), _load(t.state_dict())):
        s0, s1 = t.state_dict(), clone.state_dict()
        assert s0.keys() == s1.keys()
        for k in s0:
            np.testing.assert_array_equal(s0[k], s1[k])
        np.testing.assert_array_equal(clone.quantile(QS), t.quantile(QS))
        clone.record(0.5)  # still usable: its lock and queue were rebuilt
        assert clone.count == t.count + 1


def _load(state):
    t = LatencyTracker()
    t.load_state_dict(state)
    return t


def test_load_state_dict_checks_before_changing():
    t = _tracker_of([0.1, 0.2])
    before = t.state_dict()
    bad_layout = dict(before, layout=(100, -9, 5))
    bad_counts = dict(before, counts=before["counts"][:-1])
    negative = dict(before, counts=before["counts"] - 5)
    missing = {k: v for k, v in before.items() if k != "sum_seconds"}
    for bad, exc, word in [(bad_layout, ValueError, "layout"), (bad_counts, ValueError, "counts"),
                           (negative, ValueError, "counts"), (missing, ValueError, "sum_seconds"),
                           ([1, 2], TypeError, "state")]:
        with pytest.raises(exc, match=word):
            t.load_state_dict(bad)
        np.testing.assert_array_equal(t.state_dict()["counts"], before["counts"])


@pytest.mark.parametrize("bad", [-1e-3, math.nan, math.inf, -math.inf])
def test_record_rejects_bad_durations_and_changes_nothing(bad):
    t = _tracker_of([0.1])
    before = t.snapshot()
    with pytest.raises(ValueError, match="seconds"):
        t.record(bad)
    with pytest.raises(ValueError, match="durations"):
        t.record_many([0.2, bad, 0.3])
    after = t.snapshot()
    assert after["count"] == before["count"] and after["sum_seconds"] == before["sum_seconds"]


def test_bad_types_and_counts():
    t = LatencyTracker()
    with pytest.raises(TypeError, match="seconds"):
        t.record("fast")
    with pytest.raises(TypeError, match="n"):
        t.record(0.1, n=2.5)
    with pytest.raises(ValueError, match="n"):
        t.record(0.1, n=-1)
    with pytest.raises(TypeError, match="n"):
        t.time(n=True)
    with pytest.raises(TypeError, match="durations"):
        t.record_many(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="n must"):
        t.record_many([0.1, 0.2], n=[1, 2, 3])
    with pytest.raises(ValueError, match="q"):
        t.quantile(1.5)
    with pytest.raises(ValueError, match="q"):
        t.quantile(math.nan)
    with pytest.raises(ValueError, match="bounds"):
        t.cumulative_counts([[0.1]])
    assert t.count == 0 and t.snapshot()["predictions"] == 0


def test_record_many_per_call_batch_sizes():
    t = LatencyTracker()
    t.record_many([0.1, 0.2, 0.3], n=np.array([2, 0, 5]))
    t.record_many([])
    assert t.count == 3 and t.snapshot()["predictions"] == 7


def test_time_context_manager_and_decorator():
    t = LatencyTracker()
    with t.time(n=8):
        sum(range(1000))

    @t.time(n=2)
    def work(x):
        return x * 2

    assert work(21) == 42
    assert work.__name__ == "work"

    @t.time()
    def fails():
        raise KeyError("boom")

    with pytest.raises(KeyError):
        fails()
    snap = t.snapshot()
    assert snap["count"] == 3 and snap["predictions"] == 8 + 2 + 1
    assert snap["min_seconds"] >= 0 and snap["max_seconds"] < 60


def test_cumulative_counts_against_exact_counts():
    values = _distributions()["lognormal"]
    t = _tracker_of(values)
    bounds = np.array([0.0, 1e-5, 1e-4, 5e-4, 1e-3, 2.5e-3, 0.01, 0.1, 1.0, math.inf])
    got = t.cumulative_counts(bounds)
    exact = np.array([(values <= b).sum() for b in bounds])
    near = np.array([(np.abs(values / b - 1) <= _loghist.RELATIVE_ERROR).sum() if 0 < b < math.inf
                     else 0 for b in bounds])
    assert np.all(np.abs(got - exact) <= near)
    assert np.all(np.diff(got) >= 0)
    assert got[-1] == values.size and got[0] == 0
    assert t.cumulative_counts([values.max()])[0] == values.size
    assert t.cumulative_counts([np.nextafter(values.min(), 0)])[0] == 0


def test_concurrent_records_lose_nothing():
    t = LatencyTracker()
    per_thread, threads = 20000, 4

    def work(k):
        for i in range(per_thread):
            t.record(1e-6 * (k + 1), n=2)

    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    snap = t.snapshot()
    assert snap["count"] == per_thread * threads
    assert snap["predictions"] == 2 * per_thread * threads
    assert snap["sum_seconds"] == pytest.approx(per_thread * 1e-6 * (1 + 2 + 3 + 4), rel=1e-9)


def test_reset():
    t = _tracker_of([0.1, 0.2])
    t.reset()
    assert t.count == 0 and t.snapshot()["predictions"] == 0


def test_native_batch_kernel_bins_like_the_scalar_formula():
    """The C++ batch kernel and the scalar record() path must agree bucket for bucket, also on
    values lying exactly on or one ulp beside bucket edges."""
    from tallyml import _native
    from tallyml.monitoring import _loghist

    if not _native.available():
        pytest.skip("native library not built")
    rng = np.random.default_rng(11)
    edges = 10.0 ** ((np.arange(1, _loghist.NUM_BINS) - _loghist.OFFSET) / 240.0)
    values = np.concatenate([
        edges, np.nextafter(edges, 0), np.nextafter(edges, np.inf),
        10.0 ** rng.uniform(-10, 6, 20000), [0.0, 0.0, 1e-12, 5e5],
    ])
    pos, counts, total, lo, hi = _loghist._count_batch_native(values)
    assert pos == -1
    expected = np.bincount([_loghist.bin_index(float(v)) for v in values], minlength=_loghist.NUM_BINS)
    np.testing.assert_array_equal(counts, expected)
    assert (lo, hi) == (values.min(), values.max())
    assert total == pytest.approx(values.sum(), rel=1e-12)
    bad = values.copy()
    bad[777] = np.nan
    bad[900] = -1.0
    assert _loghist._count_batch_native(bad)[0] == 777
