"""EstimatedMetrics against scikit-learn: the expected confusion counts are the weighted counts
of a stream in which every sample appears once per possible label, weighted by its probability,
so sklearn's own metrics with ``sample_weight`` on that expanded stream are the oracle. Also:
state handling (merge, pickle, state_dict), argument and input errors (nothing counted)."""
import copy
import pickle
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

import tallyml
from tallyml import EstimatedMetrics, HistogramCalibrator, IsotonicCalibrator
from tallyml.estimation import compare

BACKENDS = ["numpy", "numba"] + (["native"] if tallyml.estimation._kernels.resolve("auto") == "native" else [])


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def _expand_binary(p, threshold=0.5):
    """Each sample twice: (label 1, weight p) and (label 0, weight 1 - p), same prediction."""
    yhat = (p >= threshold).astype(int)
    y = np.concatenate([np.ones_like(yhat), np.zeros_like(yhat)])
    return y, np.concatenate([yhat, yhat]), np.concatenate([p, 1 - p]), np.concatenate([p, p])


def _expand_multiclass(p):
    n, k = p.shape
    yhat = np.argmax(p, axis=1)
    y = np.repeat(np.arange(k)[None, :], n, axis=0).reshape(-1)
    return y, np.repeat(yhat, k), p.reshape(-1)


def _quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return fn(*a, **kw)


@pytest.mark.parametrize("threshold", [0.5, 0.3, 0.9])
def test_binary_against_sklearn(backend, threshold):
    rng = np.random.default_rng(1)
    p = rng.beta(0.7, 0.9, 3000)
    est = EstimatedMetrics("binary", threshold=threshold, backend=backend)
    for chunk in np.array_split(p, 7):
        est.update(chunk)
    y, yhat, w, _ = _expand_binary(p, threshold)
    np.testing.assert_allclose(est.expected_confusion_matrix(),
                               skm.confusion_matrix(y, yhat, sample_weight=w), rtol=1e-12)
    assert est.accuracy() == pytest.approx(skm.accuracy_score(y, yhat, sample_weight=w), rel=1e-12)
    for name in ("precision", "recall", "f1", "jaccard"):
        fn = {"precision": skm.precision_score, "recall": skm.recall_score,
              "f1": skm.f1_score, "jaccard": skm.jaccard_score}[name]
        for average in ("binary", "macro", "weighted", "micro"):
            assert getattr(est, name)(average) == pytest.approx(
                _quiet(fn, y, yhat, sample_weight=w, average=average), rel=1e-12)
    assert est.mcc() == pytest.approx(skm.matthews_corrcoef(y, yhat, sample_weight=w), rel=1e-12)
    assert est.specificity() == pytest.approx(
        skm.recall_score(y, yhat, sample_weight=w, pos_label=0), rel=1e-12)
    assert est.cohen_kappa() == pytest.approx(
        skm.cohen_kappa_score(y, yhat, sample_weight=w), rel=1e-12)


def test_binary_roc_auc_against_sklearn(backend):
    # scores on bin centres: the histogram AUROC is then exact
    nb = 64
    rng = np.random.default_rng(2)
    p = (rng.integers(0, nb, 5000) + 0.5) / nb
    est = EstimatedMetrics("binary", num_bins=nb, backend=backend)
    est.update(p)
    y, _, w, s = _expand_binary(p)
    assert est.roc_auc() == pytest.approx(skm.roc_auc_score(y, s, sample_weight=w), rel=1e-12)
    # arbitrary scores: within the binning error
    q = rng.random(5000)
    est = EstimatedMetrics("binary", num_bins=1024, backend=backend)
    est.update(q)
    y, _, w, s = _expand_binary(q)
    assert est.roc_auc() == pytest.approx(skm.roc_auc_score(y, s, sample_weight=w), abs=2e-4)


@pytest.mark.parametrize("k", [3, 6])
def test_multiclass_against_sklearn(backend, k):
    rng = np.random.default_rng(k)
    p = rng.dirichlet(np.ones(k) * 0.5, 2000)
    est = EstimatedMetrics("multiclass", num_classes=k, backend=backend)
    for chunk in np.array_split(p, 3):
        est.update(chunk)
    y, yhat, w = _expand_multiclass(p)
    labels = np.arange(k)
    np.testing.assert_allclose(est.expected_confusion_matrix(),
                               skm.confusion_matrix(y, yhat, labels=labels, sample_weight=w),
                               rtol=1e-12, atol=1e-9)
    assert est.accuracy() == pytest.approx(skm.accuracy_score(y, yhat, sample_weight=w), rel=1e-12)
    for average in ("macro", "weighted", "micro"):
        assert est.f1(average) == pytest.approx(
            _quiet(skm.f1_score, y, yhat, sample_weight=w, average=average), rel=1e-10)
        assert est.precision(average) == pytest.approx(
            _quiet(skm.precision_score, y, yhat, sample_weight=w, average=average), rel=1e-10)
        assert est.recall(average) == pytest.approx(
            _quiet(skm.recall_score, y, yhat, sample_weight=w, average=average), rel=1e-10)
    np.testing.assert_allclose(est.f1(None), _quiet(skm.f1_score, y, yhat, sample_weight=w,
                                                    average=None), rtol=1e-10)
    assert est.mcc() == pytest.approx(skm.matthews_corrcoef(y, yhat, sample_weight=w), rel=1e-10)
    # one-vs-rest AUROC per class on bin centres
    nb = 32
    q = (np.floor(p * nb) + 0.5) / nb
    est = EstimatedMetrics("multiclass", num_classes=k, num_bins=nb, sum_tol=0.5, backend=backend)
    est.update(q)
    per = est.roc_auc(None)
    for c in range(k):
        yc = np.concatenate([np.ones(len(q)), np.zeros(len(q))])
        want = skm.roc_auc_score(yc, np.concatenate([q[:, c], q[:, c]]),
                                 sample_weight=np.concatenate([q[:, c], 1 - q[:, c]]))
        assert per[c] == pytest.approx(want, rel=1e-12)
    assert est.roc_auc() == pytest.approx(per.mean(), rel=1e-12)


def test_multilabel_against_sklearn(backend):
    rng = np.random.default_rng(4)
    p = rng.random((1500, 3))
    est = EstimatedMetrics("multilabel", num_labels=3, threshold=0.4, backend=backend)
    est.update(p)
    f1 = []
    for c in range(3):
        y, yhat, w, _ = _expand_binary(p[:, c], 0.4)
        np.testing.assert_allclose(est.expected_confusion_matrix()[c],
                                   skm.confusion_matrix(y, yhat, sample_weight=w), rtol=1e-12)
        f1.append(skm.f1_score(y, yhat, sample_weight=w))
    np.testing.assert_allclose(est.f1(None), f1, rtol=1e-12)
    assert est.f1("macro") == pytest.approx(np.mean(f1), rel=1e-12)
    # expected subset accuracy: mean over samples of the product of per-label probabilities
    right = np.where(p >= 0.4, p, 1 - p).prod(axis=1)
    assert est.accuracy() == pytest.approx(right.mean(), rel=1e-12)


def test_calibrator_applied_in_pass(backend):
    rng = np.random.default_rng(5)
    ref = rng.random(4000)
    yref = (rng.random(4000) < ref**2).astype(int)
    for cal in (HistogramCalibrator(num_bins=10), IsotonicCalibrator()):
        cal.fit(ref, yref)
        prod = rng.random(3000)
        est = EstimatedMetrics("binary", calibrator=cal, backend=backend)
        est.update(prod)
        # the same thing, calibrated outside: transform() then uncalibrated estimation
        y, yhat, w, _ = _expand_binary(prod)
        pc = cal.transform(prod)
        w = np.concatenate([pc, 1 - pc])
        np.testing.assert_allclose(est.expected_confusion_matrix(),
                                   skm.confusion_matrix(y, yhat, sample_weight=w), rtol=1e-12)


def test_state_merge_pickle(backend):
    rng = np.random.default_rng(6)
    p = rng.dirichlet(np.ones(4), 3000)
    whole = EstimatedMetrics("multiclass", num_classes=4, backend=backend)
    whole.update(p)
    a = EstimatedMetrics("multiclass", num_classes=4, backend=backend)
    b = EstimatedMetrics("multiclass", num_classes=4, backend=backend)
    a.update(p[:1000])
    b.update(p[1000:])
    merged = a + b
    assert merged.count == 3000
    np.testing.assert_allclose(merged.expected_confusion_matrix(),
                               whole.expected_confusion_matrix(), rtol=1e-12)
    assert merged.interval("f1").std == pytest.approx(whole.interval("f1").std, rel=1e-6)
    clone = pickle.loads(pickle.dumps(merged))
    assert type(clone) is type(merged) and isinstance(clone, EstimatedMetrics)
    np.testing.assert_array_equal(clone.expected_confusion_matrix(),
                                  merged.expected_confusion_matrix())
    fresh = EstimatedMetrics("multiclass", num_classes=4, backend=backend)
    fresh.load_state_dict(merged.state_dict())
    assert fresh.roc_auc() == merged.roc_auc()
    np.testing.assert_array_equal(copy.copy(fresh).expected_confusion_matrix(),
                                  merged.expected_confusion_matrix())
    with pytest.raises(ValueError, match="num_classes"):
        a.merge(EstimatedMetrics("multiclass", num_classes=5, backend=backend))
    with pytest.raises(ValueError, match="cannot merge"):
        a.merge(EstimatedMetrics("binary", backend=backend))


@pytest.mark.parametrize("bad,exc,match", [
    (np.array([0.2, 1.2]), ValueError, r"scores\[1\] = 1.2 is outside \[0, 1\]"),
    (np.array([0.2, np.nan]), ValueError, r"scores\[1\] = nan is not finite"),
    (np.array([1, 0]), TypeError, "scores must hold float"),
    (np.array([[0.2, 0.8]]), ValueError, "scores must be 1-D"),
    (["a"], TypeError, "scores must hold numbers"),
])
def test_binary_bad_input_counts_nothing(backend, bad, exc, match):
    est = EstimatedMetrics("binary", backend=backend)
    est.update(np.array([0.1, 0.9]))
    before = est.state_dict()
    with pytest.raises(exc, match=match):
        est.update(bad)
    after = est.state_dict()
    assert after["count"] == before["count"] == 2
    for key in ("state", "var", "hist"):
        np.testing.assert_array_equal(after[key], before[key])


def test_multiclass_bad_input(backend):
    est = EstimatedMetrics("multiclass", num_classes=3, backend=backend)
    with pytest.raises(ValueError, match=r"scores\[1\] sums to 1.5"):
        est.update(np.array([[0.2, 0.3, 0.5], [0.5, 0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"shape \(n_samples, 3\)"):
        est.update(np.full((2, 4), 0.25))
    assert est.count == 0
    est_logits = EstimatedMetrics("multiclass", num_classes=3, logits=True, backend=backend)
    est_logits.update(np.array([[2.0, -1.0, 7.0]]))
    assert est_logits.count == 1


def test_constructor_and_calibrator_errors():
    with pytest.raises(ValueError, match="task"):
        EstimatedMetrics("regression")
    with pytest.raises(TypeError, match="num_classes"):
        EstimatedMetrics("multiclass")
    with pytest.raises(ValueError, match="num_classes is only"):
        EstimatedMetrics("binary", num_classes=3)
    with pytest.raises(ValueError, match="threshold"):
        EstimatedMetrics("binary", threshold=1.5)
    with pytest.raises(ValueError, match="not fitted"):
        EstimatedMetrics("binary", calibrator=IsotonicCalibrator())
    rng = np.random.default_rng(0)
    p3 = rng.dirichlet(np.ones(3), 200)
    cal3 = HistogramCalibrator("multiclass", num_classes=3).fit(p3, rng.integers(0, 3, 200))
    with pytest.raises(ValueError, match="fitted for task='multiclass'"):
        EstimatedMetrics("binary", calibrator=cal3)
    with pytest.raises(ValueError, match="num_classes=3; this object has num_classes=4"):
        EstimatedMetrics("multiclass", num_classes=4, calibrator=cal3)
    with pytest.raises(TypeError, match="calibrator must be"):
        EstimatedMetrics("binary", calibrator=object())
    est = EstimatedMetrics("binary", num_bins=0)
    est.update(np.array([0.3]))
    with pytest.raises(ValueError, match="num_bins > 0"):
        est.roc_auc()
    with pytest.raises(ValueError, match="coverage"):
        est.interval("f1", coverage=1.5)
    with pytest.raises(ValueError, match="metric must be"):
        est.interval("update")
    with pytest.raises(ValueError, match="no samples"):
        EstimatedMetrics("binary").f1()


def test_compare_side_by_side():
    rng = np.random.default_rng(8)
    p = rng.random(5000)
    y = (rng.random(5000) < p).astype(int)
    est = EstimatedMetrics("binary")
    real = tallyml.BinaryMetrics()
    est.update(p)
    real.update(y, p)
    out = compare(est, real, metrics=("accuracy", "f1"))
    assert out["f1"]["realized"] == pytest.approx(skm.f1_score(y, p >= 0.5), rel=1e-12)
    assert out["f1"]["estimated"] == est.f1()
    assert out["f1"]["low"] <= out["f1"]["estimated"] <= out["f1"]["high"]
    assert set(out["accuracy"]) == {"estimated", "std", "low", "high", "realized", "inside"}
    auc = est.compare({"roc_auc": skm.roc_auc_score(y, p)}, metrics=("roc_auc",))
    assert auc["roc_auc"]["realized"] == skm.roc_auc_score(y, p)
    with pytest.raises(ValueError, match="MulticlassMetrics"):
        compare(est, tallyml.MulticlassMetrics(3))
    with pytest.raises(ValueError, match="threshold"):
        compare(est, tallyml.BinaryMetrics(0.3))
