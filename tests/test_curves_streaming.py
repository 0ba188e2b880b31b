"""Streaming curve objects: sklearn as the oracle (to the documented bin bound, exactly where
every score is on a bin edge), chunking, merging, persistence, backends, bad input."""
import pickle
import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
from scipy.special import expit
from sklearn.calibration import calibration_curve as sk_calibration_curve

from tallyml import UndefinedMetricWarning
from tallyml.curves import BinaryCurves, MulticlassCurves, MultilabelCurves
from tallyml.curves import exact as ex
from tallyml.curves._layout import DEFAULT_LAYOUT, bin_index_numpy, make_layout

BOUND = 1e-3  # documented |binned - exact| bound for AUROC and AP (docs/curves.md)

def _native_ok():
    from tallyml import _native

    return _native.available()


BACKENDS = ["numpy", "numba"] + (["native"] if _native_ok() else [])


def sk(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def continuous(name, rng, n=200_000):
    y = rng.integers(0, 2, n)
    if name == "beta":
        return y, np.where(y == 1, rng.beta(2, 3, n), rng.beta(1.5, 3, n))
    if name == "sigmoid":
        return y, expit(rng.normal(3 * y - 1.5, 2.0))
    if name == "confident":
        return y, expit(rng.normal(30 * y - 15, 8.0))
    if name == "near0":
        return y, rng.beta(0.3, 8, n) * (1 + 0.3 * y) / 1.3
    if name == "near1":
        return y, 1 - rng.beta(0.3, 8, n) * (1 + 0.3 * (1 - y)) / 1.3
    y = (rng.random(n) < 0.01).astype(np.int64)  # rare positives
    return y, expit(rng.normal(4 * y - 5, 1.5))


# ---------------------------------------------------------------- layout


def test_layout_edges_start_their_bins():
    for lay in (DEFAULT_LAYOUT, make_layout(100, "dyadic")):
        e = lay.edges()
        assert e.size == lay.num_bins and np.all(np.diff(e) > 0)
        np.testing.assert_array_equal(bin_index_numpy(e, lay), np.arange(e.size))
        below = np.nextafter(e[1:], -np.inf)
        np.testing.assert_array_equal(bin_index_numpy(below, lay), np.arange(e.size - 1))


@pytest.mark.parametrize("backend", BACKENDS[1:])
def test_kernel_bins_equal_reference_bins(backend):
    rng = np.random.default_rng(0)
    for lay_args in ((None, "dyadic"), (1000, "uniform"), (64, "dyadic")):
        for logits in (False, True):
            s = rng.normal(0, 8, 20000) if logits else rng.random(20000)
            s[:4] = ([0.0, 1.0, 0.5, 1e-300] if not logits else [0.0, -800.0, 800.0, 1e-12])
            y = rng.integers(0, 2, s.size)
            a = BinaryCurves(lay_args[0], layout=lay_args[1], logits=logits, backend=backend)
            b = BinaryCurves(lay_args[0], layout=lay_args[1], logits=logits, backend="numpy")
            for dt in (np.float64, np.float32):
                a.update(y, s.astype(dt))
                b.update(y, s.astype(dt))
            np.testing.assert_array_equal(a.hist, b.hist)
            np.testing.assert_allclose(a.psum, b.psum, rtol=1e-12)
            np.testing.assert_allclose(a.sums, b.sums, rtol=1e-12)


# ---------------------------------------------------------------- accuracy vs sklearn


@pytest.mark.parametrize("dist", ["beta", "sigmoid", "confident", "near0", "near1", "rare"])
def test_binned_auroc_and_ap_within_documented_bound(dist):
    rng = np.random.default_rng(1)
    y, s = continuous(dist, rng)
    c = BinaryCurves(backend="numba")
    c.update(y, s)
    assert abs(c.roc_auc() - skm.roc_auc_score(y, s)) <= BOUND
    assert abs(c.average_precision() - skm.average_precision_score(y, s)) <= BOUND


@pytest.mark.parametrize("backend", BACKENDS)
def test_exact_when_every_score_is_an_edge(backend):
    rng = np.random.default_rng(2)
    n = 50_000
    c = BinaryCurves(backend=backend)
    s = rng.choice(c.edges()[::7], n)
    y = rng.integers(0, 2, n)
    w = rng.random(n)
    c.update(y, s, w)
    np.testing.assert_allclose(c.roc_auc(), skm.roc_auc_score(y, s, sample_weight=w), rtol=1e-12)
    np.testing.assert_allclose(c.average_precision(),
                               skm.average_precision_score(y, s, sample_weight=w), rtol=1e-12)
    for got, want in zip(c.roc_curve(), skm.roc_curve(y, s, sample_weight=w)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    for got, want in zip(c.precision_recall_curve(),
                         skm.precision_recall_curve(y, s, sample_weight=w)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(c.roc_auc(max_fpr=0.3),
                               skm.roc_auc_score(y, s, sample_weight=w, max_fpr=0.3), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_layout_exact_on_decimal_grid_and_calibration_equal(dtype):
    rng = np.random.default_rng(3)
    n = 40_000
    y = rng.integers(0, 2, n)
    s = np.round(rng.random(n), 3).astype(dtype)
    c = BinaryCurves(1000, layout="uniform")
    c.update(y, s)
    s64 = s.astype(np.float64)
    np.testing.assert_allclose(c.roc_auc(), skm.roc_auc_score(y, s64), rtol=1e-12)
    np.testing.assert_allclose(c.average_precision(), skm.average_precision_score(y, s64),
                               rtol=1e-12)
    for n_bins in (5, 10, 7):
        got = c.calibration_curve(n_bins=n_bins)
        want = sk_calibration_curve(y, s64, n_bins=n_bins)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-9)


def test_brier_and_log_loss_are_exact_sums():
    rng = np.random.default_rng(4)
    n = 30_000
    y = rng.integers(0, 2, n)
    p = rng.random(n)
    p[:3] = [0.0, 1.0, 1e-300]
    w = rng.random(n)
    for sw in (None, w):
        c = BinaryCurves()
        for part in np.array_split(np.arange(n), 9):
            c.update(y[part], p[part], None if sw is None else sw[part])
        np.testing.assert_allclose(c.brier_score(), skm.brier_score_loss(y, p, sample_weight=sw),
                                   rtol=1e-12)
        np.testing.assert_allclose(c.log_loss(), skm.log_loss(y, p, sample_weight=sw), rtol=1e-12)


def test_calibration_error_norms_match_definition():
    rng = np.random.default_rng(5)
    n = 20_000
    y = rng.integers(0, 2, n)
    p = np.round(rng.random(n), 3)
    c = BinaryCurves(1000, layout="uniform")
    c.update(y, p)
    pt, pp = sk_calibration_curve(y, p, n_bins=15)
    ids = np.searchsorted(np.linspace(0, 1, 16)[1:-1], p)
    frac = np.bincount(ids, minlength=15)
    frac = frac[frac > 0] / n
    gap = np.abs(pt - pp)
    np.testing.assert_allclose(c.calibration_error(15, "l1"), np.sum(gap * frac), rtol=1e-9)
    np.testing.assert_allclose(c.calibration_error(15, "l2"), np.sqrt(np.sum(gap**2 * frac)),
                               rtol=1e-9)
    np.testing.assert_allclose(c.calibration_error(15, "max"), gap.max(), rtol=1e-9)
    with pytest.raises(ValueError, match="norm"):
        c.calibration_error(norm="l3")


def test_operating_points_agree_with_exact_curves_on_edges():
    rng = np.random.default_rng(6)
    n = 20_000
    c = BinaryCurves()
    s = rng.choice(c.edges()[::50], n)
    y = (rng.random(n) < s).astype(int)
    c.update(y, s)
    prec, rec, thr = skm.precision_recall_curve(y, s)
    ok = rec[:-1] >= 0.8
    best = np.argmax(np.where(ok, prec[:-1], -1))
    assert c.precision_at_recall(0.8) == (prec[best], thr[best])
    ok = prec[:-1] >= 0.7
    best = np.argmax(np.where(ok, rec[:-1], -1))
    assert c.recall_at_precision(0.7) == (rec[best], thr[best])
    fpr, tpr, thr = skm.roc_curve(y, s, drop_intermediate=False)
    i = np.flatnonzero(fpr <= 0.1)[-1]
    assert c.threshold_at_fpr(0.1) == (thr[i], tpr[i], fpr[i])


def test_logits_equal_probabilities_through_sigmoid():
    rng = np.random.default_rng(7)
    n = 30_000
    y = rng.integers(0, 2, n)
    z = rng.normal(0, 4, n)
    a = BinaryCurves(logits=True)
    a.update(y, z)
    b = BinaryCurves()
    b.update(y, expit(z))
    assert np.abs(a.hist - b.hist).sum() <= 4  # sigmoid rounding may move a score across an edge
    assert abs(a.roc_auc() - skm.roc_auc_score(y, z)) <= BOUND
    np.testing.assert_allclose(a.log_loss(), skm.log_loss(y, expit(z)), rtol=1e-9)
    thr = a.roc_curve()[2]
    assert np.isinf(thr[0]) and np.all(np.diff(thr[1:]) < 0)


# ---------------------------------------------------------------- multiclass / multilabel


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ovo", [False, True])
def test_multiclass_against_sklearn(backend, ovo):
    rng = np.random.default_rng(8)
    n, k = 30_000, 4
    y = rng.integers(0, k, n)
    p = rng.dirichlet(np.ones(k) * 0.7, n)
    p[np.arange(n), y] += 0.3
    p /= p.sum(axis=1, keepdims=True)
    w = rng.random(n)
    m = MulticlassCurves(k, ovo=ovo, backend=backend)
    for part in np.array_split(np.arange(n), 4):
        m.update(y[part], p[part], w[part])
    for average in ("macro", "weighted", "micro", None):
        want = skm.roc_auc_score(y, p, multi_class="ovr", average=average, sample_weight=w)
        np.testing.assert_allclose(m.roc_auc(average=average), want, atol=BOUND)
        want = skm.average_precision_score(y, p, average=average, sample_weight=w)
        np.testing.assert_allclose(m.average_precision(average=average), want, atol=BOUND)
    np.testing.assert_allclose(m.brier_score(), skm.brier_score_loss(y, p, sample_weight=w),
                               rtol=1e-12)
    np.testing.assert_allclose(m.log_loss(), skm.log_loss(y, p, sample_weight=w), rtol=1e-12)
    if ovo:
        m2 = MulticlassCurves(k, ovo=True, backend=backend)
        m2.update(y, p)
        for average in ("macro", "weighted"):
            want = skm.roc_auc_score(y, p, multi_class="ovo", average=average)
            assert abs(m2.roc_auc(average=average, multi_class="ovo") - want) <= BOUND
    else:
        with pytest.raises(ValueError, match="ovo=True"):
            m.roc_auc(multi_class="ovo")


def test_multiclass_unseen_class_is_nan_with_warning():
    m = MulticlassCurves(3)
    m.update(np.array([0, 1, 0, 1]), np.full((4, 3), 1 / 3))
    with pytest.warns(UndefinedMetricWarning, match="Only one class"):
        assert np.isnan(m.roc_auc())


@pytest.mark.parametrize("backend", BACKENDS)
def test_multilabel_against_sklearn(backend):
    rng = np.random.default_rng(9)
    n, k = 20_000, 3
    y = rng.integers(0, 2, (n, k))
    s = np.clip(rng.random((n, k)) * 0.7 + 0.3 * y, 0, 1)
    w = rng.random(n)
    m = MultilabelCurves(k, backend=backend)
    m.update(y, s, w)
    for average in ("macro", "weighted", "micro", None):
        np.testing.assert_allclose(
            m.roc_auc(average=average),
            skm.roc_auc_score(y, s, average=average, sample_weight=w), atol=BOUND)
        np.testing.assert_allclose(
            m.average_precision(average=average),
            skm.average_precision_score(y, s, average=average, sample_weight=w), atol=BOUND)
    want = [skm.brier_score_loss(y[:, j], s[:, j], sample_weight=w) for j in range(k)]
    np.testing.assert_allclose(m.brier_score(average=None), want, rtol=1e-12)
    with pytest.raises(ValueError, match="samples"):
        m.roc_auc(average="samples")


# ---------------------------------------------------------------- state semantics


def _filled(cls_args, rng, n=5000):
    cls, args = cls_args
    obj = cls(*args)
    return obj, _batch(obj, rng, n)


def _batch(obj, rng, n):
    if isinstance(obj, BinaryCurves):
        return rng.integers(0, 2, n), rng.random(n)
    if isinstance(obj, MulticlassCurves):
        return rng.integers(0, obj.num_classes, n), rng.dirichlet(np.ones(obj.num_classes), n)
    return rng.integers(0, 2, (n, obj.num_labels)), rng.random((n, obj.num_labels))


KINDS = [(BinaryCurves, ()), (MulticlassCurves, (3,)), (MultilabelCurves, (2,))]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k[0].__name__)
def test_chunked_merge_pickle_state_dict(kind):
    rng = np.random.default_rng(10)
    whole, (t, s) = _filled(kind, rng, 6000)
    whole.update(t, s)
    parts = [kind[0](*kind[1]) for _ in range(3)]
    for obj, idx in zip(parts, np.array_split(np.arange(6000), 3)):
        for sub in np.array_split(idx, 5):
            obj.update(t[sub], s[sub])
    merged = parts[0] + parts[1]
    merged += parts[2]
    np.testing.assert_array_equal(merged.hist, whole.hist)
    np.testing.assert_allclose(merged.psum, whole.psum, rtol=1e-12)
    np.testing.assert_allclose(merged.sums, whole.sums, rtol=1e-12)
    assert merged.roc_auc() == pytest.approx(whole.roc_auc(), rel=1e-12)
    clone = pickle.loads(pickle.dumps(merged))
    np.testing.assert_array_equal(clone.hist, merged.hist)
    clone.update(t[:10], s[:10])  # the lock survives pickling
    fresh = kind[0](*kind[1])
    fresh.load_state_dict(merged.state_dict())
    np.testing.assert_array_equal(fresh.hist, merged.hist)
    assert fresh.roc_auc() == merged.roc_auc()
    fresh.reset()
    assert not fresh.hist.any() and not fresh.sums.any()


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k[0].__name__)
def test_nbytes_independent_of_stream_length(kind):
    rng = np.random.default_rng(11)
    obj, (t, s) = _filled(kind, rng, 100)
    before = obj.nbytes
    for _ in range(3):
        obj.update(*_batch(obj, rng, 20_000))
    assert obj.nbytes == before


def test_weighted_promotes_to_float_state():
    c = BinaryCurves()
    c.update(np.array([0, 1]), np.array([0.2, 0.7]))
    assert c.hist.dtype == np.int64
    c.update(np.array([0, 1]), np.array([0.2, 0.7]), sample_weight=np.array([0.5, 2.0]))
    assert c.hist.dtype == np.float64 and c.hist.sum() == 4.5


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_input_raises_and_counts_nothing(backend):
    c = BinaryCurves(backend=backend)
    c.update(np.array([0, 1, 1]), np.array([0.1, 0.5, 0.9]))
    snap = c.state_dict()
    cases = [
        (np.array([0, 1, 2]), np.array([0.1, 0.2, 0.3]), None, r"target\[2\] = 2 is outside \[0, 2\)"),
        (np.array([0, 1, 1]), np.array([0.1, np.nan, 0.3]), None, r"preds\[1\] = nan is not finite"),
        (np.array([0, 1, 1]), np.array([0.1, 0.2, 1.5]), None, r"preds\[2\] = 1.5 is outside \[0, 1\]"),
        (np.array([0, 1, 1]), np.array([-0.1, 0.2, 0.3]), None, r"logits=True"),
        (np.array([0, 1, 1]), np.array([0.1, 0.2, 0.3]), np.array([1.0, -1.0, 1.0]),
         r"sample_weight\[1\] = -1.0"),
    ]
    for t, s, w, msg in cases:
        with pytest.raises(ValueError, match=msg):
            c.update(t, s, w)
        for name in ("hist", "psum", "sums"):
            np.testing.assert_array_equal(getattr(c, name), snap[name])
        assert c.hist.dtype == np.int64
    with pytest.raises(ValueError, match="same shape"):
        c.update(np.array([0, 1]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(TypeError, match="target"):
        c.update(np.array([0.0, 1.0]), np.array([0.1, 0.2]))
    with pytest.raises(TypeError, match="preds"):
        c.update(np.array([0, 1]), np.array([0, 1]))
    with pytest.raises(ValueError, match="not finite"):
        BinaryCurves(logits=True, backend=backend).update(np.array([1]), np.array([np.inf]))


def test_ignore_index_drops_samples():
    rng = np.random.default_rng(12)
    t = rng.integers(0, 2, 1000)
    s = rng.random(1000)
    t_ign = t.copy()
    t_ign[::3] = -1
    s_bad = s.copy()
    s_bad[::3] = np.nan  # ignored samples are not checked
    a = BinaryCurves(ignore_index=-1)
    a.update(t_ign, s_bad)
    b = BinaryCurves()
    keep = t_ign != -1
    b.update(t[keep], s[keep])
    np.testing.assert_array_equal(a.hist, b.hist)
    m = MulticlassCurves(3, ignore_index=-1)
    m.update(np.array([0, -1, 2]), np.array([[0.5, 0.2, 0.3], [np.nan] * 3, [0.1, 0.1, 0.8]]))
    assert m.hist.sum() == 2 * 3


def test_multiclass_and_multilabel_bad_input():
    m = MulticlassCurves(3)
    with pytest.raises(ValueError, match=r"target\[1\] = 3 is outside \[0, 3\)"):
        m.update(np.array([0, 3]), np.full((2, 3), 0.3))
    with pytest.raises(ValueError, match=r"preds\[0, 2\] = nan"):
        m.update(np.array([0, 1]), np.array([[0.1, 0.2, np.nan], [0.1, 0.2, 0.3]]))
    with pytest.raises(ValueError, match="shape"):
        m.update(np.array([0, 1]), np.full((2, 4), 0.25))
    assert not m.hist.any()
    ml = MultilabelCurves(2)
    with pytest.raises(ValueError, match=r"target\[0, 1\] = 2"):
        ml.update(np.array([[0, 2]]), np.array([[0.1, 0.2]]))
    assert not ml.hist.any()


def test_merge_rejects_mismatched_configuration():
    with pytest.raises(ValueError, match="different bins"):
        BinaryCurves().merge(BinaryCurves(1000, layout="uniform"))
    with pytest.raises(TypeError):
        BinaryCurves().merge(MultilabelCurves(1))
    with pytest.raises(ValueError, match="layout"):
        BinaryCurves().load_state_dict(BinaryCurves(1000, layout="uniform").state_dict())


def test_argument_checks():
    with pytest.raises(ValueError, match="layout"):
        BinaryCurves(layout="log")
    with pytest.raises(TypeError, match="num_bins"):
        BinaryCurves(num_bins=1.5)
    with pytest.raises(ValueError, match="num_bins"):
        BinaryCurves(num_bins=10)
    with pytest.raises(TypeError, match="logits"):
        BinaryCurves(logits="yes")
    with pytest.raises(ValueError, match="num_classes"):
        MulticlassCurves(1)
    with pytest.raises(ValueError, match="backend"):
        BinaryCurves(backend="gpu")
    with pytest.raises(ValueError, match="max_fpr"):
        BinaryCurves().roc_auc(max_fpr=0)


# ---------------------------------------------------------------- random streams, threads

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 400),
    cuts=st.lists(st.integers(0, 400), max_size=5),
    weighted=st.booleans(),
    logits=st.booleans(),
)
def test_random_chunkings_and_backends_agree(seed, n, cuts, weighted, logits):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, n).astype(np.int8)
    s = rng.normal(0, 5, n) if logits else rng.choice([0.0, 0.25, 0.5, 1.0, rng.random()], n)
    w = rng.random(n) if weighted else None
    bounds = [0] + sorted(c for c in cuts if c <= n) + [n]
    objs = {b: BinaryCurves(logits=logits, backend=b) for b in BACKENDS}
    for b, obj in objs.items():
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            obj.update(t[lo:hi], s[lo:hi], None if w is None else w[lo:hi])
    one = BinaryCurves(logits=logits, backend="numpy")
    one.update(t, s, w)
    for obj in objs.values():
        if weighted:
            np.testing.assert_allclose(obj.hist, one.hist, rtol=1e-12)
        else:
            np.testing.assert_array_equal(obj.hist, one.hist)
        np.testing.assert_allclose(obj.sums, one.sums, rtol=1e-9, atol=1e-12)


def test_concurrent_updates_lose_nothing():
    import threading

    rng = np.random.default_rng(13)
    batches = [(rng.integers(0, 2, 2000), rng.random(2000)) for _ in range(16)]
    shared = BinaryCurves()
    threads = [threading.Thread(target=lambda b=b: shared.update(*b)) for b in batches]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    serial = BinaryCurves()
    for b in batches:
        serial.update(*b)
    np.testing.assert_array_equal(shared.hist, serial.hist)
