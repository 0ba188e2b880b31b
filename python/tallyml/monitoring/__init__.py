"""Monitoring of what a model costs while it runs: resources (CPU, memory, GPU) and latency.

Importing this package is cheap: psutil and pynvml load when a ResourceMonitor is created."""
from .latency import LatencyTracker
from .resources import ResourceMonitor

__all__ = ["LatencyTracker", "ResourceMonitor"]
