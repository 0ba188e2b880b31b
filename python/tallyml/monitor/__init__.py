"""``tallyml.Monitor``: one object that ties metrics, windows, label-free estimates, drift,
latency, resources, fit and alert rules together (``monitor.py``), its checkpoints
(``_checkpoint.py``), its HTTP endpoint (``_http.py``), and the pieces behind the ``tallyml
monitor`` command: the TOML/YAML configuration (``config.py``) and the file/stdin readers
(``sources.py``)."""
from __future__ import annotations

from .monitor import Monitor, VALUE_GROUPS

__all__ = ["Monitor", "VALUE_GROUPS"]
