"""tallyml: watch machine-learning models while they run.

Importing the package is cheap: numba, the native library and the exporters load on first use.
"""
from ._version import __version__
from ._errors import TallymlWarning, UndefinedMetricWarning
from .metrics import BinaryMetrics, MulticlassMetrics, MultilabelMetrics

__all__ = [
    "__version__",
    "TallymlWarning",
    "UndefinedMetricWarning",
    "BinaryMetrics",
    "MulticlassMetrics",
    "MultilabelMetrics",
]
