"""``tallyml dashboard``: write a Grafana dashboard (and its provisioning YAML) for an exporter."""
from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help="value of the exporter's `model` label")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="dashboard JSON path (default tallyml-<model>.json); the provisioning "
                        "YAML is written beside it")


def run(args) -> int:
    from ..export.grafana import write_dashboard

    try:
        json_path, yaml_path = write_dashboard(args.model, args.out)
    except FileNotFoundError as exc:
        raise ValueError(str(exc)) from exc
    print(f"dashboard: {json_path}\nprovisioning: {yaml_path}")
    return 0
