"""tallyml: watch machine-learning models while they run.

Importing the package is cheap: public names are resolved on first use from the table below, so
numba, the native library, psutil, prometheus_client and tensorboardX load only when needed.
"""
from ._version import __version__
from ._errors import TallymlWarning, UndefinedMetricWarning

# public name -> module that defines it (imported on first attribute access)
_LAZY = {
    # performance monitoring
    "BinaryMetrics": "tallyml.metrics",
    "MulticlassMetrics": "tallyml.metrics",
    "MultilabelMetrics": "tallyml.metrics",
    "BinaryCurves": "tallyml.curves",
    "MulticlassCurves": "tallyml.curves",
    "MultilabelCurves": "tallyml.curves",
    # resources and latency
    "ResourceMonitor": "tallyml.monitoring",
    "LatencyTracker": "tallyml.monitoring",
    # anomaly monitoring
    "ScoreDrift": "tallyml.drift",
    "PredictionDrift": "tallyml.drift",
    "PageHinkley": "tallyml.drift",
    "DDM": "tallyml.drift",
    "ADWIN": "tallyml.drift",
    "FitMonitor": "tallyml.fit",
    "AlertEngine": "tallyml.rules",
    "Rule": "tallyml.rules",
    # windows, persistence, shared memory (h-windows)
    "Windowed": "tallyml.windows",
    "Decayed": "tallyml.windows",
    "save": "tallyml.persistence",
    "load": "tallyml.persistence",
    "Autosave": "tallyml.persistence",
    "CheckpointError": "tallyml.persistence",
    "SharedSlots": "tallyml.shared",
    # label-free estimates (h-cbpe)
    "EstimatedMetrics": "tallyml.estimation",
    "HistogramCalibrator": "tallyml.estimation",
    "IsotonicCalibrator": "tallyml.estimation",
    # everything together (h-monitor)
    "Monitor": "tallyml.monitor",
    # export
    "PrometheusExporter": "tallyml.export.prometheus",
    "TensorBoardWriter": "tallyml.export.tensorboard",
    "write_dashboard": "tallyml.export.grafana",
    # GPU (the cuda backend; importing it does not import numba)
    "CudaUnavailableError": "tallyml._backends.cuda",
}

__all__ = ["__version__", "TallymlWarning", "UndefinedMetricWarning", *_LAZY]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tallyml' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
