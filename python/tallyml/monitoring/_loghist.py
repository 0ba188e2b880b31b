"""Log-bucketed histogram of non-negative durations: the bucket layout and the pure math over it.

Layout (the exact formula; a C++ batch kernel must reproduce it bit for bit)::

    index(v) = 0                                              if v == 0
    index(v) = clamp(floor(log10(v) * 240) + 2161, 1, 3360)   if v > 0 (finite)

Index 0 counts zero durations. Bucket ``i >= 1`` holds ``[10**((i-2161)/240), 10**((i-2160)/240))``:
240 buckets per decade from 1 ns (``i = 1``) to 1e5 s (``i = 3360``); the first bucket also takes
(0, 1 ns) and the last everything from ~0.99e5 s up. ``log10`` is the C library's (Python's
``math.log10`` calls it); numpy's ``log10`` may differ by one ulp, which moves a value lying within
1e-15 relative of a bucket edge into the neighbouring bucket and nothing else.

Error bound, by construction: a bucket spans a ratio ``g = 10**(1/240)``; its representative is the
geometric midpoint, within a factor ``sqrt(g)`` (0.481 %) of every value in the bucket. A quantile
interpolates between two order statistics exactly as numpy's default ``linear`` method does, and a
convex combination of estimates each within 0.481 % of its (positive) target is within 0.481 % of
the combination, so ``quantile(q)`` is within 0.481 % of ``numpy.quantile(samples, q)`` for every
sample inside [1 ns, 1e5 s]. Estimates are also clamped to the exact [min, max], and the extreme
ranks return min and max exactly.
"""
from __future__ import annotations

import math

import numpy as np

BUCKETS_PER_DECADE = 240
MIN_DECADE = -9  # 1 ns
MAX_DECADE = 5  # 1e5 s
OFFSET = -MIN_DECADE * BUCKETS_PER_DECADE + 1  # 2161: index of the bucket starting at 1 ns
NUM_BINS = (MAX_DECADE - MIN_DECADE) * BUCKETS_PER_DECADE + 1  # 3361, zero bin included
LAST = NUM_BINS - 1
RELATIVE_ERROR = 10.0 ** (0.5 / BUCKETS_PER_DECADE) - 1.0  # 0.00481
LAYOUT = (BUCKETS_PER_DECADE, MIN_DECADE, MAX_DECADE)  # stored in state dicts, checked on load

# Representative value of each bin: 0 for the zero bin, the geometric midpoint otherwise.
_exponents = (np.arange(NUM_BINS, dtype=np.float64) - OFFSET + 0.5) / BUCKETS_PER_DECADE
MIDPOINTS = np.power(10.0, _exponents)
MIDPOINTS[0] = 0.0
MIDPOINTS.flags.writeable = False
del _exponents


def bin_index(v: float) -> int:
    """Bin of one finite duration ``v >= 0`` (the scalar form of the formula above)."""
    if v == 0.0:
        return 0
    i = math.floor(math.log10(v) * 240.0) + OFFSET
    return 1 if i < 1 else (LAST if i > LAST else i)


def bin_indices(values: np.ndarray) -> np.ndarray:
    """Vectorised :func:`bin_index` over a float64 array of finite values ``>= 0``."""
    all_positive = values.size == 0 or values.min() > 0.0
    if all_positive:
        idx = np.log10(values)
    else:  # zeros: log10 skipped, their bin set to 0 at the end
        idx = np.zeros(values.shape)
        np.log10(values, out=idx, where=values > 0.0)
    idx *= 240.0
    np.floor(idx, out=idx)
    idx += OFFSET
    np.clip(idx, 1, LAST, out=idx)
    out = idx.astype(np.intp)
    if not all_positive:
        out[values == 0.0] = 0
    return out


def bin_counts(values: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """Histogram (length NUM_BINS) of finite values ``>= 0``, in chunks to bound temporaries."""
    counts = np.zeros(NUM_BINS, dtype=np.int64)
    for start in range(0, values.size, chunk):
        counts += np.bincount(bin_indices(values[start:start + chunk]), minlength=NUM_BINS)
    return counts


def _count_batch_numpy(values):
    lo, hi = float(values.min()), float(values.max())
    if not (lo >= 0.0 and hi < math.inf):  # NaN fails too
        bad = ~(np.isfinite(values) & (values >= 0.0))
        return int(np.flatnonzero(bad)[0]), None, 0.0, lo, hi
    return -1, bin_counts(values), float(values.sum()), lo, hi


def _count_batch_native(values):
    from .. import _native

    counts = np.zeros(NUM_BINS, dtype=np.int64)
    stats = np.array([0.0, math.inf, -math.inf])
    bad = np.zeros(1, dtype=np.int64)
    addr = _native.address
    rc = _native.function("tm_loghist_f64")(addr(values), values.size, float(BUCKETS_PER_DECADE),
                                            OFFSET, NUM_BINS, addr(counts), addr(stats), addr(bad))
    if rc == _native.ERR_VALUE:
        return int(bad[0]), None, 0.0, 0.0, 0.0
    if rc:
        _native.raise_for(rc)
    return -1, counts, float(stats[0]), float(stats[1]), float(stats[2])


def count_batch(values: np.ndarray):
    """Histogram a non-empty contiguous float64 batch in one call of the C++ core (numpy when the
    library is unavailable): ``(bad_position or -1, counts, sum, min, max)``; nothing is counted
    when a value is not a finite duration >= 0."""
    from .. import _native

    if _native.available():
        return _count_batch_native(values)
    return _count_batch_numpy(values)


def order_statistics(counts: np.ndarray, ranks: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """Estimates of the sorted samples at 0-based ``ranks`` (integers in [0, n))."""
    cum = np.cumsum(counts)
    n = int(cum[-1])
    bins = np.searchsorted(cum, ranks, side="right")
    est = np.clip(MIDPOINTS[bins], vmin, vmax)
    est[ranks == 0] = vmin
    est[ranks == n - 1] = vmax
    return est


def quantiles(counts: np.ndarray, q: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """numpy's ``linear`` quantile method applied to the bucketed order statistics."""
    n = int(counts.sum())
    if n == 0:
        return np.full(q.shape, np.nan)
    h = (n - 1) * q
    lo = np.floor(h)
    frac = h - lo
    lo = lo.astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    x_lo = order_statistics(counts, lo, vmin, vmax)
    x_hi = order_statistics(counts, hi, vmin, vmax)
    return x_lo + frac * (x_hi - x_lo)


def cumulative_counts(counts: np.ndarray, bounds: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """Number of samples ``<= b`` for each bound (Prometheus ``le`` buckets).

    A bin is counted when its representative is ``<= b``, so only samples within half a bucket
    (0.48 %) of a bound can land on the wrong side of it; bounds below the exact minimum count
    nothing, bounds at or above the exact maximum count everything. Monotone in ``b``."""
    cum = np.cumsum(counts)
    n = int(cum[-1])
    k = np.searchsorted(MIDPOINTS, bounds, side="right")
    out = np.where(k > 0, cum[np.maximum(k - 1, 0)], 0).astype(np.int64)
    if n:
        out[bounds < vmin] = 0
        out[bounds >= vmax] = n
    return out
