"""Calibrators fitted on labelled reference data and applied inside the counting pass.

CBPE is only as good as the probabilities it sums, so a model's scores are usually calibrated
first. Both calibrators here compile to a lookup table over a uniform grid of [0, 1] that the
kernels (numpy, numba, C++) apply per score in the same pass that counts; ``transform`` applies
the very same table in numpy, so estimates and ``transform`` agree to the last bit.

- ``HistogramCalibrator``: equal-width bins, each mapped to the positive rate of its reference
  samples (empty bins keep their midpoint). Table mode "step".
- ``IsotonicCalibrator``: isotonic regression (pool-adjacent-violators, compiled with numba;
  scikit-learn's ``IsotonicRegression`` with ``out_of_bounds="clip"`` at the reference points),
  then sampled on a grid of ``grid + 1`` nodes and interpolated linearly between them (mode
  "linear"). Away from the isotonic steps the table is exact; across a step it differs by at
  most the step height over one grid cell (1/4096 of [0, 1] by default).

Multiclass: one one-vs-rest map per class, the calibrated row renormalised to sum to 1 (what
scikit-learn's ``CalibratedClassifierCV`` does). Multilabel: one map per label.

``fit`` records the reference's calibration error before and after in ``report``: expected
calibration error (15 equal-width bins; top-label confidence for multiclass, mean over labels for
multilabel) and Brier score. "After" is measured on the data the map was fitted on (optimistic;
fit on one half and ``calibration_error`` the other for an honest figure).
"""
from __future__ import annotations

import hashlib
import math

import numpy as np

from .. import _validate as V
from . import _kernels_numpy as _ref

__all__ = ["HistogramCalibrator", "IsotonicCalibrator", "expected_calibration_error"]

_TASKS = ("binary", "multiclass", "multilabel")
MODE_NONE, MODE_STEP, MODE_LINEAR = 0, 1, 2


def _check_task(task, num_classes, num_labels):
    V.choice("task", task, _TASKS)
    if task == "multiclass":
        num_classes = V.positive_int("num_classes", num_classes, 2)
    elif num_classes is not None:
        raise ValueError(f'num_classes is only for task="multiclass"; got num_classes={num_classes!r}')
    if task == "multilabel":
        num_labels = V.positive_int("num_labels", num_labels, 2)
    elif num_labels is not None:
        raise ValueError(f'num_labels is only for task="multilabel"; got num_labels={num_labels!r}')
    return num_classes, num_labels


def _probabilities(task, scores, logits, sum_tol=1e-3, name="scores"):
    """Validated float64 probabilities of a batch (raises like the kernels do)."""
    scores = V.as_array(name, scores)
    if scores.dtype.kind != "f":
        raise TypeError(f"{name} must hold float probabilities; got dtype {scores.dtype}")
    x = np.asarray(scores, dtype=np.float64)
    code, r, c = _ref._check(x, logits, sum_tol if task == "multiclass" else None)
    if code:
        from ._errors import message

        raise ValueError(message(name, x, code, r, c, sum_tol))
    if not logits:
        return x
    return _ref._softmax(x) if task == "multiclass" else _ref._sigmoid(x)


def _targets(task, target, shape):
    t = V.as_array("target", target)
    if task == "multilabel":
        if t.shape != shape:
            raise ValueError(f"target must have shape {shape} to match scores; got {t.shape}")
    elif t.ndim != 1 or t.shape[0] != shape[0]:
        raise ValueError(f"target must have shape ({shape[0]},) to match scores; got {t.shape}")
    t = V.labels("target", t, V.MULTICLASS_LABEL_DTYPES).astype(np.int64)
    high = 2 if task != "multiclass" else shape[1]
    bad = (t < 0) | (t >= high)
    if bad.any():
        i = np.unravel_index(int(np.flatnonzero(bad.reshape(-1))[0]), t.shape)
        where = ", ".join(str(int(j)) for j in i)
        raise ValueError(f"target[{where}] = {int(t[i])} is outside [0, {high})")
    return t


def _columns(task, p, t):
    """(probability, 0/1 outcome) per calibrated column."""
    if task == "binary":
        return [(p, t)]
    if task == "multiclass":
        return [(p[:, c], (t == c).astype(np.int64)) for c in range(p.shape[1])]
    return [(p[:, c], t[:, c]) for c in range(p.shape[1])]


def _ece_binary(p, y, nbins=15):
    b = np.minimum((p * nbins).astype(np.int64), nbins - 1)
    n = np.bincount(b, minlength=nbins)
    sp = np.bincount(b, weights=p, minlength=nbins)
    sy = np.bincount(b, weights=y, minlength=nbins)
    return float(np.abs(sy - sp).sum() / max(len(p), 1))


def expected_calibration_error(task, scores, target, *, logits=False, num_bins=15):
    """Expected calibration error of probabilities: binary on the positive class, multiclass on
    the top-label confidence, multilabel the mean over labels."""
    V.choice("task", task, _TASKS)
    num_bins = V.positive_int("num_bins", num_bins, 1)
    p = _probabilities(task, scores, logits)
    t = _targets(task, target, p.shape)
    return _ece(task, p, t, num_bins)


def _ece(task, p, t, num_bins=15):
    if len(p) == 0:
        return math.nan
    if task == "binary":
        return _ece_binary(p, t, num_bins)
    if task == "multiclass":
        j = np.argmax(p, axis=1)
        return _ece_binary(p[np.arange(len(p)), j], (t == j).astype(np.float64), num_bins)
    return float(np.mean([_ece_binary(p[:, c], t[:, c], num_bins) for c in range(p.shape[1])]))


def _brier(task, p, t):
    if len(p) == 0:
        return math.nan
    if task == "multiclass":
        onehot = np.zeros_like(p)
        onehot[np.arange(len(p)), t] = 1.0
        return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))
    return float(np.mean((p - t) ** 2))


def _apply(task, p, table, mode):
    """The kernels' calibration step, in numpy (the same table, the same arithmetic)."""
    if task == "binary":
        return _ref._calibrate(p, table, mode)
    out = np.stack([_ref._calibrate(p[:, c], table[c], mode) for c in range(p.shape[1])], axis=1)
    if task == "multiclass":
        tot = out.sum(axis=1, keepdims=True)
        out = np.where(tot > 0, out / np.where(tot > 0, tot, 1.0), p)
    return out


class _Calibrator:
    """Shared fit/transform/report machinery; subclasses build one table row per column."""

    _MODE = MODE_NONE

    def __init__(self, task="binary", *, num_classes=None, num_labels=None):
        self.task = task
        self.num_classes, self.num_labels = _check_task(task, num_classes, num_labels)
        self.table = None
        self.report = None

    @property
    def mode(self) -> int:
        return self._MODE

    @property
    def fitted(self) -> bool:
        return self.table is not None

    @property
    def width(self):
        """Score columns: 1 (binary), num_classes or num_labels."""
        return {"binary": 1, "multiclass": self.num_classes, "multilabel": self.num_labels}[self.task]

    def _check_shape(self, p):
        if self.task == "binary":
            if p.ndim != 1:
                raise ValueError(f"scores must be 1-D (n_samples,) for a binary calibrator; got shape {p.shape}")
        elif p.ndim != 2 or p.shape[1] != self.width:
            what = "num_classes" if self.task == "multiclass" else "num_labels"
            raise ValueError(f"scores must have shape (n_samples, {self.width}) for this calibrator "
                             f"({what}={self.width}); got shape {p.shape}")

    def fit(self, scores, target, *, logits=False):
        """Fit on labelled reference data; ``scores`` probabilities (or logits with
        ``logits=True``), ``target`` labels. Records ``report``. Returns self."""
        V.flag("logits", logits)
        p = _probabilities(self.task, scores, logits)
        self._check_shape(p)
        if len(p) == 0:
            raise ValueError("scores must not be empty to fit a calibrator")
        t = _targets(self.task, target, p.shape)
        self._begin()
        rows = [self._fit_column(x, y.astype(np.float64)) for x, y in _columns(self.task, p, t)]
        table = np.ascontiguousarray(rows[0] if self.task == "binary" else np.stack(rows))
        after = _apply(self.task, p, table, self._MODE)
        self.table = table
        self._commit()
        self.report = {
            "n_samples": int(len(p)),
            "ece_before": _ece(self.task, p, t),
            "ece_after": _ece(self.task, after, t),
            "brier_before": _brier(self.task, p, t),
            "brier_after": _brier(self.task, after, t),
        }
        return self

    def _fit_column(self, x, y):
        raise NotImplementedError

    def _begin(self):
        pass

    def _commit(self):
        pass

    def _require_fitted(self):
        if self.table is None:
            raise ValueError(f"{type(self).__name__} is not fitted: call fit(scores, target) first")

    def transform(self, scores, *, logits=False):
        """Calibrated probabilities (float64), exactly what the estimation kernels use."""
        self._require_fitted()
        p = _probabilities(self.task, scores, logits)
        self._check_shape(p)
        return _apply(self.task, p, self.table, self._MODE)

    def calibration_error(self, scores, target, *, logits=False) -> dict:
        """ECE and Brier score of ``scores`` before and after this map (e.g. on held-out data)."""
        self._require_fitted()
        p = _probabilities(self.task, scores, logits)
        self._check_shape(p)
        t = _targets(self.task, target, p.shape)
        after = _apply(self.task, p, self.table, self._MODE)
        return {"ece_before": _ece(self.task, p, t), "ece_after": _ece(self.task, after, t),
                "brier_before": _brier(self.task, p, t), "brier_after": _brier(self.task, after, t)}

    def fingerprint(self) -> str:
        """Identifies the fitted map (objects estimated with different maps do not merge)."""
        self._require_fitted()
        h = hashlib.sha1(f"{type(self).__name__}:{self.task}:{self.width}:{self._MODE}".encode())
        h.update(self.table.tobytes())
        return h.hexdigest()[:16]

    def __repr__(self):
        extra = {"multiclass": f", num_classes={self.num_classes}",
                 "multilabel": f", num_labels={self.num_labels}"}.get(self.task, "")
        state = "fitted" if self.fitted else "not fitted"
        return f"{type(self).__name__}(task={self.task!r}{extra}) [{state}]"


class HistogramCalibrator(_Calibrator):
    """Histogram binning: ``num_bins`` equal-width bins of [0, 1], each mapped to the positive
    rate of the reference samples that fall in it (the midpoint when none does)."""

    _MODE = MODE_STEP

    def __init__(self, task="binary", *, num_classes=None, num_labels=None, num_bins=15):
        super().__init__(task, num_classes=num_classes, num_labels=num_labels)
        self.num_bins = V.positive_int("num_bins", num_bins, 1)

    def _fit_column(self, x, y):
        g = self.num_bins
        b = np.minimum((x * g).astype(np.int64), g - 1)
        n = np.bincount(b, minlength=g).astype(np.float64)
        pos = np.bincount(b, weights=y, minlength=g)
        mid = (np.arange(g) + 0.5) / g
        return np.where(n > 0, pos / np.where(n > 0, n, 1.0), mid)


class IsotonicCalibrator(_Calibrator):
    """Isotonic regression (non-decreasing, clipped outside the reference range), tabulated on
    ``grid + 1`` uniform nodes with linear interpolation between them."""

    _MODE = MODE_LINEAR

    def __init__(self, task="binary", *, num_classes=None, num_labels=None, grid=4096):
        super().__init__(task, num_classes=num_classes, num_labels=num_labels)
        self.grid = V.positive_int("grid", grid, 1)
        self.knots = None

    def _begin(self):
        self._pending = []

    def _commit(self):
        self.knots = self._pending

    def _fit_column(self, x, y):
        xs, ys = isotonic_knots(x, y)
        self._pending.append((xs, ys))
        return np.interp(np.arange(self.grid + 1) / self.grid, xs, ys)


def isotonic_knots(x, y, sample_weight=None):
    """(x, fitted y) at the distinct reference points of a non-decreasing least-squares fit;
    ``np.interp(v, *isotonic_knots(x, y))`` is scikit-learn's ``IsotonicRegression(
    out_of_bounds="clip").fit(x, y).predict(v)``."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = np.ones_like(x) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    order = np.lexsort((y, x))
    x, y, w = x[order], y[order], w[order]
    # pool equal x first (weighted mean), as scikit-learn does
    ux, start = np.unique(x, return_index=True)
    wsum = np.add.reduceat(w, start)
    ymean = np.add.reduceat(w * y, start) / np.where(wsum > 0, wsum, 1.0)
    from ._kernels_numba import pav

    return ux, pav(ymean, wsum)
