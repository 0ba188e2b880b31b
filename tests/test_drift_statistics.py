"""Drift statistics against scipy, on random and adversarial histograms."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from scipy.spatial import distance as spd

from tallyml.drift import statistics as S

counts = st.lists(st.integers(0, 50), min_size=2, max_size=30)


def _pair(draw_a, draw_b):
    n = min(len(draw_a), len(draw_b))
    a, b = np.array(draw_a[:n], float), np.array(draw_b[:n], float)
    a[0] += 1  # non-empty
    b[-1] += 1
    return a, b


def _expand(counts, centres):
    """Samples placed at their bin's centre (the data scipy's sample-based tests see)."""
    return np.repeat(centres, counts.astype(int))


@settings(max_examples=80, deadline=None)
@given(counts, counts)
def test_js_matches_scipy(a, b):
    r, c = _pair(a, b)
    want = spd.jensenshannon(r, c, base=2) ** 2
    assert S.js_divergence(r, c) == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert 0.0 <= S.js_divergence(r, c) <= 1.0


@settings(max_examples=80, deadline=None)
@given(counts, counts)
def test_ks_matches_ks_2samp_on_bin_centres(a, b):
    r, c = _pair(a, b)
    centres = np.arange(len(r), dtype=float) + 0.5
    # method='asymp': only the statistic is compared (exact p-values warn on ties)
    with warnings.catch_warnings():  # scipy's p-value warns on tiny samples; not compared
        warnings.simplefilter("ignore", RuntimeWarning)
        want = sps.ks_2samp(_expand(r, centres), _expand(c, centres), method="asymp").statistic
    assert S.ks(r, c) == pytest.approx(want, rel=1e-12, abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(counts, counts, st.lists(st.floats(0.01, 10), min_size=30, max_size=30))
def test_wasserstein_matches_scipy(a, b, widths):
    r, c = _pair(a, b)
    centres = np.cumsum(widths[:len(r)])
    want = sps.wasserstein_distance(centres, centres, u_weights=r, v_weights=c)
    assert S.wasserstein(r, c, centres) == pytest.approx(want, rel=1e-9, abs=1e-12)
    # and on the expanded samples
    want2 = sps.wasserstein_distance(_expand(r, centres), _expand(c, centres))
    assert S.wasserstein(r, c, centres) == pytest.approx(want2, rel=1e-9, abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(counts, counts, st.sampled_from([0.5, 1.0, 1e-3]))
def test_chi_square_matches_scipy(a, b, alpha):
    r, c = _pair(a, b)
    expected = (r + alpha) / (r + alpha).sum() * c.sum()
    want = sps.chisquare(c, expected).statistic
    assert S.chi_square(r, c, smoothing=alpha) == pytest.approx(want, rel=1e-9, abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(counts, counts)
def test_psi_and_hellinger_definitions(a, b):
    r, c = _pair(a, b)
    p, q = (r + 0.5) / (r + 0.5).sum(), (c + 0.5) / (c + 0.5).sum()
    # PSI is the symmetrised KL divergence of the smoothed proportions (scipy's entropy)
    want = sps.entropy(q, p) + sps.entropy(p, q)
    assert S.psi(r, c) == pytest.approx(want, rel=1e-9, abs=1e-12)
    p0, q0 = r / r.sum(), c / c.sum()
    h = spd.euclidean(np.sqrt(p0), np.sqrt(q0)) / math.sqrt(2)
    assert S.hellinger(r, c) == pytest.approx(h, rel=1e-9, abs=1e-12)


def test_identical_and_disjoint_extremes():
    a = np.array([5, 0, 3, 0])
    assert S.psi(a, a) == 0 and S.js_divergence(a, a) == 0 and S.hellinger(a, a) == 0
    assert S.ks(a, a) == 0 and S.wasserstein(a, a, [0, 1, 2, 3]) == 0
    b = np.array([0, 4, 0, 1])
    assert S.js_divergence(a, b) == pytest.approx(1.0)
    assert S.hellinger(a, b) == pytest.approx(1.0)
    assert S.ks(a, b) == pytest.approx(5 / 8 + 0 * 1)  # max CDF gap
    assert math.isfinite(S.psi(a, b))  # smoothing keeps empty bins finite
    assert S.psi(a, b, smoothing=0) == math.inf


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="reference"):
        S.psi([0, 0], [1, 1])
    with pytest.raises(ValueError, match="current"):
        S.js_divergence([1, 1], [1, -1])
    with pytest.raises(ValueError, match="same number of bins"):
        S.ks([1, 1], [1, 1, 1])
    with pytest.raises(ValueError, match="smoothing"):
        S.psi([1, 1], [1, 1], smoothing=-1)
    with pytest.raises(ValueError, match="centres"):
        S.wasserstein([1, 1], [1, 1], [1, 0])
    with pytest.raises(ValueError, match="current"):
        S.chi_square([1, 1], [np.nan, 1])
