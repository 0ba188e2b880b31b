"""``tallyml bench``: the standard workloads on this machine, in one process.

Measures this machine's read bandwidth, then tallyml's throughput beside numpy, scikit-learn and
torchmetrics (those installed), Python-thread scaling, per-call costs of small batches, import
time, first-update time and memory growth, and prints one table (optionally JSON too)."""
from __future__ import annotations

import json
import sys


def add_arguments(p) -> None:
    p.add_argument("--quick", action="store_true",
                   help="small inputs and few repeats: checks that everything runs (rough figures)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write every figure as JSON")
    p.add_argument("-n", "--rows", type=int, default=None,
                   help="rows per throughput workload (default 10,000,000; --quick: 1/50 of it)")
    p.add_argument("--no-peers", action="store_true", help="time tallyml only")


def run(args) -> int:
    from .._bench import suite

    if args.rows is not None and args.rows < 1000:
        raise ValueError(f"--rows must be >= 1000; got {args.rows}")
    progress = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    result = suite.run(quick=args.quick, n=args.rows, peers=not args.no_peers, progress=progress)
    print(suite.format_report(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return 0
