"""``tallyml demo``: the scenario (on a simulated clock) against scikit-learn, its web server,
report and terminal view, and the command itself end to end."""
from __future__ import annotations

import glob
import json
import math
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, roc_auc_score

import tallyml
from tallyml.cli import main
from tallyml.demo.live import plain_line, render, sparkline
from tallyml.demo.report import write_report
from tallyml.demo.scenario import PHASES, Scenario, Schedule
from tallyml.demo.web import DemoServer, json_safe

DURATION = 5.0
RATE = 200.0


def _strict_json(text):
    def no_constants(name):
        raise AssertionError(f"JSON holds {name}")

    return json.loads(text, parse_constant=no_constants)


def _run_simulated(scenario, step=0.05):
    t = 0.0
    while not scenario.done:
        t += step
        scenario.step(t)
    scenario.finish()


@pytest.fixture(scope="module")
def run():
    """One 5-second scenario on a simulated clock, with every delivered label recorded (the
    oracle's input): {"scenario", "y", "scores", "phase"}."""
    sc = Scenario(duration=DURATION, rate=RATE, seed=0)
    rec = {"y": [], "scores": [], "phase": []}
    for phase, metric in sc.phase_metrics.items():
        inner = metric.update

        def update(target, preds, *a, _inner=inner, _phase=phase, **k):
            rec["y"].append(np.array(target))
            rec["scores"].append(np.array(preds))
            rec["phase"].append(np.full(len(target), _phase))
            return _inner(target, preds, *a, **k)

        metric.update = update
    _run_simulated(sc)
    out = {k: np.concatenate(v) for k, v in rec.items()}
    out["scenario"] = sc
    yield out
    sc.close()


def _first(events, kind, detail=None):
    return next((e["time"] for e in events if e["kind"] == kind
                 and (detail is None or e["detail"] == detail)), None)


# ---------------------------------------------------------------------------- the story


def test_story_drift_is_injected_detected_and_retraining_recovers(run):
    sc = run["scenario"]
    ev = sc.events()
    shift = _first(ev, "covariate_shift")
    assert shift == pytest.approx(sc.schedule.drift_at, abs=sc.schedule.tick)
    alerts = [e["time"] for e in ev if e["kind"] == "alert_firing"
              and e["detail"] in ("ScoreDrift", "AccuracyDrop")]
    assert alerts and min(alerts) > shift  # detected, and only after the shift
    retrained = _first(ev, "retrained")
    assert retrained is not None and retrained > min(alerts)
    ph = sc.phase_summary()
    assert set(ph) == set(PHASES) and all(ph[p] for p in PHASES)
    assert ph["drifted"]["accuracy"] < ph["baseline"]["accuracy"] - 0.05
    assert ph["retrained"]["accuracy"] > ph["drifted"]["accuracy"] + 0.05


def test_same_seed_same_story():
    def story(seed):
        sc = Scenario(duration=3.0, rate=RATE, seed=seed, resources=False, warm_up=False)
        try:
            _run_simulated(sc)
            return [(e["time"], e["kind"], e["detail"]) for e in sc.events()], sc.summary()["accuracy"]
        finally:
            sc.close()

    assert story(3) == story(3)
    assert story(3) != story(4)


def test_monitor_values_equal_sklearn_on_the_delivered_labels(run):
    sc, y, s = run["scenario"], run["y"], run["scores"]
    pred = (s >= 0.5).astype(int)
    v = sc.monitor.values()
    assert v["labelled_total"] == len(y) > 0
    assert v["predictions_total"] == pytest.approx(DURATION * RATE, abs=RATE * sc.schedule.tick)
    assert v["accuracy"] == pytest.approx(accuracy_score(y, pred), rel=1e-12)
    assert v["f1"] == pytest.approx(f1_score(y, pred), rel=1e-12)
    assert v["mcc"] == pytest.approx(matthews_corrcoef(y, pred), rel=1e-12)
    # the curves are binned: AUROC within the documented 1e-3 of the exact value
    assert sc.summary()["roc_auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-3)


def test_phase_metrics_equal_sklearn_per_phase(run):
    sc, y, s, phase = run["scenario"], run["y"], run["scores"], run["phase"]
    ph = sc.phase_summary()
    for p in PHASES:
        m = phase == p
        pred = (s[m] >= 0.5).astype(int)
        assert ph[p]["count"] == m.sum()
        assert ph[p]["accuracy"] == pytest.approx(accuracy_score(y[m], pred), rel=1e-12)
        assert ph[p]["f1"] == pytest.approx(f1_score(y[m], pred), rel=1e-12)
        assert ph[p]["mcc"] == pytest.approx(matthews_corrcoef(y[m], pred), rel=1e-12)


def test_history_and_snapshot_are_json_and_cover_the_run(run):
    sc = run["scenario"]
    hist = sc.history()
    times = [p["time"] for p in hist]
    assert times == sorted(times) and times[-1] == pytest.approx(DURATION)
    assert len(hist) >= DURATION / sc.schedule.sample_every - 1
    text = json.dumps(json_safe({"h": hist, "s": sc.snapshot()}), allow_nan=False)
    snap = _strict_json(text)["s"]
    assert snap["demo"]["progress"] == 1.0
    assert snap["values"]["accuracy"] == sc.monitor.values()["accuracy"]
    train = sc.training()
    assert {r["round"] for r in train} == set(range(sc.retrains + 1))
    assert all(0.0 <= r["val_accuracy"] <= 1.0 for r in train)
    # the fit monitor saw every training epoch
    assert sc.monitor.fit.step == len(train)


def test_schedule_scales_with_duration():
    short, long = Schedule.for_run(5, 200), Schedule.for_run(600, 200)
    for s in (short, long):
        assert 0 < s.drift_at < s.duration and s.window % 10 == 0
        assert s.drift_at / s.duration == pytest.approx(0.35)
    assert long.window > short.window and long.label_delay > short.label_delay
    assert Schedule.for_run(10, 200, concept_shift=True).concept_at == pytest.approx(7.0)
    assert Schedule.for_run(10, 200).concept_at is None


@pytest.mark.parametrize("kw, match", [
    ({"duration": 0}, "duration"), ({"duration": math.inf}, "duration"),
    ({"rate": -1}, "rate"), ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"),
])
def test_scenario_rejects_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        Scenario(**{"duration": 5, "rate": 10, "resources": False, "warm_up": False, **kw})


def test_concept_shift_is_optional_and_logged():
    sc = Scenario(duration=4.0, rate=RATE, seed=1, concept_shift=True, resources=False,
                  warm_up=False)
    try:
        _run_simulated(sc)
        kinds = [e["kind"] for e in sc.events()]
        assert kinds.index("covariate_shift") < kinds.index("concept_shift")
    finally:
        sc.close()


# ---------------------------------------------------------------------------- web server


def _get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.headers.get("Content-Type"), r.read()


def test_web_server_serves_page_metrics_and_json(run):
    from prometheus_client.parser import text_string_to_metric_families

    sc = run["scenario"]
    with DemoServer(sc, port=0) as srv:
        status, ctype, body = _get(srv.url)
        assert status == 200 and ctype.startswith("text/html") and b"/static/app.js" in body
        for name in ("app.js", "style.css"):
            assert _get(srv.url + "static/" + name)[0] == 200
        _, ctype, body = _get(srv.url + "metrics")
        assert ctype.startswith("text/plain")
        samples = {(s.name, s.labels.get("name")): s.value
                   for fam in text_string_to_metric_families(body.decode())
                   for s in fam.samples}
        v = sc.monitor.values()
        assert samples[("tallyml_monitor_accuracy", None)] == v["accuracy"]
        assert samples[("tallyml_monitor_labelled_total", None)] == v["labelled_total"]
        assert samples[("tallyml_roc_auc", "curves")] == pytest.approx(sc.summary()["roc_auc"], rel=1e-12)
        snap = _strict_json(_get(srv.url + "api/snapshot")[2].decode())
        assert snap["demo"]["phase"] == sc.phase
        hist = _strict_json(_get(srv.url + "api/history")[2].decode())
        assert len(hist["history"]) == len(sc.history()) and hist["events"] == sc.events()
        for bad in ("nope", "static/../web.py", "static/missing.js"):
            with pytest.raises(urllib.error.HTTPError) as e:
                _get(srv.url + bad)
            e.value.close()  # an HTTPError holds the response's socket until closed
            assert e.value.code == 404


def test_web_server_port_errors(run):
    sc = run["scenario"]
    with pytest.raises(ValueError, match="port"):
        DemoServer(sc, port=70000)
    with pytest.raises(ValueError, match="port"):
        DemoServer(sc, port=True)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(OSError, match=f"port {taken.getsockname()[1]}"):
            DemoServer(sc, port=taken.getsockname()[1])


def test_page_loads_nothing_from_elsewhere():
    from importlib import resources

    for name in ("index.html", "app.js", "style.css"):
        text = (resources.files("tallyml.demo") / "static" / name).read_text()
        assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text), name
        assert "@import" not in text and "cdn" not in text.lower()


# ---------------------------------------------------------------------------- report, terminal


def test_report_json_and_html(run, tmp_path):
    sc = run["scenario"]
    json_path, html_path = write_report(sc, tmp_path / "out")
    with open(json_path) as f:
        report = _strict_json(f.read())
    assert report["summary"] == json_safe(sc.summary())
    assert len(report["history"]) == len(sc.history())
    assert report["roc_curve"]["fpr"][0] == 0.0 and report["roc_curve"]["tpr"][-1] == 1.0
    with open(html_path) as f:
        page = f.read()
    assert page.count("<svg") >= 6 and page.count("<path") >= 10
    assert f"{sc.summary()['accuracy']:.4f}" in page
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", page)


def test_terminal_view_and_plain_line(run):
    from rich.console import Console

    sc = run["scenario"]
    console = Console(record=True, width=160, force_terminal=True)
    console.print(render(sc))
    text = console.export_text()
    v = sc.monitor.values()
    assert f"{v['accuracy']:.3f}" in text and f"{v['accuracy_window']:.3f}" in text
    for name in ("quality", "drift", "serving", "alert rules", "ScoreDrift", "retrained"):
        assert name in text
    line = plain_line(sc)
    assert f"accuracy={v['accuracy']:.3f}" in line and f"phase={sc.phase}" in line


def test_sparkline():
    assert sparkline([]) == ""
    blocks = "▁▂▃▄▅▆▇█"
    line = sparkline([1.0, 5.0, 2.0, 9.0, 3.0])
    assert line[0] == blocks[0] and line[3] == blocks[-1]  # the range spans the blocks
    levels = [blocks.index(c) for c in line]
    assert levels[0] < levels[2] < levels[4] < levels[1] < levels[3]  # order is kept
    flat = sparkline([0.5, math.nan, None, 0.5])
    assert flat[1:3] == "  " and flat[0] == flat[3] != " "  # gaps stay gaps
    assert len(sparkline(list(range(100)), width=24)) == 24


# ---------------------------------------------------------------------------- the command


def _env():
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(tallyml.__file__))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("CI", None)
    env.pop("TALLYML_HOT", None)  # the user's default: the hot tier loads in the background
    return env


def test_cli_demo_runs_and_reports(tmp_path):
    out = tmp_path / "demo-out"
    proc = subprocess.run(
        [sys.executable, "-m", "tallyml", "demo", "--duration", "5", "--no-browser", "--port", "0",
         "--out", str(out)],
        capture_output=True, text=True, timeout=600, env=_env())
    assert proc.returncode == 0, proc.stderr + proc.stdout
    text = proc.stdout
    assert re.search(r"live page: http://127\.0\.0\.1:\d+/", text)
    with open(out / "report.json") as f:
        report = _strict_json(f.read())
    s = report["summary"]
    # the summary prints the report's values: real metrics, after the drift was caught
    assert f"accuracy {s['accuracy']:.4f}" in text and f"mcc {s['mcc']:.4f}" in text
    for p in PHASES:
        assert f"accuracy {s['phases'][p]['accuracy']:.4f}" in text
    assert 0.5 < s["accuracy"] <= 1.0 and s["predictions"] > 0
    assert s["drift_injected_at"] is not None
    caught = [t for t in (s["drift_alert_at"], s["accuracy_alert_at"]) if t is not None]
    assert caught and min(caught) > s["drift_injected_at"]
    assert f"covariate shift at {s['drift_injected_at']:.2f} s" in text
    assert (out / "report.html").stat().st_size > 0
    # TensorBoard logs, read back with TensorBoard's own reader
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = glob.glob(str(out / "tensorboard" / "events.out.tfevents.*"))
    assert files
    acc = EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert "monitor/accuracy" in tags and "monitor/psi" in tags
    last = acc.Scalars("monitor/accuracy")[-1].value
    assert last == pytest.approx(s["accuracy"], rel=1e-6)  # float32 in the event file


@pytest.mark.parametrize("argv, match", [
    (["--duration", "0"], "--duration"), (["--rate", "nan"], "--rate"),
    (["--port", "70000"], "--port"), (["--seed", "-2"], "--seed"), (["--linger", "-1"], "--linger"),
])
def test_cli_demo_rejects_bad_options(argv, match, capsys, tmp_path):
    assert main(["demo", "--no-browser", "--out", str(tmp_path / "o"), *argv]) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing started, nothing written


def test_cli_demo_out_must_be_a_folder(capsys, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["demo", "--no-browser", "--out", str(f)]) == 2
    assert "--out" in capsys.readouterr().err


# ---------------------------------------------------------------------------- Monitor addition


def test_monitor_set_drift_reference_rebaselines():
    """``Monitor.set_drift_reference`` (added for the demo's retraining): the new reference
    replaces the old, the window restarts, a bad reference changes nothing."""
    rng = np.random.default_rng(5)
    old = rng.beta(2, 5, 4000)
    new = rng.beta(5, 2, 4000)
    m = tallyml.Monitor("binary", window=200, reference_scores=old, model="t")
    try:
        m.observe(rng.beta(5, 2, 400))
        assert m.values()["drift_detected"] == 1.0  # new-looking scores drift from `old`
        before = m.drift
        with pytest.raises(ValueError):
            m.set_drift_reference(np.array([0.5, np.nan] * 100))
        assert m.drift is before
        m.set_drift_reference(new)
        assert m.drift is not before and not m.drift.ready and m.drift.window == 200
        assert math.isnan(m.values()["psi"])
        batch = rng.beta(5, 2, 400)
        m.observe(batch)
        assert m.values()["drift_detected"] == 0.0
        alone = tallyml.ScoreDrift(new, window=200)  # what a fresh detector on `new` says
        alone.update(batch)
        assert m.drift.statistics() == alone.statistics()
    finally:
        m.close()
    plain = tallyml.Monitor("binary", window=100, model="t2")
    try:
        with pytest.raises(ValueError, match="reference_scores"):
            plain.set_drift_reference(new)
    finally:
        plain.close()


def test_cli_demo_ctrl_c_still_summarises_and_reports(tmp_path, tallyml_command):
    import signal

    out = tmp_path / "demo-out"
    # the first line with predictions comes at 12 s of the 120: the demo is still running when
    # the signal arrives (the clock starts after set-up, however slow that is)
    proc = subprocess.Popen(
        [*tallyml_command, "demo", "--duration", "120", "--no-browser", "--port", "0",
         "--out", str(out), "--plain"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env())
    seen = []
    try:
        for line in proc.stdout:  # wait until predictions are being served
            seen.append(line)
            if re.search(r"predictions=[1-9]", line):
                break
        else:
            pytest.fail("the demo ended before serving predictions:\n" + "".join(seen))
        proc.send_signal(signal.SIGINT)
        try:
            rest, _ = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            pytest.fail("the demo did not stop within 300 s of Ctrl-C:\n" + "".join(seen))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    text = "".join(seen) + rest
    assert proc.returncode == 0, text
    assert "tallyml demo summary" in text, text
    with open(out / "report.json") as f:
        report = _strict_json(f.read())
    stopped = report["summary"]["duration"]
    assert 0 < stopped < 120
    assert f"interrupted at {stopped:.1f} s" in text, text
    assert f"predictions served   {report['summary']['predictions']}" in text


def test_cli_demo_ctrl_c_during_set_up_still_summarises_and_reports(tmp_path, monkeypatch, capsys):
    """A Ctrl-C before the run loop starts (here: while the web server starts) ends the run at
    0 s with the summary and the report, not with a KeyboardInterrupt out of the command."""
    import signal

    from tallyml.demo import web

    class InterruptedServer(web.DemoServer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(web, "DemoServer", InterruptedServer)
    # this test's own process must turn SIGINT into KeyboardInterrupt (a background pytest run
    # ignores it); restored afterwards
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        rc = main(["demo", "--duration", "30", "--no-browser", "--plain",
                   "--out", str(tmp_path / "o")])
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C during set-up escaped the demo command")
    finally:
        signal.signal(signal.SIGINT, old)
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "interrupted at 0.0 s" in text and "tallyml demo summary" in text, text
    with open(tmp_path / "o" / "report.json") as f:
        report = _strict_json(f.read())
    assert report["summary"]["duration"] == 0.0
    assert f"predictions served   {report['summary']['predictions']}" in text


def test_cli_demo_live_view_on_a_terminal(tmp_path):
    """On a terminal the command draws rich's live view (tables, progress bar) instead of lines."""
    import pty
    import select

    master, slave = pty.openpty()
    env = _env()
    env.update(COLUMNS="160", LINES="60", TERM="xterm-256color")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tallyml", "demo", "--duration", "3", "--no-browser", "--port", "0",
         "--out", str(tmp_path / "o")],
        stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 300)
            if not ready:
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        rc = proc.wait(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = b"".join(chunks).decode("utf-8", "replace")
    assert rc == 0, text[-3000:]
    for piece in ("quality", "drift", "serving", "alert rules", "━", "tallyml demo summary"):
        assert piece in text
    assert "phase=" not in text  # no plain lines on a terminal


def test_cli_demo_without_scikit_learn_says_what_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import fails as if absent
    assert main(["demo", "--no-browser", "--duration", "1", "--out", str(tmp_path / "o")]) == 2
    assert "pip install scikit-learn" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
