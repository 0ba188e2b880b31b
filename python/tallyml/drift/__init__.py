"""Anomaly monitoring of model outputs: drift against a reference (ScoreDrift, PredictionDrift),
sequential change detection (PageHinkley, DDM, ADWIN) and the distances they use
(:mod:`tallyml.drift.statistics`).

Importing this package is cheap: numba loads on the first update."""
from . import statistics
from .detectors import ADWIN, DDM, PageHinkley
from .score import PredictionDrift, ScoreDrift

__all__ = ["ADWIN", "DDM", "PageHinkley", "PredictionDrift", "ScoreDrift", "statistics"]
