"""Calibrators: isotonic fit against scikit-learn's IsotonicRegression, histogram binning against
its definition, the reported calibration error, multiclass/multilabel maps, errors."""
import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from tallyml import HistogramCalibrator, IsotonicCalibrator
from tallyml.estimation import expected_calibration_error
from tallyml.estimation.calibration import isotonic_knots


@pytest.mark.parametrize("seed", range(5))
def test_isotonic_knots_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 3000))
    x = np.round(rng.random(n), int(rng.integers(1, 4)))  # many ties in x
    y = (rng.random(n) < x**1.5).astype(float)
    xs, ys = isotonic_knots(x, y)
    iso = IsotonicRegression(out_of_bounds="clip").fit(x, y)
    probe = np.concatenate([x, rng.random(200), [0.0, 1.0]])
    np.testing.assert_allclose(np.interp(probe, xs, ys), iso.predict(probe), rtol=0, atol=1e-12)


def test_isotonic_table_close_to_exact_map():
    rng = np.random.default_rng(1)
    x = rng.random(5000)
    y = (rng.random(5000) < x**2).astype(int)
    cal = IsotonicCalibrator(grid=4096).fit(x, y)
    iso = IsotonicRegression(out_of_bounds="clip").fit(x, y)
    probe = rng.random(10000)
    diff = np.abs(cal.transform(probe) - iso.predict(probe))
    # differs only within one grid cell of an isotonic step, by at most the step's height
    assert np.mean(diff > 1e-12) < 0.05
    assert diff.max() <= np.max(np.diff(iso.y_thresholds_)) + 1e-12


def test_histogram_binning_definition():
    rng = np.random.default_rng(2)
    x = rng.random(3000) * 0.8  # the top bins stay empty
    y = (rng.random(3000) < x).astype(int)
    cal = HistogramCalibrator(num_bins=10).fit(x, y)
    for b in range(10):
        inside = (x >= b / 10) & (x < (b + 1) / 10)
        want = y[inside].mean() if inside.any() else (b + 0.5) / 10
        assert cal.table[b] == pytest.approx(want, rel=1e-12)
    assert cal.transform(np.array([0.95]))[0] == pytest.approx(0.95)


def test_report_calibration_error_improves():
    rng = np.random.default_rng(3)
    true_p = rng.random(20000)
    y = (rng.random(20000) < true_p).astype(int)
    scores = true_p**3  # badly miscalibrated, same ranking
    for cal in (HistogramCalibrator(), IsotonicCalibrator()):
        cal.fit(scores[:10000], y[:10000])
        rep = cal.report
        assert rep["ece_before"] == pytest.approx(
            expected_calibration_error("binary", scores[:10000], y[:10000]), rel=1e-12)
        assert rep["ece_after"] < rep["ece_before"] / 4
        held = cal.calibration_error(scores[10000:], y[10000:])
        assert held["ece_after"] < held["ece_before"] / 3
        assert held["brier_after"] < held["brier_before"]


def test_ece_definition():
    p = np.array([0.05, 0.15, 0.12, 0.95])
    y = np.array([0, 1, 0, 1])
    # bins of width 1/15: {0.05}, {0.12}, {0.15}, {0.95}
    want = (abs(0 - 0.05) + abs(1 - 0.15) + abs(0 - 0.12) + abs(1 - 0.95)) / 4
    assert expected_calibration_error("binary", p, y) == pytest.approx(want, rel=1e-12)


def test_multiclass_calibrator_rows_sum_to_one():
    rng = np.random.default_rng(4)
    k = 4
    logits = rng.normal(size=(3000, k)) * 2
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(k, p=r) for r in p])
    sharp = p**2 / (p**2).sum(axis=1, keepdims=True)  # overconfident
    cal = IsotonicCalibrator("multiclass", num_classes=k).fit(sharp, y)
    out = cal.transform(sharp)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-12)
    assert cal.report["ece_after"] < cal.report["ece_before"]
    cal_l = HistogramCalibrator("multiclass", num_classes=k).fit(logits, y, logits=True)
    np.testing.assert_allclose(cal_l.table, HistogramCalibrator("multiclass", num_classes=k)
                               .fit(p, y).table, rtol=1e-12)


def test_calibrator_errors_leave_it_unfitted():
    cal = IsotonicCalibrator()
    with pytest.raises(ValueError, match="not fitted"):
        cal.transform(np.array([0.5]))
    with pytest.raises(ValueError, match=r"scores\[1\] = 1.5 is outside"):
        cal.fit(np.array([0.2, 1.5]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"target\[1\] = 2 is outside \[0, 2\)"):
        cal.fit(np.array([0.2, 0.5]), np.array([0, 2]))
    with pytest.raises(ValueError, match="target must have shape"):
        cal.fit(np.array([0.2, 0.5]), np.array([0]))
    with pytest.raises(ValueError, match="empty"):
        cal.fit(np.zeros(0), np.zeros(0, dtype=int))
    assert not cal.fitted
    with pytest.raises(ValueError, match="num_classes=3"):
        HistogramCalibrator("multiclass", num_classes=3).fit(np.full((2, 4), 0.25), [0, 1])
    with pytest.raises(ValueError, match="task"):
        HistogramCalibrator("ranking")
    with pytest.raises(TypeError, match="num_bins"):
        HistogramCalibrator(num_bins=2.5)
