"""tallyml: watch machine-learning models while they run.

Importing the package is cheap: numba, the native library, dask and the exporters load on first
use.
"""
from ._version import __version__
from ._errors import TallymlWarning, UndefinedMetricWarning
from .metrics import BinaryMetrics, MulticlassMetrics, MultilabelMetrics
from .drift import ADWIN, DDM, PageHinkley, PredictionDrift, ScoreDrift
from .fit import FitMonitor
from .rules import AlertEngine, Rule
from .windows import Decayed, Windowed
from .persistence import Autosave, CheckpointError, load, save
from .shared import SharedSlots
from .estimation import EstimatedMetrics, HistogramCalibrator, IsotonicCalibrator
from .monitor import Monitor

__all__ = [
    "__version__",
    "TallymlWarning",
    "UndefinedMetricWarning",
    "BinaryMetrics",
    "MulticlassMetrics",
    "MultilabelMetrics",
    # anomaly monitoring
    "ADWIN",
    "DDM",
    "PageHinkley",
    "PredictionDrift",
    "ScoreDrift",
    "FitMonitor",
    "AlertEngine",
    "Rule",
    "Windowed",
    "Decayed",
    "save",
    "load",
    "Autosave",
    "CheckpointError",
    "SharedSlots",
    "EstimatedMetrics",
    "HistogramCalibrator",
    "IsotonicCalibrator",
    "Monitor",
]
