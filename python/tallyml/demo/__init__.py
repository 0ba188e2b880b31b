"""``tallyml demo``: the main job in one command.

A real model (logistic regression on scikit-learn's bundled breast-cancer data) is trained, then
served in batches with delayed labels while a :class:`tallyml.Monitor` watches it; midway the
inputs drift, the alert rules fire, and the model is retrained on recent labelled data.

``scenario`` owns the story, ``live`` the terminal view, ``web`` the built-in page and its HTTP
server (``static/`` holds the page), ``report`` the HTML/JSON report written at the end. The
command itself is ``tallyml.cli.demo``.
"""
from __future__ import annotations

__all__ = ["Scenario", "Schedule"]


def __getattr__(name):  # the scenario imports numpy and the monitor: load on first use
    if name in __all__:
        from . import scenario

        return getattr(scenario, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
