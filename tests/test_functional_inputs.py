"""tallyml.functional: accepted input kinds, errors where sklearn raises, tallyml's warnings."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm

import tallyml.functional as tf
from tallyml import TallymlWarning, UndefinedMetricWarning, _backends


@pytest.fixture(autouse=True, scope="module")
def _usable_backend():
    with pytest.MonkeyPatch.context() as mp:
        try:
            _backends.load(_backends.resolve("auto"))
        except ImportError:
            mp.setenv(_backends.ENV_VAR, "numpy")
        yield


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# ------------------------------------------------------------------------------------------
# input kinds

_Y_TRUE = [2, 0, 1, 1, 2, 0, 2, 1]
_Y_PRED = [2, 1, 1, 0, 2, 0, 1, 1]


def _variants():
    base_t, base_p = np.array(_Y_TRUE), np.array(_Y_PRED)
    readonly_t, readonly_p = base_t.copy(), base_p.copy()
    readonly_t.flags.writeable = False
    readonly_p.flags.writeable = False
    strided_t = np.repeat(base_t, 2)[::2]
    strided_p = np.repeat(base_p, 2)[::2]
    assert not strided_t.flags.c_contiguous or strided_t.base is not None
    return {
        "list": (list(_Y_TRUE), list(_Y_PRED)),
        "tuple": (tuple(_Y_TRUE), tuple(_Y_PRED)),
        "series": (pd.Series(_Y_TRUE, index=range(10, 18)), pd.Series(_Y_PRED)),
        "readonly": (readonly_t, readonly_p),
        "strided": (strided_t, strided_p),
        "column": (base_t[:, None], base_p[:, None]),
        "int8": (base_t.astype(np.int8), base_p.astype(np.int8)),
        "uint64": (base_t.astype(np.uint64), base_p.astype(np.uint64)),
        "integral-float": (base_t.astype(float), base_p.astype(float)),
    }


@pytest.mark.parametrize("variant", list(_variants()))
def test_input_kinds(variant):
    y_true, y_pred = _variants()[variant]
    for name, kwargs in [("f1_score", {"average": "macro"}), ("accuracy_score", {}),
                         ("confusion_matrix", {}), ("matthews_corrcoef", {}),
                         ("precision_recall_fscore_support", {}),
                         ("classification_report", {})]:
        expected = getattr(skm, name)(y_true, y_pred, **kwargs)
        got = getattr(tf, name)(y_true, y_pred, **kwargs)
        if isinstance(expected, str):
            assert got == expected
        else:
            for e, g in zip(np.atleast_1d(np.asarray(expected, dtype=object)),
                            np.atleast_1d(np.asarray(got, dtype=object))):
                np.testing.assert_allclose(np.asarray(g, float), np.asarray(e, float), rtol=1e-12)


def test_series_of_strings_and_bool_labels():
    y_true = pd.Series(["b", "a", "c", "a"])
    y_pred = pd.Series(["b", "c", "c", "a"])
    assert tf.classification_report(y_true, y_pred) == skm.classification_report(y_true, y_pred)
    bt, bp = np.array([True, False, True, True]), np.array([True, True, False, True])
    assert tf.f1_score(bt, bp) == skm.f1_score(bt, bp)
    assert tf.classification_report(bt, bp) == skm.classification_report(bt, bp)


def test_multilabel_accepts_bool_float_and_nonzero_indicators():
    y_true = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0]])
    y_pred = np.array([[1, 1, 0], [0, 1, 1], [0, 1, 0]])
    for t, p in [(y_true.astype(bool), y_pred.astype(bool)),
                 (y_true.astype(float), y_pred.astype(float)),
                 (y_true * 5, y_pred * 5)]:
        for average in ("micro", "macro", "samples"):
            assert tf.f1_score(t, p, average=average) == pytest.approx(
                skm.f1_score(t, p, average=average), rel=1e-12)
        np.testing.assert_array_equal(tf.multilabel_confusion_matrix(t, p),
                                      skm.multilabel_confusion_matrix(t, p))


def test_many_classes_do_not_build_a_dense_matrix_for_setwise_metrics():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 6000, 3000)
    y_pred = np.where(rng.random(3000) < 0.5, y_true, rng.integers(0, 6000, 3000))
    got = _quiet(tf.precision_recall_fscore_support, y_true, y_pred, average="weighted")
    exp = _quiet(skm.precision_recall_fscore_support, y_true, y_pred, average="weighted")
    np.testing.assert_allclose(got[:3], exp[:3], rtol=1e-12)
    np.testing.assert_allclose(_quiet(tf.multilabel_confusion_matrix, y_true, y_pred),
                               _quiet(skm.multilabel_confusion_matrix, y_true, y_pred))


# ------------------------------------------------------------------------------------------
# errors: ValueError wherever sklearn raises one

_ERROR_CASES = [
    ("f1_score", ([0, 1, 2], [0, 1, 1]), {}),                            # multiclass, binary avg
    ("f1_score", ([0.5, 1.0], [0, 1]), {}),                              # continuous
    ("accuracy_score", ([0, 1], [0, 1, 1]), {}),                         # lengths
    ("accuracy_score", ([], []), {}),                                    # empty
    ("accuracy_score", ([0, 1], [[0, 1], [1, 1]]), {}),                  # binary vs multilabel
    ("accuracy_score", (["a", "b"], [0, 1]), {}),                        # string and number
    ("accuracy_score", ([0, 1], [0, 1]), {"sample_weight": [0, 0]}),     # all-zero weights
    ("accuracy_score", ([0, 1], [0, 1]), {"sample_weight": [1, np.nan]}),
    ("accuracy_score", ([0, 1], [0, 1]), {"normalize": "yes"}),
    ("accuracy_score", ([0, np.nan], [0, 1]), {}),
    ("f1_score", ([0, 1, 1], [0, 1, 0]), {"pos_label": 2}),              # bad pos_label
    ("f1_score", (["a", "b"], ["a", "b"]), {}),                          # pos_label=1 on strings
    ("f1_score", ([0, 1], [0, 1]), {"average": "mean"}),
    ("f1_score", ([0, 1], [0, 1]), {"zero_division": 2}),
    ("f1_score", ([0, 1], [0, 1]), {"zero_division": "nan"}),
    ("f1_score", ([0, 1, 2], [0, 1, 2]), {"average": "samples"}),
    ("fbeta_score", ([0, 1], [0, 1]), {"beta": -1}),
    ("jaccard_score", ([0, 1], [0, 1]), {"zero_division": np.nan}),
    ("precision_score", (np.eye(3), np.eye(3)), {"average": "binary"}),
    ("precision_score", (np.eye(3), np.eye(3)), {"average": None, "labels": [0, 3]}),
    ("precision_score", (np.eye(3), np.eye(3)), {"average": None, "labels": [-1, 1]}),
    ("recall_score", ([[0, 1, 2], [1, 2, 0]], [[0, 1, 2], [1, 2, 0]]), {"average": "macro"}),
    ("confusion_matrix", ([0, 1], [0, 1]), {"labels": []}),
    ("confusion_matrix", ([0, 1], [0, 1]), {"labels": [5, 6]}),
    ("confusion_matrix", ([0, 1], [0, 1]), {"normalize": "rows"}),
    ("confusion_matrix", (np.eye(2), np.eye(2)), {}),
    ("multilabel_confusion_matrix", ([0, 1], [0, 1]), {"samplewise": True}),
    ("cohen_kappa_score", ([0, 1], [0, 1]), {"labels": [4]}),
    ("cohen_kappa_score", ([0, 1], [0, 1]), {"weights": "cubic"}),
    ("matthews_corrcoef", (np.eye(2), np.eye(2)), {}),
    ("balanced_accuracy_score", ([0, 1], [0, 1]), {"adjusted": "no"}),
    ("classification_report", ([0, 1, 2], [0, 1, 2]), {"target_names": ["a", "b"]}),
    ("classification_report", ([0, 1], [0, 1]), {"digits": -1}),
    ("hamming_loss", ([[1, 2], [3, 1]], [[1, 2], [3, 1]]), {}),
]


@pytest.mark.parametrize("name,args,kwargs", _ERROR_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(_ERROR_CASES)])
def test_value_error_where_sklearn_raises(name, args, kwargs):
    with pytest.raises(ValueError):
        _quiet(getattr(skm, name), *args, **kwargs)
    with pytest.raises(ValueError):
        _quiet(getattr(tf, name), *args, **kwargs)


def test_error_messages_name_the_problem():
    with pytest.raises(ValueError, match="average"):
        tf.f1_score([0, 1], [0, 1], average="mean")
    with pytest.raises(ValueError, match="zero_division"):
        tf.precision_score([0, 1], [0, 1], zero_division=3)
    with pytest.raises(ValueError, match="pos_label=2"):
        tf.f1_score([0, 1, 1], [0, 1, 0], pos_label=2)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        tf.accuracy_score([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="mix of binary and continuous"):
        tf.accuracy_score([0, 1], [0.5, 1.0])
    with pytest.raises(ValueError, match="sample_weight"):
        tf.accuracy_score([0, 1], [0, 1], sample_weight=[1.0, -1.0])  # kernels reject it


def test_bytes_labels_are_a_type_error_like_sklearn():
    with pytest.raises(TypeError):
        skm.accuracy_score([b"a", b"b"], [b"a", b"b"])
    with pytest.raises(TypeError):
        tf.accuracy_score([b"a", b"b"], [b"a", b"b"])


# ------------------------------------------------------------------------------------------
# tallyml's own warning classes where sklearn emits its plain UserWarnings


def test_user_warnings_are_tallyml_warnings():
    with pytest.warns(TallymlWarning, match="pos_label"):
        tf.f1_score([0, 1, 2], [0, 1, 1], average="macro", pos_label=2)
    with pytest.warns(TallymlWarning, match="single label"):
        cm = tf.confusion_matrix([3, 3], [3, 3])
    assert cm.tolist() == [[2]]
    with pytest.warns(TallymlWarning, match="not in y_true"):
        tf.balanced_accuracy_score([0, 0, 1], [0, 2, 1])
    with pytest.warns(TallymlWarning, match="target_names"):
        tf.classification_report([0, 1], [0, 1], labels=[0, 1, 2], target_names=["a", "b"],
                                 zero_division=0)


def test_undefined_metric_warning_only_for_warn():
    with pytest.warns(UndefinedMetricWarning, match="ill-defined"):
        assert tf.precision_score([0, 1], [0, 0]) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tf.precision_score([0, 1], [0, 0], zero_division=1) == 1.0
        assert np.isnan(tf.precision_score([0, 1], [0, 0], zero_division=np.nan))
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(tf.cohen_kappa_score([1, 1], [1, 1]))


def test_many_classes_accuracy_and_hamming():
    rng = np.random.default_rng(2)
    y_true = rng.integers(0, 9000, 2000)
    y_pred = np.where(rng.random(2000) < 0.3, y_true, rng.integers(0, 9000, 2000))
    weight = rng.random(2000)
    for w in (None, weight):
        for name in ("accuracy_score", "hamming_loss", "zero_one_loss"):
            assert getattr(tf, name)(y_true, y_pred, sample_weight=w) == pytest.approx(
                getattr(skm, name)(y_true, y_pred, sample_weight=w), rel=1e-12)


def test_support_is_float_when_no_sample_is_right_like_sklearn():
    got = tf.precision_recall_fscore_support([0, 1], [1, 0], zero_division=0)
    exp = skm.precision_recall_fscore_support([0, 1], [1, 0], zero_division=0)
    assert got[3].dtype == exp[3].dtype == np.float64
