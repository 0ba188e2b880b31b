"""Target checks and label encoding for the functional API (scikit-learn's rules, numpy only).

``check_targets`` reproduces what ``sklearn.metrics._classification._check_targets`` decides:
the target type (binary, multiclass, multilabel-indicator), the sorted set of labels present, and
a ValueError wherever sklearn raises one (mixed target types, continuous targets, string and
number labels mixed, inconsistent lengths, empty input, bad sample weights). Labels of any
sortable kind are then mapped to indices 0..K-1 with numpy before counting.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Targets", "type_of_target", "check_targets", "encode", "union_labels"]

_SUPPORTED = ("binary", "multiclass", "multilabel-indicator")
# above this many distinct values a bincount lookup table is not worth its memory
_LUT_MAX = 1 << 20


@dataclass
class Targets:
    """Checked targets: ``kind`` in _SUPPORTED; ``classes`` the sorted labels present (1-D) or
    ``arange(L)`` (multilabel); ``true``/``pred`` 1-D label arrays or 2-D bool indicators;
    ``weight`` float64 or None; ``weight_integral`` when the caller's weights were integers."""

    kind: str
    classes: np.ndarray
    true: np.ndarray
    pred: np.ndarray
    weight: np.ndarray | None
    weight_integral: bool


def _as_array(y, name):
    """array-like -> ndarray the way sklearn's check_array(dtype=None) sees it."""
    if hasattr(y, "toarray") and hasattr(y, "format"):  # scipy.sparse
        y = y.toarray()
    valid = (isinstance(y, Sequence) or hasattr(y, "__array__")) and not isinstance(y, str)
    if not valid:
        raise ValueError(f"Expected array-like (array or non-string sequence) for {name}, got {y!r}")
    try:
        a = np.asarray(y)
    except ValueError:
        # ragged input: sklearn retries with dtype=object (then calls it unknown / legacy)
        a = np.asarray(y, dtype=object)
    if a.dtype.kind == "c":
        raise ValueError(f"Complex data not supported in {name}")
    if a.ndim == 0:
        raise TypeError(f"{name} must be a sequence or array-like; got a scalar {y!r}")
    return a


def _unique(a):
    """Sorted distinct values; small-range integers by counting (O(n)) instead of sorting."""
    if a.dtype.kind in "iu" and a.size:
        lo, hi = int(a.min()), int(a.max())
        if hi - lo < _LUT_MAX and hi < 2**62:
            seen = np.bincount((a.astype(np.int64, copy=False) - lo).ravel())
            return (np.flatnonzero(seen) + lo).astype(a.dtype)
    try:
        return np.unique(a)
    except TypeError as exc:  # unorderable objects: a mix of strings and numbers
        raise ValueError(f"Mix of label input types (string and number): {exc}") from None


def _is_integral_float(values) -> bool:
    return values.dtype.kind == "f" and bool(np.all(values.astype(np.int64) == values))


def _is_multilabel(a) -> bool:
    if not (a.ndim == 2 and a.shape[1] > 1):
        return False
    if a.dtype.kind == "O":
        return False
    with np.errstate(invalid="ignore"):
        values = np.unique(a)
        return values.shape[0] < 3 and (a.dtype.kind in "biu" or _is_integral_float(values))


def type_of_target(a, name="y") -> str:
    """sklearn's ``type_of_target`` on an ndarray (see ``_as_array``)."""
    return _type_and_unique(a, name)[0]


def _type_and_unique(a, name):
    """(target type, sorted distinct values when they were computed, else None)."""
    if _is_multilabel(a):
        return "multilabel-indicator", None
    if a.dtype.kind == "S" or (a.size and a.dtype.kind == "O" and isinstance(a.flat[0], bytes)):
        raise TypeError(
            "Support for labels represented as bytes is not supported. Convert the labels to a "
            f"string or integer format ({name})."
        )
    if a.size and a.dtype.kind == "O":
        first = a[0]
        if not hasattr(first, "__array__") and isinstance(first, Sequence) and not isinstance(first, str):
            raise ValueError(
                "You appear to be using a legacy multi-label data representation. Sequence of "
                f"sequences are no longer supported ({name}); use a binary indicator array."
            )
    if a.ndim not in (1, 2):
        return "unknown", None
    if not min(a.shape):
        return ("binary" if a.ndim == 1 else "unknown"), None
    if a.dtype.kind == "O" and not isinstance(a.flat[0], str):
        return "unknown", None
    suffix = "-multioutput" if a.ndim == 2 and a.shape[1] > 1 else ""
    if a.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            integral = a.astype(np.int64).astype(a.dtype)
        if np.any(a != integral):
            if np.isnan(a).any():
                raise ValueError(f"Input {name} contains NaN.")
            if np.isinf(a).any():
                raise ValueError(f"Input {name} contains infinity.")
            return "continuous" + suffix, None
    values = _unique(a)
    if values.shape[0] > 2 or (a.ndim == 2 and a.shape[1] > 1):
        return "multiclass" + suffix, values
    return "binary", values


def _is_str_array(values) -> bool | None:
    """True for string labels, False for numbers, None when mixed."""
    if values.dtype.kind == "U":
        return True
    if values.dtype.kind != "O":
        return False
    kinds = {isinstance(v, str) for v in values.tolist()}
    return kinds.pop() if len(kinds) == 1 else None


def _present_labels(ut, up):
    """Sorted labels of t and p from their distinct values ``ut`` and ``up``; like sklearn,
    the dtype of y_true wins when y_pred adds nothing new (it decides how labels print)."""
    kinds = {_is_str_array(ut), _is_str_array(up)}
    if None in kinds or len(kinds) > 1:
        raise ValueError(
            f"Mix of label input types (string and number); got {ut} (y_true) and {up} (y_pred)."
        )
    extra = up[~np.isin(up, ut)]
    if extra.shape[0] == 0:
        return ut
    return _unique(np.concatenate([ut, extra]))


def _check_weight(sample_weight, n):
    if sample_weight is None:
        return None, False
    w = _as_array(sample_weight, "sample_weight")
    if w.ndim != 1:
        raise ValueError(f"sample_weight must be 1-D; got shape {w.shape}")
    if w.dtype.kind not in "biuf":
        raise ValueError(f"sample_weight must be numeric; got dtype {w.dtype}")
    integral = w.dtype.kind in "biu"
    w = np.ascontiguousarray(w, dtype=np.float64)
    if not np.isfinite(w).all():
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if not w.any():
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return w, integral


def check_targets(y_true, y_pred, sample_weight=None, *, names=("y_true", "y_pred")) -> Targets:
    """Type, present labels and arrays of a (y_true, y_pred) pair, with sklearn's errors."""
    t = _as_array(y_true, names[0])
    p = _as_array(y_pred, names[1])
    lengths = [t.shape[0], p.shape[0]]
    if sample_weight is not None:
        sw = _as_array(sample_weight, "sample_weight")
        lengths.append(sw.shape[0])
    if len(set(lengths)) > 1:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: {lengths}")
    type_t, unique_t = _type_and_unique(t, names[0])
    type_p, unique_p = _type_and_unique(p, names[1])
    if t.shape[0] < 1:
        raise ValueError(
            f"Found empty input array (e.g., `{names[0]}` or `{names[1]}`) while a minimum of 1 "
            "sample is required."
        )
    weight, integral = _check_weight(sample_weight, t.shape[0])
    kinds = {type_t, type_p}
    if kinds == {"binary", "multiclass"}:
        kinds = {"multiclass"}
    if len(kinds) > 1:
        raise ValueError(
            f"Classification metrics can't handle a mix of {type_t} and {type_p} targets"
        )
    kind = kinds.pop()
    if kind not in _SUPPORTED:
        raise ValueError(f"{kind} is not supported")
    if kind == "multilabel-indicator":
        if t.shape[1] != p.shape[1]:
            raise ValueError("Multi-label binary indicator input with different numbers of labels")
        return Targets(kind, np.arange(t.shape[1]), np.ascontiguousarray(t != 0),
                       np.ascontiguousarray(p != 0), weight, integral)
    t, p = t.reshape(-1), p.reshape(-1)  # column vectors become 1-D (sklearn's column_or_1d)
    classes = _present_labels(unique_t, unique_p)
    if kind == "binary" and classes.shape[0] > 2:
        kind = "multiclass"
    return Targets(kind, classes, t, p, weight, integral)


def union_labels(given, present, *, foreign_ok=True):
    """sklearn's label order for set-wise metrics: the given labels, then the present ones not
    given. Returns (sorted unique union, positions of ``given`` in the counts, number of rows
    to count). A given label of the other kind (a string among numbers or the reverse) can match
    no sample: like sklearn, it gets an empty row of its own after the union."""
    given = np.asarray(given)
    if given.ndim != 1:
        raise ValueError(f"labels must be 1-D; got shape {given.shape}")
    if given.shape[0] == 0:
        return present, np.zeros(0, dtype=np.int64), present.shape[0]
    present_is_str = _is_str_array(present)
    if given.dtype.kind == "O":
        same = np.array([isinstance(v, str) == present_is_str for v in given.tolist()], dtype=bool)
    else:
        same = np.full(given.shape[0], (given.dtype.kind == "U") == present_is_str)
    if not same.all() and not foreign_ok:
        raise ValueError(
            f"labels {given} are not of the same kind (string or number) as the labels of the "
            f"targets {present}"
        )
    ours = given[same].astype(present.dtype) if given.dtype.kind == "O" else given[same]
    full = _unique(np.concatenate([ours, present])) if ours.shape[0] else present
    pos = np.empty(given.shape[0], dtype=np.int64)
    pos[same] = np.searchsorted(full, ours)
    pos[~same] = full.shape[0] + np.arange(int((~same).sum()))
    return full, pos, full.shape[0] + int((~same).sum())


def encode(values, classes):
    """Indices of ``values`` in the sorted ``classes`` (every value must be in it), int64."""
    if (values.dtype.kind in "iub" and classes.dtype.kind in "iub" and classes.shape[0]
            and classes[0] >= 0 and classes[-1] < _LUT_MAX):
        # small non-negative integers: one lookup instead of a binary search per sample
        lut = np.zeros(int(classes[-1]) + 1, dtype=np.int64)
        lut[classes.astype(np.int64)] = np.arange(classes.shape[0])
        return lut[values.astype(np.int64, copy=False)]
    return np.searchsorted(classes, values).astype(np.int64, copy=False)
