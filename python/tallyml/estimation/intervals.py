"""Confidence intervals of the estimates: how far the realized metric can be from the estimate
when the labels are drawn from the (calibrated) probabilities.

Conditional on the scores, every realized count is a sum of independent Bernoulli (binary,
multilabel) or categorical (multiclass) outcomes, one per sample, so its variance is known from
the scores alone: the kernels accumulate it in the same pass as the expected counts. A metric is
a smooth function of the counts, so its variance follows by the delta method:
``Var f(C) ~ sum_d (df/du_d)^2 var_d`` over independent directions ``u_d`` of count space.

- Binary and per label: the predicted-positive column moves along (tp +1, fp -1) with variance
  ``sum p (1 - p)`` over predicted positives, the negative column along (fn +1, tn -1). Exact to
  first order.
- Multiclass: column j (samples predicted j) has covariance ``sum_i diag(p_i) - p_i p_i^T``; the
  kernels keep its diagonal exactly and its covariances with the predicted class (``sum p_k
  p_j``); the remaining small covariances among non-predicted classes are a rank-one fit to what
  is left of each variance. Accuracy and each class's precision, recall and F1 only see the exact
  parts; macro averages, MCC and kappa also see the approximated ones. Each column's matrix is
  diagonalised into independent directions.
- ROC AUC: analytic gradient of the histogram AUC in each bin's positive count (variance ``sum
  p (1 - p)`` per bin). Averages over classes treat classes as independent (an approximation).

Derivatives of arbitrary metrics are central differences of the very formulas that give the
estimate, with a step of 1e-3 standard deviations along each direction.
"""
from __future__ import annotations

import math
import warnings
from collections import namedtuple
from statistics import NormalDist

import numpy as np

__all__ = ["Estimate", "z_value", "delta_std", "column_directions", "auroc_from_hist"]

#: value with its standard deviation and the two-sided interval at ``coverage``
Estimate = namedtuple("Estimate", ["value", "std", "low", "high", "coverage"])

_STEP = 1e-3


def z_value(coverage) -> float:
    """Two-sided normal quantile for ``coverage`` in (0, 1)."""
    if isinstance(coverage, bool) or not isinstance(coverage, (int, float, np.floating)):
        raise TypeError(f"coverage must be a number in (0, 1); got {coverage!r}")
    if not 0.0 < float(coverage) < 1.0:
        raise ValueError(f"coverage must be in (0, 1); got {coverage!r}")
    return NormalDist().inv_cdf(0.5 + float(coverage) / 2.0)


def make_estimate(value, std, coverage, bounds=(0.0, 1.0)):
    z = z_value(coverage)
    value = np.asarray(value, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    low = np.clip(value - z * std, *bounds)
    high = np.clip(value + z * std, *bounds)
    if value.ndim == 0:
        return Estimate(float(value), float(std), float(low), float(high), float(coverage))
    return Estimate(value, std, low, high, float(coverage))


def delta_std(evaluate, base: dict, directions):
    """Standard deviation of ``evaluate(arrays)`` by the delta method.

    base: attr -> array (the expected counts); directions: iterable of (attr, delta, variance)
    with ``delta`` an array shaped like ``base[attr]``. Scalars or arrays, NaN where the metric
    is NaN."""
    total = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for attr, delta, variance in directions:
            if not variance > 0:
                continue
            sd = math.sqrt(variance)
            h = _STEP * sd
            plus = dict(base)
            minus = dict(base)
            plus[attr] = base[attr] + h * delta
            minus[attr] = base[attr] - h * delta
            d = (np.asarray(evaluate(plus), np.float64) - np.asarray(evaluate(minus), np.float64))
            term = (d / (2.0 * h) * sd) ** 2
            total = term if total is None else total + term
    if total is None:
        return np.zeros_like(np.asarray(evaluate(base), np.float64))
    return np.sqrt(total)


def column_directions(state, moments):
    """Independent directions (delta (K, K), variance) of a multiclass expected matrix: per
    predicted column, the eigenvectors of its (approximate) covariance."""
    k = state.shape[0]
    out = []
    for j in range(k):
        e, q, x = state[:, j], moments[0, :, j], moments[1, :, j]
        v = np.maximum(e - q, 0.0)
        if not v.any():
            continue
        c = np.clip(x, 0.0, v)
        c[j] = 0.0
        r = np.maximum(v - c, 0.0)
        r[j] = 0.0
        total_r = r.sum()
        cov = -np.outer(r, r) / total_r if total_r > 0 else np.zeros((k, k))
        cov[j, :] = -c
        cov[:, j] = -c
        np.fill_diagonal(cov, v)
        lam, vec = np.linalg.eigh(cov)
        for i in range(k):
            if lam[i] > 1e-12 * max(v.max(), 1e-300):
                delta = np.zeros((k, k))
                delta[:, j] = vec[:, i]
                out.append((delta, float(lam[i])))
    return out


def auroc_from_hist(hist):
    """(AUROC, std) from a (3, B) histogram: expected positives, negatives and Bernoulli
    variance per bin of increasing score; ties within a bin count one half (as in sklearn for
    equal scores). NaN when a class has no expected mass."""
    pos = np.asarray(hist[0], np.float64)
    neg = np.asarray(hist[1], np.float64)
    var = np.asarray(hist[2], np.float64)
    p_tot, n_tot = pos.sum(), neg.sum()
    if not (p_tot > 0 and n_tot > 0):
        return math.nan, math.nan
    below = np.cumsum(neg) - neg  # negatives in lower bins
    above = p_tot - np.cumsum(pos)  # positives in higher bins
    u = float(np.dot(pos, below + 0.5 * neg))
    denom = p_tot * n_tot
    auc = u / denom
    # moving one unit of bin b from negative to positive
    du = below + 0.5 * neg - 0.5 * pos - above
    grad = du / denom - u * (n_tot - p_tot) / denom**2
    return auc, float(np.sqrt(np.dot(grad * grad, var)))
