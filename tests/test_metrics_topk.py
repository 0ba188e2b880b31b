"""MulticlassMetrics(top_k=...): top-k accuracy against sklearn's top_k_accuracy_score, counted
in the same pass as the confusion matrix, on every CPU backend."""
import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import accuracy_score, confusion_matrix, top_k_accuracy_score

from tallyml import _backends
from tallyml.metrics import MulticlassMetrics

BACKENDS = ["numpy", "numba", pytest.param("native", marks=pytest.mark.skipif(
    not _backends.native_available(), reason="native core not built"))]


def _oracle(y, s, k, w=None):
    """sklearn with labels=range(K). For K == 2 sklearn refuses (N, 2) scores of a binary
    target, so a third column scored below every other score is appended (it never outranks
    a real class, so ranks of classes 0 and 1 are unchanged)."""
    n, K = s.shape
    if K == 2:
        s = np.column_stack([s, np.full(n, s.min() - 1.0)])
        K = 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # k >= n_classes
        return top_k_accuracy_score(y, s, k=k, labels=np.arange(K), sample_weight=w)


def _stream(rng, n, K, ties=True, dtype=np.float64):
    y = rng.integers(0, K, n)
    # few distinct values: ties between the true class and others are frequent
    s = rng.integers(0, 3, (n, K)) if ties else rng.random((n, K))
    return y, s.astype(dtype)


def _chunks(rng, n):
    cuts = np.sort(rng.integers(0, n + 1, 4))
    return np.split(np.arange(n), cuts)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("K,top_k", [(2, [1, 2]), (3, 2), (5, [1, 3, 5]), (10, [4, 1, 9])])
@pytest.mark.parametrize("ties", [True, False])
def test_matches_sklearn_chunked_and_one_shot(backend, K, top_k, ties):
    rng = np.random.default_rng(K * 10 + ties)
    y, s = _stream(rng, 300, K, ties)
    one = MulticlassMetrics(K, top_k=top_k, backend=backend)
    one.update(y, s)
    chunked = MulticlassMetrics(K, top_k=top_k, backend=backend)
    for idx in _chunks(rng, len(y)):
        chunked.update(y[idx], s[idx])
    ks = [top_k] if isinstance(top_k, int) else sorted(top_k)
    for m in (one, chunked):
        got = m.top_k_accuracy()
        assert list(got) == ks
        for k in ks:
            assert got[k] == pytest.approx(_oracle(y, s, k), rel=1e-12, abs=0)
            assert m.top_k_accuracy(k) == got[k]
        # the same pass still counts the confusion matrix (argmax, first maximum)
        pred = np.argmax(s, axis=1)
        np.testing.assert_array_equal(m.confusion_matrix(), confusion_matrix(y, pred, labels=np.unique(np.r_[y, pred])))
        assert m.accuracy() == pytest.approx(accuracy_score(y, pred), rel=1e-12)
    assert one.state_dict()["topk_hits"].tolist() == chunked.state_dict()["topk_hits"].tolist()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weighted_with_zero_weights(backend, dtype):
    rng = np.random.default_rng(7)
    K = 6
    y, s = _stream(rng, 400, K, ties=True, dtype=dtype)
    w = rng.random(400)
    w[rng.random(400) < 0.2] = 0.0
    m = MulticlassMetrics(K, top_k=[1, 2, 5], backend=backend)
    for idx in _chunks(rng, len(y)):
        m.update(y[idx], s[idx], sample_weight=w[idx])
    assert m.weighted and m.state_dict()["topk_hits"].dtype == np.float64
    for k, v in m.top_k_accuracy().items():
        assert v == pytest.approx(_oracle(y, s, k, w), rel=1e-12, abs=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_unweighted_then_weighted(backend):
    rng = np.random.default_rng(3)
    K = 4
    y, s = _stream(rng, 200, K)
    w = np.r_[np.ones(120), rng.random(80)]
    m = MulticlassMetrics(K, top_k=2, backend=backend)
    m.update(y[:120], s[:120])
    m.update(y[120:], s[120:], sample_weight=w[120:])
    assert m.top_k_accuracy(2) == pytest.approx(_oracle(y, s, 2, w), rel=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ignore_index(backend):
    rng = np.random.default_rng(11)
    K = 5
    y, s = _stream(rng, 300, K)
    y[rng.random(300) < 0.3] = -100
    s[y == -100, 0] = np.nan  # ignored samples are not checked
    m = MulticlassMetrics(K, top_k=[1, 3], ignore_index=-100, backend=backend)
    for idx in _chunks(rng, len(y)):
        m.update(y[idx], s[idx])
    keep = y != -100
    assert m.count == keep.sum()
    for k, v in m.top_k_accuracy().items():
        assert v == pytest.approx(_oracle(y[keep], s[keep], k), rel=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ties_rank_the_higher_column_first(backend):
    K = 4
    # every row ties the true class with other columns; sklearn ranks higher columns first
    s = np.array([[1.0, 1.0, 1.0, 1.0]] * 4 + [[0.0, 2.0, 2.0, 0.0]] * 4 + [[-0.0, 0.0, 0.0, -1.0]] * 4)
    y = np.array([0, 1, 2, 3] * 3)
    m = MulticlassMetrics(K, top_k=[1, 2, 3, 4], backend=backend)
    m.update(y, s)
    for k, v in m.top_k_accuracy().items():
        assert v == pytest.approx(_oracle(y, s, k), rel=1e-12)
    # top-1 differs from accuracy under ties: argmax keeps the first maximum, top-1 the last
    last = MulticlassMetrics(K, top_k=1, backend=backend)
    last.update([3], [[1.0, 1.0, 1.0, 1.0]])
    assert (last.top_k_accuracy(1), last.accuracy()) == (_oracle(np.array([3]), np.ones((1, 4)), 1), 0.0)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_backends_agree_exactly(backend):
    rng = np.random.default_rng(5)
    K = 7
    y, s = _stream(rng, 1000, K)
    ref = MulticlassMetrics(K, top_k=[1, 2, 6], backend="numpy")
    ref.update(y, s)
    m = MulticlassMetrics(K, top_k=[1, 2, 6], backend=backend)
    m.update(y, s)
    a, b = ref.state_dict(), m.state_dict()
    for key in ("state", "seen", "topk_hits"):
        np.testing.assert_array_equal(a[key], b[key])


def test_merge_add_pickle_state_dict_reset():
    rng = np.random.default_rng(2)
    K = 5
    y, s = _stream(rng, 300, K)
    w = rng.random(300)
    a = MulticlassMetrics(K, top_k=[1, 3], backend="numba")
    b = MulticlassMetrics(K, top_k=[3, 1], backend="numba")
    a.update(y[:100], s[:100])
    b.update(y[100:], s[100:], sample_weight=w[100:])
    total = a + b
    ww = np.r_[np.ones(100), w[100:]]
    for k, v in total.top_k_accuracy().items():
        assert v == pytest.approx(_oracle(y, s, k, ww), rel=1e-12)
    a.merge(b)
    np.testing.assert_array_equal(a.state_dict()["topk_hits"], total.state_dict()["topk_hits"])

    c = pickle.loads(pickle.dumps(total))
    assert c.top_k == [1, 3] and c.top_k_accuracy() == total.top_k_accuracy()
    d = MulticlassMetrics(K, top_k=[1, 3])
    d.load_state_dict(total.state_dict())
    assert d.top_k_accuracy() == total.top_k_accuracy()
    assert d.compute()["top_3_accuracy"] == total.top_k_accuracy(3)

    total.reset()
    assert total.count == 0 and not total.weighted
    assert total.state_dict()["topk_hits"].tolist() == [0, 0]
    with pytest.raises(ValueError, match="no samples"):
        total.top_k_accuracy()


def test_checkpoint_round_trip(tmp_path):
    rng = np.random.default_rng(9)
    y, s = _stream(rng, 100, 4)
    m = MulticlassMetrics(4, top_k=(2, 1), backend="numpy")
    m.update(y, s)
    m.save(tmp_path / "m.ckpt")
    other = MulticlassMetrics(4, top_k=[1, 2], backend="numpy")
    other.load(tmp_path / "m.ckpt")
    assert other.top_k_accuracy() == m.top_k_accuracy()


def test_incompatible_top_k_refused():
    a = MulticlassMetrics(4, top_k=[1, 2])
    for other in (MulticlassMetrics(4, top_k=[1]), MulticlassMetrics(4)):
        with pytest.raises(ValueError, match="top_k differs"):
            a.merge(other)
        with pytest.raises(ValueError, match="top_k differs"):
            other.merge(a)
    with pytest.raises(ValueError, match="top_k"):
        a.load_state_dict(MulticlassMetrics(4, top_k=[1]).state_dict())
    with pytest.raises(ValueError):
        MulticlassMetrics(4).load_state_dict(a.state_dict())


@pytest.mark.parametrize("top_k,exc", [(0, ValueError), (5, ValueError), ([1, 5], ValueError),
                                       (-1, ValueError), ([], ValueError), (True, TypeError),
                                       (1.0, TypeError), ([1, 2.5], TypeError), ("2", TypeError)])
def test_bad_top_k_at_construction(top_k, exc):
    with pytest.raises(exc, match="top_k"):
        MulticlassMetrics(4, top_k=top_k)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_batches_change_nothing(backend):
    rng = np.random.default_rng(4)
    K = 4
    y, s = _stream(rng, 50, K)
    m = MulticlassMetrics(K, top_k=[1, 2], backend=backend)
    m.update(y, s)
    before = m.state_dict()
    bad_score = s.copy()
    bad_score[7, 2] = np.nan
    bad_target = y.copy()
    bad_target[9] = K
    bad_w = np.ones(50)
    bad_w[3] = -1.0
    cases = [((y, bad_score), {}, r"preds\[7, 2\] = nan is not finite"),
             ((bad_target, s), {}, r"target\[9\] = 4 is outside \[0, 4\)"),
             ((y, s), {"sample_weight": bad_w}, r"sample_weight\[3\] = -1.0"),
             ((y, np.argmax(s, axis=1)), {}, "top_k accuracy needs"),
             ((y, s[:, :3]), {}, "shape")]
    for args, kw, msg in cases:
        with pytest.raises(ValueError, match=msg):
            m.update(*args, **kw)
        after = m.state_dict()
        for key in ("state", "seen", "topk_hits"):
            np.testing.assert_array_equal(after[key], before[key])
            assert after[key].dtype == before[key].dtype
        assert after["count"] == before["count"]
    with pytest.raises(ValueError, match="top_k accuracy needs"):
        m.update_one(0, 1)
    assert m.count == before["count"]


def test_top_k_accuracy_arguments():
    m = MulticlassMetrics(3, top_k=2)
    m.update([0, 1], np.eye(3)[[0, 2]])
    with pytest.raises(ValueError, match="not configured"):
        m.top_k_accuracy(1)
    with pytest.raises(TypeError, match="k must be"):
        m.top_k_accuracy(2.0)
    plain = MulticlassMetrics(3)
    plain.update([0, 1], [0, 1])
    with pytest.raises(ValueError, match="top_k"):
        plain.top_k_accuracy()
    assert not any(key.startswith("top_") for key in plain.compute())
    assert plain.top_k is None and "topk_hits" not in plain.state_dict()


def test_all_zero_weights_give_nan():
    m = MulticlassMetrics(3, top_k=1, backend="numba")
    m.update([0, 1], np.eye(3)[[0, 2]], sample_weight=[0.0, 0.0])
    assert np.isnan(m.top_k_accuracy(1))


def test_validate_false_and_non_contiguous_scores():
    rng = np.random.default_rng(12)
    y, s = _stream(rng, 120, 5)
    wide = np.asfortranarray(s)  # not C-contiguous
    m = MulticlassMetrics(5, top_k=[1, 2], validate=False, backend="numba")
    m.update(y, wide)
    assert m.top_k_accuracy(2) == pytest.approx(_oracle(y, s, 2), rel=1e-12)


def test_threads_lose_no_hits():
    import threading

    rng = np.random.default_rng(13)
    y, s = _stream(rng, 4000, 6)
    m = MulticlassMetrics(6, top_k=[1, 3], backend="numba")
    m.update(y[:1], s[:1])  # compile before the threads start
    parts = np.array_split(np.arange(1, 4000), 8)
    threads = [threading.Thread(target=m.update, args=(y[p], s[p])) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert m.count == 4000
    for k, v in m.top_k_accuracy().items():
        assert v == pytest.approx(_oracle(y, s, k), rel=1e-12)
