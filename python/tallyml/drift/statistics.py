"""Distances between a reference histogram and a current one: pure functions of bin counts.

Every function takes two count (or weight) vectors over the same bins, in the same order, and
normalises each to proportions; neither may be empty (total zero) or hold negative or non-finite
entries. None needs scipy; the tests check each against scipy on the same counts.

=============  ==========================================================  ==================
statistic      definition (p: reference proportions, q: current)            range
=============  ==========================================================  ==================
psi            sum (q' - p') ln(q' / p') with additive smoothing below       [0, inf)
js             Jensen-Shannon divergence, base 2 (scipy's distance squared)  [0, 1]
hellinger      sqrt(sum (sqrt p - sqrt q)^2 / 2)                             [0, 1]
ks             max over bin edges |P(bin <= i) - Q(bin <= i)|                [0, 1]
wasserstein    sum_i |P_i - Q_i| (c_{i+1} - c_i), c: bin centres (raw W1)   [0, inf)
chi_square     sum (n_i - m_i)^2 / m_i, m_i = n * p'_i (smoothed p)          [0, inf)
=============  ==========================================================  ==================

Smoothing (psi, chi_square): an empty bin makes PSI infinite and a chi-square expectation zero, so
both add ``smoothing`` (default 0.5, Jeffreys' pseudo-count) to every bin's count before
normalising: ``p'_i = (r_i + a) / (R + a B)``. With ``smoothing=0`` the raw definitions apply
(inf where a bin is empty on one side only). The other statistics are defined on empty bins and
are never smoothed.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["psi", "js_divergence", "hellinger", "ks", "wasserstein", "chi_square"]


def _counts(name: str, values) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D vector of bin counts; got shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(f"{name} must hold finite counts >= 0")
    total = a.sum()
    if total <= 0:
        raise ValueError(f"{name} is empty (its counts sum to 0)")
    return a


def _pair(reference, current):
    r = _counts("reference", reference)
    c = _counts("current", current)
    if r.shape != c.shape:
        raise ValueError(
            f"reference and current must have the same number of bins; got {r.size} and {c.size}")
    return r, c


def _smoothing(value) -> float:
    a = float(value)
    if not (a >= 0.0 and math.isfinite(a)):
        raise ValueError(f"smoothing must be a finite number >= 0; got {value!r}")
    return a


def _smoothed(counts: np.ndarray, a: float) -> np.ndarray:
    s = counts + a
    return s / s.sum()


def psi(reference, current, smoothing: float = 0.5) -> float:
    """Population stability index of ``current`` against ``reference`` (natural log)."""
    r, c = _pair(reference, current)
    a = _smoothing(smoothing)
    p = _smoothed(r, a)
    q = _smoothed(c, a)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (q - p) * np.log(q / p)
    terms[(p == q)] = 0.0  # includes 0 = 0 (no mass on either side)
    return float(terms.sum())


def _kl2(p, m):
    """sum p log2(p/m) with 0 log 0 = 0 (m > 0 wherever p > 0)."""
    nz = p > 0
    return float(np.sum(p[nz] * np.log(p[nz] / m[nz]))) / math.log(2.0)


def js_divergence(reference, current) -> float:
    """Jensen-Shannon divergence in bits: 0 for equal histograms, 1 for disjoint ones."""
    r, c = _pair(reference, current)
    p = r / r.sum()
    q = c / c.sum()
    m = 0.5 * (p + q)
    d = 0.5 * _kl2(p, m) + 0.5 * _kl2(q, m)
    return min(max(d, 0.0), 1.0)


def hellinger(reference, current) -> float:
    """Hellinger distance: 0 for equal histograms, 1 for disjoint ones."""
    r, c = _pair(reference, current)
    d = np.sqrt(r / r.sum()) - np.sqrt(c / c.sum())
    return min(float(math.sqrt(0.5 * float(np.dot(d, d)))), 1.0)


def ks(reference, current) -> float:
    """Kolmogorov-Smirnov statistic between the binned CDFs (that of ``scipy.stats.ks_2samp`` on
    data replaced by their bin's centre)."""
    r, c = _pair(reference, current)
    diff = np.cumsum(r) / r.sum() - np.cumsum(c) / c.sum()
    return float(np.max(np.abs(diff)))


def wasserstein(reference, current, centres) -> float:
    """Wasserstein-1 distance between the histograms with each bin's mass at its centre
    (``scipy.stats.wasserstein_distance(centres, centres, reference, current)``)."""
    r, c = _pair(reference, current)
    x = np.asarray(centres, dtype=np.float64)
    if x.shape != r.shape or not np.all(np.diff(x) > 0):
        raise ValueError(f"centres must be {r.size} increasing values, one per bin")
    diff = np.cumsum(r)[:-1] / r.sum() - np.cumsum(c)[:-1] / c.sum()
    return float(np.dot(np.abs(diff), np.diff(x)))


def chi_square(reference, current, smoothing: float = 0.5) -> float:
    """Pearson's chi-square statistic of the ``current`` counts against the counts expected from
    the (smoothed) reference shares. It grows with the current total: compare it with a threshold
    calibrated at the same sample size, not with a p-value."""
    r, c = _pair(reference, current)
    a = _smoothing(smoothing)
    expected = c.sum() * _smoothed(r, a)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (c - expected) ** 2 / expected
    terms[c == expected] = 0.0
    return float(terms.sum())
