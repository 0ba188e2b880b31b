"""Stateful streaming metric objects: update with batches, read values equal to scikit-learn's
on the whole stream, merge by addition."""
from .binary import BinaryMetrics
from .multiclass import MulticlassMetrics
from .multilabel import MultilabelMetrics

__all__ = ["BinaryMetrics", "MulticlassMetrics", "MultilabelMetrics"]
