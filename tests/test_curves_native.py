"""C ABI of the curve kernels (tm_curves_binary_*): agreement with the numba kernel for every
dtype pair, validation messages, and argument errors at the boundary."""
import numpy as np
import pytest

from tallyml import _native
from tallyml.curves import BinaryCurves
from tallyml.curves._backend import _layout_args
from tallyml.curves._layout import DEFAULT_LAYOUT, make_layout

pytestmark = pytest.mark.skipif(not _native.available(), reason="native core not built")


@pytest.mark.parametrize("tdtype", [np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64])
@pytest.mark.parametrize("sdtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_native_equals_numba(tdtype, sdtype, weighted):
    rng = np.random.default_rng(0)
    n = 20_000
    t = rng.integers(0, 2, n).astype(tdtype)
    s = rng.random(n).astype(sdtype)
    s[:3] = [0.0, 1.0, 0.5]
    w = rng.random(n) if weighted else None
    for lay, logits in (((None, "dyadic"), False), ((1000, "uniform"), False),
                        ((None, "dyadic"), True)):
        x = (s - 0.5) * 40 if logits else s
        a = BinaryCurves(lay[0], layout=lay[1], logits=logits, backend="native")
        b = BinaryCurves(lay[0], layout=lay[1], logits=logits, backend="numba")
        a.update(t, x, w)
        b.update(t, x, w)
        np.testing.assert_array_equal(a.hist, b.hist)
        np.testing.assert_allclose(a.psum, b.psum, rtol=1e-12)
        np.testing.assert_allclose(a.sums, b.sums, rtol=1e-12)


@pytest.mark.parametrize("n", [1, 3, 4, 5, 63, 64, 65, 4095, 4096, 4097, 12_345])
def test_unrolled_default_path_equals_numba(n):
    # unweighted, dyadic, no ignore_index: the four-chain kernel; n around the unroll width, the
    # every-64-rows renormalisation and the 4096-row screening blocks
    rng = np.random.default_rng(n)
    t = rng.integers(0, 2, n).astype(np.int8)
    s = rng.random(n).astype(np.float32)
    s[: min(n, 3)] = [0.0, 1.0, 0.5][: min(n, 3)]
    a, b = BinaryCurves(backend="native"), BinaryCurves(backend="numba")
    a.update(t, s)
    b.update(t, s)
    np.testing.assert_array_equal(a.hist, b.hist)
    np.testing.assert_allclose(a.psum, b.psum, rtol=1e-12)
    np.testing.assert_allclose(a.sums, b.sums, rtol=1e-12)


@pytest.mark.parametrize("row", [0, 4095, 4096, 9000, 12_344])
@pytest.mark.parametrize("kind", ["target", "nan", "range", "weight", "ignored_nan"])
def test_screened_blocks_name_the_first_bad_row(row, kind):
    rng = np.random.default_rng(row)
    n = 12_345
    t = rng.integers(0, 2, n).astype(np.int64)
    s = rng.random(n)
    w = rng.random(n) if kind == "weight" else None
    c = BinaryCurves(backend="native", ignore_index=-1 if kind == "ignored_nan" else None)
    if kind == "target":
        t[-1] = 5  # a later bad row: the first one is named
        t[row] = 3
        match = rf"^target\[{row}\] = 3 is outside"
    elif kind == "nan":
        s[row] = np.nan
        match = rf"^preds\[{row}\] = nan is not finite$"
    elif kind == "range":
        s[row] = -0.25
        match = rf"^preds\[{row}\] = -0.25 is outside \[0, 1\]"
    elif kind == "weight":
        w[row] = -2.0
        match = rf"^sample_weight\[{row}\] = -2.0"
    else:  # an ignored row is not checked: counted as if absent
        t[row], s[row] = -1, np.nan
        c.update(t, s)
        keep = t != -1
        ref = BinaryCurves(backend="numba")
        ref.update(t[keep], s[keep])
        np.testing.assert_array_equal(c.hist, ref.hist)
        np.testing.assert_allclose(c.sums, ref.sums, rtol=1e-12)
        return
    with pytest.raises(ValueError, match=match):
        c.update(t, s, w)
    assert not c.hist.any() and not c.psum.any() and not c.sums.any() and c.count == 0


def test_native_messages_match_contract():
    c = BinaryCurves(backend="native")
    with pytest.raises(ValueError, match=r"^target\[1\] = 3 is outside \[0, 2\)$"):
        c.update(np.array([0, 3]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match=r"^preds\[0\] = nan is not finite$"):
        c.update(np.array([0, 1]), np.array([np.nan, 0.2]))
    with pytest.raises(ValueError, match=r"^preds\[1\] = 1.5 is outside \[0, 1\]"):
        c.update(np.array([0, 1]), np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match=r"^sample_weight\[0\] = -1.0 is not a finite"):
        c.update(np.array([0, 1]), np.array([0.5, 0.5]), np.array([-1.0, 1.0]))
    assert not c.hist.any() and c.hist.dtype == np.int64


def test_abi_rejects_bad_arguments():
    fn = _native.function("tm_curves_binary_i64_f64")
    t = np.zeros(4, np.int64)
    s = np.zeros(4)
    hist = np.zeros((DEFAULT_LAYOUT.num_bins, 2), np.int64)
    psum = np.zeros(DEFAULT_LAYOUT.num_bins)
    sums = np.zeros(2)
    lay = np.array(_layout_args(DEFAULT_LAYOUT), np.int64)
    a = _native.address
    rc = fn(a(t), a(s), 4, 0, 0, a(lay), 0, 1e-16, a(hist), a(psum), a(sums),
            DEFAULT_LAYOUT.num_bins - 1, 0)
    assert rc == _native.ERR_ARGUMENT and "does not describe" in _native.last_error()
    rc = fn(a(t), None, 4, 0, 0, a(lay), 0, 1e-16, a(hist), a(psum), a(sums),
            DEFAULT_LAYOUT.num_bins, 0)
    assert rc == _native.ERR_ARGUMENT and "preds is NULL" in _native.last_error()
    rc = fn(a(t), a(s), -1, 0, 0, a(lay), 0, 1e-16, a(hist), a(psum), a(sums),
            DEFAULT_LAYOUT.num_bins, 0)
    assert rc == _native.ERR_ARGUMENT
    uni = make_layout(10, "uniform")
    rc = fn(a(t), a(s), 4, 0, 0, a(np.array(_layout_args(uni), np.int64)), 0, 1e-16, a(hist),
            a(psum), a(sums), DEFAULT_LAYOUT.num_bins, 0)
    assert rc == _native.ERR_ARGUMENT
    assert not hist.any() and not psum.any() and not sums.any()


def test_threads_give_the_same_counts():
    rng = np.random.default_rng(5)
    n = 1_000_000
    t = rng.integers(0, 2, n).astype(np.int8)
    s = rng.random(n).astype(np.float32)
    lay = np.array(_layout_args(DEFAULT_LAYOUT), np.int64)
    nb = DEFAULT_LAYOUT.num_bins
    fn = _native.function("tm_curves_binary_i8_f32")
    a = _native.address
    out = []
    for threads in (1, 2, 4):
        hist, psum, sums = np.zeros((nb, 2), np.int64), np.zeros(nb), np.zeros(2)
        rc = fn(a(t), a(s), n, 0, 0, a(lay), 0, 1e-7, a(hist), a(psum), a(sums), nb, threads)
        assert rc == 0
        out.append((hist, psum, sums))
    for hist, psum, sums in out[1:]:
        np.testing.assert_array_equal(hist, out[0][0])
        np.testing.assert_allclose(psum, out[0][1], rtol=1e-12)
        np.testing.assert_allclose(sums, out[0][2], rtol=1e-12)
    # a bad value in a later chunk is still the first bad row reported, and nothing is counted
    s[700_000] = np.nan
    s[900_000] = 2.0
    hist = np.zeros((nb, 2), np.int64)
    rc = fn(a(t), a(s), n, 0, 0, a(lay), 0, 1e-7, a(hist), a(psum), a(sums), nb, 4)
    assert rc == _native.ERR_VALUE and _native.last_error() == "preds[700000] = nan is not finite"
    assert not hist.any()
