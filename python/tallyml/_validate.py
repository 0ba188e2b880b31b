"""Argument and array checks shared by the metric objects.

Two kinds of checks live here: *argument* checks run once, at construction or per compute call
(threshold, num_classes, average...), and *array* checks turn whatever the caller passed (lists,
pandas Series, strided or read-only arrays) into a contiguous array of a dtype the kernels take.
Value checks (labels out of range, NaN scores, negative weights) are not here: the kernels fuse
them into the counting pass.

Every error names the argument, what was expected and what was received.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__: list[str] = []  # private module

# dtypes the kernels take directly (see tallyml._backends); everything else is converted or refused
BINARY_LABEL_DTYPES = frozenset(np.dtype(d) for d in (np.bool_, np.int8, np.int32, np.int64))
MULTICLASS_LABEL_DTYPES = BINARY_LABEL_DTYPES | {np.dtype(np.uint8), np.dtype(np.int16)}
SCORE_DTYPES = frozenset(np.dtype(d) for d in (np.float32, np.float64))
_F64 = np.dtype(np.float64)


# ---------------------------------------------------------------- arguments
def positive_int(name: str, value, minimum: int) -> int:
    """An integer (not bool) >= minimum."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}; got {value!r} ({type(value).__name__})")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}")
    return value


def threshold(value, logits: bool) -> float:
    """Check a probability threshold and return the float64 value the kernels compare against.

    With ``logits=True`` the threshold is still given as a probability; it is moved to
    logit(threshold) so that raw logits can be compared to it directly (0 -> -inf, 1 -> +inf)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"threshold must be a real number in [0, 1]; got {value!r} ({type(value).__name__})")
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also rejects nan
        raise ValueError(f"threshold must be in [0, 1]; got {value!r}")
    if not logits:
        return value
    if value == 0.0:
        return -math.inf
    if value == 1.0:
        return math.inf
    # log(t) - log1p(-t) is accurate at both ends (no cancellation in 1 - t for small t)
    return math.log(value) - math.log1p(-value)


def flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def ignore_index(value):
    """None or an integer label value."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"ignore_index must be None or an integer; got {value!r} ({type(value).__name__})")
    return int(value)


def zero_division(value):
    """sklearn's zero_division: "warn", 0, 1 or nan (returned unchanged)."""
    ok = isinstance(value, str) and value == "warn"
    if not ok and isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        ok = value in (0, 1) or math.isnan(value)
    if not ok:
        raise ValueError(f'zero_division must be "warn", 0, 1 or nan; got {value!r}')
    return value


def choice(name: str, value, allowed: tuple):
    if not any(value is a or (type(value) is type(a) and value == a) for a in allowed):
        raise ValueError(f"{name} must be one of {allowed!r}; got {value!r}")
    return value


def average(value, allowed: tuple):
    """``average`` for precision/recall/...: one of ``allowed`` (None included where allowed)."""
    if value is None and None in allowed:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"average must be one of {allowed!r}; got {value!r}")
    return value


# ---------------------------------------------------------------- arrays
def as_array(name: str, x) -> np.ndarray:
    """Any array-like (list, pandas Series, ndarray view) as an ndarray of a numeric dtype."""
    if type(x) is not np.ndarray:
        try:
            x = np.asarray(x)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"{name} must be an array-like of numbers; got {type(x).__name__}: {exc}") from None
    kind = x.dtype.kind
    if kind not in "biuf":
        raise TypeError(f"{name} must hold numbers or booleans; got dtype {x.dtype}")
    return x


def contiguous(x: np.ndarray) -> np.ndarray:
    """C-contiguous without copying when it already is (read-only arrays are fine: the kernels
    only read their inputs)."""
    return x if x.flags.c_contiguous else np.ascontiguousarray(x)


def labels(name: str, x: np.ndarray, allowed: frozenset) -> np.ndarray:
    """Label array as one of the ``allowed`` dtypes. Other integer dtypes go to int64; float
    arrays are accepted only when every value is an integer (then converted to int64)."""
    if x.dtype in allowed:
        return contiguous(x)
    kind = x.dtype.kind
    if kind in "iu":
        if kind == "u" and x.dtype.itemsize == 8 and x.size and int(x.max()) > np.iinfo(np.int64).max:
            raise ValueError(f"{name} holds a value too large for a label: {int(x.max())}")
        return np.ascontiguousarray(x, dtype=np.int64)
    if kind == "f":
        with np.errstate(invalid="ignore"):
            integral = np.isfinite(x) & (x == np.floor(x))
        if not integral.all():
            i = np.unravel_index(int(np.flatnonzero(~integral.reshape(-1))[0]), x.shape)
            where = ", ".join(str(int(j)) for j in i)
            raise ValueError(f"{name} must hold integer labels; {name}[{where}] = {float(x[i])!r}")
        return np.ascontiguousarray(x, dtype=np.int64)
    if kind == "b":
        return contiguous(x)
    raise TypeError(f"{name} must hold integer labels; got dtype {x.dtype}")


def scores(name: str, x: np.ndarray) -> np.ndarray:
    """Score array as float32 or float64 (float16 is widened to float32, exactly)."""
    if x.dtype in SCORE_DTYPES:
        return contiguous(x)
    if x.dtype.kind == "f" and x.dtype.itemsize < 4:
        return np.ascontiguousarray(x, dtype=np.float32)
    if x.dtype.kind == "f":  # longdouble: compare in float64 like every other score
        return np.ascontiguousarray(x, dtype=np.float64)
    raise TypeError(f"{name} must hold float scores; got dtype {x.dtype}")


def sample_weight(w, n: int):
    """None, or a contiguous float64 (n,) array (values are checked by the kernels)."""
    if w is None:
        return None
    w = as_array("sample_weight", w)
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(f"sample_weight must have shape ({n},) to match target; got shape {w.shape}")
    if w.dtype != _F64 or not w.flags.c_contiguous:
        w = np.ascontiguousarray(w, dtype=np.float64)
    return w


def same_length(target: np.ndarray, preds: np.ndarray) -> None:
    if preds.shape[0] != target.shape[0]:
        raise ValueError(
            f"target and preds must have the same number of samples; got {target.shape[0]} and {preds.shape[0]}"
        )


def ndim(name: str, x: np.ndarray, allowed: tuple, what: str) -> None:
    if x.ndim not in allowed:
        raise ValueError(f"{name} must be {what}; got an array of shape {x.shape}")
