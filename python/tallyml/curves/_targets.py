"""Input checks of the exact (scikit-learn drop-in) functions: target type, 1-D columns,
weights, pos_label. Messages name the argument; the rules follow scikit-learn 1.9."""
from __future__ import annotations

import numpy as np

__all__: list[str] = []


def column(x, name, *, dtype=None):
    """1-D array from an array-like of shape (n,) or (n, 1)."""
    a = np.asarray(x) if dtype is None else np.asarray(x, dtype=dtype)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D (or of shape (n, 1)); got shape {a.shape}")
    return a


def float_scores(x, name, *, ndim=None):
    """Scores as float32/float64 (other numbers become float64), all finite."""
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold numbers; got dtype {a.dtype}")
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D; got shape {a.shape}")
    if np.isfinite(a).all():
        return a
    bad = ~np.isfinite(a)
    if bad.any():
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        where = ", ".join(map(str, pos))
        raise ValueError(f"{name}[{where}] = {float(a[pos])!r} is not finite")
    return a


def weights(sample_weight, n):
    if sample_weight is None:
        return None
    w = column(sample_weight, "sample_weight", dtype=np.float64)
    if w.shape[0] != n:
        raise ValueError(f"sample_weight has {w.shape[0]} samples; expected {n}")
    if not np.isfinite(w).all():
        raise ValueError("sample_weight must be finite")
    return w


def same_length(*pairs):
    """pairs: (name, array or None); every given array has the same first dimension."""
    given = [(n, len(a)) for n, a in pairs if a is not None]
    if len({k for _, k in given}) > 1:
        desc = ", ".join(f"{n}: {k}" for n, k in given)
        raise ValueError(f"inconsistent numbers of samples ({desc})")


def unique_small(y):
    """np.unique(y), with a fast path for numeric targets of at most two values (min and max
    in two vectorised passes instead of a hash or a sort of the whole array)."""
    y = np.asarray(y)
    if y.dtype.kind in "biuf" and y.size:
        flat = y.reshape(-1)
        lo, hi = flat.min(), flat.max()
        if lo == hi:
            return np.asarray([lo])
        # integers one apart have nothing between them: skip the third pass (0/1 labels)
        if y.dtype.kind in "biu" and int(hi) - int(lo) == 1:
            return np.asarray([lo, hi])
        if not ((flat != lo) & (flat != hi)).any():
            return np.asarray([lo, hi])
    return np.unique(y)


def type_of_target(y):
    """scikit-learn's target types, for the cases the curve functions meet."""
    y = np.asarray(y)
    if y.ndim > 2 or y.size == 0 and y.ndim != 1:
        return "unknown"
    if y.ndim == 2 and y.shape[1] > 1:
        if y.dtype.kind in "biuf" and np.isin(unique_small(y), [0, 1]).all():
            return "multilabel-indicator"
        if y.dtype.kind == "f" and np.any(y != y.astype(np.int64)):
            return "continuous-multioutput"
        return "multiclass-multioutput"
    if y.ndim == 2:
        y = y[:, 0]
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise ValueError("y_true contains NaN or infinity")
        if np.any(y != np.floor(y)):
            return "continuous"
    if y.dtype == object and any(isinstance(v, (list, tuple, np.ndarray)) for v in y[:1]):
        return "unknown"
    k = unique_small(y).shape[0]
    return "multiclass" if k > 2 else "binary"


def check_pos_label(pos_label, y_true):
    """sklearn's _check_pos_label_consistency: None means 1 when the classes are {0, 1},
    {-1, 1} or one of them alone; otherwise pos_label is required."""
    if pos_label is None:
        classes = unique_small(y_true)
        ok = classes.dtype.kind not in "OUS" and classes.shape[0] <= 2 and any(
            classes.shape[0] == len(c) and np.array_equal(classes, c)
            for c in ([0, 1], [-1, 1], [0], [-1], [1])
        )
        if not ok:
            shown = ", ".join(repr(c) for c in classes.tolist())
            raise ValueError(
                f"y_true takes value in {{{shown}}} and pos_label is not specified: either make "
                "y_true take value in {0, 1} or {-1, 1} or pass pos_label explicitly."
            )
        pos_label = 1
    return pos_label
