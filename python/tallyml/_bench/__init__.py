"""Benchmark helpers shared by ``tallyml bench`` and the pytest-benchmark suites: seeded
workloads with their baselines (``workloads``), timing and read-bandwidth measurement
(``timing``), and per-call costs of the public update path (``calls``).

Private: nothing here is imported by ``import tallyml``."""
from __future__ import annotations

__all__: list[str] = []
