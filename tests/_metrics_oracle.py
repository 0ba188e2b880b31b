"""Shared oracle helpers of the metric-object tests (scikit-learn is the oracle)."""
import math
import warnings

import numpy as np
import pytest
from sklearn.exceptions import UndefinedMetricWarning as SkUndefined

from tallyml import UndefinedMetricWarning

ZERO_DIVISIONS = ["warn", 0, 1, np.nan]


def run(fn):
    """(value, raised ValueError?, emitted an undefined-metric warning?) of fn()."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            out, err = fn(), False
        except ValueError:
            out, err = None, True
    undefined = any(issubclass(r.category, (SkUndefined, UndefinedMetricWarning)) for r in rec)
    return out, err, undefined


def assert_same(ours_fn, sk_fn, what, check_warning=True):
    ours, ours_err, ours_warn = run(ours_fn)
    theirs, sk_err, sk_warn = run(sk_fn)
    assert ours_err == sk_err, (what, ours_err, sk_err)
    if sk_err:
        return
    np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float),
                               rtol=1e-12, atol=1e-14, err_msg=str(what))
    if check_warning:
        assert ours_warn == sk_warn, (what, "warning", ours_warn, sk_warn)


def chunks(n, rng, max_chunks=4):
    cuts = np.sort(rng.integers(0, n + 1, size=rng.integers(0, max_chunks)))
    edges = np.concatenate([[0], cuts, [n]])
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def as_variant(a, rng):
    """The same values as a list, a strided view, a read-only array or a pandas Series."""
    kind = rng.integers(0, 5)
    if kind == 0:
        return a.tolist()
    if kind == 1:
        doubled = np.repeat(a, 2, axis=0)[::2]  # non-contiguous view
        assert not doubled.flags.c_contiguous or len(a) < 2
        return doubled
    if kind == 2:
        b = a.copy()
        b.flags.writeable = False
        return b
    if kind == 3:
        pd = pytest.importorskip("pandas")
        return pd.Series(a) if a.ndim == 1 else pd.DataFrame(a)
    return a


def specificity_oracle(y, p, labels, sample_weight, average, zero_division):
    """tn / (tn + fp) per class, averaged like recall. Counts are direct (weighted) sums:
    sklearn's multilabel_confusion_matrix derives tn by subtraction, which leaves rounding
    residue (1e-15 instead of 0) with float weights."""
    if len(y) == 0:
        raise ValueError("empty input")  # like sklearn's functions
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
    labels = np.asarray(labels)
    tn = np.array([w[(y != c) & (p != c)].sum() for c in labels])
    fp = np.array([w[(y != c) & (p == c)].sum() for c in labels])
    support = np.array([w[y == c].sum() for c in labels])
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
    w = support[keep] if average == "weighted" else None
    if w is not None and w.sum() == 0:
        w = None
    return float(np.average(value[keep], weights=w))
