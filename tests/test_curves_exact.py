"""Exact curve functions against scikit-learn 1.9 (the oracle), on random and adversarial
inputs: ties, zero and fractional weights, float32, pos_label, label encodings, every average."""
import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
from sklearn.calibration import calibration_curve as sk_calibration_curve
from sklearn.exceptions import UndefinedMetricWarning as SkUndefined

from tallyml import TallymlWarning, UndefinedMetricWarning
from tallyml.curves import exact as ex

RTOL = 1e-12


def close(a, b):
    if isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            close(x, y)
        return
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-14, equal_nan=True)


def sk(fn, *args, **kw):
    """Run sklearn with its own warnings silenced (ours are checked separately)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def binary_cases():
    rng = np.random.default_rng(7)
    n = 3000
    y = rng.integers(0, 2, n)
    yield "continuous", y, rng.random(n)
    yield "ties", y, np.round(rng.random(n), 2)
    yield "float32", y, rng.random(n).astype(np.float32)
    yield "heavy-ties", y, rng.integers(0, 3, n).astype(np.float64)
    yield "separable", y, y + 0.1 * rng.random(n)
    yield "rare", (rng.random(n) < 0.01).astype(int), rng.random(n)
    yield "logit-range", y, rng.normal(0, 5, n)
    yield "int-scores", y, rng.integers(0, 50, n)
    yield "tiny", np.array([0, 1, 1, 0]), np.array([0.1, 0.4, 0.35, 0.8])


def weight_cases(n, rng):
    yield None
    yield rng.random(n)
    w = rng.random(n)
    w[rng.random(n) < 0.2] = 0.0
    yield w
    yield rng.integers(0, 4, n).astype(np.float64)


@pytest.mark.parametrize("case", list(binary_cases()), ids=lambda c: c[0])
def test_binary_curves_and_scores_match_sklearn(case):
    _, y, s = case
    rng = np.random.default_rng(1)
    for w in weight_cases(len(y), rng):
        for drop in (True, False):
            close(ex.roc_curve(y, s, sample_weight=w, drop_intermediate=drop),
                  sk(skm.roc_curve, y, s, sample_weight=w, drop_intermediate=drop))
            close(ex.precision_recall_curve(y, s, sample_weight=w, drop_intermediate=drop),
                  sk(skm.precision_recall_curve, y, s, sample_weight=w,
                     drop_intermediate=drop))
            close(ex.det_curve(y, s, sample_weight=w, drop_intermediate=drop),
                  sk(skm.det_curve, y, s, sample_weight=w, drop_intermediate=drop))
        for max_fpr in (None, 0.05, 0.5, 1.0):
            close(ex.roc_auc_score(y, s, sample_weight=w, max_fpr=max_fpr),
                  sk(skm.roc_auc_score, y, s, sample_weight=w, max_fpr=max_fpr))
        close(ex.average_precision_score(y, s, sample_weight=w),
              sk(skm.average_precision_score, y, s, sample_weight=w))


def test_pos_label_and_label_encodings():
    rng = np.random.default_rng(3)
    n = 500
    s = rng.random(n)
    y01 = rng.integers(0, 2, n)
    for y, pos in ((np.where(y01, "spam", "ham"), "spam"), (y01 * 2 + 3, 3), (y01 * 2 + 3, 5)):
        close(ex.roc_curve(y, s, pos_label=pos), sk(skm.roc_curve, y, s, pos_label=pos))
        close(ex.precision_recall_curve(y, s, pos_label=pos),
              sk(skm.precision_recall_curve, y, s, pos_label=pos))
        close(ex.average_precision_score(y, s, pos_label=pos),
              sk(skm.average_precision_score, y, s, pos_label=pos))
        close(ex.roc_auc_score(y, s), sk(skm.roc_auc_score, y, s))
    ypm = np.where(y01, 1, -1)
    close(ex.roc_curve(ypm, s), sk(skm.roc_curve, ypm, s))
    with pytest.raises(ValueError, match="pos_label is not specified"):
        ex.roc_curve(y01 + 5, s)
    with pytest.raises(ValueError, match="not a valid label"):
        ex.average_precision_score(y01, s, pos_label=7)


@pytest.mark.parametrize("average", ["macro", "weighted", "micro", None])
@pytest.mark.parametrize("weighted", [False, True])
def test_multiclass_ovr_and_average_precision(average, weighted):
    rng = np.random.default_rng(11)
    n, k = 1500, 5
    y = rng.integers(0, k, n)
    p = rng.dirichlet(np.ones(k), n)
    p[:100] = np.round(p[:100], 1)
    p /= p.sum(axis=1, keepdims=True)
    w = rng.random(n) if weighted else None
    close(ex.roc_auc_score(y, p, multi_class="ovr", average=average, sample_weight=w),
          sk(skm.roc_auc_score, y, p, multi_class="ovr", average=average, sample_weight=w))
    close(ex.average_precision_score(y, p, average=average, sample_weight=w),
          sk(skm.average_precision_score, y, p, average=average, sample_weight=w))


@pytest.mark.parametrize("average", ["macro", "weighted"])
def test_multiclass_ovo_and_labels(average):
    rng = np.random.default_rng(12)
    n, k = 1200, 4
    y = rng.integers(0, k, n)
    p = rng.dirichlet(np.ones(k) * 0.5, n)
    close(ex.roc_auc_score(y, p, multi_class="ovo", average=average),
          sk(skm.roc_auc_score, y, p, multi_class="ovo", average=average))
    names = np.array(["a", "b", "c", "d"])[y]
    close(ex.roc_auc_score(names, p, multi_class="ovr", labels=["a", "b", "c", "d"]),
          sk(skm.roc_auc_score, names, p, multi_class="ovr", labels=["a", "b", "c", "d"]))
    with pytest.raises(ValueError, match="multi_class must be in"):
        ex.roc_auc_score(y, p)
    with pytest.raises(ValueError, match="sum up to 1.0"):
        ex.roc_auc_score(y, p * 2, multi_class="ovr")
    with pytest.raises(ValueError, match="Partial AUC"):
        ex.roc_auc_score(y, p, multi_class="ovr", max_fpr=0.5)


@pytest.mark.parametrize("average", ["macro", "weighted", "micro", "samples", None])
def test_multilabel_averages(average):
    rng = np.random.default_rng(13)
    n, k = 800, 4
    y = rng.integers(0, 2, (n, k))
    y[:, 0] = 1  # one label without negatives: NaN + warning, as sklearn
    s = np.round(rng.random((n, k)), 2)
    w = rng.random(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = ex.roc_auc_score(y, s, average=average, sample_weight=w)
        got_ap = ex.average_precision_score(y, s, average=average, sample_weight=w)
    close(got, sk(skm.roc_auc_score, y, s, average=average, sample_weight=w))
    close(got_ap, sk(skm.average_precision_score, y, s, average=average, sample_weight=w))


@pytest.mark.parametrize("k", [1, 2, 3, 6])
def test_top_k_accuracy(k):
    rng = np.random.default_rng(14)
    n, c = 2000, 6
    y = rng.integers(0, c, n)
    s = np.round(rng.random((n, c)), 1)  # many ties: sklearn's tie order matters
    w = rng.random(n)
    for normalize in (True, False):
        for sw in (None, w):
            with (pytest.warns(UndefinedMetricWarning) if k >= c else warnings.catch_warnings()):
                got = ex.top_k_accuracy_score(y, s, k=k, normalize=normalize, sample_weight=sw)
            close(got, sk(skm.top_k_accuracy_score, y, s, k=k, normalize=normalize,
                          sample_weight=sw))
    yb = rng.integers(0, 2, n)
    sb = rng.random(n)
    close(ex.top_k_accuracy_score(yb, sb, k=1), sk(skm.top_k_accuracy_score, yb, sb, k=1))


def test_probabilistic_losses():
    rng = np.random.default_rng(15)
    n = 2000
    y = rng.integers(0, 2, n)
    p = rng.random(n)
    p[:5] = [0.0, 1.0, 1e-20, 1 - 1e-17, 0.5]
    w = rng.random(n)
    for sw in (None, w):
        close(ex.brier_score_loss(y, p, sample_weight=sw),
              sk(skm.brier_score_loss, y, p, sample_weight=sw))
        close(ex.log_loss(y, p, sample_weight=sw), sk(skm.log_loss, y, p, sample_weight=sw))
        close(ex.log_loss(y, p, sample_weight=sw, normalize=False),
              sk(skm.log_loss, y, p, sample_weight=sw, normalize=False))
    p32 = p.astype(np.float32)
    close(ex.log_loss(y, p32), sk(skm.log_loss, y, p32))
    close(ex.brier_score_loss(y, p32), sk(skm.brier_score_loss, y, p32))
    yc = rng.integers(0, 4, n)
    pc = rng.dirichlet(np.ones(4), n)
    close(ex.log_loss(yc, pc, sample_weight=w), sk(skm.log_loss, yc, pc, sample_weight=w))
    close(ex.brier_score_loss(yc, pc), sk(skm.brier_score_loss, yc, pc))
    close(ex.log_loss(yc, pc, labels=[0, 1, 2, 3]), sk(skm.log_loss, yc, pc, labels=[0, 1, 2, 3]))
    with pytest.raises(ValueError, match="greater than 1"):
        ex.brier_score_loss(y, p + 1)
    with pytest.raises(ValueError, match="only one label"):
        ex.log_loss(np.zeros(n, int), p)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("n_bins", [1, 5, 10, 13])
def test_calibration_curve(strategy, n_bins):
    rng = np.random.default_rng(16)
    n = 3000
    y = rng.integers(0, 2, n)
    p = np.round(rng.random(n), 2)  # values on bin edges exercise searchsorted's side
    close(ex.calibration_curve(y, p, n_bins=n_bins, strategy=strategy),
          sk_calibration_curve(y, p, n_bins=n_bins, strategy=strategy))
    with pytest.raises(ValueError, match="outside"):
        ex.calibration_curve(y, p + 0.5)


def test_single_class_warns_and_returns_nan_like_sklearn():
    y = np.zeros(50, int)
    s = np.linspace(0, 1, 50)
    with pytest.warns(UndefinedMetricWarning, match="Only one class"):
        got = ex.roc_auc_score(y, s)
    assert np.isnan(got)
    with pytest.warns(TallymlWarning, match="No positive class"):
        assert ex.average_precision_score(y, s) == 0.0
    with pytest.warns(UndefinedMetricWarning, match="No positive samples"):
        fpr, tpr, _ = ex.roc_curve(y, s)
    assert np.isnan(tpr).all()
    with pytest.raises(ValueError, match="Only one class"):
        ex.det_curve(y, s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkUndefined)
        assert np.isnan(skm.roc_auc_score(y, s))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_scores_rejected_with_position(bad):
    y = np.array([0, 1, 0, 1])
    s = np.array([0.1, 0.2, bad, 0.4])
    for fn in (ex.roc_auc_score, ex.average_precision_score, ex.roc_curve,
               ex.precision_recall_curve):
        with pytest.raises(ValueError, match=r"y_score\[2\] = .* is not finite"):
            fn(y, s)


def test_mismatched_lengths_rejected():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        ex.roc_curve([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="sample_weight"):
        ex.roc_auc_score([0, 1, 1], [0.1, 0.2, 0.3], sample_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="continuous format is not supported"):
        ex.roc_curve([0.5, 1.5, 0.2], [0.1, 0.2, 0.3])


def test_large_input_equal_to_sklearn():
    """Enough samples for long tie runs and float cumsum effects."""
    rng = np.random.default_rng(17)
    n = 200_000
    y = rng.integers(0, 2, n)
    s = np.round(rng.random(n), 3).astype(np.float32)
    w = rng.random(n)
    close(ex.roc_auc_score(y, s), sk(skm.roc_auc_score, y, s))
    close(ex.roc_auc_score(y, s, sample_weight=w), sk(skm.roc_auc_score, y, s, sample_weight=w))
    close(ex.average_precision_score(y, s, sample_weight=w),
          sk(skm.average_precision_score, y, s, sample_weight=w))
