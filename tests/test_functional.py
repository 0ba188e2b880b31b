"""tallyml.functional against scikit-learn (the oracle) on random and adversarial inputs.

Every call runs through both libraries with the same arguments; they must agree on the value
(1e-12 relative, NaN where sklearn gives NaN, identical report text), on raising ValueError, and
on emitting an UndefinedMetricWarning (same number of them)."""
from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import UndefinedMetricWarning as SkUndefined

import tallyml.functional as tf
from tallyml import UndefinedMetricWarning, _backends


@pytest.fixture(autouse=True, scope="module")
def _usable_backend():
    """Use "auto"; where no compiled backend exists yet (a bare checkout), the numpy one."""
    with pytest.MonkeyPatch.context() as mp:
        try:
            _backends.load(_backends.resolve("auto"))
        except ImportError:
            mp.setenv(_backends.ENV_VAR, "numpy")
        yield


def _call(fn, args, kwargs):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            return fn(*args, **kwargs), None, rec
        except Exception as exc:  # compared below, never swallowed
            return None, exc, rec


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _same_text(expected: str, actual: str) -> bool:
    """Reports equal character for character, except that a printed number may differ by one
    unit of its last digit: a streaming average (average="samples" from a histogram of
    per-sample counts) and sklearn's per-sample mean round differently in the last ulp, which
    flips the printed digit when the exact value sits on a rounding boundary (0.5 at digits=0).
    The values themselves are compared to 1e-12 through output_dict=True."""
    if expected == actual:
        return True
    if _NUMBER.sub("#", expected) != _NUMBER.sub("#", actual):
        return False
    for e, a in zip(_NUMBER.findall(expected), _NUMBER.findall(actual)):
        if e == a:
            continue
        if ("." in e) != ("." in a) or len(e.partition(".")[2]) != len(a.partition(".")[2]):
            return False
        if abs(int(e.replace(".", "")) - int(a.replace(".", ""))) != 1:
            return False
    return True


def _assert_same(expected, actual, path="result"):
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and list(actual) == list(expected), path
        for key in expected:
            _assert_same(expected[key], actual[key], f"{path}[{key!r}]")
    elif isinstance(expected, (tuple, list)):
        assert len(actual) == len(expected), path
        for i, (e, a) in enumerate(zip(expected, actual)):
            _assert_same(e, a, f"{path}[{i}]")
    elif isinstance(expected, str):
        assert _same_text(expected, actual), f"{path}:\n{expected}\n!=\n{actual}"
    elif expected is None:
        assert actual is None, path
    else:
        e, a = np.asarray(expected), np.asarray(actual)
        assert e.shape == a.shape, f"{path}: shape {a.shape} != {e.shape}"
        np.testing.assert_allclose(a.astype(np.float64), e.astype(np.float64), rtol=1e-12,
                                   atol=1e-12, equal_nan=True, err_msg=path)


def compare(name, *args, **kwargs):
    """Run ``name`` in sklearn and tallyml.functional; assert they behave the same."""
    exp, exp_err, exp_rec = _call(getattr(skm, name), args, kwargs)
    got, got_err, got_rec = _call(getattr(tf, name), args, kwargs)
    if exp_err is not None:
        if isinstance(exp_err, ValueError):
            assert isinstance(got_err, ValueError), (
                f"sklearn raised {exp_err!r}; tallyml gave {got_err!r} / {got!r}")
        else:
            assert got_err is not None, f"sklearn raised {exp_err!r}; tallyml returned {got!r}"
        return exp_err, got_err
    if got_err is not None:
        raise got_err
    _assert_same(exp, got, name)
    n_exp = sum(issubclass(w.category, SkUndefined) for w in exp_rec)
    n_got = sum(issubclass(w.category, UndefinedMetricWarning) for w in got_rec)
    assert n_got == n_exp, (
        f"{name}: sklearn warned {[str(w.message) for w in exp_rec]}, "
        f"tallyml {[str(w.message) for w in got_rec]}")
    return exp, got


# ------------------------------------------------------------------------------------------
# strategies

_POOLS = {
    "int": [0, 1, 2, 3],
    "str": ["cat", "dog", "emu", "fox"],
    "sparse-int": [-3, 7, 11, 100],
}
_WEIGHT_VALUES = [0.0, 0.5, 1.0, 2.0, 3.25, 0.1]
_AVERAGES = [None, "binary", "micro", "macro", "weighted", "samples"]
_ZERO_DIVISION = ["warn", 0, 1, np.nan, 0.0, 1.0]
_SETWISE = ["precision_score", "recall_score", "f1_score", "fbeta_score",
            "precision_recall_fscore_support", "jaccard_score"]


@st.composite
def _weights(draw, n):
    kind = draw(st.sampled_from(["none", "float", "int"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    return draw(st.lists(st.sampled_from(_WEIGHT_VALUES) | st.floats(0, 10), min_size=n,
                         max_size=n))


@st.composite
def multiclass_case(draw):
    kind = draw(st.sampled_from(sorted(_POOLS)))
    universe = _POOLS[kind]
    pool = universe[: draw(st.integers(1, 4))]
    n = draw(st.integers(1, 25))
    y_true = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    y_pred = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    weight = draw(_weights(n))
    # labels may hold labels never seen in the data
    labels = draw(st.none() | st.lists(st.sampled_from(universe), min_size=1, max_size=4,
                                       unique=True))
    as_array = draw(st.booleans())
    if as_array:
        y_true, y_pred = np.array(y_true), np.array(y_pred)
    return y_true, y_pred, weight, labels, universe


@st.composite
def multilabel_case(draw):
    n = draw(st.integers(1, 20))
    num_labels = draw(st.integers(2, 5))
    cells = st.lists(st.lists(st.integers(0, 1), min_size=num_labels, max_size=num_labels),
                     min_size=n, max_size=n)
    y_true, y_pred = np.array(draw(cells)), np.array(draw(cells))
    weight = draw(_weights(n))
    labels = draw(st.none() | st.lists(st.integers(-1, num_labels), min_size=1,
                                       max_size=num_labels, unique=True))
    return y_true, y_pred, weight, labels


_SETTINGS = settings(max_examples=50, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------------------
# multiclass / binary


@_SETTINGS
@given(case=multiclass_case(), data=st.data())
def test_setwise_multiclass(case, data):
    y_true, y_pred, weight, labels, universe = case
    name = data.draw(st.sampled_from(_SETWISE))
    average = data.draw(st.sampled_from(_AVERAGES))
    zero_division = data.draw(st.sampled_from(_ZERO_DIVISION))
    pos_label = data.draw(st.sampled_from(universe + [1]))
    kwargs = dict(average=average, zero_division=zero_division, pos_label=pos_label,
                  labels=labels, sample_weight=weight)
    if name == "fbeta_score":
        kwargs["beta"] = data.draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, math.inf]))
    if name == "precision_recall_fscore_support":
        kwargs["beta"] = data.draw(st.sampled_from([0.5, 1.0, 3.0]))
    compare(name, y_true, y_pred, **kwargs)


@_SETTINGS
@given(case=multiclass_case(), data=st.data())
def test_whole_matrix_multiclass(case, data):
    y_true, y_pred, weight, labels, _ = case
    normalize = data.draw(st.booleans())
    compare("accuracy_score", y_true, y_pred, sample_weight=weight, normalize=normalize)
    compare("zero_one_loss", y_true, y_pred, sample_weight=weight, normalize=normalize)
    compare("hamming_loss", y_true, y_pred, sample_weight=weight)
    compare("matthews_corrcoef", y_true, y_pred, sample_weight=weight)
    compare("balanced_accuracy_score", y_true, y_pred, sample_weight=weight,
            adjusted=data.draw(st.booleans()))
    compare("cohen_kappa_score", y_true, y_pred, sample_weight=weight, labels=labels,
            weights=data.draw(st.sampled_from([None, "linear", "quadratic"])))
    compare("confusion_matrix", y_true, y_pred, sample_weight=weight, labels=labels,
            normalize=data.draw(st.sampled_from([None, "true", "pred", "all"])))
    compare("multilabel_confusion_matrix", y_true, y_pred, sample_weight=weight, labels=labels)


@_SETTINGS
@given(case=multiclass_case(), data=st.data())
def test_classification_report_multiclass(case, data):
    y_true, y_pred, weight, labels, _ = case
    compare("classification_report", y_true, y_pred, sample_weight=weight, labels=labels,
            digits=data.draw(st.integers(0, 6)), output_dict=data.draw(st.booleans()),
            zero_division=data.draw(st.sampled_from(_ZERO_DIVISION)))


# ------------------------------------------------------------------------------------------
# multilabel


@_SETTINGS
@given(case=multilabel_case(), data=st.data())
def test_setwise_multilabel(case, data):
    y_true, y_pred, weight, labels = case
    name = data.draw(st.sampled_from(_SETWISE))
    kwargs = dict(average=data.draw(st.sampled_from(_AVERAGES)),
                  zero_division=data.draw(st.sampled_from(_ZERO_DIVISION)),
                  labels=labels, sample_weight=weight)
    if name == "fbeta_score":
        kwargs["beta"] = data.draw(st.sampled_from([0.0, 0.5, 2.0, math.inf]))
    compare(name, y_true, y_pred, **kwargs)


@_SETTINGS
@given(case=multilabel_case(), data=st.data())
def test_whole_matrix_multilabel(case, data):
    y_true, y_pred, weight, labels = case
    normalize = data.draw(st.booleans())
    compare("accuracy_score", y_true, y_pred, sample_weight=weight, normalize=normalize)
    compare("zero_one_loss", y_true, y_pred, sample_weight=weight, normalize=normalize)
    compare("hamming_loss", y_true, y_pred, sample_weight=weight)
    compare("multilabel_confusion_matrix", y_true, y_pred, sample_weight=weight, labels=labels,
            samplewise=data.draw(st.booleans()))
    compare("classification_report", y_true, y_pred, sample_weight=weight, labels=labels,
            digits=data.draw(st.integers(0, 5)), output_dict=data.draw(st.booleans()),
            zero_division=data.draw(st.sampled_from(_ZERO_DIVISION)))
    # sklearn rejects multilabel targets here
    for name in ("matthews_corrcoef", "confusion_matrix", "cohen_kappa_score",
                 "balanced_accuracy_score"):
        compare(name, y_true, y_pred)


# ------------------------------------------------------------------------------------------
# adversarial corners, spelled out


@pytest.mark.parametrize("average", _AVERAGES)
@pytest.mark.parametrize("zero_division", _ZERO_DIVISION)
@pytest.mark.parametrize("name", _SETWISE)
def test_setwise_corners(name, average, zero_division):
    cases = [
        ([0, 0, 0], [0, 0, 0]),              # one class only
        ([1, 1], [1, 1]),                    # only the positive class
        ([0, 0], [1, 1]),                    # never right
        (["a"], ["b"]),                      # single sample, strings
        ([0, 1, 2, 2], [0, 0, 0, 0]),        # classes never predicted
    ]
    for y_true, y_pred in cases:
        compare(name, y_true, y_pred, average=average, zero_division=zero_division)
        compare(name, y_true, y_pred, average=average, zero_division=zero_division,
                labels=[0, 1, 2, 5] if isinstance(y_true[0], int) else ["a", "b", "z"])
    empty_rows = np.array([[0, 0], [1, 0], [0, 0]])
    for y_pred in (np.zeros((3, 2), int), np.array([[0, 1], [1, 0], [0, 0]])):
        compare(name, empty_rows, y_pred, average=average, zero_division=zero_division)
        compare(name, empty_rows, y_pred, average=average, zero_division=zero_division,
                sample_weight=[0.0, 1.0, 2.0])


def test_zero_weight_sample_warns_for_samples_average():
    # sklearn scales a sample's counts by its weight: a zero-weight sample is a 0/0
    y = np.array([[1, 0], [1, 1]])
    exp, got = compare("precision_score", y, y, average="samples", sample_weight=[0, 1])
    assert got == 1.0


def test_support_dtype_and_types_follow_sklearn():
    _, got = compare("precision_recall_fscore_support", [0, 1, 2, 2], [0, 2, 1, 2])
    assert got[3].dtype == np.int64
    _, got = compare("confusion_matrix", [0, 1, 1], [0, 1, 0], sample_weight=[1, 2, 3])
    assert got.dtype == np.int64  # integer weights keep integer counts, like sklearn
    _, got = compare("confusion_matrix", [0, 1, 1], [0, 1, 0], sample_weight=[1, 2, 3.5])
    assert got.dtype == np.float64
    _, got = compare("f1_score", [0, 1, 1], [0, 1, 0])
    assert type(got) is float


def test_report_text_identical_for_string_labels_and_weights():
    rng = np.random.default_rng(7)
    names = np.array(["negative", "neutral", "positive", "x"])
    y_true = names[rng.integers(0, 4, 200)]
    y_pred = names[rng.integers(0, 3, 200)]
    weight = rng.random(200) * 3
    exp, got = compare("classification_report", y_true, y_pred, sample_weight=weight, digits=4)
    assert "accuracy" in got
    compare("classification_report", y_true, y_pred, target_names=["A", "B", "C", "D"])
    compare("classification_report", y_true, y_pred, labels=["neutral", "x", "zzz"])
    for seed in range(5):  # supports printed with all their digits: summation order matters
        rng = np.random.default_rng(seed)
        ml_true, ml_pred = rng.integers(0, 2, (400, 5)), rng.integers(0, 2, (400, 5))
        compare("classification_report", ml_true, ml_pred, sample_weight=rng.random(400) / 7)
        compare("classification_report", y_true, y_pred, sample_weight=rng.random(200) / 7)


@pytest.mark.parametrize("backend", ["numpy", "numba", "native"])
def test_every_available_backend_agrees_with_sklearn(backend, monkeypatch):
    try:
        _backends.load(backend)
    except ImportError as exc:
        pytest.skip(f"backend {backend} not available here: {exc}")
    monkeypatch.setenv(_backends.ENV_VAR, backend)
    rng = np.random.default_rng(3)
    y_true, y_pred = rng.integers(0, 5, 500), rng.integers(0, 5, 500)
    weight = rng.random(500)
    for w in (None, weight):
        compare("f1_score", y_true, y_pred, average="macro", sample_weight=w)
        compare("confusion_matrix", y_true, y_pred, sample_weight=w)
        compare("cohen_kappa_score", y_true, y_pred, sample_weight=w, weights="quadratic")
    ml_true, ml_pred = rng.integers(0, 2, (300, 6)), rng.integers(0, 2, (300, 6))
    for w in (None, weight[:300]):
        compare("precision_recall_fscore_support", ml_true, ml_pred, average="samples",
                sample_weight=w)
        compare("accuracy_score", ml_true, ml_pred, sample_weight=w)


@pytest.mark.parametrize("name,args,kwargs", [
    ("f1_score", ([0, 0], [0, 0]), {"pos_label": "a"}),            # pos_label of the other kind
    ("f1_score", (["a", "a"], ["a", "a"]), {}),                    # default pos_label=1, strings
    ("f1_score", ([0, 1], [1, 1]), {"average": "macro", "labels": ["x"]}),
    ("jaccard_score", ([0, 1, 2], [1, 1, 2]), {"average": None, "labels": [7, 2]}),
    ("confusion_matrix", ([0, 1, 2, 2], [1, 1, 2, 0]), {"labels": [2, 0, 1, 2]}),  # duplicate
    ("classification_report", ([0, 1], [1, 0]), {}),              # no sample right: float support
    ("classification_report", ([0.0, 1.0], [1, 2]), {}),
    ("precision_recall_fscore_support", ([0, 1], [1, 0]), {}),
    ("multilabel_confusion_matrix", ([0, 1, 2], [1, 2, 0]), {"labels": [2, 5]}),
    ("hamming_loss", (np.array([[0, 1], [1, 1]]), np.array([[0, 1], [0, 1]])),
     {"sample_weight": [0.5, 2]}),
    ("f1_score", ([10**12, -5, 10**12, 3], [-5, -5, 10**12, 3]), {"average": "macro"}),
    ("classification_report", (np.array([2**63 + 1, 5], dtype=np.uint64), [5, 5]), {}),
    ("confusion_matrix", ([1, 2, 3], [1.0, 2.5, 3.0]), {}),       # continuous y_pred
    ("recall_score", ([0, 1, 2], [0.0, 1.0, 7.0]), {"average": "weighted"}),  # int vs float
])
def test_label_corners(name, args, kwargs):
    compare(name, *args, **kwargs)
