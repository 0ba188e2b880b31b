"""multiclass_topk kernel (for MulticlassMetrics' top-k accuracy): numpy and numba agree exactly
and equal sklearn's top_k_accuracy_score, ties included."""
import warnings

import numpy as np
import pytest
import sklearn.metrics as skm

from tallyml.curves._backend import multiclass_topk


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_topk_hits_equal_sklearn(backend, dtype, weighted):
    rng = np.random.default_rng(0)
    n, k = 3000, 7
    t = rng.integers(0, k, n)
    s = np.round(rng.random((n, k)), 1).astype(dtype)  # ties everywhere
    w = rng.random(n) if weighted else None
    hits = np.zeros(k, np.float64 if weighted else np.int64)
    for part in np.array_split(np.arange(n), 4):
        multiclass_topk(t[part], s[part], k, None if w is None else w[part], None, hits,
                        backend=backend)
    for kk in range(1, k + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = skm.top_k_accuracy_score(t, s, k=kk, normalize=False, sample_weight=w,
                                            labels=np.arange(k))
        np.testing.assert_allclose(hits[kk - 1], want, rtol=1e-12)


def test_topk_backends_agree_with_ignore_index_and_reject_bad_input():
    rng = np.random.default_rng(1)
    n, k = 500, 5
    t = rng.integers(0, k, n)
    t[::7] = -100
    s = rng.random((n, k))
    s[::7] = np.nan  # ignored rows are not checked
    got = {}
    for backend in ("numpy", "numba"):
        hits = np.zeros(3, np.int64)
        multiclass_topk(t, s, 3, None, -100, hits, backend=backend)
        got[backend] = hits
    np.testing.assert_array_equal(got["numpy"], got["numba"])
    keep = t != -100
    assert got["numba"][0] == np.sum(np.argmax(s[keep], axis=1) == t[keep])
    for backend in ("numpy", "numba"):
        hits = np.zeros(2, np.int64)
        with pytest.raises(ValueError, match=r"target\[3\] = 9 is outside \[0, 5\)"):
            t2 = np.array([0, 1, 2, 9])
            multiclass_topk(t2, rng.random((4, 5)), 2, None, None, hits, backend=backend)
        bad = rng.random((4, 5))
        bad[2, 3] = np.inf
        with pytest.raises(ValueError, match=r"preds\[2, 3\] = inf is not finite"):
            multiclass_topk(np.array([0, 1, 2, 3]), bad, 2, None, None, hits, backend=backend)
        assert not hits.any()
        with pytest.raises(ValueError, match="k_max"):
            multiclass_topk(np.array([0]), rng.random((1, 5)), 6, None, None,
                            np.zeros(6, np.int64), backend=backend)
