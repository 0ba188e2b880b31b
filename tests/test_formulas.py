"""tallyml._formulas: pure count -> metric functions, checked against scikit-learn computed on
the raw data the counts were taken from (counts built by the numpy reference kernels)."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import UndefinedMetricWarning as SkUndefined

from tallyml import TallymlWarning, UndefinedMetricWarning
from tallyml import _formulas as F
from tallyml._backends import reference, triplet_bins

_ZD = ["warn", 0, 1, np.nan]
_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _run(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, rec


def _n_warn(rec, category):
    return sum(issubclass(w.category, category) for w in rec)


def _same(expected, got):
    if expected is None:
        assert got is None
        return
    np.testing.assert_allclose(np.asarray(got, float), np.asarray(expected, float), rtol=1e-12,
                               atol=1e-14, equal_nan=True)


def _cm(y_true, y_pred, k, weight):
    cm = np.zeros((k, k), np.int64 if weight is None else np.float64)
    reference.multiclass_labels(np.asarray(y_true), np.asarray(y_pred), weight, None, cm, None)
    return cm


def _ml(y_true, y_pred, weight):
    n_labels = y_true.shape[1]
    dtype = np.int64 if weight is None else np.float64
    state = np.zeros((n_labels, 2, 2), dtype)
    hist = np.zeros(triplet_bins(n_labels), dtype)
    reference.multilabel_labels(y_true, y_pred, weight, state, hist)
    return state, hist


@st.composite
def _multiclass(draw):
    k = draw(st.integers(1, 4))
    n = draw(st.integers(1, 20))
    y_true = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    y_pred = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    weight = draw(st.none() | st.lists(st.floats(0.01, 5), min_size=n, max_size=n).map(np.array))
    return y_true, y_pred, k, weight


@st.composite
def _multilabel(draw):
    n = draw(st.integers(1, 15))
    n_labels = draw(st.integers(2, 5))
    cells = st.lists(st.lists(st.integers(0, 1), min_size=n_labels, max_size=n_labels),
                     min_size=n, max_size=n)
    y_true, y_pred = np.array(draw(cells)), np.array(draw(cells))
    weight = draw(st.none() | st.lists(st.floats(0.01, 5), min_size=n, max_size=n).map(np.array))
    return y_true, y_pred, weight


def test_triplets_enumerate_bins_in_index_order():
    for n_labels in range(7):
        tp, fp, fn = F.triplets(n_labels)
        assert len(tp) == triplet_bins(n_labels)
        np.testing.assert_array_equal(reference.triplet_index(tp, fp, fn), np.arange(len(tp)))
        assert ((tp + fp + fn) <= n_labels).all() and (tp >= 0).all() and (fp >= 0).all()
        assert len({(a, b, c) for a, b, c in zip(tp, fp, fn)}) == len(tp)


@_SETTINGS
@given(case=_multiclass())
def test_mcm_from_cm_matches_sklearn(case):
    y_true, y_pred, k, weight = case
    mcm = F.mcm_from_cm(_cm(y_true, y_pred, k, weight))
    expected = skm.multilabel_confusion_matrix(y_true, y_pred, labels=range(k),
                                               sample_weight=weight)
    np.testing.assert_allclose(mcm, expected, rtol=1e-12, atol=1e-12)
    _same(expected[:, 1, 0] + expected[:, 1, 1], F.support(mcm))


@_SETTINGS
@given(case=_multiclass(), data=st.data())
def test_prfs_jaccard_multiclass(case, data):
    y_true, y_pred, k, weight = case
    mcm = F.mcm_from_cm(_cm(y_true, y_pred, k, weight))
    average = data.draw(st.sampled_from([None, "micro", "macro", "weighted"]))
    zd = data.draw(st.sampled_from(_ZD))
    beta = data.draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, math.inf]))
    exp, exp_rec = _run(skm.precision_recall_fscore_support, y_true, y_pred, labels=range(k),
                        beta=beta, average=average, zero_division=zd, sample_weight=weight)
    got, got_rec = _run(F.precision_recall_fscore_support, mcm, beta=beta, average=average,
                        zero_division=zd)
    for e, g in zip(exp, got):
        _same(e, g)
    assert _n_warn(got_rec, UndefinedMetricWarning) == _n_warn(exp_rec, SkUndefined)
    if zd is not np.nan:
        exp, exp_rec = _run(skm.jaccard_score, y_true, y_pred, labels=range(k), average=average,
                            zero_division=zd, sample_weight=weight)
        got, got_rec = _run(F.jaccard, mcm, average=average, zero_division=zd)
        _same(exp, got)
        assert _n_warn(got_rec, UndefinedMetricWarning) == _n_warn(exp_rec, SkUndefined)


@_SETTINGS
@given(case=_multilabel(), data=st.data())
def test_prfs_jaccard_multilabel_with_samples(case, data):
    y_true, y_pred, weight = case
    mcm, hist = _ml(y_true, y_pred, weight)
    average = data.draw(st.sampled_from([None, "micro", "macro", "weighted", "samples"]))
    zd = data.draw(st.sampled_from(_ZD))
    exp, exp_rec = _run(skm.precision_recall_fscore_support, y_true, y_pred, average=average,
                        zero_division=zd, sample_weight=weight)
    got, got_rec = _run(F.precision_recall_fscore_support, mcm, average=average,
                        zero_division=zd, samples_hist=hist)
    for e, g in zip(exp, got):
        _same(e, g)
    assert _n_warn(got_rec, UndefinedMetricWarning) == _n_warn(exp_rec, SkUndefined)
    if zd is not np.nan:
        exp, exp_rec = _run(skm.jaccard_score, y_true, y_pred, average=average,
                            zero_division=zd, sample_weight=weight)
        got, got_rec = _run(F.jaccard, mcm, average=average, zero_division=zd, samples_hist=hist)
        _same(exp, got)
        assert _n_warn(got_rec, UndefinedMetricWarning) == _n_warn(exp_rec, SkUndefined)
    _same(skm.accuracy_score(y_true, y_pred, sample_weight=weight), F.subset_accuracy(hist))
    _same(skm.hamming_loss(y_true, y_pred, sample_weight=weight), F.hamming_loss_mcm(mcm))


@_SETTINGS
@given(case=_multiclass(), data=st.data())
def test_whole_matrix_formulas(case, data):
    y_true, y_pred, k, weight = case
    cm = _cm(y_true, y_pred, k, weight)
    _same(skm.accuracy_score(y_true, y_pred, sample_weight=weight), F.accuracy(cm))
    # sklearn's MCC warns (UserWarning) about a 1x1 matrix from its inner confusion_matrix
    _same(_run(skm.matthews_corrcoef, y_true, y_pred, sample_weight=weight)[0],
          F.matthews_corrcoef(cm))
    weights = data.draw(st.sampled_from([None, "linear", "quadratic"]))
    exp, exp_rec = _run(skm.cohen_kappa_score, y_true, y_pred, labels=range(k), weights=weights,
                        sample_weight=weight)
    got, got_rec = _run(F.cohen_kappa, cm, weights=weights)
    _same(exp, got)
    assert _n_warn(got_rec, UndefinedMetricWarning) == _n_warn(exp_rec, SkUndefined)
    normalize = data.draw(st.sampled_from([None, "true", "pred", "all"]))
    exp, _ = _run(skm.confusion_matrix, y_true, y_pred, labels=range(k), normalize=normalize,
                  sample_weight=weight)
    _same(exp, F.normalize_confusion(cm, normalize))
    # balanced accuracy: sklearn's present classes are the labels seen in y_true or y_pred
    present = np.unique(np.concatenate([y_true, y_pred]))
    adjusted = data.draw(st.booleans())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp = skm.balanced_accuracy_score(y_true, y_pred, sample_weight=weight, adjusted=adjusted)
        got = F.balanced_accuracy(cm[np.ix_(present, present)], adjusted=adjusted)
    _same(exp, got)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
def test_specificity_is_recall_of_the_negative_class(average):
    rng = np.random.default_rng(5)
    y_true, y_pred = rng.integers(0, 4, 60), rng.integers(0, 3, 60)
    weight = rng.random(60)
    mcm = F.mcm_from_cm(_cm(y_true, y_pred, 4, weight))
    per_class = np.array([
        skm.recall_score(y_true != c, y_pred != c, sample_weight=weight) for c in range(4)
    ])
    got = F.specificity(mcm, average=average)
    if average is None:
        _same(per_class, got)
    elif average == "macro":
        _same(per_class.mean(), got)
    elif average == "weighted":
        _same(np.average(per_class, weights=F.support(mcm)), got)
    else:
        tn, fp = mcm[:, 0, 0].sum(), mcm[:, 0, 1].sum()
        _same(tn / (tn + fp), got)


def test_specificity_zero_division():
    mcm = np.array([[[0, 0], [1, 2]]])  # no negatives at all
    with pytest.warns(UndefinedMetricWarning):
        assert F.specificity(mcm)[0] == 0.0
    assert F.specificity(mcm, zero_division=1)[0] == 1.0
    assert np.isnan(F.specificity(mcm, average="macro", zero_division=np.nan))


def test_degenerate_values():
    assert F.matthews_corrcoef(np.array([[5, 0], [0, 0]])) == 0.0
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(F.cohen_kappa(np.array([[5, 0], [0, 0]])))
    with pytest.warns(UndefinedMetricWarning):
        assert F.cohen_kappa(np.zeros((2, 2)), replace_undefined_by=-1.0) == -1.0
    np.testing.assert_array_equal(F.normalize_confusion(np.array([[0, 0], [2, 2]]), "true"),
                                  [[0, 0], [0.5, 0.5]])
    with pytest.warns(TallymlWarning, match="not in y_true"):
        assert F.balanced_accuracy(np.array([[2, 1], [0, 0]])) == pytest.approx(2 / 3)


def test_zero_weight_samples_flag_warns_like_sklearn():
    y = np.array([[1, 0], [1, 1]])
    mcm, hist = _ml(y, y, np.array([0.0, 1.0]))
    exp, exp_rec = _run(skm.precision_score, y, y, average="samples", sample_weight=[0.0, 1.0])
    got, got_rec = _run(F.precision_recall_fscore_support, mcm, average="samples",
                        samples_hist=hist, zero_weight_samples=True)
    _same(exp, got[0])
    assert _n_warn(exp_rec, SkUndefined) == 1 and _n_warn(got_rec, UndefinedMetricWarning) >= 1


@pytest.mark.parametrize("bad", ["mean", "binaryy", 3, ["macro"]])
def test_check_average_names_argument(bad):
    with pytest.raises(ValueError, match=r"average must be one of .* got"):
        F.check_average(bad, (None, "macro"))
    with pytest.raises(ValueError, match="average"):
        F.precision_recall_fscore_support(np.zeros((1, 2, 2)), average=bad)


@pytest.mark.parametrize("bad", ["nan", 2, -1, 0.5, None, "Warn"])
def test_check_zero_division_names_argument(bad):
    with pytest.raises(ValueError, match=r"zero_division must be one of .* got"):
        F.check_zero_division(bad)


@pytest.mark.parametrize("good", ["warn", 0, 1, 0.0, 1.0, np.nan, float("nan")])
def test_check_zero_division_accepts_sklearn_values(good):
    F.check_zero_division(good)


def test_samples_average_needs_histogram():
    with pytest.raises(ValueError, match="samples_hist"):
        F.precision_recall_fscore_support(np.zeros((2, 2, 2)), average="samples")
    with pytest.raises(ValueError, match="samples_hist"):
        F.jaccard(np.zeros((2, 2, 2)), average="samples", samples_hist=np.zeros(7))


def test_specificity_samples_average_is_the_mean_per_sample_rate():
    rng = np.random.default_rng(11)
    y_true, y_pred = rng.integers(0, 2, (40, 4)), rng.integers(0, 2, (40, 4))
    weight = rng.random(40)
    for w in (None, weight):
        mcm, hist = _ml(y_true, y_pred, w)
        tn = ((y_true == 0) & (y_pred == 0)).sum(axis=1)
        fp = ((y_true == 0) & (y_pred == 1)).sum(axis=1)
        per_sample = np.divide(tn, tn + fp, out=np.full(40, np.nan), where=(tn + fp) > 0)
        ok = ~np.isnan(per_sample)
        expected = np.average(per_sample[ok], weights=None if w is None else w[ok])
        got = F.specificity(mcm, average="samples", samples_hist=hist, zero_division=np.nan)
        _same(expected, got)


def test_samples_hist_must_match_the_labels():
    mcm, hist = _ml(np.eye(3, dtype=int), np.eye(3, dtype=int), None)
    with pytest.raises(ValueError, match="samples_hist"):
        F.precision_recall_fscore_support(mcm[:2], average="samples", samples_hist=hist)
