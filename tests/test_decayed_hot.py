"""The weighted hot path of Decayed: ``_count_scaled(target, preds, ramp, scale)`` on the metric
objects counts a small batch with weights ``ramp[i] * scale`` through a compiled hot-tier kernel.
It must leave exactly (bit for bit) the state, seen mask and sample count that
``update(sample_weight=ramp * scale)`` leaves on the same backend, refuse (False, nothing
changed) whatever it does not take, so that the normal path raises the error it always raised;
and Decayed through it must still equal scikit-learn given the decay weights."""
import time
import warnings
import zlib

import numpy as np
import pytest
from sklearn import metrics as skm

from tallyml import BinaryMetrics, Decayed, MulticlassMetrics, MultilabelMetrics
from tallyml import _backends
from tallyml._backends import hot

MAX = hot.MAX_ROWS
BACKENDS = [pytest.param("native", marks=pytest.mark.skipif(
    not _backends.native_available(), reason="native library not built")), "numba"]
BIN_LABELS = [np.bool_, np.int8, np.int32, np.int64]
MC_LABELS = BIN_LABELS + [np.uint8, np.int16]
SCORES = [np.float32, np.float64]


@pytest.fixture
def sync_tier(monkeypatch):
    monkeypatch.setenv(hot.ENV_VAR, "sync")


def quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


def _seed(*parts):
    return zlib.crc32(repr(parts).encode())  # stable across processes (str hash is not)


def _twins(make):
    """Two fresh objects: one fed through the hook, one through update(sample_weight=...)."""
    return make(), make()


def _same_state(a, b):
    assert a._state.dtype == b._state.dtype
    assert a._state.tobytes() == b._state.tobytes(), (a._state, b._state)
    np.testing.assert_array_equal(a._seen, b._seen)
    assert a.count == b.count
    assert a.weighted == b.weighted


def _loaded(m, t, p):
    """A first hooked call (sync mode: it loads the kernel); it must succeed."""
    assert len(t) and m._count_scaled(t, p, np.ones(len(t)), 1.0), hot.failures()


def _refused_and_raised(m, what, t, p, ramp, scale):
    """``_count_scaled`` refuses the batch and ``update`` raises ``what`` for it; neither
    changes the counts, seen mask or sample count."""
    before = m.state_dict()
    assert m._count_scaled(t, p, ramp, scale) is False
    with pytest.raises(ValueError, match=what):
        m.update(t, p, sample_weight=ramp * scale)
    after = m.state_dict()
    for key in ("state", "seen"):
        np.testing.assert_array_equal(before[key], after[key])
    assert before["count"] == after["count"]


def _ramp(rng, n, kind):
    if kind == "decay":
        return np.exp2(np.arange(n) / 37.0)
    if kind == "wide":  # magnitudes from 1e-12 to 1e12: the summation order shows in the bits
        return 10.0 ** rng.uniform(-12, 12, n)
    r = rng.random(n)  # zeros: labels of zero-weight rows must still reach the seen mask
    r[rng.random(n) < 0.5] = 0.0
    return r


def _binary_batch(rng, n, tdt, pdt, ignore):
    t = (rng.random(n) < 0.3).astype(tdt)
    if ignore is not None:
        t[rng.random(n) < 0.2] = ignore
    if np.dtype(pdt).kind == "f":
        p = rng.random(n).astype(pdt)
        p[::5] = 0.5  # exactly on the threshold: positive
    else:
        p = (rng.random(n) < 0.6).astype(pdt)
    return t, p


def _multiclass_batch(rng, n, k, tdt, pdt, ignore):
    t = rng.integers(0, k, n).astype(tdt)
    if ignore is not None:
        t[rng.random(n) < 0.2] = ignore
    if np.dtype(pdt).kind == "f":
        p = rng.random((n, k)).astype(pdt)
        p[::4, 1] = p[::4, 0]  # ties: the first maximum wins
        p[::4, 0] = 2.0
        p[::4, 1] = 2.0
    else:
        p = rng.integers(0, k, n).astype(pdt)
    return t, p


def _feed(a, b, t, p, ramp, scale, expect=True):
    """The hook on a, the weighted update on b; then the two must agree bit for bit."""
    n = len(t)
    assert a._count_scaled(t, p, ramp, scale) is expect
    if expect:
        b.update(t, p, sample_weight=ramp[:n] * scale)
    _same_state(a, b)


def _cell00(n, k, tdt, pdt):
    """n rows of true class 0 predicted 0."""
    if np.dtype(pdt).kind == "f":
        p = np.zeros((n, k), pdt)
        p[:, 0] = 1.0
        return np.zeros(n, tdt), p
    return np.zeros(n, tdt), np.zeros(n, pdt)


def _order_check(a, b, batch, sizes):
    for n in sizes:
        t, p = batch(1)
        for m in (a, b):
            m.reset()
            m.update(t, p, sample_weight=np.array([2.0 ** 55]))
        t, p = batch(n)
        _feed(a, b, t, p, np.ones(n), 1.0)


# ---------------------------------------------------------------- bit-identical to update(sample_weight=)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("tdt, pdt", [(t, np.float32) for t in BIN_LABELS]
                         + [(np.int8, p) for p in [np.float64] + BIN_LABELS])
@pytest.mark.parametrize("ignore", [None, 1, -1])
def test_binary_hook_is_bit_identical_to_weighted_update(sync_tier, backend, tdt, pdt, ignore):
    if tdt is np.bool_ and ignore == -1:
        ignore = None
    rng = np.random.default_rng(_seed("b", backend, tdt, pdt, ignore))
    a, b = _twins(lambda: BinaryMetrics(threshold=0.5, ignore_index=ignore, backend=backend))
    # int64 counts first: the first hooked batch converts them to float64, as update() does
    t, p = _binary_batch(rng, 40, tdt, pdt, ignore)
    a.update(t, p)
    b.update(t, p)
    _feed(a, b, t[:0], p[:0], np.ones(0), 1.0)  # n = 0: counts nothing, still converts
    for n in (1, 7, 1000, MAX):
        for kind in ("decay", "wide", "zeros"):
            t, p = _binary_batch(rng, n, tdt, pdt, ignore)
            _feed(a, b, t, p, _ramp(rng, n, kind), float(rng.uniform(0.1, 3.0)))
    # the order is part of the contract: with cell (0, 0) at 2**55 (ulp 8), rows of weight 1
    # added one by one into the state vanish, their per-cell sum added once does not
    _order_check(a, b, lambda n: (np.zeros(n, tdt), np.zeros(n, pdt)), (1, 3, 4, 9, 300))
    # strided views: the kernel takes any strides
    t, p = _binary_batch(rng, 2 * 333, tdt, pdt, ignore)
    _feed(a, b, t[::2], p[::2], _ramp(rng, 333, "wide"), 0.5)
    # more rows than the hot tier takes: refused
    t, p = _binary_batch(rng, MAX + 1, tdt, pdt, ignore)
    _feed(a, b, t, p, np.ones(MAX + 1), 1.0, expect=False)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k", [3, 10, 40, 70])  # 70: more classes than a 64-bit seen mask
@pytest.mark.parametrize("tdt, pdt", [(t, np.int32) for t in MC_LABELS]
                         + [(np.int16, p) for p in MC_LABELS + SCORES]
                         + [(np.int64, np.float64)])
def test_multiclass_hook_is_bit_identical_to_weighted_update(sync_tier, backend, k, tdt, pdt):
    ignore = 1 if tdt in (np.bool_, np.uint8) else -5
    if np.dtype(pdt) == np.bool_ or np.dtype(tdt) == np.bool_:
        k = 2
    rng = np.random.default_rng(_seed("m", backend, k, tdt, pdt))
    a, b = _twins(lambda: MulticlassMetrics(k, ignore_index=ignore, backend=backend))
    t, p = _multiclass_batch(rng, 30, k, tdt, pdt, ignore)
    a.update(t, p)
    b.update(t, p)
    _feed(a, b, t[:0], p[:0], np.ones(0), 1.0)
    # batch sizes on both sides of the backends' "straight into the state" rule
    # (native: n < 4 (K*K + 1), numba: n < K*K)
    kk = k * k
    sizes = sorted({1, 7, kk - 1, kk, 4 * (kk + 1) - 1, 4 * (kk + 1), 1000, MAX} - {0})
    for n in [s for s in sizes if s <= MAX]:
        for kind in ("decay", "wide", "zeros"):
            t, p = _multiclass_batch(rng, n, k, tdt, pdt, ignore)
            _feed(a, b, t, p, _ramp(rng, n, kind), float(rng.uniform(0.1, 3.0)))
    # the backend's rule shows: rows of weight 1 into cell (0, 0) at 2**55 vanish when added
    # one by one into the state, not when summed in a partial first
    _order_check(a, b, lambda n: _cell00(n, k, tdt, pdt),
                 [n for n in (kk - 1, kk, 4 * (kk + 1) - 1, 4 * (kk + 1)) if 4 <= n <= MAX])
    t, p = _multiclass_batch(rng, 2 * 301, k, tdt, pdt, ignore)
    _feed(a, b, t[::2], p[::2], _ramp(rng, 301, "wide"), 0.75)
    t, p = _multiclass_batch(rng, MAX + 1, k, tdt, pdt, ignore)
    _feed(a, b, t, p, np.ones(MAX + 1), 1.0, expect=False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_weights_fill_the_seen_mask_like_update(sync_tier, backend):
    """Rows of zero weight leave no trace in the counts; both paths record their labels."""
    k = 6
    a, b = _twins(lambda: MulticlassMetrics(k, backend=backend))
    t = np.array([0, 1, 2], dtype=np.int32)
    p = np.array([3, 1, 2], dtype=np.int32)
    _feed(a, b, t, p, np.array([0.0, 1.0, -0.0]), 1.0)
    assert a._seen.tolist() == [1, 1, 1, 1, 0, 0]
    _feed(a, b, np.array([4], np.int32), np.array([4], np.int32), np.ones(1), 0.0)
    assert a._seen.tolist() == [1, 1, 1, 1, 1, 0]
    np.testing.assert_array_equal(
        quiet(a.confusion_matrix),
        skm.confusion_matrix([0, 1, 2, 4], [3, 1, 2, 4], sample_weight=[0.0, 1.0, 0.0, 0.0]))
    a, b = _twins(lambda: BinaryMetrics(backend=backend))
    _feed(a, b, np.array([1, 1], np.int8), np.array([0.9, 0.8], np.float32), np.zeros(2), 5.0)
    assert a._seen.tolist() == [0, 1] and a._state.sum() == 0 and a.count == 2


# ---------------------------------------------------------------- bad values: refused, nothing changed
def _bad_cases_binary():
    t = np.array([0, 1, 1, 0], np.int8)
    s = np.array([0.1, 0.7, 0.4, 0.9], np.float32)
    yield "target", np.array([0, 1, 2, 0], np.int8), s, np.ones(4)
    yield "target", np.array([0, -3, 1, 0], np.int8), s, np.ones(4)
    for v in (np.nan, np.inf, -np.inf):
        bad = s.copy()
        bad[3] = v
        yield "preds", t, bad, np.ones(4)
    yield "preds", t, np.array([0, 1, 3, 0], np.int8), np.ones(4)
    for v in (np.nan, np.inf, -1.0):
        r = np.ones(4)
        r[1] = v
        yield "sample_weight", t, s, r


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(_bad_cases_binary()), ids=lambda c: c[0])
def test_binary_bad_values_are_refused_and_update_raises(sync_tier, backend, case):
    what, t, p, ramp = case
    a, b = _twins(lambda: BinaryMetrics(backend=backend))
    _loaded(a, np.array([0, 1], t.dtype), np.array([1, 0], p.dtype))
    b.update(np.array([0, 1], t.dtype), np.array([1, 0], p.dtype), sample_weight=np.ones(2))
    for m in (a, b):
        _refused_and_raised(m, what, t, p, ramp, 2.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_refused_first_batch_keeps_int64_counts(sync_tier, backend):
    _loaded(BinaryMetrics(backend=backend), np.zeros(3, np.int8), np.zeros(3, np.float32))
    m = BinaryMetrics(backend=backend)
    m.update(np.array([0, 1], np.int8), np.array([0.2, 0.7], np.float32))
    assert not m.weighted
    bad = np.array([0.2, np.nan], np.float32)
    assert m._count_scaled(np.array([0, 1], np.int8), bad, np.ones(2), 1.0) is False
    assert not m.weighted and m._state.dtype == np.int64 and m.count == 2


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scores", [False, True])
def test_multiclass_bad_values_are_refused_and_update_raises(sync_tier, backend, scores):
    k = 4
    rng = np.random.default_rng(5)
    good_t = rng.integers(0, k, 20).astype(np.int32)
    good_p = (rng.random((20, k)).astype(np.float32) if scores
              else rng.integers(0, k, 20).astype(np.int32))
    cases = []
    for v in (-1, k):
        t = good_t.copy()
        t[7] = v
        cases.append(("target", t, good_p, np.ones(20)))
    if scores:
        for v in (np.nan, np.inf):
            p = good_p.copy()
            p[3, 2] = v
            cases.append(("preds", good_t, p, np.ones(20)))
        # wrong K: refused by the kernel, the normal path names the shape
        cases.append(("shape", good_t, np.ones((20, k + 1), np.float32), np.ones(20)))
    else:
        for v in (-2, k):
            p = good_p.copy()
            p[11] = v
            cases.append(("preds", good_t, p, np.ones(20)))
    r = np.ones(20)
    r[19] = np.nan
    cases.append(("sample_weight", good_t, good_p, r))
    a = MulticlassMetrics(k, backend=backend, ignore_index=-7)
    _loaded(a, good_t, good_p)
    b = MulticlassMetrics(k, backend=backend, ignore_index=-7)
    b.update(good_t, good_p, sample_weight=np.ones(20))
    _same_state(a, b)
    for what, t, p, ramp in cases:
        for m in (a, b):
            _refused_and_raised(m, what, t, p, ramp, 1.5)
    # a bad value on an ignored row is not a bad value
    t = good_t.copy()
    t[0] = -7
    p = good_p.copy()
    if scores:
        p[0, 0] = np.nan
    else:
        p[0] = 99
    r = np.ones(20)
    r[0] = np.nan
    _feed(a, b, t, p, r, 1.0)


def test_refused_inputs_and_objects(sync_tier):
    m = BinaryMetrics(backend="numba")
    t, p = np.array([0, 1], np.int8), np.array([0.1, 0.9])
    assert m._count_scaled([0, 1], p, np.ones(2), 1.0) is False  # lists: update() converts
    assert m._count_scaled(t.astype(np.uint16), p, np.ones(2), 1.0) is False  # not a label dtype
    assert m._count_scaled(t, p.astype(np.float16), np.ones(2), 1.0) is False
    assert m._count_scaled(t, p[:1], np.ones(2), 1.0) is False  # lengths differ
    assert m._count_scaled(t, p, np.ones(1), 1.0) is False  # ramp too short
    assert m._count_scaled(t[:, None], p[:, None], np.ones(2), 1.0) is False
    assert m.count == 0 and not m.weighted
    mc = MulticlassMetrics(3, backend="numba", top_k=2)
    assert mc._count_scaled(np.array([0, 1]), np.ones((2, 3)), np.ones(2), 1.0) is False
    mc = MulticlassMetrics(3, backend="numba")
    assert mc._count_scaled(np.array([0, 1]), np.array([0.5, 0.2]), np.ones(2), 1.0) is False
    ref = MulticlassMetrics(3, backend="numpy")  # the reference backend stays pure numpy
    assert ref._count_scaled(np.array([0, 1]), np.array([0, 1]), np.ones(2), 1.0) is False
    ml = MultilabelMetrics(2, backend="numba")  # no weighted hot kernel: the default
    assert ml._count_scaled(np.zeros((2, 2), np.int8), np.zeros((2, 2), np.int8), np.ones(2), 1.0) is False

    class Sub(BinaryMetrics):  # its own update() must not be bypassed
        def update(self, target, preds, sample_weight=None):
            super().update(target, preds, sample_weight=sample_weight)

    assert Sub(backend="numba")._count_scaled(t, p, np.ones(2), 1.0) is False


def test_tier_off_and_arming(monkeypatch):
    """TALLYML_HOT=0: never. Background mode: asked for at the ARM_AFTER-th call, used once
    loaded; every call before that refuses (Decayed then takes update)."""
    monkeypatch.setenv(hot.ENV_VAR, "0")
    # a dtype pair no other test here asks for
    t, p = np.array([0, 1, 2], np.uint8), np.array([2, 1, 0], np.uint8)
    m = MulticlassMetrics(3, backend="numba")
    assert all(m._count_scaled(t, p, np.ones(3), 1.0) is False for _ in range(hot.ARM_AFTER + 2))
    monkeypatch.delenv(hot.ENV_VAR)
    m = MulticlassMetrics(3, backend="numba")
    key = ("multiclass_labels_w", t.dtype, p.dtype)
    if hot.lookup(*key) is None:
        for i in range(hot.ARM_AFTER - 1):
            assert m._count_scaled(t, p, np.ones(3), 1.0) is False
        assert key not in hot._requested
    for _ in range(200):
        if m._count_scaled(t, p, np.ones(3), 1.0):
            break
        for th in list(hot._threads):
            th.join(5.0)
    for th in list(hot._threads):  # no compile left running into other tests (conftest.py)
        th.join(60.0)
    assert m._whot_ep is not None, hot.failures()
    assert m.weighted and m.count == 3


# ---------------------------------------------------------------- Decayed through the hot path
def decay_weights(n_rows, half_life):
    age = np.arange(n_rows)[::-1].astype(np.float64)
    return 0.5 ** (age / half_life)


class FakeClock:
    def __init__(self, t=0.0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("half_life", [7.0, 300.0])
def test_decayed_samples_binary_matches_sklearn(sync_tier, backend, half_life):
    rng = np.random.default_rng(int(half_life))
    d = Decayed(BinaryMetrics(ignore_index=-1, backend=backend), half_life=half_life)
    off = Decayed(BinaryMetrics(ignore_index=-1, backend=backend), half_life=half_life)
    ys, ps = [], []
    off._acc._hot_on = False  # the twin always takes update(sample_weight=...)
    for i in range(60):
        n = int(rng.choice([0, 1, 50, 400, MAX, MAX + 10]))
        y = rng.integers(-1, 2, n).astype(np.int8)
        p = rng.random(n).astype(np.float32)
        d.update(y, p)
        off.update(y, p)
        ys.append(y)
        ps.append(p)
        if i % 10 == 9:
            # the hot path leaves the same bits as the weighted update
            assert d._acc._state.tobytes() == off._acc._state.tobytes()
    assert d._acc._whot_ep is not None, hot.failures()
    y, p = np.concatenate(ys), np.concatenate(ps)
    w = decay_weights(len(y), half_life)  # ignored rows age the others
    keep = y != -1
    y, p, w = y[keep], (p[keep].astype(np.float64) >= 0.5).astype(np.int64), w[keep]
    m = d.current()
    np.testing.assert_allclose(m.confusion_matrix(), skm.confusion_matrix(y, p, labels=[0, 1], sample_weight=w),
                               rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(m.f1(), skm.f1_score(y, p, sample_weight=w), rtol=1e-12)
    assert m.count == len(y)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scores", [False, True])
def test_decayed_multiclass_matches_sklearn_in_both_units(sync_tier, backend, scores):
    rng = np.random.default_rng(31 + scores)
    k, h = 10, 40.0
    clock = FakeClock(5.0)
    ds = Decayed(MulticlassMetrics(k, labels="all", backend=backend), half_life=h)
    dt = Decayed(MulticlassMetrics(k, labels="all", backend=backend), half_life=h / 8,
                 unit="seconds", clock=clock)
    log = []
    for i in range(80):
        clock.t += float(rng.exponential(0.7))  # ~80 half-lives in seconds: rescales
        n = int(rng.choice([0, 3, 64, 1000]))
        y = rng.integers(0, k, n).astype(np.int32)
        p = (rng.random((n, k)).astype(np.float32) if scores
             else rng.integers(0, k, n).astype(np.int32))
        uw = rng.random(n) * 2 if i % 7 == 3 else None  # user weights: the normal path
        kw = {} if uw is None else {"sample_weight": uw}
        ds.update(y, p, **kw)
        dt.update(y, p, **kw)
        log.append((clock.t, y, p.argmax(axis=1) if scores else p, np.ones(n) if uw is None else uw))
        if i % 11 == 5 and n:
            bad = p.copy()
            if scores:
                bad[-1, 0] = np.nan
            else:
                bad[-1] = k
            for d in (ds, dt):
                before = d.current().state_dict()
                with pytest.raises(ValueError, match=r"preds\[%d" % (n - 1)):
                    d.update(y, bad)
                after = d.current().state_dict()
                # (a rebase may run before the failure: equal up to its rounding)
                np.testing.assert_allclose(before["state"], after["state"], rtol=1e-14)
                assert before["count"] == after["count"]
    assert ds._acc._whot_ep is not None and dt._acc._whot_ep is not None, hot.failures()
    clock.t += 1.0
    y = np.concatenate([e[1] for e in log])
    p = np.concatenate([e[2] for e in log])
    uw = np.concatenate([e[3] for e in log])
    for d, w in ((ds, decay_weights(len(y), h) * uw),
                 (dt, np.concatenate([e[3] * 0.5 ** ((clock.t - e[0]) / (h / 8)) for e in log]))):
        m = d.current()
        np.testing.assert_allclose(m.confusion_matrix(),
                                   skm.confusion_matrix(y, p, labels=range(k), sample_weight=w),
                                   rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(quiet(m.f1, average="macro"),
                                   quiet(skm.f1_score, y, p, labels=range(k), average="macro", sample_weight=w),
                                   rtol=1e-12)
        assert m.count == len(y)


def test_decayed_pickle_keeps_the_hot_path(sync_tier):
    import pickle

    rng = np.random.default_rng(3)
    d = Decayed(BinaryMetrics(backend="numba"), half_life=25.0, unit="seconds", clock=None)
    y, p = rng.integers(0, 2, 100).astype(np.int8), rng.random(100)
    d.update(y, p)
    d2 = pickle.loads(pickle.dumps(d))
    assert d2._ones is not None and len(d2._ones) == MAX
    d2.update(y[:3], p[:3])  # fewer rows than the state has cells: the weighted kernel
    assert d2._acc._whot_ep is not None
    d2.update(y, p)  # unweighted into the scratch state, added scaled by one compiled call
    assert d2._fold is not None
    assert d2.current().count == 203


@pytest.mark.parametrize("hot_mode", ["0", "sync"])
@pytest.mark.parametrize("half_life", [0.5, 1.0, 1.9])
def test_decayed_batches_of_many_half_lives(monkeypatch, hot_mode, half_life):
    """A batch spanning more than ~1000 half-lives: 2 ** (i / half_life) overflows, so the rows
    get their weights from their own exponents (before, such a batch raised: nan weights)."""
    monkeypatch.setenv(hot.ENV_VAR, hot_mode)
    rng = np.random.default_rng(int(half_life * 10))
    d = Decayed(MulticlassMetrics(4, labels="all", backend="numba"), half_life=half_life)
    ys, ps = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings either
        for n in (5, MAX, 3, MAX + 7, 1500, 0, 40):
            y, p = rng.integers(0, 4, n), rng.integers(0, 4, n)
            d.update(y, p)
            ys.append(y)
            ps.append(p)
            y, p = np.concatenate(ys), np.concatenate(ps)
            w = decay_weights(len(y), half_life)  # old rows: 0 (underflow), as in the state
            m = d.current()
            if len(y):
                np.testing.assert_allclose(m.confusion_matrix(),
                                           skm.confusion_matrix(y, p, labels=range(4), sample_weight=w),
                                           rtol=1e-12, atol=1e-300)
                assert m.count == len(y)
    assert (d._acc._whot_ep is not None) == (hot_mode == "sync"), hot.failures()


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_decayed_seconds_fold_equals_the_numpy_fold(monkeypatch, kind):
    """unit="seconds": a batch at least as large as the state is counted unweighted into the
    scratch state and added scaled by the hot tier's ``scaled_fold``; it must give the bits of
    the numpy formulation it replaces (``acc += counts * scale``), which the tier-off twin
    uses, through rescales, weighted batches and batches below the state's size between."""
    rng = np.random.default_rng(77)
    clock = FakeClock(1.0)

    def make():
        t = (BinaryMetrics(backend="numba") if kind == "binary"
             else MulticlassMetrics(5, labels="all", backend="numba"))
        return Decayed(t, half_life=2.0, unit="seconds", clock=clock)

    monkeypatch.setenv(hot.ENV_VAR, "sync")
    fast = make()
    monkeypatch.setenv(hot.ENV_VAR, "0")
    slow = make()  # its objects keep the tier off (read when they are made)
    monkeypatch.setenv(hot.ENV_VAR, "sync")
    for i in range(120):
        clock.t += float(rng.exponential(0.4))
        n = int(rng.choice([2, 30, 500]))
        k = 2 if kind == "binary" else 5
        y = rng.integers(0, k, n).astype(np.int8 if kind == "binary" else np.int32)
        p = (rng.random(n).astype(np.float32) if kind == "binary"
             else rng.integers(0, k, n).astype(np.int32))
        w = rng.random(n) if i % 11 == 5 else None
        for d in (fast, slow):
            d.update(y, p) if w is None else d.update(y, p, sample_weight=w)
        a, b = fast.current(), slow.current()
        np.testing.assert_array_equal(a.confusion_matrix(), b.confusion_matrix())
        assert a.count == b.count
    assert fast._fold is not None and slow._fold is None


# ---------------------------------------------------------------- the front of unit="seconds"
class _Stamp:
    """A clock that returns the time it is set to."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


@pytest.mark.skipif(not (hot.KERNEL_CLOCK and _backends.native_available()),
                    reason="the front needs the native backend and the kernels' clock (64-bit Linux)")
@pytest.mark.parametrize("kind", ["binary", "multiclass", "scores"])
def test_seconds_front_equals_the_general_path_bit_for_bit(kind, sync_tier):
    """``Decayed(unit="seconds")`` on ``time.monotonic`` has a front (windows.py,
    ``Decayed._make_front``) whose ``*_decay`` kernel stamps a batch with the clock, counts it
    and adds it scaled in one call. Replayed on a twin with a clock that returns the same
    stamps, the general path must give the same bits: running state, sample count, rows, base;
    bad batches change nothing; half-lives short enough to rebase now and then."""
    rng = np.random.default_rng(_seed("front", kind))
    if kind == "binary":
        make = lambda: BinaryMetrics(threshold=0.4, backend="native")  # noqa: E731
        batch = lambda n: ((rng.random(n) < 0.4).astype(np.int8),  # noqa: E731
                           rng.random(n, dtype=np.float32))
        name = "binary_scores_decay"
    else:
        make = lambda: MulticlassMetrics(4, labels="all", backend="native")  # noqa: E731
        if kind == "multiclass":
            batch = lambda n: (rng.integers(0, 4, n).astype(np.int32),  # noqa: E731
                               rng.integers(0, 4, n).astype(np.int32))
            name = "multiclass_labels_decay"
        else:
            batch = lambda n: (rng.integers(0, 4, n).astype(np.int32),  # noqa: E731
                               rng.random((n, 4), dtype=np.float32))
            name = "multiclass_scores_decay"
    t0, p0 = batch(8)
    assert hot.warm(name, t0.dtype, p0.dtype) is not None, hot.failures()
    d = Decayed(make(), half_life=0.001, unit="seconds")
    assert d._front is not None
    twin_clock = _Stamp()
    twin = Decayed(make(), half_life=0.001, unit="seconds", clock=twin_clock)
    assert twin._front is None
    stamps = []  # the general path's clock readings

    def clock():
        stamps.append(time.monotonic())
        return stamps[-1]

    d._clock = clock
    trips = []
    general = d._front._ring_slow
    d._front._ring_slow = lambda *a: (trips.append(1), general(*a))[1]
    f = d._dbuf.view(np.float64)
    kernel_batches = rebases = 0
    for step in range(300):
        n = int(rng.integers(1, 200))
        t, p = batch(n)
        if step % 37 == 5:  # a bad value: nothing changes, the general path raises
            bad = t.copy()
            bad[int(rng.integers(0, n))] = 9
            with d._lock:
                d._pull_front()
                before = (d._acc._state.copy(), d._acc._count, d._pos, d._base)
            with pytest.raises(ValueError):
                d.update(bad, p)
            with d._lock:
                d._pull_front()
                assert d._acc._state.tobytes() == before[0].tobytes()
                assert (d._acc._count, d._pos, d._base) == before[1:]
        stamps.clear()
        trips.clear()
        last, base = f[hot.DECAY_T], d._base
        d.update(t, p)
        if d._base != base:
            rebases += 1
        if trips:  # the general path: it read the clock once
            assert len(stamps) == 1
            twin_clock.t = stamps[0]
        else:
            assert f[hot.DECAY_T] != last  # the kernel stamped it
            twin_clock.t = f[hot.DECAY_T]
            kernel_batches += 1
        twin.update(t, p)
        if step % 10 == 0:
            time.sleep(0.003)
        with d._lock:
            d._pull_front()
            assert d._acc._state.tobytes() == twin._acc._state.tobytes(), step
            assert (d._acc._count, d._pos, d._base) == (twin._acc._count, twin._pos, twin._base)
    assert kernel_batches > 150, kernel_batches
    assert rebases, "no rebase happened: make the half-life shorter"
    # and what users read: current() against scikit-learn is the general tests' job; here the
    # two views' reads agree
    twin_clock.t = time.monotonic()
    d._clock = twin_clock
    np.testing.assert_array_equal(d.current().confusion_matrix(), twin.current().confusion_matrix())


@pytest.mark.skipif(not (hot.KERNEL_CLOCK and _backends.native_available()),
                    reason="the front needs the native backend and the kernels' clock (64-bit Linux)")
def test_seconds_front_pickles_copies_and_resets(sync_tier):
    """A pickled or deep-copied ``Decayed`` with a front gets a vector of its own (the copy's
    running state must not alias the original's), reads the same, counts on its own; reset
    empties the vector's state too."""
    import copy
    import pickle

    rng = np.random.default_rng(_seed("front-copies"))
    t0 = rng.integers(0, 2, 8).astype(np.int8)
    p0 = rng.random(8, dtype=np.float32)
    assert hot.warm("binary_scores_decay", t0.dtype, p0.dtype) is not None, hot.failures()
    d = Decayed(BinaryMetrics(backend="native"), half_life=30.0, unit="seconds")
    batches = [((rng.random(300) < 0.4).astype(np.int8), rng.random(300, dtype=np.float32))
               for _ in range(40)]
    for t, p in batches:
        d.update(t, p)
    assert d._front._hot_ep is not None and d._dbuf[hot.DECAY_ON]
    copies = [pickle.loads(pickle.dumps(d)), copy.deepcopy(d)]
    stamp = _Stamp()
    stamp.t = time.monotonic() + 1.0

    def read(obj):
        with obj._lock:
            obj._pull_front()
            clock, obj._clock = obj._clock, stamp
        try:
            return obj.current().confusion_matrix(), obj.current().count
        finally:
            obj._clock = clock

    before = read(d)
    for c in copies:
        assert c._front is not None and c._dbuf is not d._dbuf
        assert not np.shares_memory(c._acc._state, d._acc._state)
        got = read(c)
        np.testing.assert_array_equal(got[0], before[0])
        assert got[1] == before[1] == 40 * 300
        for t, p in batches[:5]:
            c.update(t, p)
        assert read(c)[1] == 45 * 300
    after = read(d)
    np.testing.assert_array_equal(after[0], before[0])
    assert after[1] == before[1]
    d.reset()
    assert read(d)[1] == 0 and not d._dbuf[hot.DECAY_ON]
    for t, p in batches[:3]:
        d.update(t, p)
    assert read(d)[1] == 3 * 300


@pytest.mark.skipif(not (hot.KERNEL_CLOCK and _backends.native_available()),
                    reason="the front needs the native backend and the kernels' clock (64-bit Linux)")
def test_seconds_front_from_many_threads(sync_tier):
    """Eight threads updating one ``Decayed(unit="seconds")`` through its front (kernel and
    general path mixed: big and small batches): every sample is counted once; with a half-life
    far longer than the run the decayed counts stay within rounding of the plain counts."""
    from tallyml._bench.timing import run_threads

    rng = np.random.default_rng(_seed("front-threads"))
    t0 = rng.integers(0, 2, 8).astype(np.int8)
    p0 = rng.random(8, dtype=np.float32)
    assert hot.warm("binary_scores_decay", t0.dtype, p0.dtype) is not None, hot.failures()
    d = Decayed(BinaryMetrics(backend="native"), half_life=1e9, unit="seconds")
    plain = BinaryMetrics(backend="native")
    work = [[((rng.random(n) < 0.4).astype(np.int8), rng.random(n, dtype=np.float32))
             for n in rng.integers(1, 400, 60)] for _ in range(8)]
    for batches in work:
        for t, p in batches:
            plain.update(t, p)

    def run(batches):
        for t, p in batches:
            d.update(t, p)

    run_threads([lambda b=b: run(b) for b in work])  # re-raises a thread's error
    assert d._front._hot_ep is not None  # the kernel took part
    got = d.current()
    assert got.count == plain.count
    np.testing.assert_allclose(got.confusion_matrix(), plain.confusion_matrix(), rtol=1e-6)


@pytest.mark.skipif(not _backends.native_available(), reason="native library not built")
@pytest.mark.parametrize("kind", ["binary", "labels", "multiclass", "scores"])
@pytest.mark.parametrize("half_life", [700.0, 0.2])
def test_samples_front_equals_the_general_path_bit_for_bit(kind, half_life, sync_tier):
    """``Decayed(unit="samples")`` has a front (windows.py, ``Decayed._make_front``) whose
    ``*_rowdecay`` kernel counts a batch with its decay weights into the running state and seen
    mask in one call. Against a twin whose front is switched off (every batch on the general
    path) the state, seen mask, sample count, rows and base must be the same bits after every
    batch: empty batches, bad values, user weights, rebases (every 64 half-lives), and with a
    half-life of 0.2 rows batches too long for one weight ramp."""
    rng = np.random.default_rng(_seed("rows-front", kind, half_life))
    if kind in ("binary", "labels"):
        make = lambda: BinaryMetrics(threshold=0.4, backend="native")  # noqa: E731
        if kind == "binary":
            batch = lambda n: ((rng.random(n) < 0.4).astype(np.int8),  # noqa: E731
                               rng.random(n, dtype=np.float32))
        else:
            batch = lambda n: (rng.integers(0, 2, n).astype(np.int64),  # noqa: E731
                               rng.integers(0, 2, n).astype(np.int64))
    else:
        make = lambda: MulticlassMetrics(4, labels="all", backend="native")  # noqa: E731
        if kind == "multiclass":
            batch = lambda n: (rng.integers(0, 4, n).astype(np.int32),  # noqa: E731
                               rng.integers(0, 4, n).astype(np.int32))
        else:
            batch = lambda n: (rng.integers(0, 4, n).astype(np.int32),  # noqa: E731
                               rng.random((n, 4), dtype=np.float32))
    d = Decayed(make(), half_life=half_life)
    twin = Decayed(make(), half_life=half_life)
    assert d._front is not None and twin._front is not None
    twin._front, twin.update = None, twin._update_general  # the general path only
    trips = []
    general = d._front._ring_slow
    d._front._ring_slow = lambda *a: (trips.append(1), general(*a))[1]
    kernel_batches = 0
    for step in range(300):
        n = 0 if step % 41 == 7 else int(rng.integers(1, 300))
        t, p = batch(n)
        if step % 37 == 5 and n:  # a bad value: nothing changes, both raise
            bad = t.copy()
            bad[int(rng.integers(0, n))] = 9
            for obj in (d, twin):
                with pytest.raises(ValueError):
                    obj.update(bad, p)
        if step % 29 == 3:  # user weights: the general path for both
            w = rng.random(n)
            d.update(t, p, sample_weight=w)
            twin.update(t, p, sample_weight=w)
        else:
            trips.clear()
            d.update(t, p)
            twin.update(t, p)
            kernel_batches += not trips
        with d._lock:
            d._pull_front()
            a, b = d._acc, twin._acc
            assert a._state.dtype == b._state.dtype
            assert a._state.tobytes() == b._state.tobytes(), step
            np.testing.assert_array_equal(a._seen, b._seen)
            assert (a._count, d._pos, d._base) == (b._count, twin._pos, twin._base), step
    assert d._front._hot_ep is not None
    if half_life > 1:
        assert kernel_batches > 200, kernel_batches


@pytest.mark.skipif(not _backends.native_available(), reason="native library not built")
def test_samples_front_pickles_copies_and_resets(sync_tier):
    """A pickled or deep-copied ``Decayed(unit="samples")`` with a front gets a vector of its
    own (state and seen mask not shared), reads the same, counts on its own; reset empties."""
    import copy
    import pickle

    rng = np.random.default_rng(_seed("rows-front-copies"))
    d = Decayed(MulticlassMetrics(5, labels="all", backend="native"), half_life=2000.0)
    batches = [(rng.integers(0, 5, 300).astype(np.int32), rng.integers(0, 4, 300).astype(np.int32))
               for _ in range(60)]
    for t, p in batches:
        d.update(t, p)
    assert d._front._hot_ep is not None and d._dbuf[hot.DECAY_ON]
    before = d.current()
    copies = [pickle.loads(pickle.dumps(d)), copy.deepcopy(d)]
    for c in copies:
        assert c._front is not None and c._dbuf is not d._dbuf
        assert not np.shares_memory(c._acc._state, d._acc._state)
        assert not np.shares_memory(c._acc._seen, d._acc._seen)
        got = c.current()
        assert got.confusion_matrix().tobytes() == before.confusion_matrix().tobytes()
        assert got.count == before.count == 60 * 300
        for t, p in batches[:5]:
            c.update(t, p)
        assert c.current().count == 65 * 300
    after = d.current()
    assert after.confusion_matrix().tobytes() == before.confusion_matrix().tobytes()
    # the seen mask: label 4 never predicted, but seen as a target
    np.testing.assert_array_equal(d._acc._seen, [1, 1, 1, 1, 1])
    d.reset()
    assert d.current().count == 0 and not d._dbuf[hot.DECAY_ON]
    for t, p in batches[:3]:
        d.update(t, p)
    assert d.current().count == 3 * 300
