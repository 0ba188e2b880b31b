"""``tallyml demo``: train a model, serve it, drift it, catch it, retrain it, and watch all of it
(terminal view, web page + Prometheus endpoint on one port, TensorBoard logs, HTML/JSON report).

The story and its schedule live in ``tallyml.demo.scenario``; this module only parses options,
runs the clock, and wires the views and files."""
from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time

__all__ = ["add_arguments", "run"]

_REFRESH = 0.25  # seconds between terminal refreshes (4 per second)


def add_arguments(p) -> None:
    p.add_argument("--duration", type=float, default=60.0, metavar="SECONDS",
                   help="length of the run; the drift schedule scales with it (default 60)")
    p.add_argument("--rate", type=float, default=200.0, metavar="PREDICTIONS_PER_SECOND",
                   help="predictions served per second, in batches of 50 ms (default 200)")
    p.add_argument("--port", type=int, default=0, metavar="N",
                   help="port of the web page and /metrics (default 0: pick a free one)")
    p.add_argument("--out", default="tallyml-demo", metavar="DIR",
                   help="folder for report.html, report.json and tensorboard/ (default ./tallyml-demo)")
    p.add_argument("--no-browser", action="store_true", help="do not open the page in a browser")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    p.add_argument("--concept-shift", action="store_true",
                   help="also flip some labels at 70%% of the run (a concept shift)")
    p.add_argument("--plain", action="store_true",
                   help="plain periodic lines instead of the live view (the default when the "
                        "output is not a terminal)")
    p.add_argument("--linger", type=float, default=0.0, metavar="SECONDS",
                   help="keep serving the page and /metrics this long after the run, values "
                        "frozen (Ctrl-C stops earlier)")


def _check(args):
    for name in ("duration", "rate"):
        v = getattr(args, name)
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"--{name} must be a positive number; got {v!r}")
    if args.rate > 100_000:
        raise ValueError(f"--rate must be at most 100000 predictions per second; got {args.rate!r}")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be in [0, 65535]; got {args.port!r}")
    if args.seed < 0:
        raise ValueError(f"--seed must be a non-negative integer; got {args.seed!r}")
    if not (math.isfinite(args.linger) and args.linger >= 0):
        raise ValueError(f"--linger must be a number of seconds >= 0; got {args.linger!r}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out must be a folder; {args.out!r} is a file")


def _fmt(v, spec=".4f"):
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def summary_lines(s: dict) -> list[str]:
    """The end-of-run summary as plain lines (what the terminal prints)."""
    lines = [
        "tallyml demo summary",
        f"  predictions served   {s['predictions']}   labelled {s['labelled']}   "
        f"duration {s['duration']:.2f} s",
        f"  accuracy {_fmt(s['accuracy'])}   f1 {_fmt(s['f1'])}   mcc {_fmt(s['mcc'])}   "
        f"roc_auc {_fmt(s['roc_auc'])}   (all labelled predictions)",
        f"  accuracy_window {_fmt(s['accuracy_window'])}   estimated_accuracy_window "
        f"{_fmt(s['estimated_accuracy_window'])}   psi {_fmt(s['psi'])}",
    ]
    for phase, v in s["phases"].items():
        if v:
            lines.append(f"  phase {phase:<10} labelled {v['count']:>7}   accuracy "
                         f"{_fmt(v['accuracy'])}   f1 {_fmt(v['f1'])}   mcc {_fmt(v['mcc'])}")
    lines.append(f"  covariate shift at {_fmt(s['drift_injected_at'], '.2f')} s   score drift "
                 f"alert at {_fmt(s['drift_alert_at'], '.2f')} s   accuracy alert at "
                 f"{_fmt(s['accuracy_alert_at'], '.2f')} s   retrained at "
                 f"{_fmt(s['retrained_at'], '.2f')} s   ({s['retrains']} retraining(s))")
    lines.append(f"  latency p50 {_fmt(s['latency_p50_seconds'] * 1e3, '.3g')} ms   p99 "
                 f"{_fmt(s['latency_p99_seconds'] * 1e3, '.3g')} ms")
    firing = [a["name"] for a in s["alerts"] if a["state"] == "firing"]
    lines.append(f"  alerts firing at the end: {', '.join(firing) or 'none'}")
    return lines


def _open_browser(url, console):
    try:
        import webbrowser

        if not webbrowser.open(url):
            console.print(f"(no browser found; open {url} yourself)", highlight=False)
    except Exception as e:  # noqa: BLE001 - a missing browser must not stop the demo
        console.print(f"(could not open a browser: {e}; open {url} yourself)", highlight=False)


class _CtrlC:
    """While active, a first SIGINT only sets ``pressed``; the run loop ends at its next step and
    the summary and report are still written. A KeyboardInterrupt raised at whatever bytecode
    the signal lands on could escape set-up or the report (no summary, a traceback) and could
    leave the monitor half-way through a batch. A second SIGINT raises KeyboardInterrupt (to
    quit at once). Installed only over Python's default handler on the main thread: a SIGINT
    this process inherited as ignored, or an embedding program's own handler, is left as is."""

    def __init__(self):
        self.pressed = False
        self._old = None

    def _on_sigint(self, signum, frame):
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._old = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def run(args) -> int:
    _check(args)
    with _CtrlC() as ctrl_c:
        return _run(args, ctrl_c)


def _run(args, ctrl_c) -> int:
    from rich.console import Console

    from ..demo.live import LiveView, PlainView
    from ..demo.report import write_report
    from ..demo.scenario import Scenario
    from ..demo.web import DemoServer

    console = Console(highlight=False, soft_wrap=True)
    live = console.is_terminal and not args.plain
    console.print(f"tallyml demo: training a logistic regression on scikit-learn's bundled "
                  f"breast-cancer data (seed {args.seed}) ...")
    try:
        scenario = Scenario(duration=args.duration, rate=args.rate, seed=args.seed,
                            concept_shift=args.concept_shift)
    except ImportError as e:  # no scikit-learn: say what to install, no traceback
        print(f"tallyml demo: error: {e}", file=sys.stderr)
        return 2
    server = None
    try:
        os.makedirs(args.out, exist_ok=True)
        tb_dir = os.path.join(args.out, "tensorboard")
        tb = scenario.monitor.tensorboard(tb_dir)
        tb.track(scenario.curves, name="curves")
        try:
            server = DemoServer(scenario, port=args.port)
        except OSError as e:
            raise ValueError(str(e.strerror or e)) from e
        console.print(f"live page: {server.url}   Prometheus: {server.url}metrics   "
                      f"TensorBoard: tensorboard --logdir {tb_dir}")
        s = scenario.schedule
        console.print(f"serving {s.rate:g} predictions/s for {s.duration:g} s; covariate shift "
                      f"at {s.drift_at:.1f} s; labels arrive after {s.label_delay:.2f} s")
        if not args.no_browser:
            _open_browser(server.url, console)

        view = (LiveView(scenario, console) if live
                else PlainView(scenario, console, every=max(1.0, s.duration / 10)))
        start = time.monotonic()
        try:
            with view:
                next_view = 0.0
                while not scenario.done and not ctrl_c.pressed:
                    now = time.monotonic() - start
                    scenario.step(now)
                    if now >= next_view:
                        view.update()
                        next_view = now + _REFRESH
                    wake = min(next_view, now + s.tick, s.duration)
                    time.sleep(max(0.0, wake - (time.monotonic() - start)))
        except KeyboardInterrupt:  # SIGINT not routed through _CtrlC (see there): same ending
            ctrl_c.pressed = True
        interrupted = ctrl_c.pressed
        scenario.finish()

        if interrupted:
            console.print(f"interrupted at {scenario.now:.1f} s")
        for line in summary_lines(scenario.summary()):
            console.print(line)
        json_path, html_path = write_report(scenario, args.out)
        console.print(f"report: {html_path}   data: {json_path}   TensorBoard logs: {tb_dir}")
        if args.linger > 0 and not ctrl_c.pressed:
            console.print(f"run finished; serving {server.url} for {args.linger:g} more seconds "
                          "(Ctrl-C to stop)")
            sys.stdout.flush()
            end = time.monotonic() + args.linger
            try:
                while not ctrl_c.pressed and (left := end - time.monotonic()) > 0:
                    time.sleep(min(_REFRESH, left))
            except KeyboardInterrupt:
                pass
        return 0
    finally:
        if server is not None:
            server.close()
        scenario.close()
