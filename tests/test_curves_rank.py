"""The core's exact sweeps (radix sort + one pass, csrc/src/rank.cpp) against scikit-learn 1.9 and
the numba route, on adversarial scores: all equal, -0.0 beside 0.0, subnormals, +-inf, float64
keys that differ only in their lowest bits, N = 0/1/2, weights, both dtypes, thread counts."""
import warnings

import numpy as np
import pytest
import sklearn.metrics as skm

from tallyml import _native
from tallyml.curves import _sweep
from tallyml.curves import exact as ex

pytestmark = pytest.mark.skipif(not _native.available(), reason="native core not built")

RTOL = 1e-12
DTYPES = (np.float32, np.float64)


def sk(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def native_auc(y, s, threads=0):
    return _call("auc", y, s, threads)


def native_ap(y, s, threads=0):
    return _call("ap", y, s, threads)


def _call(name, y, s, threads):
    y = np.ascontiguousarray(y, dtype=bool).view(np.uint8)
    s = np.ascontiguousarray(s)
    out = np.zeros(1)
    n_pos = np.zeros(1, np.int64)
    fn = _native.function(f"tm_curves_{name}_{'f32' if s.dtype == np.float32 else 'f64'}")
    rc = fn(_native.address(y), _native.address(s), s.shape[0], _native.address(out),
            _native.address(n_pos), threads)
    if rc:
        _native.raise_for(rc)
    return float(out[0]), int(n_pos[0])


def native_sweep(y, s, w=None, threads=0):
    y = np.ascontiguousarray(y, dtype=bool).view(np.uint8)
    s = np.ascontiguousarray(s)
    n = s.shape[0]
    out = np.full((3, max(n, 1)), -7.0)
    m = np.zeros(1, np.int64)
    fn = _native.function(f"tm_curves_sweep_{'f32' if s.dtype == np.float32 else 'f64'}")
    a = _native.address
    rc = fn(a(y), a(s), None if w is None else a(w), n, a(out[0]), a(out[1]), a(out[2]), a(m),
            threads)
    if rc:
        _native.raise_for(rc)
    g = int(m[0])
    return out[0, :g], out[1, :g], out[2, :g]


def sk_sweep(y, s, w=None):
    """sklearn's cumulative (fps, tps, thresholds) at each distinct score."""
    _, fps, _, tps, thr = sk(skm.confusion_matrix_at_thresholds, y, s, pos_label=1,
                             sample_weight=w)
    return fps, tps, thr


def adversarial(dtype, rng, n=4000):
    """(name, y, scores) cases that stress the float -> key mapping and the tie handling."""
    f = np.dtype(dtype).type
    tiny = np.finfo(dtype).smallest_subnormal
    y = rng.integers(0, 2, n).astype(bool)
    y[:2] = [True, False]
    yield "all-equal", y, np.full(n, f(0.25), dtype)
    yield "zeros-signed", y, np.where(rng.random(n) < 0.5, f(-0.0), f(0.0)).astype(dtype)
    mixed = rng.choice(np.array([-0.0, 0.0, tiny, -tiny, 2 * tiny, 1.0, -1.0], dtype), n)
    yield "zeros-subnormals", y, mixed
    sub = (rng.integers(-50, 50, n) * tiny).astype(dtype)
    yield "subnormals", y, sub
    base = np.array(0.3, dtype)
    ulps = np.nextafter(base, np.array(1, dtype)) - base
    yield "low-bits", y, (base + rng.integers(0, 40, n) * ulps).astype(dtype)
    yield "ties-2dp", y, np.round(rng.random(n), 2).astype(dtype)
    e = 30 if dtype == np.float64 else 15
    yield "wide-range", y, (rng.standard_normal(n) * 10.0 ** rng.integers(-e, e, n)).astype(dtype)
    yield "negative", y, -rng.random(n).astype(dtype)
    big = np.finfo(dtype).max
    yield "extremes", y, rng.choice(np.array([-big, big, 0.0, 1e-3], dtype), n)


@pytest.mark.parametrize("dtype", DTYPES)
def test_auc_ap_adversarial_equal_sklearn(dtype):
    rng = np.random.default_rng(11)
    for name, y, s in adversarial(dtype, rng):
        auc, n_pos = native_auc(y, s)
        assert n_pos == int(y.sum()), name
        np.testing.assert_allclose(auc, sk(skm.roc_auc_score, y, s), rtol=RTOL, err_msg=name)
        ap, _ = native_ap(y, s)
        np.testing.assert_allclose(ap, sk(skm.average_precision_score, y, s), rtol=RTOL,
                                   err_msg=name)
        # and through the public functions
        np.testing.assert_allclose(ex.roc_auc_score(y, s), sk(skm.roc_auc_score, y, s),
                                   rtol=RTOL, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_sweep_adversarial_equal_sklearn(dtype, weighted):
    rng = np.random.default_rng(12)
    for name, y, s in adversarial(dtype, rng, n=3000):
        w = rng.random(s.shape[0]) * 3 if weighted else None
        got = native_sweep(y, s, w)
        want = sk_sweep(y, s, w)
        for g, e, what in zip(got, want, ("fps", "tps", "thresholds")):
            assert g.shape == e.shape, (name, what)
            np.testing.assert_allclose(g, e, rtol=RTOL, atol=1e-300, err_msg=f"{name} {what}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_infinities_match_sklearn_sweep(dtype):
    """+-inf sort at the ends (the public functions reject them, the core orders them)."""
    rng = np.random.default_rng(3)
    n = 500
    y = rng.integers(0, 2, n).astype(bool)
    s = rng.random(n).astype(dtype)
    s[rng.random(n) < 0.1] = np.inf
    s[rng.random(n) < 0.1] = -np.inf
    # sklearn rejects inf; the same quantity by a stable sort, descending
    order = np.argsort(-s.astype(np.float64), kind="stable")
    ss, yy = s[order], y[order]
    last = np.r_[np.nonzero(ss[1:] != ss[:-1])[0], n - 1]
    tps = np.cumsum(yy)[last].astype(float)
    fps = (last + 1) - tps
    for g, e in zip(native_sweep(y, s), (fps, tps, ss[last].astype(float))):
        np.testing.assert_array_equal(g, e)
    fpr = np.r_[0, fps] / fps[-1]
    tpr = np.r_[0, tps] / tps[-1]
    np.testing.assert_allclose(native_auc(y, s)[0], np.trapezoid(tpr, fpr), rtol=RTOL)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tiny_n(dtype):
    e = np.zeros(0, dtype)
    auc, n_pos = native_auc(np.zeros(0, bool), e)
    assert np.isnan(auc) and n_pos == 0
    assert native_ap(np.zeros(0, bool), e) == (0.0, 0)
    assert all(a.shape == (0,) for a in native_sweep(np.zeros(0, bool), e))
    one = np.array([0.5], dtype)
    assert np.isnan(native_auc(np.array([True]), one)[0])
    fps, tps, thr = native_sweep(np.array([True]), one)
    assert (fps.tolist(), tps.tolist(), thr.tolist()) == ([0.0], [1.0], [0.5])
    for s in ([0.2, 0.7], [0.7, 0.2], [0.4, 0.4]):
        y = np.array([False, True])
        s = np.array(s, dtype)
        assert native_auc(y, s)[0] == sk(skm.roc_auc_score, y, s)
        assert native_ap(y, s)[0] == sk(skm.average_precision_score, y, s)


def test_one_class():
    s = np.linspace(0, 1, 10)
    auc, n_pos = native_auc(np.ones(10, bool), s)
    assert np.isnan(auc) and n_pos == 10
    assert native_ap(np.zeros(10, bool), s) == (0.0, 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_rejected(dtype):
    s = np.array([0.1, np.nan, 0.3, np.nan], dtype)
    y = np.array([0, 1, 0, 1], bool)
    for name in ("auc", "ap"):
        with pytest.raises(ValueError, match=r"y_score\[1\] is NaN"):
            _call(name, y, s, 0)
    with pytest.raises(ValueError, match=r"y_score\[1\] is NaN"):
        native_sweep(y, s)


def test_bad_arguments():
    fn = _native.function("tm_curves_auc_f64")
    out = np.zeros(1)
    cnt = np.zeros(1, np.int64)
    s = np.zeros(3)
    y = np.zeros(3, np.uint8)
    a = _native.address
    assert fn(None, a(s), 3, a(out), a(cnt), 0) == _native.ERR_ARGUMENT
    assert "y_pos" in _native.last_error()
    assert fn(a(y), a(s), -1, a(out), a(cnt), 0) == _native.ERR_ARGUMENT
    assert "n must be >= 0" in _native.last_error()
    assert fn(a(y), a(s), 3, a(out), a(cnt), -2) == _native.ERR_ARGUMENT


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_identical(dtype):
    """Chunked parallel scatter gives the single-thread order, so every result is bitwise equal."""
    rng = np.random.default_rng(5)
    n = 2_300_000  # above two chunks of the core's minimum per-thread work
    y = rng.random(n) < 0.3
    s = np.round(rng.random(n), 3).astype(dtype)
    s[::7] = rng.random(s[::7].shape[0])
    w = rng.random(n)
    one = native_auc(y, s, 1), native_ap(y, s, 1), native_sweep(y, s, w, 1)
    two = native_auc(y, s, 2), native_ap(y, s, 2), native_sweep(y, s, w, 2)
    assert one[0] == two[0] and one[1] == two[1]
    for a, b in zip(one[2], two[2]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(one[0][0], skm.roc_auc_score(y, s), rtol=RTOL)


@pytest.mark.parametrize("dtype", DTYPES)
def test_native_and_numpy_routes_agree(dtype, monkeypatch):
    """Weighted float64 sweeps go through the core; without it, through a stable argsort."""
    rng = np.random.default_rng(9)
    n = 5000
    y = rng.random(n) < 0.5
    s = np.round(rng.random(n), 2).astype(dtype)
    w = rng.random(n)
    w[rng.random(n) < 0.1] = 0.0
    got = (ex.roc_auc_score(y, s), ex.average_precision_score(y, s),
           ex.roc_auc_score(y, s, sample_weight=w), ex.roc_curve(y, s, sample_weight=w))
    monkeypatch.setattr(_sweep, "use_native", False)
    want = (ex.roc_auc_score(y, s), ex.average_precision_score(y, s),
            ex.roc_auc_score(y, s, sample_weight=w), ex.roc_curve(y, s, sample_weight=w))
    for g, e in zip(got[:3], want[:3]):
        np.testing.assert_allclose(g, e, rtol=RTOL)
    for g, e in zip(got[3], want[3]):
        np.testing.assert_allclose(g, e, rtol=RTOL)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ties", [False, True])
def test_two_thread_halves_equal_sklearn(dtype, ties, monkeypatch):
    """From PARALLEL_MIN rows the class sorts and the AUC / AP merges run in two halves cut at
    a distinct score: equal to sklearn, and the AUC equal to the one-pass result bit for bit."""
    rng = np.random.default_rng(21)
    n = _sweep.PARALLEL_MIN + 12345
    y = rng.random(n) < 0.35
    s = rng.random(n)
    if ties:
        s = np.round(s, 2)
        s[: n // 3] = s[0]  # one huge tie group, which the cut value may land in
    s = s.astype(dtype)
    auc, ap = ex.roc_auc_score(y, s), ex.average_precision_score(y, s)
    np.testing.assert_allclose(auc, sk(skm.roc_auc_score, y, s), rtol=RTOL)
    np.testing.assert_allclose(ap, sk(skm.average_precision_score, y, s), rtol=RTOL)
    monkeypatch.setattr(_sweep, "PARALLEL_MIN", 1 << 62)
    assert ex.roc_auc_score(y, s) == auc
    np.testing.assert_allclose(ex.average_precision_score(y, s), ap, rtol=1e-14)
