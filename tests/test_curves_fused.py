"""The fused binary-curves path of the C++ core (float32 probabilities, 1-byte labels, dyadic bins,
unweighted, no ignore_index): SIMD screen and bin index per block, then the counts. Large batches
screen each block right before counting it and put the saved state back when a later block fails;
small ones are screened first. Compared with the numpy reference and the numba kernel (integer
counts exactly), with sklearn (Brier score, log loss), across block boundaries, bad rows, SIMD
levels and threads."""
import warnings

import numpy as np
import pytest
import sklearn.metrics as skm

from tallyml import _native
from tallyml.curves import BinaryCurves
from tallyml.curves._backend import _layout_args
from tallyml.curves._layout import DEFAULT_LAYOUT, make_layout

pytestmark = pytest.mark.skipif(not _native.available(), reason="native core not built")

BLOCK = 512  # rows per block of the fused pass (curves.hpp fused_binary_f32)
FUSED_MIN = 1 << 16  # batches from this many rows and 16 per bin: blocks screened one by one
SMALL = make_layout(49, "dyadic")  # one bin per octave
DEFAULT_FUSED = 16 * DEFAULT_LAYOUT.num_bins  # the default layout's threshold (abi.cpp)
assert SMALL.num_bins == 49 and DEFAULT_FUSED > FUSED_MIN


def _scores(rng, n, layout):
    """float32 scores in [0, 1] with the values a bit trick can get wrong: 0, -0.0, 1, 0.5 and
    its neighbours, bin edges and their neighbours, the underflow bin (denormals included), the
    float32 grid next to 1."""
    s = rng.random(n, dtype=np.float32)
    edges = layout.edges().astype(np.float32)
    special = np.concatenate([
        np.array([0.0, -0.0, 1.0, 0.5, 1e-45, 2.0 ** -24, 2.0 ** -30, 2.0 ** -126], np.float32),
        np.nextafter(np.float32(0.5), np.float32([0, 1])),
        np.nextafter(np.float32(1.0), np.float32(0)) - np.arange(4, dtype=np.float32) * 2 ** -24,
        edges, np.nextafter(edges, np.float32(0)), np.nextafter(edges, np.float32(1)),
        (rng.random(64) * 1e-38).astype(np.float32),  # subnormal and tiny normal floats
    ])
    special = special[(special >= 0) & (special <= 1)]
    pick = rng.random(n) < 0.3
    s[pick] = rng.choice(special, int(pick.sum()))
    return s


def _labels(rng, n, dtype):
    return (rng.random(n) < 0.4).astype(dtype)


def _curves(layout, backend):
    return BinaryCurves(layout.num_bins, backend=backend)


def _assert_same(a, b):
    np.testing.assert_array_equal(a.hist, b.hist)
    np.testing.assert_allclose(a.psum, b.psum, rtol=1e-12, atol=0)
    np.testing.assert_allclose(a.sums, b.sums, rtol=1e-12, atol=0)
    assert a.count == b.count


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 5, 20_000,
                               FUSED_MIN - 1, FUSED_MIN + 13])
@pytest.mark.parametrize("tdtype", [np.int8, np.uint8, np.bool_])
def test_fused_equals_reference_small_layout(n, tdtype):
    rng = np.random.default_rng(n)
    ours, ref, nb = (_curves(SMALL, b) for b in ("native", "numpy", "numba"))
    for _ in range(2):  # the second batch adds into a non-empty state
        t, s = _labels(rng, n, tdtype), _scores(rng, n, SMALL)
        for c in (ours, ref, nb):
            c.update(t, s)
    _assert_same(ours, ref)
    _assert_same(ours, nb)


@pytest.mark.parametrize("n", [5_000, DEFAULT_FUSED - 1, DEFAULT_FUSED + 3])
def test_fused_equals_reference_default_layout(n):
    # below and above the batch size from which blocks are screened one by one
    rng = np.random.default_rng(7)
    t, s = _labels(rng, n, np.int8), _scores(rng, n, DEFAULT_LAYOUT)
    ours, ref = BinaryCurves(backend="native"), BinaryCurves(backend="numpy")
    ours.update(t, s)
    ref.update(t, s)
    _assert_same(ours, ref)


def test_fused_brier_and_log_loss_equal_sklearn():
    rng = np.random.default_rng(11)
    n = 300_000
    t = _labels(rng, n, np.int8)
    s = _scores(rng, n, DEFAULT_LAYOUT)
    c = BinaryCurves(backend="native")
    c.update(t, s)
    s64 = s.astype(np.float64)
    eps = float(np.finfo(np.float32).eps)  # the state clips float32 scores at float32 eps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        brier = skm.brier_score_loss(t, s64)
        ll = skm.log_loss(t, np.clip(s64, eps, 1 - eps))  # sklearn computes float32 in float32
    np.testing.assert_allclose(c.brier_score(), brier, rtol=1e-12)
    np.testing.assert_allclose(c.log_loss(), ll, rtol=1e-12)


@pytest.mark.parametrize("order", ["sorted", "constant", "runs_in_some_blocks", "few_values"])
@pytest.mark.parametrize("n", [3 * BLOCK + 5, FUSED_MIN + 5])
def test_runs_of_one_bin_equal_reference_and_scalar_kernel(order, n):
    # sorted or constant scores: blocks made of runs of one bin are added run by run
    rng = np.random.default_rng(17)
    t, s = _labels(rng, n, np.int8), _scores(rng, n, DEFAULT_LAYOUT)
    if order == "sorted":
        s.sort()
    elif order == "constant":
        s[:] = np.float32(0.7)
    elif order == "runs_in_some_blocks":
        s[(np.arange(n) // 700) % 2 == 1] = np.float32(0.3)
    else:
        s = rng.choice(np.float32([0.1, 0.5, 0.9]), n)
    ours, ref = BinaryCurves(backend="native"), BinaryCurves(backend="numpy")
    ours.update(t, s)
    ref.update(t, s)
    _assert_same(ours, ref)
    level = _native.function("tm_simd_level")()
    try:
        assert _set_simd(0) == 0
        scalar = BinaryCurves(backend="native")
        scalar.update(t, s)
    finally:
        _set_simd(level)
    np.testing.assert_array_equal(ours.hist, scalar.hist)
    np.testing.assert_array_equal(ours.psum, scalar.psum)  # same additions, same order


def _bad(kind, t, s, row):
    if kind == "target2":
        t[row] = 2
        return rf"^target\[{row}\] = 2 is outside \[0, 2\)$"
    if kind == "target_neg":
        t[row] = -1 if t.dtype == np.int8 else 255
        return rf"^target\[{row}\] = {int(t[row])} is outside \[0, 2\)$"
    if kind == "nan":
        s[row] = np.nan
        return rf"^preds\[{row}\] = nan is not finite$"
    if kind == "inf":
        s[row] = np.inf
        return rf"^preds\[{row}\] = inf is not finite$"
    if kind == "neg":
        s[row] = -0.25
        return rf"^preds\[{row}\] = -0.25 is outside \[0, 1\]"
    s[row] = np.nextafter(np.float32(1), np.float32(2))
    return rf"^preds\[{row}\] = 1.0000001192092896 is outside \[0, 1\]"


@pytest.mark.parametrize("n", [700, 3 * BLOCK + 5, FUSED_MIN + 3])  # screened first / per block
@pytest.mark.parametrize("where", ["first", "block_last", "block_first", "middle", "tail", "last"])
@pytest.mark.parametrize("kind", ["target2", "target_neg", "nan", "inf", "neg", "above1"])
@pytest.mark.parametrize("tdtype", [np.int8, np.uint8])
def test_first_bad_row_named_and_nothing_counted(n, where, kind, tdtype):
    rng = np.random.default_rng(3)
    c = _curves(SMALL, "native")
    c.update(_labels(rng, 1000, tdtype), _scores(rng, 1000, SMALL))
    before = {k: v.copy() for k, v in c.state_dict().items() if isinstance(v, np.ndarray)}
    count = c.count
    t, s = _labels(rng, n, tdtype), _scores(rng, n, SMALL)
    row = {"first": 0, "block_last": BLOCK - 1, "block_first": BLOCK, "middle": n // 2 + 1,
           "tail": n - n % 8 if n % 8 else n - 3, "last": n - 1}[where]
    match = _bad(kind, t, s, row)
    if row + 1 < n:  # a later bad row: the first one is named
        t[n - 1] = 7
    with pytest.raises(ValueError, match=match):
        c.update(t, s)
    after = c.state_dict()
    for k, v in before.items():
        np.testing.assert_array_equal(after[k], v)
    assert c.count == count


def _set_simd(level):
    return _native.function("tm_set_simd_level")(level)


@pytest.mark.parametrize("layout", [SMALL, DEFAULT_LAYOUT, make_layout(2000, "dyadic")])
def test_simd_levels_agree(layout):
    level = _native.function("tm_simd_level")()
    if level == 0:
        pytest.skip("no AVX2 on this CPU: the fused path is not used")
    rng = np.random.default_rng(5)
    n = max(FUSED_MIN, 16 * layout.num_bins) + 1001
    t, s = _labels(rng, n, np.int8), _scores(rng, n, layout)
    out = []
    try:
        for lvl in (0, level):
            assert _set_simd(lvl) == 0
            for m in (n, 999):  # screened block by block, then screened first
                c = _curves(layout, "native")
                c.update(t[:m], s[:m])
                out.append(c)
    finally:
        _set_simd(level)
    for fast, scalar in ((out[2], out[0]), (out[3], out[1])):
        _assert_same(fast, scalar)
        # the same additions in the same order as the scalar kernel: psum bit for bit
        np.testing.assert_array_equal(fast.psum, scalar.psum)


@pytest.mark.parametrize("n", [40_000, FUSED_MIN + 40_000])
def test_threads_first_bad_row_and_counts(n):
    rng = np.random.default_rng(9)
    t, s = _labels(rng, n, np.int8), _scores(rng, n, SMALL)
    lay = np.array(_layout_args(SMALL), np.int64)
    nb = SMALL.num_bins
    fn = _native.function("tm_curves_binary_i8_f32")
    a = _native.address
    eps = float(np.finfo(np.float32).eps)
    ref = _curves(SMALL, "numpy")
    ref.update(t, s)
    for threads in (1, 2, 3, 4):
        hist, psum, sums = np.zeros((nb, 2), np.int64), np.zeros(nb), np.zeros(2)
        rc = fn(a(t), a(s), n, 0, 0, a(lay), 0, eps, a(hist), a(psum), a(sums), nb, threads)
        assert rc == 0
        np.testing.assert_array_equal(hist, ref.hist)
        np.testing.assert_allclose(psum, ref.psum, rtol=1e-12)
        np.testing.assert_allclose(sums, ref.sums, rtol=1e-12)
    # bad rows in the second and fourth chunks: the earlier one is named, the state is unchanged
    s[n * 5 // 8] = np.nan
    t[n * 7 // 8] = 3
    saved = hist.copy(), psum.copy(), sums.copy()
    for threads in (1, 4):
        rc = fn(a(t), a(s), n, 0, 0, a(lay), 0, eps, a(hist), a(psum), a(sums), nb, threads)
        assert rc == _native.ERR_VALUE
        assert _native.last_error() == f"preds[{n * 5 // 8}] = nan is not finite"
        for got, want in zip((hist, psum, sums), saved):
            np.testing.assert_array_equal(got, want)


def test_num_threads_argument():
    import pickle

    rng = np.random.default_rng(13)
    n = FUSED_MIN + 777
    t, s = _labels(rng, n, np.int8), _scores(rng, n, SMALL)
    objs = [BinaryCurves(49, num_threads=k) for k in (0, 1, 2)]
    for c in objs:
        c.update(t, s)
    ref = _curves(SMALL, "numpy")
    ref.update(t, s)
    for c in objs:
        _assert_same(c, ref)
    assert [c.num_threads for c in objs] == [0, 1, 2]
    back = pickle.loads(pickle.dumps(objs[1]))
    assert back.num_threads == 1
    _assert_same(back, objs[1])
    with pytest.raises(ValueError, match="num_threads"):
        BinaryCurves(num_threads=-1)
    with pytest.raises(TypeError, match="num_threads"):
        BinaryCurves(num_threads=True)
