"""Windowed and Decayed against scikit-learn on exactly the samples (and weights) they cover."""
import threading
import warnings

import numpy as np
import pytest
from hypothesis import Phase, given, settings, strategies as st
from sklearn import metrics as skm

import tallyml
from tallyml import BinaryMetrics, Decayed, MulticlassMetrics, MultilabelMetrics, Windowed

BE = "numpy"  # the window logic does not depend on the backend; numpy needs no compilation


def quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


def assert_multiclass_equal(m, y, p, k, w=None, values=True):
    if not len(y):
        assert m.count == 0 and m.confusion_matrix().sum() == 0
        return
    np.testing.assert_array_equal(m.confusion_matrix(), skm.confusion_matrix(y, p, labels=range(k), sample_weight=w))
    if values:
        assert m.count == len(y)
        np.testing.assert_allclose(m.accuracy(), skm.accuracy_score(y, p, sample_weight=w), rtol=1e-12)
        np.testing.assert_allclose(quiet(m.f1, average="macro", zero_division=0),
                                   quiet(skm.f1_score, y, p, labels=range(k), average="macro", zero_division=0, sample_weight=w),
                                   rtol=1e-12)


def expected_first_row(n, length, buckets):
    """Independent statement of the documented coverage: with s = length / buckets and n rows
    given, the window starts at row ((n - 1) // s - buckets + 1) * s (at least 0)."""
    s = length // buckets
    if n == 0:
        return 0
    return max(0, ((n - 1) // s - buckets + 1) * s)


# ---------------------------------------------------------------- samples=N
@settings(max_examples=10, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate))
@given(seed=st.integers(0, 2**32 - 1), length=st.sampled_from([1, 6, 12, 60]),
       bdiv=st.sampled_from([1, 2, 3, 6, "all"]), max_batch=st.sampled_from([1, 5, 30, 150]))
def test_samples_window_matches_sklearn(seed, length, bdiv, max_batch):
    rng = np.random.default_rng(seed)
    buckets = length if bdiv == "all" else (bdiv if length % bdiv == 0 else 1)
    k = 4
    y, p = rng.integers(0, k, 200), rng.integers(0, k, 200)
    w = Windowed(MulticlassMetrics(k, labels="all", backend=BE), samples=length, buckets=buckets)
    pos = 0
    while pos < len(y):
        n = int(rng.integers(0, max_batch + 1))
        w.update(y[pos:pos + n], p[pos:pos + n])
        pos = min(pos + n, len(y))
        a = expected_first_row(pos, length, buckets)
        assert w.window_bounds() == (a, pos)
        s = length // buckets
        assert pos < length or length - s + 1 <= pos - a <= length
        last = pos == len(y)
        assert_multiclass_equal(w.window(), y[a:pos], p[a:pos], k, values=last)
        assert_multiclass_equal(w.total(), y[:pos], p[:pos], k, values=last)


def test_samples_window_is_exactly_last_n_with_one_row_buckets():
    rng = np.random.default_rng(3)
    y, p = rng.integers(0, 2, 2000), rng.random(2000)
    w = Windowed(BinaryMetrics(0.3, backend=BE), samples=37, buckets=37)
    pos = 0
    for n in rng.integers(0, 90, 20):
        w.update(y[pos:pos + n], p[pos:pos + n])
        pos += int(n)
        lo = max(0, pos - 37)
        if lo == pos:
            continue
        np.testing.assert_array_equal(w.window().confusion_matrix(),
                                      skm.confusion_matrix(y[lo:pos], p[lo:pos] >= 0.3, labels=[0, 1]))


@pytest.mark.parametrize("batch", [1000, 250, 333, 4000])
def test_samples_window_weighted_ignore_index_binary(batch):
    rng = np.random.default_rng(batch)
    n_all = 9000
    y = rng.integers(0, 2, n_all)
    y[rng.random(n_all) < 0.1] = -1
    s = rng.random(n_all).astype(np.float32)
    sw = rng.random(n_all) * 2
    w = Windowed(BinaryMetrics(0.4, ignore_index=-1, backend=BE), samples=2000, buckets=4)
    for pos in range(0, n_all, batch):
        sl = slice(pos, pos + batch)
        w.update(y[sl], s[sl], sample_weight=sw[sl])
    end = n_all
    a = expected_first_row(end, 2000, 4)
    keep = np.arange(n_all)
    for lo, m in ((a, w.window()), (0, w.total())):
        sel = keep[lo:end][y[lo:end] != -1]
        yt, pt, wt = y[sel], (s[sel].astype(np.float64) >= 0.4).astype(int), sw[sel]
        np.testing.assert_allclose(m.confusion_matrix(),
                                   skm.confusion_matrix(yt, pt, labels=[0, 1], sample_weight=wt), rtol=1e-12)
        np.testing.assert_allclose(m.f1(), skm.f1_score(yt, pt, sample_weight=wt), rtol=1e-12)
        assert m.count == len(sel)


def test_samples_window_multilabel_scores():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, (700, 3))
    s = rng.random((700, 3))
    w = Windowed(MultilabelMetrics(3, backend=BE), samples=100, buckets=5)
    pos = 0
    for n in (7, 130, 0, 44, 250, 1, 268):
        t = y[pos:pos + n]
        w.update(t.tolist() if n else t, s[pos:pos + n])  # lists are split too
        pos += n
    a = expected_first_row(pos, 100, 5)
    yp = (s >= 0.5).astype(int)
    m = w.window()
    np.testing.assert_array_equal(m.confusion_matrix(), skm.multilabel_confusion_matrix(y[a:pos], yp[a:pos]))
    np.testing.assert_allclose(quiet(m.f1, average="samples"),
                               quiet(skm.f1_score, y[a:pos], yp[a:pos], average="samples"), rtol=1e-12)
    np.testing.assert_allclose(m.accuracy(), skm.accuracy_score(y[a:pos], yp[a:pos]), rtol=1e-12)


class _RowCounter(MulticlassMetrics):
    """Counts how many rows reach ``update`` across every bucket object (shared list)."""

    rows = [0]

    def update(self, target, preds, sample_weight=None):
        super().update(target, preds, sample_weight)
        _RowCounter.rows[0] += len(target)


@pytest.mark.parametrize("mode", [dict(samples=90, buckets=3), dict(updates=4, buckets=2),
                                  dict(seconds=5.0, buckets=5)])
def test_each_row_is_counted_once(mode):
    rng = np.random.default_rng(0)
    _RowCounter.rows[0] = 0
    tick = iter(np.arange(0, 1000, 0.7))
    if "seconds" in mode:
        mode = dict(mode, clock=lambda: float(next(tick)))
    w = Windowed(_RowCounter(3, labels="all", backend=BE), **mode)
    total = 0
    for n in rng.integers(0, 200, 30):
        w.update(rng.integers(0, 3, n), rng.integers(0, 3, n))
        total += int(n)
    assert _RowCounter.rows[0] == total  # one kernel pass: windows and total share it
    assert w.total().count == total


# ---------------------------------------------------------------- updates=N
def test_updates_window_covers_last_calls():
    rng = np.random.default_rng(7)
    w = Windowed(MulticlassMetrics(3, labels="all", backend=BE), updates=6, buckets=3)
    batches = []
    for i in range(25):
        n = int(rng.integers(0, 40))
        b = (rng.integers(0, 3, n), rng.integers(0, 3, n))
        w.update(*b)
        batches.append(b)
        calls = len(batches)
        first = expected_first_row(calls, 6, 3)
        assert w.window_bounds() == (first, calls)
        y = np.concatenate([b[0] for b in batches[first:]])
        p = np.concatenate([b[1] for b in batches[first:]])
        np.testing.assert_array_equal(w.window().confusion_matrix(),
                                      skm.confusion_matrix(y, p, labels=range(3)))


# ---------------------------------------------------------------- seconds=T
class FakeClock:
    def __init__(self, t=0.0):
        self.t = t

    def __call__(self):
        return self.t


def test_seconds_window_covers_exactly_the_live_buckets():
    rng = np.random.default_rng(11)
    clock = FakeClock(100.0)
    T, B = 60.0, 6
    d = T / B
    w = Windowed(BinaryMetrics(backend=BE), seconds=T, buckets=B, clock=clock)
    log = []  # (time, y, p)
    for _ in range(80):
        clock.t += float(rng.exponential(4.0))
        n = int(rng.integers(1, 30))
        y, p = rng.integers(0, 2, n), rng.integers(0, 2, n)
        w.update(y, p)
        log.append((clock.t, y, p))
        if rng.random() < 0.3:
            clock.t += float(rng.exponential(15.0))  # reads after idle time expire buckets
        ref = np.floor(clock.t / d)
        inside = [(y, p) for t, y, p in log if ref - B < np.floor(t / d) <= ref]
        lo, hi = w.window_bounds()
        assert (lo, hi) == ((ref - B + 1) * d, (ref + 1) * d)
        assert all(lo <= t < hi for t, _, _ in log if ref - B < np.floor(t / d) <= ref)
        cm = w.window().confusion_matrix()
        if inside:
            yy = np.concatenate([a for a, _ in inside])
            pp = np.concatenate([b for _, b in inside])
            np.testing.assert_array_equal(cm, skm.confusion_matrix(yy, pp, labels=[0, 1]))
        else:
            assert cm.sum() == 0
        # granularity: everything from the last T - d seconds is in, nothing older than T
        assert all(np.floor(t / d) > ref - B for t, _, _ in log if clock.t - t <= T - d)
        assert all(np.floor(t / d) <= ref - B for t, _, _ in log if clock.t - t > T)
    yy = np.concatenate([y for _, y, _ in log])
    pp = np.concatenate([p for _, _, p in log])
    np.testing.assert_array_equal(w.total().confusion_matrix(), skm.confusion_matrix(yy, pp, labels=[0, 1]))


def test_seconds_window_clock_stepping_back_counts_into_current_bucket():
    clock = FakeClock(50.0)
    w = Windowed(BinaryMetrics(backend=BE), seconds=10, buckets=2, clock=clock)
    w.update([1], [1])
    clock.t = 3.0
    w.update([0], [1])
    assert w.window().count == 2 and w.total().count == 2


# ---------------------------------------------------------------- bad input and atomicity
@pytest.mark.parametrize("kwargs, exc, words", [
    (dict(samples=0), ValueError, "samples"),
    (dict(samples=-5), ValueError, "samples"),
    (dict(updates=0), ValueError, "updates"),
    (dict(seconds=0.0), ValueError, "seconds"),
    (dict(seconds=-1), ValueError, "seconds"),
    (dict(seconds=float("nan")), ValueError, "seconds"),
    (dict(samples=10, buckets=0), ValueError, "buckets"),
    (dict(samples=10, buckets=3), ValueError, "multiple of buckets"),
    (dict(samples=10, buckets=20), ValueError, "buckets"),
    (dict(seconds=10, buckets=0), ValueError, "buckets"),
    (dict(samples=10.5), TypeError, "samples"),
    (dict(samples=True), TypeError, "samples"),
    (dict(), ValueError, "exactly one"),
    (dict(samples=10, seconds=3), ValueError, "exactly one"),
    (dict(samples=10, clock=lambda: 0.0), ValueError, "clock"),
    (dict(seconds=10, clock=3), TypeError, "clock"),
])
def test_window_arguments(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        Windowed(BinaryMetrics(backend=BE), **kwargs)


def test_default_buckets_divide_the_length():
    assert Windowed(BinaryMetrics(backend=BE), samples=1000).buckets == 10
    assert Windowed(BinaryMetrics(backend=BE), samples=7).buckets == 7
    assert Windowed(BinaryMetrics(backend=BE), samples=13).buckets == 1
    assert Windowed(BinaryMetrics(backend=BE), seconds=3600).buckets == 10


def test_template_must_be_empty_metric_object():
    m = BinaryMetrics(backend=BE)
    m.update([1], [1])
    with pytest.raises(ValueError, match="empty"):
        Windowed(m, samples=10)
    with pytest.raises(ValueError, match="empty"):
        Decayed(m, half_life=10)
    with pytest.raises(TypeError, match="metric object"):
        Windowed(object(), samples=10)


def _state(w):
    return (w.window().state_dict(), w.total().state_dict(), w.window_bounds())


def _same(a, b):
    assert a[2] == b[2]
    for x, y in zip(a[:2], b[:2]):
        assert x.keys() == y.keys()
        for k in x:
            if isinstance(x[k], np.ndarray):
                np.testing.assert_array_equal(x[k], y[k])
            else:
                assert x[k] == y[k]


@pytest.mark.parametrize("mode", [dict(samples=100, buckets=4), dict(updates=3, buckets=3),
                                  dict(seconds=10.0, buckets=2)])
def test_failed_update_changes_nothing_and_reports_the_whole_batch(mode):
    rng = np.random.default_rng(1)
    clock = FakeClock(0.0)
    if "seconds" in mode:
        mode = dict(mode, clock=clock)
    w = Windowed(MulticlassMetrics(3, labels="all", backend=BE), **mode)
    plain = MulticlassMetrics(3, labels="all", backend=BE)
    for _ in range(12):
        clock.t += 4.0
        y, p = rng.integers(0, 3, 70), rng.integers(0, 3, 70)
        w.update(y, p)
        before = _state(w)
        bad = p.copy()
        bad[63] = 9  # a bad row far into the batch: in the second piece of a split batch
        with pytest.raises(ValueError) as ours:
            w.update(y, bad)
        with pytest.raises(ValueError) as theirs:
            plain.update(y, bad)
        assert str(ours.value) == str(theirs.value)  # "preds[63] = 9 ...", the batch's row
        _same(before, _state(w))
        with pytest.raises((TypeError, ValueError)):
            w.update(y, p[:-1])  # lengths differ
        _same(before, _state(w))
        with pytest.raises((TypeError, ValueError), match="target"):
            w.update(3, 4)
        _same(before, _state(w))


def test_concurrent_updates_lose_nothing():
    rng = np.random.default_rng(2)
    data = [(rng.integers(0, 4, 300), rng.integers(0, 4, 300)) for _ in range(40)]
    w = Windowed(MulticlassMetrics(4, labels="all", backend=BE), samples=1000, buckets=10)

    def work(part):
        for y, p in part:
            w.update(y, p)

    threads = [threading.Thread(target=work, args=(data[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    y = np.concatenate([d[0] for d in data])
    p = np.concatenate([d[1] for d in data])
    np.testing.assert_array_equal(w.total().confusion_matrix(), skm.confusion_matrix(y, p, labels=range(4)))
    assert w.window().count == 1000 and w.window_bounds() == (11000, 12000)


def test_reset_and_repr():
    w = Windowed(BinaryMetrics(backend=BE), samples=10, buckets=2)
    w.update([1, 0, 1], [1, 1, 1])
    w.reset()
    assert w.total().count == 0 and w.window().count == 0
    assert "samples=10" in repr(w) and w.mode == "samples" and w.length == 10
    assert w.template.count == 0


# ---------------------------------------------------------------- Decayed
def decayed_oracle_weights(n_rows, half_life, user_w=None):
    age = np.arange(n_rows)[::-1].astype(np.float64)
    w = 0.5 ** (age / half_life)
    return w if user_w is None else w * user_w


@pytest.mark.parametrize("half_life", [3.0, 50.0, 1000.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_decay_in_samples_matches_direct_weighted_computation(half_life, weighted):
    rng = np.random.default_rng(int(half_life))
    k = 3
    n_all = 2000  # 667 half-lives at half_life=3: several rescales
    y, p = rng.integers(0, k, n_all), rng.integers(0, k, n_all)
    uw = rng.random(n_all) * 2 if weighted else None
    d = Decayed(MulticlassMetrics(k, labels="all", backend=BE), half_life=half_life)
    pos = 0
    while pos < n_all:
        n = int(rng.integers(0, 300))
        kw = {} if uw is None else {"sample_weight": uw[pos:pos + n]}
        d.update(y[pos:pos + n], p[pos:pos + n], **kw)
        pos = min(n_all, pos + n)
        wts = decayed_oracle_weights(pos, half_life, None if uw is None else uw[:pos])
        m = d.current()
        if pos == 0:
            continue
        np.testing.assert_allclose(m.confusion_matrix(),
                                   skm.confusion_matrix(y[:pos], p[:pos], labels=range(k), sample_weight=wts),
                                   rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(quiet(m.recall, average="macro"),
                                   quiet(skm.recall_score, y[:pos], p[:pos], average="macro", sample_weight=wts),
                                   rtol=1e-12)


def test_decay_in_seconds_matches_direct_weighted_computation():
    rng = np.random.default_rng(9)
    clock = FakeClock(1000.0)
    d = Decayed(BinaryMetrics(backend=BE), half_life=30.0, unit="seconds", clock=clock)
    log = []
    for _ in range(150):
        clock.t += float(rng.exponential(20.0))  # ~100 half-lives in total: rescales
        n = int(rng.integers(1, 50))
        y, p = rng.integers(0, 2, n), rng.random(n)
        d.update(y, p)
        log.append((clock.t, y, p))
    clock.t += 12.5  # read later than the last update
    y = np.concatenate([a for _, a, _ in log])
    p = np.concatenate([b for _, _, b in log]) >= 0.5
    wts = np.concatenate([np.full(len(a), 0.5 ** ((clock.t - t) / 30.0)) for t, a, _ in log])
    m = d.current()
    np.testing.assert_allclose(m.confusion_matrix(),
                               skm.confusion_matrix(y, p, labels=[0, 1], sample_weight=wts), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(m.f1(), skm.f1_score(y, p, sample_weight=wts), rtol=1e-12)


@pytest.mark.parametrize("kwargs, exc, words", [
    (dict(half_life=0), ValueError, "half_life"),
    (dict(half_life=-2.0), ValueError, "half_life"),
    (dict(half_life=float("inf")), ValueError, "half_life"),
    (dict(half_life="10"), TypeError, "half_life"),
    (dict(half_life=10, unit="hours"), ValueError, "unit"),
    (dict(half_life=10, clock=FakeClock()), ValueError, "clock"),
])
def test_decay_arguments(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        Decayed(BinaryMetrics(backend=BE), **kwargs)


def test_decay_failed_update_changes_nothing():
    d = Decayed(BinaryMetrics(backend=BE), half_life=5)
    d.update([0, 1, 1], [0.2, 0.7, 0.9])
    before = d.current().state_dict()
    with pytest.raises(ValueError, match=r"preds\[1\]"):
        d.update([1, 1], [0.3, float("nan")])
    with pytest.raises(ValueError, match="sample_weight"):
        d.update([1, 1], [0.3, 0.2], sample_weight=[1.0])
    after = d.current().state_dict()
    np.testing.assert_array_equal(before["state"], after["state"])
    assert before["count"] == after["count"]


def test_pickle_round_trip_keeps_window_and_total():
    import pickle

    rng = np.random.default_rng(12)
    w = Windowed(MulticlassMetrics(3, labels="all", backend=BE), samples=60, buckets=3)
    d = Decayed(BinaryMetrics(backend=BE), half_life=20)
    for _ in range(7):
        y, p = rng.integers(0, 3, 25), rng.integers(0, 3, 25)
        w.update(y, p)
        d.update(y.clip(0, 1), p.clip(0, 1))
    w2, d2 = pickle.loads(pickle.dumps(w)), pickle.loads(pickle.dumps(d))
    y, p = rng.integers(0, 3, 40), rng.integers(0, 3, 40)
    for a, b in ((w, w2), (d, d2)):
        a.update(y.clip(0, 1) if a is d else y, p.clip(0, 1) if a is d else p)
        b.update(y.clip(0, 1) if b is d2 else y, p.clip(0, 1) if b is d2 else p)
    np.testing.assert_array_equal(w.window().confusion_matrix(), w2.window().confusion_matrix())
    np.testing.assert_array_equal(w.total().confusion_matrix(), w2.total().confusion_matrix())
    assert w.window_bounds() == w2.window_bounds()
    np.testing.assert_array_equal(d.current().confusion_matrix(), d2.current().confusion_matrix())


# ---------------------------------------------------------------- bucket reuse
def _native_ok():
    try:
        from tallyml import _backends
        return bool(_backends.native_available())
    except Exception:  # noqa: BLE001 - no library: the native cases are skipped
        return False


HOST_BACKENDS = ["numpy", pytest.param("native", marks=pytest.mark.skipif(
    not _native_ok(), reason="native library not built"))]


@pytest.mark.parametrize("backend", HOST_BACKENDS)
@pytest.mark.parametrize("mode", [dict(updates=6, buckets=3), dict(samples=120, buckets=4),
                                  dict(seconds=6.0, buckets=3)])
def test_reused_buckets_carry_nothing_over(backend, mode):
    """Bucket objects are emptied in place and reused: every window after many reuses equals
    scikit-learn on exactly its rows, with the label set of those rows (labels="seen": a stale
    mask or count would show), weighted (float64) and unweighted buckets alternating, zero
    weights included."""
    rng = np.random.default_rng(21)
    clock = FakeClock(0.0)
    if "seconds" in mode:
        mode = dict(mode, clock=clock)
    w = Windowed(MulticlassMetrics(6, backend=backend), **mode)
    log = []  # (time, y, p, weight or None)
    for step in range(60):
        clock.t += 1.0
        n = int(rng.integers(1, 50))
        hi = int(rng.integers(2, 6))  # few labels in some batches: the label set changes
        y = rng.integers(0, hi, n).astype(np.int32)
        p = rng.integers(0, hi, n).astype(np.int32)
        sw = None
        if step % 3 == 1:
            sw = rng.random(n) + 0.1
            # label 5 only ever comes with weight 0: only the seen masks record it
            zero = rng.random(n) < 0.3
            sw[zero], y[zero], p[zero] = 0.0, 5, 5
        w.update(y, p, sample_weight=sw)
        log.append((clock.t, y, p, np.ones(n) if sw is None else sw, sw is not None))
        if "seconds" in mode:
            d = mode["seconds"] / mode["buckets"]
            ref = np.floor(clock.t / d)
            inside = [e for e in log if ref - mode["buckets"] < np.floor(e[0] / d)]
        else:
            first, end = w.window_bounds()
            if "updates" in mode:
                inside = log[first:end]
            else:  # rows first..end of the concatenated stream
                yy = np.concatenate([e[1] for e in log])
                pp = np.concatenate([e[2] for e in log])
                ww = np.concatenate([e[3] for e in log])
                inside = [(None, yy[first:end], pp[first:end], ww[first:end], True)]
        yy = np.concatenate([e[1] for e in inside])
        pp = np.concatenate([e[2] for e in inside])
        ww = np.concatenate([e[3] for e in inside])
        m = w.window()
        labels = np.union1d(yy, pp)
        np.testing.assert_allclose(m.confusion_matrix(),
                                   skm.confusion_matrix(yy, pp, labels=labels, sample_weight=ww), rtol=1e-12)
        assert m.count == len(yy)
        np.testing.assert_allclose(quiet(m.f1, average="macro"),
                                   quiet(skm.f1_score, yy, pp, average="macro", sample_weight=ww), rtol=1e-12)
    yy = np.concatenate([e[1] for e in log])
    pp = np.concatenate([e[2] for e in log])
    ww = np.concatenate([e[3] for e in log])
    np.testing.assert_allclose(w.total().confusion_matrix(),
                               skm.confusion_matrix(yy, pp, labels=np.union1d(yy, pp), sample_weight=ww),
                               rtol=1e-12)


@pytest.mark.parametrize("backend", HOST_BACKENDS)
def test_closing_a_bucket_allocates_no_bucket(backend):
    """Once warm, the ring cycles through the same bucket objects and the same count arrays
    (an unweighted stream): a bucket is emptied in place, not replaced."""
    rng = np.random.default_rng(4)
    w = Windowed(BinaryMetrics(backend=backend), updates=4, buckets=2)
    data = [(rng.integers(0, 2, 30).astype(np.int8), rng.random(30).astype(np.float32))
            for _ in range(40)]

    def objects():
        objs = w._slots + w._pool + [w._closed]
        return {id(o) for o in objs}, {id(o._state) for o in objs}

    for y, p in data[:10]:
        w.update(y, p)
    before = objects()
    plain = BinaryMetrics(backend=backend)
    for y, p in data[10:]:
        w.update(y, p)
        plain.update(y, p)
    assert objects() == before
    y = np.concatenate([d[0] for d in data[-4:]])
    p = np.concatenate([d[1] for d in data[-4:]])
    np.testing.assert_array_equal(w.window().confusion_matrix(),
                                  skm.confusion_matrix(y, p >= 0.5, labels=[0, 1]))


def test_read_results_do_not_alias_reused_buckets(tmp_path):
    """window() and total() are new objects: buckets emptied and refilled later leave them
    alone; they merge, pickle and save like any metric object."""
    import pickle

    rng = np.random.default_rng(8)
    k = 4
    y, p = rng.integers(0, k, 3000), rng.integers(0, k, 3000)
    a = Windowed(MulticlassMetrics(k, labels="all", backend=BE), samples=200, buckets=4)
    b = Windowed(MulticlassMetrics(k, labels="all", backend=BE), updates=5, buckets=5)
    for i in range(0, 1500, 50):
        a.update(y[i:i + 50], p[i:i + 50])
        b.update(y[1500 + i:1550 + i], p[1500 + i:1550 + i])
    wa, ta, wb = a.window(), a.total(), b.window()
    snap = [m.confusion_matrix().copy() for m in (wa, ta, wb)]
    for i in range(0, 1500, 50):  # every bucket of both windows is reused several times
        a.update(y[i:i + 50], p[i:i + 50])
        b.update(y[i:i + 50], p[i:i + 50])
    for m, s in zip((wa, ta, wb), snap):
        np.testing.assert_array_equal(m.confusion_matrix(), s)
    # a's window: rows 1300..1500; b's: its last 5 calls of the first pass, rows 2750..3000
    ry = np.concatenate([y[1300:1500], y[2750:3000]])
    rp = np.concatenate([p[1300:1500], p[2750:3000]])
    merged = wa.merge(wb)
    np.testing.assert_array_equal(merged.confusion_matrix(), skm.confusion_matrix(ry, rp, labels=range(k)))
    again = pickle.loads(pickle.dumps(merged))
    np.testing.assert_array_equal(again.confusion_matrix(), merged.confusion_matrix())
    merged.save(tmp_path / "window.ckpt")
    loaded = MulticlassMetrics(k, labels="all", backend=BE)
    loaded.load(tmp_path / "window.ckpt")
    np.testing.assert_array_equal(loaded.confusion_matrix(), skm.confusion_matrix(ry, rp, labels=range(k)))
    assert loaded.count == len(ry)


@pytest.mark.parametrize("mode", [dict(samples=90, buckets=3), dict(updates=4, buckets=4),
                                  dict(seconds=4.0, buckets=4)])
def test_pickle_and_copy_after_reuse_continue_identically(mode):
    import copy
    import pickle

    rng = np.random.default_rng(13)
    clock = FakeClock(0.0)
    if "seconds" in mode:
        mode = dict(mode, clock=clock)
    w = Windowed(BinaryMetrics(backend=BE), **mode)
    batches = [(rng.integers(0, 2, 40), rng.random(40)) for _ in range(50)]
    for y, p in batches[:25]:
        clock.t += 0.7
        w.update(y, p)
    copies = [pickle.loads(pickle.dumps(w)), copy.deepcopy(w)]
    for c in copies:
        if "seconds" in mode:
            assert c._clock is not clock and c._clock() == clock()
            c._clock = clock  # (the fake clock was copied with the window)
    for y, p in batches[25:]:
        clock.t += 0.7
        for obj in [w] + copies:
            obj.update(y, p)
        for c in copies:
            _same(_state(w), _state(c))
    # the copies count on their own: updating one leaves the original alone
    before = _state(w)
    copies[0].update(*batches[0])
    _same(before, _state(w))


# ---------------------------------------------------------------- Decayed in seconds: unweighted batches
def test_decay_in_seconds_multiclass_mixed_weights_and_failures():
    """Unweighted batches at least as large as the state take the scratch path (counted
    unweighted, added scaled); weighted or small ones the weighted kernel: mixed here, against
    the direct weighted computation, with failed updates in between changing nothing."""
    import pickle

    rng = np.random.default_rng(17)
    clock = FakeClock(10.0)
    k = 3
    d = Decayed(MulticlassMetrics(k, labels="all", backend=BE), half_life=15.0, unit="seconds",
                clock=clock)
    log = []
    for i in range(120):
        clock.t += float(rng.exponential(6.0))  # ~50 half-lives: rescales
        n = int(rng.choice([2, 9, 40]))  # below and above the 9 cells of the state
        y, p = rng.integers(0, k, n), rng.integers(0, k, n)
        uw = rng.random(n) * 3 if i % 5 == 0 else None
        d.update(y, p, **({} if uw is None else {"sample_weight": uw}))
        log.append((clock.t, y, p, np.ones(n) if uw is None else uw))
        if i % 9 == 4:
            before = d.current().state_dict()
            bad = p.copy()
            bad[-1] = 7
            with pytest.raises(ValueError, match="preds"):
                d.update(y, bad)
            after = d.current().state_dict()
            np.testing.assert_array_equal(before["state"], after["state"])
        if i == 60:
            d = pickle.loads(pickle.dumps(d))
            d._clock = clock  # (the fake clock was pickled as a copy)
    clock.t += 3.0
    y = np.concatenate([e[1] for e in log])
    p = np.concatenate([e[2] for e in log])
    wts = np.concatenate([e[3] * 0.5 ** ((clock.t - e[0]) / 15.0) for e in log])
    m = d.current()
    np.testing.assert_allclose(m.confusion_matrix(), skm.confusion_matrix(y, p, labels=range(k), sample_weight=wts),
                               rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(m.accuracy(), skm.accuracy_score(y, p, sample_weight=wts), rtol=1e-12)
    assert m.count == len(y)


# ---------------------------------------------------------------- the "window overhead" benchmark row
def test_window_overhead_benchmark_runs_and_reports_every_variant():
    from tallyml._bench.calls import WINDOW_VARIANTS, window_overhead
    from tallyml._bench.suite import _format_window_overhead

    r = window_overhead(batch=50, batches=3, repeat=1)
    assert set(r) == {"binary", "multiclass10"}
    for res in r.values():
        assert set(res) == {"plain_us", *WINDOW_VARIANTS}
        assert res["plain_us"]["wall"] > 0
        for name in WINDOW_VARIANTS:
            assert res[name]["wall"] > 0 and np.isfinite(res[name]["overhead"])
    text = "\n".join(_format_window_overhead(r))
    assert all(name in text for name in WINDOW_VARIANTS)


def test_seconds_window_buckets_at_exact_boundaries():
    """Readings on, just below and just above bucket edges (a width that is not a binary
    fraction) land in bucket floor(t / width), as documented, also after the current bucket's
    edge is cached."""
    T, B = 0.7, 7
    d = T / B
    clock = FakeClock(0.0)
    w = Windowed(BinaryMetrics(backend=BE), seconds=T, buckets=B, clock=clock)
    rng = np.random.default_rng(23)
    log = []
    times = []
    for k in range(1, 40):
        edge = k * d
        times += [np.nextafter(edge, -np.inf), edge, np.nextafter(edge, np.inf)]
    times += list(-np.sort(-np.array(times[:6])))  # a clock stepping back
    for t in times:
        clock.t = float(t)
        y, p = rng.integers(0, 2, 3), rng.integers(0, 2, 3)
        w.update(y, p)
        # documented: bucket floor(t / d); a step back counts into the current bucket
        j = np.floor(clock.t / d)
        log.append((max(j, log[-1][0]) if log else j, y, p))
        ref = max(np.floor(clock.t / d), log[-1][0])
        inside = [(a, b) for j, a, b in log if ref - B < j <= ref]
        yy = np.concatenate([a for a, _ in inside])
        pp = np.concatenate([b for _, b in inside])
        np.testing.assert_array_equal(w.window().confusion_matrix(),
                                      skm.confusion_matrix(yy, pp, labels=[0, 1]))
