"""Label-free performance estimation (CBPE): metrics estimated from calibrated probabilities
while the labels are still on their way, with intervals, and calibration fitted on labelled
reference data. See docs/estimation.md."""
from .calibration import HistogramCalibrator, IsotonicCalibrator, expected_calibration_error
from .estimated import EstimatedMetrics, compare
from .intervals import Estimate

__all__ = ["EstimatedMetrics", "Estimate", "compare", "HistogramCalibrator",
           "IsotonicCalibrator", "expected_calibration_error"]
