"""tallyml: watch machine-learning models while they run.

Importing the package is cheap: numba, the native library, dask and the exporters load on first
use.
"""
from ._version import __version__
from ._errors import TallymlWarning, UndefinedMetricWarning
from .metrics import BinaryMetrics, MulticlassMetrics, MultilabelMetrics
from .windows import Decayed, Windowed

# loaded on first use (zipfile, tempfile, mmap are not needed to count)
_LAZY = {"save": "persistence", "load": "persistence", "Autosave": "persistence",
         "CheckpointError": "persistence", "SharedSlots": "shared"}


def __getattr__(name):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'tallyml' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "__version__",
    "TallymlWarning",
    "UndefinedMetricWarning",
    "BinaryMetrics",
    "MulticlassMetrics",
    "MultilabelMetrics",
    "Windowed",
    "Decayed",
    "save",
    "load",
    "Autosave",
    "CheckpointError",
    "SharedSlots",
]
