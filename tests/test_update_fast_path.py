"""The bound native hot path of update(): it must count exactly what the general path counts,
hand every array it cannot take to the general path, follow the state array when it is replaced,
and leave the state unchanged on errors. Also the num_threads argument of the metric objects."""
import numpy as np
import pytest

from tallyml import BinaryMetrics, MulticlassMetrics, MultilabelMetrics
from tallyml import _backends

native = pytest.mark.skipif(not _backends.native_available(), reason="native library not built")
rng = np.random.default_rng(11)


def _binary_cm(t, s, thr=0.5, ignore=None):
    keep = np.ones(len(t), bool) if ignore is None else t != ignore
    t, s = t[keep], s[keep]
    return np.bincount(t.astype(np.int64) * 2 + (s.astype(np.float64) >= thr), minlength=4).reshape(2, 2)


@native
def test_binary_fast_path_is_used_and_exact():
    m = BinaryMetrics(backend="native")
    t = (rng.random(64) < 0.5).astype(np.int8)
    s = rng.random(64, dtype=np.float32)
    m.update(t, s)
    assert len(m._bound) == 1  # bound on first use
    call = next(iter(m._bound.values()))
    for _ in range(5):
        m.update(t, s)
    assert next(iter(m._bound.values())) is call and call.state is m._state
    np.testing.assert_array_equal(m.confusion_matrix(), _binary_cm(t, s) * 6)
    assert m.count == 6 * 64


@native
def test_arrays_the_fast_path_cannot_take_go_the_general_way():
    m = BinaryMetrics(backend="native")
    t = (rng.random(200) < 0.5).astype(np.int8)
    s = rng.random(200, dtype=np.float32)
    m.update(t[:10], s[:10])  # binds
    ro_t, ro_s = t.copy(), s.copy()
    ro_t.flags.writeable = False
    ro_s.flags.writeable = False
    m.update(ro_t, ro_s)          # read-only
    m.update(t[::2], s[::2])      # strided
    m.update(t[:0], s[:0])        # empty
    expected = _binary_cm(t[:10], s[:10]) + _binary_cm(t, s) + _binary_cm(t[::2], s[::2])
    np.testing.assert_array_equal(m.confusion_matrix(), expected)
    assert m.count == 10 + 200 + 100


@native
def test_fast_path_follows_a_replaced_state():
    t = (rng.random(50) < 0.5).astype(np.int8)
    s = rng.random(50, dtype=np.float32)
    m = BinaryMetrics(backend="native")
    m.update(t, s)
    saved = m.state_dict()
    m.reset()                      # new arrays
    m.update(t, s)
    np.testing.assert_array_equal(m.confusion_matrix(), _binary_cm(t, s))
    m.load_state_dict(saved)       # new arrays again
    m.update(t, s)
    np.testing.assert_array_equal(m.confusion_matrix(), 2 * _binary_cm(t, s))
    w = np.full(50, 0.5)
    m.update(t, s, sample_weight=w)  # float64 state from here on
    m.update(t, s)
    np.testing.assert_allclose(m.confusion_matrix(), 3.5 * _binary_cm(t, s), rtol=0, atol=1e-12)
    assert m.weighted and m.count == 200


@native
def test_fast_path_errors_change_nothing():
    m = BinaryMetrics(backend="native")
    t = np.array([0, 1, 1, 0], np.int8)
    s = np.array([0.1, 0.9, 0.4, 0.6], np.float32)
    m.update(t, s)
    before = m.state_dict()
    bad_s = s.copy()
    bad_s[2] = np.nan
    with pytest.raises(ValueError, match=r"preds\[2\] = nan is not finite"):
        m.update(t, bad_s)
    bad_t = t.copy()
    bad_t[3] = 2
    with pytest.raises(ValueError, match=r"target\[3\] = 2 is outside \[0, 2\)"):
        m.update(bad_t, s)
    after = m.state_dict()
    np.testing.assert_array_equal(after["state"], before["state"])
    assert after["count"] == before["count"]


@native
@pytest.mark.parametrize("ignore", [None, 3])
def test_multiclass_fast_path_labels_and_scores(ignore):
    k = 10
    m = MulticlassMetrics(k, backend="native", ignore_index=ignore)
    y = rng.integers(0, k, 300).astype(np.int32)
    p = rng.integers(0, k, 300).astype(np.int32)
    sc = rng.random((300, k), dtype=np.float32)
    for _ in range(3):
        m.update(y, p)
        m.update(y, sc)
    assert len(m._bound) == 2
    keep = np.ones(300, bool) if ignore is None else y != ignore
    ref = (np.bincount(y[keep] * k + p[keep], minlength=k * k)
           + np.bincount(y[keep] * k + sc[keep].argmax(1), minlength=k * k)).reshape(k, k) * 3
    np.testing.assert_array_equal(m._state, ref)
    assert m.count == 6 * int(keep.sum())
    # float scores of the wrong width or 1-D float preds never reach the bound scores call
    with pytest.raises(ValueError):
        m.update(y, sc[:, :5].copy())
    with pytest.raises(TypeError):
        m.update(y, sc[:, 0].copy())
    np.testing.assert_array_equal(m._state, ref)


@pytest.mark.parametrize("cls,args", [(BinaryMetrics, ()), (MulticlassMetrics, (4,)),
                                      (MultilabelMetrics, (3,))])
def test_num_threads_argument(cls, args):
    assert cls(*args, num_threads=2).num_threads == 2
    assert cls(*args).num_threads == 0
    with pytest.raises(ValueError, match="num_threads"):
        cls(*args, num_threads=-1)
    with pytest.raises(TypeError, match="num_threads"):
        cls(*args, num_threads=1.5)


@pytest.mark.parametrize("backend", ["native", "numba", "numpy"])
def test_results_do_not_depend_on_num_threads(backend):
    if backend == "native" and not _backends.native_available():
        pytest.skip("native library not built")
    n = 300_000
    t = (rng.random(n) < 0.3).astype(np.int8)
    s = rng.random(n, dtype=np.float32)
    y = rng.integers(0, 7, n).astype(np.int32)
    p = rng.integers(0, 7, n).astype(np.int32)
    results = []
    for nt in (1, 2, 3):
        b = BinaryMetrics(backend=backend, num_threads=nt)
        b.update(t, s)
        mc = MulticlassMetrics(7, backend=backend, num_threads=nt)
        mc.update(y, p)
        results.append((b.confusion_matrix(), mc._state.copy()))
    np.testing.assert_array_equal(results[0][0], _binary_cm(t, s))
    np.testing.assert_array_equal(results[0][1], np.bincount(y * 7 + p, minlength=49).reshape(7, 7))
    for r in results[1:]:
        np.testing.assert_array_equal(r[0], results[0][0])
        np.testing.assert_array_equal(r[1], results[0][1])
    ml = MultilabelMetrics(3, backend=backend, num_threads=2)
    ml.update(t[:3000].reshape(1000, 3), s[:3000].reshape(1000, 3))
    assert ml.count == 1000
