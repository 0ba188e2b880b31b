"""The drift histogram entry points of the C ABI: results against numpy, error paths."""
import numpy as np
import pytest

from tallyml import _native
from tallyml.drift import ScoreDrift
from tallyml.drift import _histogram as H

pytestmark = pytest.mark.skipif(not _native.available(), reason="native library not built")
A = _native.address


def _layout():
    rng = np.random.default_rng(0)
    coarse = H.quantile_edges(rng.normal(size=1000), 10)
    many = np.sort(rng.normal(size=40))
    return H.Layout([0, 1, 1], [coarse, H.uniform_edges(0.0, 1.0, 50), many],
                    [None, (0.0, 1.0), None])


def _call(values, lay, counts, start=0, stop=None, validate=1, groups=None, counts_len=None):
    cols, edges, offs, ulo, usc = lay.native_args()
    fn = _native.function("tm_drift_hist_f32" if values.dtype == np.float32 else "tm_drift_hist_f64")
    return fn(A(values), values.shape[0], values.shape[1], start,
              values.shape[0] if stop is None else stop,
              len(lay.columns) if groups is None else groups, cols, edges, offs, ulo, usc,
              A(counts), counts.shape[0] if counts_len is None else counts_len, validate,
              A(lay.bad))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_counts_equal_numpy(dtype):
    rng = np.random.default_rng(1)
    lay = _layout()
    v = np.ascontiguousarray(np.c_[rng.normal(size=5000), rng.uniform(-0.2, 1.2, 5000)], dtype=dtype)
    got = np.zeros(lay.size, dtype=np.int64)
    assert _call(v, lay, got, start=7, stop=4000) == 0
    want = np.zeros(lay.size, dtype=np.int64)
    H.hist_numpy(v, 7, 4000, lay, want, "scores", 2)
    assert np.array_equal(got, want)


def test_nan_reported_and_nothing_counted():
    lay = _layout()
    v = np.zeros((10, 2))
    v[6, 1] = np.inf
    counts = np.ones(lay.size, dtype=np.int64)
    assert _call(v, lay, counts) == _native.ERR_VALUE
    assert lay.bad.tolist() == [6, 1] and (counts == 1).all()
    assert "values[6, 1] = inf is not finite" in _native.last_error()
    assert _call(v, lay, counts, stop=6) == 0  # the bad row is outside [start, stop)


@pytest.mark.parametrize("kw, msg", [
    ({"start": 5, "stop": 3}, "rows [5, 3)"),
    ({"stop": 11}, "rows [0, 11)"),
    ({"counts_len": 3}, "counts has 3 bins"),
])
def test_argument_errors(kw, msg):
    lay = _layout()
    counts = np.zeros(lay.size, dtype=np.int64)
    assert _call(np.zeros((10, 2)), lay, counts, **kw) == _native.ERR_ARGUMENT
    assert msg in _native.last_error()
    assert (counts == 0).all()


def test_column_out_of_range():
    lay = _layout()
    counts = np.zeros(lay.size, dtype=np.int64)
    assert _call(np.zeros((10, 1)), lay, counts) == _native.ERR_ARGUMENT
    assert "columns[1] = 1 is outside [0, 1)" in _native.last_error()


def test_native_drift_objects_match_numba():
    rng = np.random.default_rng(2)
    ref = rng.beta(2, 5, 10_000)
    a = ScoreDrift(ref, window=1000, backend="native")
    b = ScoreDrift(ref, window=1000, backend="numba")
    for n in rng.integers(1, 700, 30):
        x = rng.beta(2, 4, n)
        a.update(x)
        b.update(x)
    assert np.array_equal(a.window_counts(), b.window_counts())
    with pytest.raises(ValueError, match=r"scores\[3\] = nan"):
        a.update(np.r_[np.zeros(3), np.nan, np.zeros(2000)])  # spanning: validated first
    assert a.count == b.count
