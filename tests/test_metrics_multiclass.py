"""MulticlassMetrics against scikit-learn on random streams fed in random chunks."""
import math

import numpy as np
import pytest
from hypothesis import Phase, given, settings, strategies as st
from sklearn import metrics as skm

from tallyml import MulticlassMetrics, UndefinedMetricWarning
from _metrics_oracle import ZERO_DIVISIONS, as_variant, assert_same, chunks, run, specificity_oracle

AVERAGES = ["micro", "macro", "weighted", None]


def make_stream(seed, n, k, skew, t_dtype, mode, ignore, weighted):
    rng = np.random.default_rng(seed)
    if np.dtype(t_dtype).kind in "bu" and ignore == -1:
        ignore = None
    if t_dtype == np.bool_:
        k = 2
    # skewed class probabilities: some classes are rare or absent from the stream
    prob = rng.dirichlet(np.full(k, skew))
    y = rng.choice(k, size=n, p=prob).astype(t_dtype)
    if ignore == -1:
        y = np.where(rng.random(n) < 0.2, -1, y).astype(t_dtype)
    if mode == "labels":
        preds = np.where(rng.random(n) < 0.5, y.astype(np.int64) % k, rng.choice(k, size=n, p=prob))
        preds = preds.astype(t_dtype if t_dtype != np.bool_ else np.int8)
    else:  # scores from a small pool so that ties (first maximum wins) are common
        preds = rng.choice(np.array([0.0, 0.25, 0.5, 1.0]), size=(n, k)).astype(mode)
    w = None
    if weighted:
        w = rng.random(n) * 2
        if weighted == "zeros":
            w[rng.random(n) < 0.4] = 0.0
    return rng, y, preds, w, k, ignore


STREAM = dict(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 50),
    k=st.sampled_from([2, 3, 5, 8]),
    skew=st.sampled_from([0.2, 1.0, 10.0]),
    t_dtype=st.sampled_from([np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_, np.uint32]),
    mode=st.sampled_from(["labels", "labels", "float32", "float64"]),
    ignore=st.sampled_from([None, -1, 0]),
    weighted=st.sampled_from([None, "positive", "zeros"]),
)


def oracle_inputs(y, preds, w, ignore):
    keep = np.ones(len(y), bool) if ignore is None else y.astype(np.int64) != ignore
    yk = y[keep].astype(np.int64)
    pk = preds[keep]
    pk = np.argmax(pk, axis=1) if pk.ndim == 2 else pk.astype(np.int64)
    return yk, pk.astype(np.int64), None if w is None else w[keep]


@settings(max_examples=30, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate))
@given(labels=st.sampled_from(["seen", "all"]), zero_division=st.sampled_from(ZERO_DIVISIONS), **STREAM)
def test_multiclass_matches_sklearn(labels, zero_division, **params):
    rng, y, preds, w, k, ignore = make_stream(**params)
    zd = zero_division
    m = MulticlassMetrics(k, labels=labels, ignore_index=ignore, zero_division=zd)
    for sl in chunks(len(y), rng):
        sw = None if w is None else as_variant(w[sl], rng)
        m.update(as_variant(y[sl], rng), as_variant(preds[sl], rng), sample_weight=sw)
    yk, pk, wk = oracle_inputs(y, preds, w, ignore)
    if wk is not None and len(wk) and wk.sum() == 0:
        return  # sklearn divides by a zero weight sum; not a stream we compare
    assert m.count == len(yk)
    sk = dict(sample_weight=wk)
    lab = dict(labels=np.arange(k)) if labels == "all" else {}
    label_set = np.arange(k) if labels == "all" else np.union1d(yk, pk)
    if len(yk):
        np.testing.assert_array_equal(m.label_set(), label_set)
        for norm in (None, "true", "pred", "all"):
            assert_same(lambda: m.confusion_matrix(norm),
                        lambda: skm.confusion_matrix(yk, pk, normalize=norm, **lab, **sk), ("cm", norm))
    assert_same(m.accuracy, lambda: skm.accuracy_score(yk, pk, **sk), "accuracy")
    assert_same(m.hamming_loss, lambda: skm.hamming_loss(yk, pk, **sk), "hamming")
    assert_same(m.mcc, lambda: skm.matthews_corrcoef(yk, pk, **sk), "mcc")
    for adjusted in (False, True):
        assert_same(lambda: m.balanced_accuracy(adjusted),
                    lambda: skm.balanced_accuracy_score(yk, pk, adjusted=adjusted, **sk), "bacc")
    for weights in (None, "linear", "quadratic"):
        assert_same(lambda: m.cohen_kappa(weights),
                    lambda: skm.cohen_kappa_score(yk, pk, weights=weights, **lab, **sk), ("kappa", weights))
    assert_same(m.support, lambda: skm.precision_recall_fscore_support(
        yk, pk, average=None, zero_division=zd, **lab, **sk)[3], "support", check_warning=False)
    for avg in AVERAGES:
        kw = dict(average=avg, zero_division=zd, **lab, **sk)
        assert_same(lambda: m.precision(avg), lambda: skm.precision_score(yk, pk, **kw), ("precision", avg))
        assert_same(lambda: m.recall(avg), lambda: skm.recall_score(yk, pk, **kw), ("recall", avg))
        assert_same(lambda: m.f1(avg), lambda: skm.f1_score(yk, pk, **kw), ("f1", avg))
        assert_same(lambda: m.fbeta(0.5, avg), lambda: skm.fbeta_score(yk, pk, beta=0.5, **kw), ("fbeta", avg))
        if not (isinstance(zd, float) and math.isnan(zd)):  # sklearn's jaccard refuses nan
            assert_same(lambda: m.jaccard(avg), lambda: skm.jaccard_score(yk, pk, **kw), ("jaccard", avg))
        assert_same(lambda: m.specificity(avg),
                    lambda: specificity_oracle(yk, pk, label_set, wk, avg, zd), ("specificity", avg))


def test_seen_labels_include_zero_weight_samples():
    # class 2 appears only in a zero-weight sample: sklearn still counts it as a label
    y, p, w = np.array([0, 1, 2]), np.array([0, 1, 1]), np.array([1.0, 1.0, 0.0])
    m = MulticlassMetrics(4)
    m.update(y, p, sample_weight=w)
    np.testing.assert_array_equal(m.label_set(), [0, 1, 2])
    with pytest.warns(UndefinedMetricWarning):
        ours = m.precision(None)
    theirs = run(lambda: skm.precision_score(y, p, average=None, sample_weight=w))[0]
    np.testing.assert_array_equal(ours, theirs)
    m2 = MulticlassMetrics(4)  # seen survives merge and pickling
    m2 += m
    np.testing.assert_array_equal(m2.label_set(), [0, 1, 2])


def test_update_one_matches_update():
    rng = np.random.default_rng(5)
    y, p = rng.integers(0, 6, 300), rng.integers(0, 6, 300)
    y[::11] = 5
    a, b = MulticlassMetrics(6, ignore_index=5), MulticlassMetrics(6, ignore_index=5)
    a.update(y, p)
    for t, q in zip(y.tolist(), p.tolist()):
        b.update_one(t, q)
    np.testing.assert_array_equal(a.confusion_matrix(), b.confusion_matrix())
    assert a.count == b.count
    with pytest.raises(ValueError, match="target"):
        b.update_one(6, 0)
    with pytest.raises(ValueError, match="pred"):
        b.update_one(0, -1)
    with pytest.raises(TypeError, match="pred"):
        b.update_one(0, 1.0)
    assert a.count == b.count
    b.update_one(np.int16(1), np.uint8(2))
    assert b.count == a.count + 1


def test_scores_argmax_first_maximum():
    m = MulticlassMetrics(3)
    m.update([0, 1, 2], np.array([[1.0, 1.0, 0.0], [0.2, 0.2, 0.2], [0.0, 0.5, 0.5]], dtype=np.float32))
    expected = skm.confusion_matrix([0, 1, 2], [0, 0, 1], labels=[0, 1, 2])
    np.testing.assert_array_equal(m.state_dict()["state"], expected)


@pytest.mark.parametrize("bad, kind, match", [
    (dict(num_classes=1), ValueError, "num_classes"),
    (dict(num_classes=2.0), TypeError, "num_classes"),
    (dict(num_classes=True), TypeError, "num_classes"),
    (dict(num_classes=3, labels="present"), ValueError, "labels"),
    (dict(num_classes=3, ignore_index="x"), TypeError, "ignore_index"),
    (dict(num_classes=3, zero_division="none"), ValueError, "zero_division"),
])
def test_bad_arguments(bad, kind, match):
    with pytest.raises(kind, match=match):
        MulticlassMetrics(**bad)


@pytest.mark.parametrize("target, preds, weight, kind, match", [
    ([0, 1, 2], [0, 1], None, ValueError, "same number of samples"),
    ([0, 3], [0, 1], None, ValueError, r"target\[1\] = 3 is outside \[0, 3\)"),
    ([0, 1], [0, -2], None, ValueError, r"preds\[1\] = -2"),
    ([0, 1], np.ones((2, 4)), None, ValueError, "preds"),
    ([0, 1], np.ones((2, 3), dtype=np.int64), None, TypeError, "preds"),
    ([0, 1], [0.0, 1.0], None, TypeError, "preds"),
    ([0, 1], [[0.1, np.nan, 0.2], [1, 0, 0]], None, ValueError, r"preds\[0, 1\] = nan"),
    ([[0, 1]], [0, 1], None, ValueError, "target"),
    ([0, 1], [0, 1], [[1.0, 1.0]], ValueError, "sample_weight"),
    ([0, 1], [0, 1], [1.0, np.inf], ValueError, r"sample_weight\[1\]"),
    (["a", "b"], [0, 1], None, TypeError, "target"),
])
def test_bad_input_changes_nothing(target, preds, weight, kind, match):
    m = MulticlassMetrics(3)
    m.update([0, 1, 2], [0, 2, 2])
    m.update([1], [1], sample_weight=[2.0])
    before = m.state_dict()
    with pytest.raises(kind, match=match):
        m.update(target, preds, sample_weight=weight)
    after = m.state_dict()
    assert after["count"] == before["count"]
    np.testing.assert_array_equal(after["state"], before["state"])
    np.testing.assert_array_equal(after["seen"], before["seen"])


def test_bad_compute_arguments():
    m = MulticlassMetrics(3)
    m.update([0, 1, 2], [0, 1, 1])
    for avg in ("binary", "samples", "all"):
        with pytest.raises(ValueError, match="average"):
            m.recall(avg)
    with pytest.raises(TypeError, match="adjusted"):
        m.balanced_accuracy(adjusted="yes")


def test_specificity_zero_division_survives_float_weights():
    # every target is class 0, so class 0 has no negatives: tn + fp is exactly 0 (a subtraction
    # total - tp - fp - fn leaves ~1e-15 there with float weights)
    rng = np.random.default_rng(0)
    for _ in range(20):
        y, p, w = np.zeros(20, int), rng.integers(0, 4, 20), rng.random(20) * 3
        m = MulticlassMetrics(4, labels="all", zero_division=np.nan)
        m.update(y, p, sample_weight=w)
        expected = specificity_oracle(y, p, np.arange(4), w, None, np.nan)
        np.testing.assert_allclose(m.specificity(None), expected, rtol=1e-12)
        assert np.isnan(m.specificity(None)[0])
