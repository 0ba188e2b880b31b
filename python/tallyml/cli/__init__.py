"""The ``tallyml`` command line: thin wrappers over the library.

Each subcommand lives in its own module and registers itself through ``add_parser``; importing
this package imports none of them until the command line names one."""
from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> module that owns it (imported only when chosen)
_COMMANDS = {
    "eval": ("tallyml.cli.eval", "classification report of stored targets and predictions"),
    "demo": ("tallyml.cli.demo", "train, serve, drift and retrain a model while tallyml watches it"),
    "dashboard": ("tallyml.cli.dashboard", "write a Grafana dashboard for a tallyml Prometheus exporter"),
    "monitor": ("tallyml.cli.monitor", "watch prediction files or stdin: metrics, drift, alerts, /metrics"),
    "bench": ("tallyml.cli.bench", "throughput, per-call cost and import time on this machine"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tallyml", description="Watch machine-learning models while they run.")
    from .._version import __version__

    parser.add_argument("--version", action="version", version=f"tallyml {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, help_text) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except ValueError as exc:
        print(f"tallyml {args.command}: error: {exc}", file=sys.stderr)
        return 2
