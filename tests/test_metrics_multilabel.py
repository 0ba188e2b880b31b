"""MultilabelMetrics against scikit-learn on random streams fed in random chunks."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import Phase, given, settings, strategies as st
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning as SkUndefined

from tallyml import MultilabelMetrics
from tallyml.metrics.multilabel import MAX_SAMPLES_LABELS
from _metrics_oracle import ZERO_DIVISIONS, as_variant, assert_same, chunks, run

AVERAGES = ["micro", "macro", "weighted", "samples", None]


def specificity_oracle(Y, P, w, average, zero_division):
    """tn / (tn + fp) per label or per sample (counts scaled by the sample weight, like
    sklearn's samplewise counts), averaged like recall."""
    if len(Y) == 0:
        raise ValueError("empty input")
    w = np.ones(len(Y)) if w is None else w
    neg_pred = (Y == 0) & (P == 0)
    neg_wrong = (Y == 0) & (P == 1)
    if average == "samples":
        tn, fp = neg_pred.sum(axis=1) * w, neg_wrong.sum(axis=1) * w
        weights = w
    else:
        tn, fp = w @ neg_pred, w @ neg_wrong
        weights = w @ (Y == 1) if average == "weighted" else None
        if average == "micro":
            tn, fp = tn.sum(keepdims=True), fp.sum(keepdims=True)
    den = tn + fp
    fill = 0.0 if zero_division == "warn" else float(zero_division)
    with np.errstate(all="ignore"):
        value = np.where(den > 0, tn / den, fill)
    if zero_division == "warn" and np.any(den == 0):
        warnings.warn("specificity ill-defined", SkUndefined)
    if average is None:
        return value
    keep = ~np.isnan(value)
    if not keep.any():
        return math.nan
    if weights is not None:
        weights = weights[keep]
        if weights.sum() == 0:
            weights = None
    return float(np.average(value[keep], weights=weights))


def make_stream(seed, n, n_labels, density, t_dtype, mode, weighted):
    rng = np.random.default_rng(seed)
    dens = rng.random(n_labels) * density  # per-label rates: some labels never positive
    Y = (rng.random((n, n_labels)) < dens).astype(t_dtype)
    flip = rng.random((n, n_labels)) < 0.3
    Pb = np.where(flip, 1 - Y.astype(np.int64), Y.astype(np.int64))
    if mode == "labels":
        P = Pb.astype(rng.choice([np.bool_, np.int8, np.int64]))
    else:
        P = np.where(Pb == 1, rng.choice([0.5, 0.7, 1.0], size=Pb.shape),
                     rng.choice([0.0, 0.2, 0.4999], size=Pb.shape)).astype(mode)
    w = None
    if weighted:
        w = rng.random(n) * 2
        if weighted == "zeros":
            w[rng.random(n) < 0.4] = 0.0
    return rng, Y, P, Pb, w


STREAM = dict(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 40),
    n_labels=st.sampled_from([2, 3, 6]),
    density=st.sampled_from([0.0, 0.3, 1.0]),
    t_dtype=st.sampled_from([np.int64, np.int8, np.bool_, np.int32, np.uint8]),
    mode=st.sampled_from(["labels", "float32", "float64"]),
    weighted=st.sampled_from([None, "positive", "zeros"]),
)


@settings(max_examples=25, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate))
@given(zero_division=st.sampled_from(ZERO_DIVISIONS), **STREAM)
def test_multilabel_matches_sklearn(zero_division, **params):
    rng, Y, P, Pb, w = make_stream(**params)
    zd = zero_division
    n_labels = Y.shape[1]
    m = MultilabelMetrics(n_labels, zero_division=zd)
    for sl in chunks(len(Y), rng):
        sw = None if w is None else as_variant(w[sl], rng)
        m.update(as_variant(Y[sl], rng), as_variant(P[sl], rng), sample_weight=sw)
    if w is not None and len(w) and w.sum() == 0:
        return  # sklearn divides by a zero weight sum; not a stream we compare
    assert m.count == len(Y)
    Yi = Y.astype(np.int64)
    sk = dict(sample_weight=w)
    if len(Y):
        np.testing.assert_allclose(m.confusion_matrix(),
                                   skm.multilabel_confusion_matrix(Yi, Pb, **sk), rtol=1e-12, atol=1e-9)
    assert_same(m.accuracy, lambda: skm.accuracy_score(Yi, Pb, **sk), "subset accuracy")
    assert_same(m.hamming_loss, lambda: skm.hamming_loss(Yi, Pb, **sk), "hamming")
    assert_same(m.label_accuracy, lambda: [skm.accuracy_score(Yi[:, j], Pb[:, j], **sk)
                                           for j in range(n_labels)], "label accuracy")
    assert_same(m.mcc, lambda: [skm.matthews_corrcoef(Yi[:, j], Pb[:, j], **sk)
                                for j in range(n_labels)], "mcc")
    assert_same(m.cohen_kappa, lambda: [skm.cohen_kappa_score(Yi[:, j], Pb[:, j], **sk)
                                        for j in range(n_labels)], "kappa")
    assert_same(m.balanced_accuracy, lambda: [skm.balanced_accuracy_score(Yi[:, j], Pb[:, j], **sk)
                                              for j in range(n_labels)], "bacc")
    assert_same(m.support, lambda: skm.precision_recall_fscore_support(
        Yi, Pb, average=None, **sk)[3], "support", check_warning=False)
    for avg in AVERAGES:
        kw = dict(average=avg, zero_division=zd, **sk)
        assert_same(lambda: m.precision(avg), lambda: skm.precision_score(Yi, Pb, **kw), ("precision", avg))
        assert_same(lambda: m.recall(avg), lambda: skm.recall_score(Yi, Pb, **kw), ("recall", avg))
        assert_same(lambda: m.f1(avg), lambda: skm.f1_score(Yi, Pb, **kw), ("f1", avg))
        assert_same(lambda: m.fbeta(2.0, avg), lambda: skm.fbeta_score(Yi, Pb, beta=2.0, **kw), ("fbeta", avg))
        if not (isinstance(zd, float) and math.isnan(zd)):  # sklearn's jaccard refuses nan
            assert_same(lambda: m.jaccard(avg), lambda: skm.jaccard_score(Yi, Pb, **kw), ("jaccard", avg))
        assert_same(lambda: m.specificity(avg),
                    lambda: specificity_oracle(Yi, Pb, w, avg, zd), ("specificity", avg))


def test_threshold_and_logits():
    Y = np.array([[1, 0, 1], [0, 1, 1]])
    S = np.array([[0.3, 0.29, 0.9], [0.1, 0.31, 0.01]])
    m = MultilabelMetrics(3, threshold=0.3)
    m.update(Y, S)
    np.testing.assert_array_equal(m.confusion_matrix(), skm.multilabel_confusion_matrix(Y, (S >= 0.3).astype(int)))
    logits = np.log(S / (1 - S))
    m2 = MultilabelMetrics(3, threshold=0.3, logits=True)
    m2.update(Y, np.where(np.isclose(S, 0.3), -5.0, logits))  # keep off the boundary
    np.testing.assert_array_equal(m2.confusion_matrix(), skm.multilabel_confusion_matrix(Y, (S > 0.3).astype(int)))


@pytest.mark.parametrize("weighted", [False, True])
def test_many_labels_without_histogram(weighted):
    n_labels = MAX_SAMPLES_LABELS + 3
    rng = np.random.default_rng(11)
    Y = (rng.random((40, n_labels)) < 0.02).astype(np.int8)
    P = Y.copy()
    P[rng.random(P.shape) < 0.005] ^= 1
    S = np.where(P == 1, 0.8, 0.1).astype(np.float32)
    w = rng.random(40) if weighted else None
    m = MultilabelMetrics(n_labels)
    m.update(Y[:15], S[:15], sample_weight=None if w is None else w[:15])
    m.update(Y[15:], P[15:], sample_weight=None if w is None else w[15:])
    sk = dict(sample_weight=w)
    assert m.accuracy() == pytest.approx(skm.accuracy_score(Y, P, **sk), rel=1e-12)
    assert m.hamming_loss() == pytest.approx(skm.hamming_loss(Y, P, **sk), rel=1e-12)
    assert_same(lambda: m.f1("micro"), lambda: skm.f1_score(Y, P, average="micro", **sk), "f1")
    with pytest.raises(ValueError, match="samples"):
        m.precision("samples")
    before = m.state_dict()
    bad = S.copy()
    bad[3, 100] = np.nan
    with pytest.raises(ValueError, match=r"preds\[3, 100\] = nan is not finite"):
        m.update(Y, bad)
    after = m.state_dict()
    np.testing.assert_array_equal(after["state"], before["state"])
    np.testing.assert_array_equal(after["exact"], before["exact"])
    m2 = MultilabelMetrics(n_labels)
    m2.load_state_dict(after)
    m2 += m
    assert m2.count == 80 and m2.accuracy() == pytest.approx(m.accuracy(), rel=1e-12)


@pytest.mark.parametrize("target, preds, weight, kind, match", [
    (np.zeros((2, 3)), np.zeros((3, 3)), None, ValueError, "same number of samples"),
    (np.zeros((2, 4), int), np.zeros((2, 3), int), None, ValueError, "target"),
    (np.zeros((2, 3), int), np.zeros((2, 2), int), None, ValueError, "preds"),
    (np.zeros(3, int), np.zeros(3, int), None, ValueError, "target"),
    ([[0, 2, 0], [0, 0, 0]], np.zeros((2, 3), int), None, ValueError, r"target\[0, 1\] = 2"),
    (np.zeros((2, 3), int), [[0, 0, 0], [0, 0, 0.5]], None, None, None),
    (np.zeros((2, 3), int), [[0, 0, 0], [0, -np.inf, 0.5]], None, ValueError, r"preds\[1, 1\] = -inf"),
    (np.zeros((2, 3), int), np.zeros((2, 3), int), [1.0, -2.0], ValueError, r"sample_weight\[1\]"),
    (np.zeros((2, 3), int), np.zeros((2, 3), int), [1.0], ValueError, "sample_weight"),
    (np.zeros((2, 3), "U1"), np.zeros((2, 3), int), None, TypeError, "target"),
])
def test_bad_input_changes_nothing(target, preds, weight, kind, match):
    m = MultilabelMetrics(3)
    m.update(np.eye(3, dtype=np.int8), np.ones((3, 3)) * 0.7)
    before = m.state_dict()
    if kind is None:  # float preds are scores, whatever their values
        m.update(target, preds, sample_weight=weight)
        return
    with pytest.raises(kind, match=match):
        m.update(target, preds, sample_weight=weight)
    after = m.state_dict()
    assert after["count"] == before["count"]
    for key in ("state", "samples", "zero_weight"):
        np.testing.assert_array_equal(after[key], before[key])


def test_bad_arguments_and_empty():
    with pytest.raises(ValueError, match="num_labels"):
        MultilabelMetrics(1)
    with pytest.raises(ValueError, match="threshold"):
        MultilabelMetrics(3, threshold=1.01)
    m = MultilabelMetrics(3)
    m.update([], [])
    m.update(np.zeros((0, 3), np.int8), np.zeros((0, 3), np.float32))
    with pytest.raises(ValueError, match="no samples"):
        m.f1()
    m.update(np.eye(3, dtype=np.int8), np.eye(3, dtype=np.int8))
    with pytest.raises(ValueError, match="average"):
        m.f1("binary")
    assert run(m.compute)[0]["accuracy"] == 1.0
