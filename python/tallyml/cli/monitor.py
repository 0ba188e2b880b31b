"""``tallyml monitor``: watch a model's prediction files (or stdin) without writing code.

Reads records (predictions, and labels joined later by id) from files appended to in a folder
(JSONL, CSV, Parquet) or from stdin, feeds a ``tallyml.Monitor`` configured by a TOML file
(see ``tallyml.monitor.config``), serves ``/metrics`` (Prometheus), ``/snapshot.json`` and an
optional page, evaluates the alert rules, and checkpoints its counts together with the read
positions (one atomic file), so that after a crash or restart it resumes where the checkpoint
was taken: nothing is counted twice and nothing is skipped.

Malformed lines are counted (``tallyml_monitor_malformed_total``), the first ones are reported
on stderr with their file and line, and reading goes on.
"""
from __future__ import annotations

import importlib
import json
import logging
import math
import os
import signal
import sys
import threading
import time

import numpy as np

_log = logging.getLogger("tallyml.monitor")
_REPORTED = 20  # malformed records reported one by one; after that only counted


def add_arguments(p) -> None:
    p.add_argument("--config", required=True, help="TOML (or YAML) configuration file")
    p.add_argument("--input", default=None,
                   help="folder or file to read, or - for stdin (overrides input.path)")
    p.add_argument("--port", type=int, default=None,
                   help="port of /metrics (overrides export.port; 0: any free port, -1: none)")
    p.add_argument("--checkpoint", default=None, help="checkpoint file (overrides checkpoint.path)")
    p.add_argument("--page", default=None, metavar="MODULE:CALLABLE",
                   help="serve page(monitor) -> HTML at / (e.g. the demo's live page)")
    p.add_argument("--exit-when-idle", type=float, default=None, metavar="SECONDS",
                   help="exit after this long without new records (default: run until stopped)")
    p.add_argument("--status-every", type=float, default=10.0, metavar="SECONDS",
                   help="print a status line on stderr this often (0: never)")


def build_monitor(cfg):
    """A Monitor from a checked config (``tallyml.monitor.config.check_config``)."""
    from ..monitor import Monitor

    mc, dc = cfg["monitor"], cfg["drift"]
    reference = None
    if dc["reference"] is not None:
        from ._io import read_chunks

        parts = list(read_chunks(dc["reference"]))
        if not parts:
            raise ValueError(f"drift.reference {dc['reference']!r} is empty")
        reference = np.concatenate(parts).astype(np.float64)
    return Monitor(mc["task"], num_classes=mc["num_classes"], num_labels=mc["num_labels"],
                   threshold=mc["threshold"], logits=mc["logits"], window=mc["window"],
                   reference_scores=reference, drift_window=dc["window"],
                   drift_thresholds=dc["thresholds"], estimate=mc["estimate"],
                   rules=cfg["rules"], evaluate_every=mc["evaluate_every"],
                   max_pending=mc["max_pending"], model=mc["model"])


def _load_page(spec):
    if spec is None:
        return None
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"--page must be MODULE:CALLABLE; got {spec!r}")
    try:
        page = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"--page {spec!r}: {e}") from None
    if not callable(page):
        raise ValueError(f"--page {spec!r} is not callable")
    return page


class Feeder:
    """Turns parsed items into Monitor calls, a batch per poll; a batch the monitor refuses is
    retried record by record, so one bad record costs only itself."""

    def __init__(self, monitor, parser, err=None):
        self.monitor = monitor
        self.parser = parser
        self.err = err if err is not None else sys.stderr
        self.records = 0
        self.reported = 0

    def _malformed(self, where, reason):
        self.monitor.count_malformed(1)
        if self.reported < _REPORTED:
            self.reported += 1
            more = " (further malformed records are only counted)" if self.reported == _REPORTED else ""
            print(f"tallyml monitor: skipped {where}: {reason}{more}", file=self.err, flush=True)

    def feed(self, items) -> int:
        from ..monitor.sources import Malformed

        recs = []
        for item in items:
            if isinstance(item, Malformed):
                self._malformed(item.where, item.reason)
                continue
            where, raw = item
            r = self.parser.parse(raw, where)
            if isinstance(r, Malformed):
                self._malformed(r.where, r.reason)
            else:
                recs.append(r)
        # predictions first (scores and label predictions apart), then labels of earlier ones
        groups: dict = {}
        labels_only = []
        for r in recs:
            if r.score is None and r.pred is None:
                labels_only.append(r)
                continue
            kind = ("score" if r.score is not None else "pred",
                    "labelled" if r.label is not None else ("id" if r.id is not None else "none"))
            groups.setdefault(kind, []).append(r)
        for (what, how), rs in groups.items():
            self._run(rs, lambda batch, what=what, how=how: self._observe(batch, what, how))
        if labels_only:
            self._run(labels_only, lambda batch: self.monitor.observe_labels(
                [r.id for r in batch], np.asarray([r.label for r in batch])))
        self.records += len(recs)
        return len(recs)

    def _observe(self, batch, what, how):
        preds = np.asarray([getattr(r, what) for r in batch],
                           dtype=np.float64 if what == "score" else np.int64)
        lat = [r.latency for r in batch if r.latency is not None]
        kw = {"latency": np.asarray(lat) if lat else None}
        if how == "labelled":
            self.monitor.observe(preds, np.asarray([r.label for r in batch]), **kw)
        elif how == "id":
            self.monitor.observe(preds, ids=[r.id for r in batch], **kw)
        else:
            self.monitor.observe(preds, **kw)

    def _run(self, batch, call):
        try:
            call(batch)
        except Exception:  # noqa: BLE001 - find the records at fault; never stop reading
            for r in batch:
                try:
                    call([r])
                except (ValueError, TypeError) as e:
                    self._malformed(r.where, str(e))
                except Exception as e:  # noqa: BLE001 - not the record's fault: say so
                    _log.exception("record %s could not be counted", r.where)
                    self._malformed(r.where, f"internal error: {e!r}")


def _status_line(monitor, feeder):
    v = monitor.values()
    parts = [f"records={feeder.records}", f"malformed={int(v['malformed_total'])}",
             f"labelled={int(v['labelled_total'])}", f"pending={int(v['pending_labels'])}"]
    for key in ("accuracy_window", "f1_window", "estimated_accuracy_window", "psi"):
        if key in v and not math.isnan(v[key]):
            parts.append(f"{key}={v[key]:.4f}")
    firing = [a["name"] for a in monitor.alerts() if a["state"] == "firing"]
    if firing:
        parts.append("firing=" + ",".join(firing))
    return "tallyml monitor: " + " ".join(parts)


def run_monitor(cfg, *, page=None, exit_when_idle=None, status_every=10.0, stop=None,
                out=None, err=None, stdin=None) -> dict:
    """Run the monitor loop of a checked config until ``stop`` (a threading.Event) is set, the
    input ends (stdin), or no record came for ``exit_when_idle`` seconds. Returns the final
    snapshot. Prints ``serving <url>`` on ``out`` once the endpoint is up."""
    from ..monitor._checkpoint import MonitorCheckpointError
    from ..monitor.sources import FolderSource, RecordParser, StdinSource

    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    stop = stop if stop is not None else threading.Event()
    ic, cc, ec = cfg["input"], cfg["checkpoint"], cfg["export"]
    monitor = build_monitor(cfg)
    parser = RecordParser(monitor.task, num_classes=monitor.num_classes,
                          num_labels=monitor.num_labels,
                          fields={k: ic[k] for k in ("id", "score", "pred", "label", "latency")},
                          probabilities=cfg["monitor"]["estimate"] and not cfg["monitor"]["logits"])
    if ic["path"] == "-":
        source = StdinSource(stdin, fmt=ic["format"])
    else:
        if not os.path.exists(ic["path"]):
            raise ValueError(f"input path {ic['path']!r} does not exist")
        source = FolderSource(ic["path"], ic["pattern"], ic["format"])
    ckpt = cc["path"]
    if ckpt is not None and os.path.exists(ckpt):
        try:
            extra = monitor.load(ckpt)
        except MonitorCheckpointError as e:
            raise ValueError(f"checkpoint: {e}") from None
        source.restore((extra or {}).get("sources"))
        print(f"tallyml monitor: resumed from {ckpt} "
              f"({int(monitor.values()['predictions_total'])} predictions)", file=err, flush=True)
    if ec["rules_file"] is not None:
        from ..export.alerting import write_rule_file

        write_rule_file(ec["rules_file"], monitor.alerting_rules())
    if ec["tensorboard"] is not None:
        monitor.tensorboard(ec["tensorboard"])
    handle = None
    if ec["port"] >= 0:
        handle = monitor.serve(ec["port"], ec["addr"], page=page)
        print(f"serving {handle.url}", file=out, flush=True)
    feeder = Feeder(monitor, parser, err)

    def checkpoint():
        if ckpt is not None:
            monitor.save(ckpt, extra={"sources": source.state()})

    last_data = last_ckpt = last_status = time.monotonic()
    dirty = False  # records fed since the last checkpoint
    try:
        while not stop.is_set():
            items = source.poll()
            now = time.monotonic()
            if items:
                feeder.feed(items)
                last_data = now
                dirty = True
                monitor.evaluate()  # also when evaluate_every has not passed: a new batch
            if dirty and ckpt is not None and now - last_ckpt >= cc["every"]:
                checkpoint()
                last_ckpt, dirty = now, False
            if status_every and now - last_status >= status_every:
                print(_status_line(monitor, feeder), file=err, flush=True)
                last_status = now
            if isinstance(source, StdinSource) and source.done:
                break
            if exit_when_idle is not None and now - last_data >= exit_when_idle:
                break
            if not items:
                stop.wait(ic["poll"])
        checkpoint()
        snap = monitor.snapshot()
    finally:
        if handle is not None:
            handle.close()
        monitor.close()
    print(_status_line(monitor, feeder), file=err, flush=True)
    return snap


def run(args) -> int:
    from ..monitor.config import load_config

    cfg = load_config(args.config)
    if args.input is not None:
        cfg["input"]["path"] = args.input if args.input == "-" else os.path.abspath(args.input)
    if args.port is not None:
        cfg["export"]["port"] = args.port
    if args.checkpoint is not None:
        cfg["checkpoint"]["path"] = os.path.abspath(args.checkpoint)
    page = _load_page(args.page)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    snap = run_monitor(cfg, page=page, exit_when_idle=args.exit_when_idle,
                       status_every=args.status_every, stop=stop)
    print(json.dumps({"counts": snap["counts"], "metrics": snap["metrics"]["total"],
                      "alerts": {a["name"]: a["state"] for a in snap["alerts"]}}, default=str),
          flush=True)
    return 0
