"""BinaryMetrics against scikit-learn on random streams fed in random chunks."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import Phase, given, settings, strategies as st
from sklearn import metrics as skm

import tallyml
from tallyml import BinaryMetrics, UndefinedMetricWarning
from _metrics_oracle import ZERO_DIVISIONS, as_variant, assert_same, chunks, run, specificity_oracle

AVERAGES = ["binary", "micro", "macro", "weighted", None]


def make_stream(seed, n, p_true, t_dtype, mode, ignore, weighted, threshold, p_dtype, p_pos):
    """A random stream from plain parameters (so that a failing example prints reproducibly)."""
    rng = np.random.default_rng(seed)
    if t_dtype in (np.bool_, np.uint16):
        ignore = None
    y = (rng.random(n) < p_true).astype(t_dtype)
    if ignore == -100:
        y = np.where(rng.random(n) < 0.2, ignore, y).astype(t_dtype)
    if mode == "labels":
        preds = (rng.random(n) < p_pos).astype(p_dtype)
    elif mode == "logits":
        preds = rng.normal(0, 3, n)
    else:
        pool = np.array([0.0, 1.0, threshold, np.nextafter(threshold, 2), np.nextafter(threshold, -1),
                         0.1, 0.3, 0.5, 0.7])
        preds = np.clip(rng.choice(pool, n), 0, 1).astype(mode)
    w = None
    if weighted:
        w = rng.random(n) * 3
        if weighted == "zeros":
            w[rng.random(n) < 0.4] = 0.0
    return rng, y, preds, w, dict(threshold=threshold, logits=mode == "logits", ignore_index=ignore)


STREAM = dict(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 60),
    p_true=st.sampled_from([0.0, 0.05, 0.5, 1.0]),
    t_dtype=st.sampled_from([np.bool_, np.int8, np.int32, np.int64, np.uint16]),
    mode=st.sampled_from(["labels", "float32", "float64", "logits"]),
    ignore=st.sampled_from([None, -100, 1]),
    weighted=st.sampled_from([None, "positive", "zeros"]),
    threshold=st.sampled_from([0.5, 0.1, 0.0, 1.0, 0.3]),
    p_dtype=st.sampled_from([np.bool_, np.int8, np.int64]),
    p_pos=st.sampled_from([0.0, 0.5, 1.0]),
)


def oracle_inputs(y, preds, w, kw):
    keep = np.ones(len(y), bool) if kw["ignore_index"] is None else y.astype(np.int64) != kw["ignore_index"]
    yk = y[keep].astype(np.int64)
    if preds.dtype.kind == "f":
        if kw["logits"]:
            prob = 1 / (1 + np.exp(-preds[keep].astype(np.float64)))
            pk = (prob >= kw["threshold"]).astype(np.int64)
        else:
            pk = (preds[keep].astype(np.float64) >= kw["threshold"]).astype(np.int64)
    else:
        pk = preds[keep].astype(np.int64)
    wk = None if w is None else w[keep]
    return yk, pk, wk


@settings(max_examples=30, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate))
@given(zero_division=st.sampled_from(ZERO_DIVISIONS), **STREAM)
def test_binary_matches_sklearn(zero_division, **params):
    rng, y, preds, w, kw = make_stream(**params)
    kw["zero_division"] = zero_division
    if kw["logits"]:  # keep logits away from the threshold, where sigmoid rounding could flip
        prob = 1 / (1 + np.exp(-preds))
        preds = np.where(np.abs(prob - kw["threshold"]) < 1e-6, preds + 0.5, preds)
    m = BinaryMetrics(**kw)
    for sl in chunks(len(y), rng):
        sw = None if w is None else as_variant(w[sl], rng)
        m.update(as_variant(y[sl], rng), as_variant(preds[sl], rng), sample_weight=sw)
    yk, pk, wk = oracle_inputs(y, preds, w, kw)
    if wk is not None and len(wk) and wk.sum() == 0:
        return  # sklearn divides by a zero weight sum; not a stream we compare
    assert m.count == len(yk)
    zd = kw["zero_division"]
    sk = dict(sample_weight=wk)
    if len(yk):  # (sklearn refuses an empty input; an empty stream's matrix is zeros)
        for norm in (None, "true", "pred", "all"):
            assert_same(lambda: m.confusion_matrix(norm),
                        lambda: skm.confusion_matrix(yk, pk, labels=[0, 1], normalize=norm, **sk), norm)
    assert_same(m.accuracy, lambda: skm.accuracy_score(yk, pk, **sk), "accuracy")
    assert_same(m.hamming_loss, lambda: skm.hamming_loss(yk, pk, **sk), "hamming")
    assert_same(m.mcc, lambda: skm.matthews_corrcoef(yk, pk, **sk), "mcc")
    for adjusted in (False, True):
        assert_same(lambda: m.balanced_accuracy(adjusted),
                    lambda: skm.balanced_accuracy_score(yk, pk, adjusted=adjusted, **sk), "bacc")
    for weights in (None, "linear", "quadratic"):
        assert_same(lambda: m.cohen_kappa(weights),
                    lambda: skm.cohen_kappa_score(yk, pk, weights=weights, **sk), ("kappa", weights))
    assert_same(m.support, lambda: skm.precision_recall_fscore_support(
        yk, pk, average=None, zero_division=zd, **sk)[3], "support", check_warning=False)
    for avg in AVERAGES:
        for name, ours, theirs in [
            ("precision", m.precision, lambda: skm.precision_score(yk, pk, average=avg, zero_division=zd, **sk)),
            ("recall", m.recall, lambda: skm.recall_score(yk, pk, average=avg, zero_division=zd, **sk)),
            ("f1", m.f1, lambda: skm.f1_score(yk, pk, average=avg, zero_division=zd, **sk)),
        ]:
            assert_same(lambda: ours(avg), theirs, (name, avg, zd))
        for beta in (0.5, 2.0):
            assert_same(lambda: m.fbeta(beta, avg),
                        lambda: skm.fbeta_score(yk, pk, beta=beta, average=avg, zero_division=zd, **sk),
                        ("fbeta", beta, avg))
        if not (isinstance(zd, float) and math.isnan(zd)):  # sklearn's jaccard refuses nan
            assert_same(lambda: m.jaccard(avg),
                        lambda: skm.jaccard_score(yk, pk, average=avg, zero_division=zd, **sk),
                        ("jaccard", avg))
        if avg == "binary":
            theirs = lambda: skm.recall_score(1 - yk, 1 - pk, zero_division=zd, **sk)  # noqa: E731
        else:
            theirs = lambda: specificity_oracle(  # noqa: E731
                yk, pk, np.union1d(yk, pk) if len(yk) else None, wk, avg, zd)
        assert_same(lambda: m.specificity(avg), theirs, ("specificity", avg))
    if len(yk):
        out = run(m.compute)[0]
        assert set(out) >= {"accuracy", "precision", "recall", "f1", "mcc", "cohen_kappa"}
        np.testing.assert_allclose(out["f1"], run(m.f1)[0], rtol=0, atol=0)


def test_defaults_and_overrides():
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([0.2, 0.9, 0.4, 0.6, 0.5])
    m = BinaryMetrics()
    m.update(y, p)
    pk = (p >= 0.5).astype(int)
    assert m.precision() == skm.precision_score(y, pk)
    assert m.f1() == skm.f1_score(y, pk)
    assert m.threshold == 0.5
    # a zero_division given per call overrides the one of the constructor
    m0 = BinaryMetrics(zero_division=1)
    m0.update([0, 0], [0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert m0.precision() == 1.0
        assert m0.precision(zero_division=0) == 0.0
    with pytest.warns(UndefinedMetricWarning):
        m2 = BinaryMetrics()
        m2.update([0], [0])
        m2.precision()


def test_threshold_is_a_float64_comparison():
    # float32(0.1) is slightly above 0.1: positive at threshold 0.1
    m = BinaryMetrics(threshold=0.1)
    m.update(np.array([1, 1]), np.array([0.1, np.nextafter(np.float32(0.1), 0)], dtype=np.float32))
    assert m.confusion_matrix().tolist() == [[0, 0], [1, 1]]
    m = BinaryMetrics(threshold=0.1)
    m.update(np.array([1, 1]), np.array([0.1, np.nextafter(0.1, 0)]))
    assert m.confusion_matrix().tolist() == [[0, 0], [1, 1]]


def test_logits_move_the_threshold():
    logits = np.array([-3.0, -0.1, 0.0, 0.1, 3.0])
    y = np.array([0, 0, 1, 1, 1])
    m = BinaryMetrics(threshold=0.5, logits=True)
    m.update(y, logits)
    assert m.confusion_matrix().tolist() == skm.confusion_matrix(y, (logits >= 0).astype(int)).tolist()
    m0 = BinaryMetrics(threshold=0.0, logits=True)
    m0.update(y, logits)
    assert m0.confusion_matrix()[:, 1].sum() == 5
    m1 = BinaryMetrics(threshold=1.0, logits=True)
    m1.update(y, logits)
    assert m1.confusion_matrix()[:, 1].sum() == 0


def test_update_one_matches_update():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    s = rng.random(200)
    a, b = BinaryMetrics(threshold=0.3, ignore_index=-1), BinaryMetrics(threshold=0.3, ignore_index=-1)
    y[::7] = -1
    a.update(y, s)
    for t, v in zip(y.tolist(), s.tolist()):
        b.update_one(t, v)
    np.testing.assert_array_equal(a.confusion_matrix(), b.confusion_matrix())
    assert a.count == b.count == int(np.sum(y != -1))
    c = BinaryMetrics()
    for t, v in zip([1, 0, True, np.int64(1)], [True, 0, np.float32(0.7), 1]):
        c.update_one(t, v)
    assert c.confusion_matrix().tolist() == [[1, 0], [0, 3]]
    with pytest.raises(ValueError, match="target"):
        c.update_one(2, 1)
    with pytest.raises(ValueError, match="pred"):
        c.update_one(1, float("nan"))
    with pytest.raises(ValueError, match="pred"):
        c.update_one(1, 3)
    with pytest.raises(TypeError, match="target"):
        c.update_one("1", 1)
    assert c.count == 4


@pytest.mark.parametrize("bad, kind, match", [
    (dict(threshold=1.5), ValueError, "threshold"),
    (dict(threshold=-0.1), ValueError, "threshold"),
    (dict(threshold=float("nan")), ValueError, "threshold"),
    (dict(threshold="0.5"), TypeError, "threshold"),
    (dict(threshold=2.0, logits=True), ValueError, "threshold"),
    (dict(logits=1), TypeError, "logits"),
    (dict(ignore_index=1.5), TypeError, "ignore_index"),
    (dict(zero_division="nan"), ValueError, "zero_division"),
    (dict(zero_division=2), ValueError, "zero_division"),
    (dict(validate="yes"), TypeError, "validate"),
    (dict(backend="gpu"), ValueError, "backend"),
])
def test_bad_arguments(bad, kind, match):
    with pytest.raises(kind, match=match):
        BinaryMetrics(**bad)


@pytest.mark.parametrize("target, preds, weight, kind, match", [
    ([0, 1, 1], [0, 1], None, ValueError, "same number of samples"),
    ([[0, 1]], [[0, 1]], None, ValueError, "target"),
    ([0, 1], [[0, 1], [1, 0]], None, ValueError, "preds"),
    ([0, 2], [0, 1], None, ValueError, r"target\[1\] = 2"),
    ([0, 1], [0, -1], None, ValueError, r"preds\[1\] = -1"),
    ([0, 1], [0.5, float("nan")], None, ValueError, r"preds\[1\] = nan"),
    ([0, 1], [0.5, np.inf], None, ValueError, r"preds\[1\] = inf"),
    (["a", "b"], [0, 1], None, TypeError, "target"),
    ([0, 1], ["a", "b"], None, TypeError, "preds"),
    ([0, 1], [0, 1], [1.0], ValueError, "sample_weight"),
    ([0, 1], [0, 1], [1.0, -1.0], ValueError, r"sample_weight\[1\]"),
    ([0, 1], [0, 1], [1.0, np.nan], ValueError, r"sample_weight\[1\]"),
    ([0, 1], [0, 1], ["x", "y"], TypeError, "sample_weight"),
    ([0.5, 1.0], [0, 1], None, ValueError, "target"),
])
def test_bad_input_changes_nothing(target, preds, weight, kind, match):
    m = BinaryMetrics()
    m.update([0, 1, 1], [0, 1, 0])
    before = m.state_dict()
    with pytest.raises(kind, match=match):
        m.update(target, preds, sample_weight=weight)
    after = m.state_dict()
    assert after["count"] == before["count"]
    np.testing.assert_array_equal(after["state"], before["state"])
    assert after["state"].dtype == before["state"].dtype  # a failed weighted update does not convert


def test_empty_batch_is_a_noop_and_empty_stream_raises():
    m = BinaryMetrics()
    m.update([], [])
    m.update(np.zeros(0, np.int8), np.zeros(0, np.float32), sample_weight=np.zeros(0))
    assert m.count == 0 and not m.weighted
    with pytest.raises(ValueError, match="no samples"):
        m.accuracy()
    assert m.confusion_matrix().tolist() == [[0, 0], [0, 0]]


def test_bad_compute_arguments():
    m = BinaryMetrics()
    m.update([0, 1], [0, 1])
    with pytest.raises(ValueError, match="average"):
        m.precision("samples")
    with pytest.raises(ValueError, match="average"):
        m.f1("bogus")
    with pytest.raises(ValueError, match="normalize"):
        m.confusion_matrix("rows")
    with pytest.raises(ValueError, match="weights"):
        m.cohen_kappa("cubic")
    with pytest.raises(ValueError, match="zero_division"):
        m.precision(zero_division=5)
    with pytest.raises(ValueError, match="beta"):
        m.fbeta(-1.0)


def test_validate_false_still_checks_values():
    m = BinaryMetrics(validate=False)
    m.update(np.array([0, 1], np.int64), np.array([0.2, 0.8]))
    with pytest.raises(ValueError, match=r"preds\[0\] = nan"):
        m.update(np.array([0, 1], np.int64), np.array([np.nan, 0.8]))
    assert m.count == 2


def test_weighted_update_converts_state_to_float64():
    m = BinaryMetrics()
    m.update([0, 1], [0, 1])
    assert m.state_dict()["state"].dtype == np.int64
    m.update([1], [1], sample_weight=[0.5])
    m.update([1], [0])  # unweighted batches still count after the conversion
    sd = m.state_dict()
    assert sd["state"].dtype == np.float64 and m.weighted
    assert sd["state"].tolist() == [[1.0, 0.0], [1.0, 1.5]]
    assert m.count == 4


def test_import_is_cheap():
    import subprocess
    import sys
    code = ("import sys, tallyml; tallyml.BinaryMetrics; "
            "assert 'numba' not in sys.modules, 'numba imported'; "
            "assert not any(m.startswith('tallyml._native') for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, env={**__import__("os").environ})
    assert tallyml.BinaryMetrics is BinaryMetrics
