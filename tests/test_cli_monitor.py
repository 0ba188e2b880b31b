"""``tallyml monitor``: configuration checks, the record parser, file tailing, and the command
end to end — a writer process appending to files in a folder (partial lines, malformed lines),
the monitor killed with SIGKILL and started again (counts continue from the checkpoint, nothing
counted twice), stdin, CSV and Parquet inputs; results against scikit-learn."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from tallyml.monitor.config import check_config, load_config
from tallyml.monitor.sources import FolderSource, Malformed, Record, RecordParser

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "python"), TALLYML_BACKEND="numpy")


# ---------------------------------------------------------------- config
def test_config_defaults_paths_and_rules(tmp_path):
    cfg_file = tmp_path / "m.toml"
    cfg_file.write_text(textwrap.dedent("""
        [monitor]
        task = "multiclass"
        num_classes = 3
        [input]
        path = "in"
        [[rules]]
        name = "Low"
        expr = "accuracy_window < 0.5"
        for = 30
    """))
    cfg = load_config(cfg_file)
    assert cfg["monitor"]["window"] == 10_000 and cfg["input"]["path"] == str(tmp_path / "in")
    assert cfg["rules"] == [{"name": "Low", "expr": "accuracy_window < 0.5", "for": 30}]
    yml = tmp_path / "m.yaml"
    yml.write_text("monitor:\n  task: binary\nexport:\n  port: -1\n")
    assert load_config(yml)["export"]["port"] == -1


@pytest.mark.parametrize("data,match", [
    ({}, "monitor.task is required"),
    ({"monitor": {"task": "binary"}, "inputs": {}}, r"unknown section \[inputs\]"),
    ({"monitor": {"task": "binary", "windw": 3}}, "unknown key monitor.windw"),
    ({"monitor": {"task": "binary", "window": "10"}}, "monitor.window must be int"),
    ({"monitor": {"task": "binary", "logits": 1}}, "monitor.logits must be bool"),
    ({"monitor": {"task": "binary", "window": True}}, "monitor.window must be int"),
    ({"monitor": {"task": "binary"}, "input": {"format": "xml"}}, "input.format"),
    ({"monitor": {"task": "binary"}, "input": {"poll": 0}}, "input.poll"),
    ({"monitor": {"task": "binary"}, "export": {"port": 70000}}, "export.port"),
    ({"monitor": {"task": "binary"}, "rules": {"name": "x"}}, "rules must be a list"),
])
def test_config_errors_name_the_key(data, match):
    with pytest.raises(ValueError, match=match):
        check_config(data)


def test_config_file_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[monitor\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ValueError, match="cannot read"):
        load_config(tmp_path / "missing.toml")


# ---------------------------------------------------------------- parser
@pytest.mark.parametrize("task,kw,raw,want", [
    ("binary", {}, {"id": "a", "score": 0.3}, ("a", 0.3, None, None)),
    ("binary", {}, {"id": 7, "label": True}, (7, None, None, 1)),
    ("binary", {}, {"score": "0.25", "label": "1"}, (None, 0.25, None, 1)),  # CSV strings
    ("binary", {}, {"pred": 1, "label": 0}, (None, None, 1, 0)),
    ("multiclass", {"num_classes": 3}, {"score": [0.2, 0.3, 0.5], "label": 2},
     (None, (0.2, 0.3, 0.5), None, 2)),
    ("multiclass", {"num_classes": 3}, {"score_0": "0.2", "score_1": "0.3", "score_2": "0.5"},
     (None, (0.2, 0.3, 0.5), None, None)),
    ("multilabel", {"num_labels": 2}, {"id": "x", "label": [1, 0]}, ("x", None, None, (1, 0))),
])
def test_parser_accepts(task, kw, raw, want):
    r = RecordParser(task, **kw).parse(raw, "f:1")
    assert isinstance(r, Record), r
    assert (r.id, r.score, r.pred, r.label) == want


@pytest.mark.parametrize("task,kw,raw,reason", [
    ("binary", {}, {"score": 1.5}, r"\[0, 1\]"),
    ("binary", {}, {"score": "nan"}, "finite"),
    ("binary", {}, {"score": "x"}, "number"),
    ("binary", {}, {"score": 0.5, "label": 2}, r"label in \[0, 2\)"),
    ("binary", {}, {"score": 0.5, "label": 0.5}, "integer label"),
    ("binary", {}, {"label": 1}, "needs an id"),
    ("binary", {}, {"id": "a"}, "no score, pred or label"),
    ("binary", {}, {"id": [1], "score": 0.5}, "id must be"),
    ("binary", {}, {"score": 0.5, "latency": -1}, "latency"),
    ("binary", {}, [1, 2], "object"),
    ("multiclass", {"num_classes": 3}, {"score": [0.5, 0.5]}, "3 values"),
    ("multiclass", {"num_classes": 3}, {"score": [0.5, 0.5, 0.5]}, "sum to 1"),
    ("multiclass", {"num_classes": 3}, {"score": 0.5}, "list"),
    ("multiclass", {"num_classes": 3}, {"pred": 3}, r"\[0, 3\)"),
    ("multilabel", {"num_labels": 2}, {"score": [0.5, 0.5], "label": [1, 2]}, r"label\[1\]"),
])
def test_parser_rejects_with_a_reason(task, kw, raw, reason):
    r = RecordParser(task, **kw).parse(raw, "f:9")
    assert isinstance(r, Malformed) and r.where == "f:9"
    assert __import__("re").search(reason, r.reason), r.reason


# ---------------------------------------------------------------- tailing
def test_folder_source_tails_complete_lines_and_resumes(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_bytes(b'{"score": 0.1}\n{"sco')
    src = FolderSource(tmp_path)
    items = src.poll()
    assert [w for w, _ in items] == ["a.jsonl:1"]
    assert src.poll() == []  # the half-written line waits
    with open(f, "ab") as fh:
        fh.write(b're": 0.2}\nnot json\n')
    items = src.poll()
    assert items[0] == ("a.jsonl:2", {"score": 0.2}) and isinstance(items[1], Malformed)
    assert items[1].where == "a.jsonl:3"
    saved = src.state()
    (tmp_path / "b.csv").write_text("score,label\n0.4,1\n")
    (tmp_path / "ignored.txt").write_text("x\n")
    again = FolderSource(tmp_path)
    again.restore(saved)
    assert again.poll() == [("b.csv:2", {"score": "0.4", "label": "1"})]
    # a file replaced by a shorter one is read from its start
    f.write_bytes(b'{"score": 0.9}\n')
    assert again.poll() == [("a.jsonl:1", {"score": 0.9})]


# ---------------------------------------------------------------- end to end
def _plan(rng, n):
    """JSONL lines of a binary stream: predictions with ids whose labels come later, labelled
    predictions, unlabelled ones without id, and malformed lines. Returns (lines, expected)."""
    lines, y_all, s_all = [], [], []
    later = []
    malformed = 0
    for i in range(n):
        y = int(rng.random() < 0.4)
        s = round(float(np.clip(0.4 * y + 0.6 * rng.random(), 0, 1)), 6)
        kind = rng.integers(0, 4)
        if kind == 0:
            lines.append(json.dumps({"id": f"r{i}", "score": s, "latency": 0.001}))
            later.append((f"r{i}", y))
            y_all.append(y)
            s_all.append(s)
        elif kind == 1:
            lines.append(json.dumps({"id": f"r{i}", "score": s, "label": y}))
            y_all.append(y)
            s_all.append(s)
        elif kind == 2:
            lines.append(json.dumps({"score": s}))
        else:
            lines.append(rng.choice(['{"score": 1.7}', "garbage", '{"id": "q", "score": "x"}',
                                     '{"score": 0.5, "label": 3}']))
            malformed += 1
        if later and rng.random() < 0.3:
            rid, ly = later.pop(0)
            lines.append(json.dumps({"id": rid, "label": ly}))
    for rid, ly in later:
        lines.append(json.dumps({"id": rid, "label": ly}))
    preds = n - malformed
    return lines, {"y": np.array(y_all), "s": np.array(s_all), "malformed": malformed,
                   "predictions": preds}


WRITER = textwrap.dedent("""
    import json, sys, time
    plan = json.load(open(sys.argv[1]))
    for path, lines in plan:
        for k, line in enumerate(lines):
            with open(path, "a") as f:
                if k % 7 == 3:  # half a line, then the rest: the reader must wait for it
                    f.write(line[: len(line) // 2]); f.flush(); time.sleep(0.02)
                    f.write(line[len(line) // 2 :] + "\\n")
                else:
                    f.write(line + "\\n")
            if k % 50 == 0:
                time.sleep(0.01)
""")


def _start_monitor(config, extra=()):
    proc = subprocess.Popen([sys.executable, "-m", "tallyml", "monitor", "--config", str(config),
                             "--status-every", "0", *extra], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("serving "), line + proc.stderr.read()
    return proc, line.split()[1].rsplit("/", 1)[0]


def _snapshot(base):
    with urllib.request.urlopen(base + "/snapshot.json", timeout=10) as r:
        return json.loads(r.read())


def _wait_counts(base, predictions, malformed, timeout=120):
    deadline = time.monotonic() + timeout
    snap = None
    while time.monotonic() < deadline:
        snap = _snapshot(base)
        c = snap["counts"]
        if c["predictions_total"] >= predictions and c["malformed_total"] >= malformed \
                and c["pending_labels"] == 0:
            return snap
        time.sleep(0.2)
    raise AssertionError(f"counts not reached: {snap and snap['counts']}")


def test_folder_with_writer_malformed_lines_and_restart(tmp_path):
    rng = np.random.default_rng(11)
    lines1, exp1 = _plan(rng, 600)
    lines2, exp2 = _plan(rng, 900)
    folder = tmp_path / "in"
    folder.mkdir()
    config = tmp_path / "monitor.toml"
    config.write_text(textwrap.dedent(f"""
        [monitor]
        task = "binary"
        window = 500
        model = "files"
        evaluate_every = 0
        [input]
        path = "{folder}"
        poll = 0.05
        [checkpoint]
        path = "{tmp_path / 'state.ckpt'}"
        every = 0.1
        [export]
        port = 0
        [[rules]]
        name = "LowF1"
        expr = "f1 < 0.99"
    """))
    plan1 = tmp_path / "plan1.json"
    plan1.write_text(json.dumps([[str(folder / "a.jsonl"), lines1[:300]],
                                 [str(folder / "b.jsonl"), lines1[300:]]]))
    plan2 = tmp_path / "plan2.json"
    plan2.write_text(json.dumps([[str(folder / "a.jsonl"), lines2[:500]],
                                 [str(folder / "c.jsonl"), lines2[500:]]]))

    # phase 1: the writer appends while the monitor reads
    mon, base = _start_monitor(config)
    try:
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(plan1)], env=ENV)
        assert writer.wait(timeout=120) == 0
        snap = _wait_counts(base, exp1["predictions"], exp1["malformed"])
        assert snap["counts"]["predictions_total"] == exp1["predictions"]
        assert snap["counts"]["malformed_total"] == exp1["malformed"]
        time.sleep(0.6)  # let a checkpoint hold all of it
    finally:
        mon.send_signal(signal.SIGKILL)  # a crash: no final checkpoint
        mon.communicate(timeout=30)

    # phase 2: restart; the writer appends to an old and a new file meanwhile
    mon, base = _start_monitor(config)
    try:
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(plan2)], env=ENV)
        assert writer.wait(timeout=120) == 0
        total_pred = exp1["predictions"] + exp2["predictions"]
        total_mal = exp1["malformed"] + exp2["malformed"]
        snap = _wait_counts(base, total_pred, total_mal)
        time.sleep(0.5)  # nothing more may arrive: no line counted twice
        snap = _snapshot(base)
    finally:
        mon.send_signal(signal.SIGTERM)
        out, err = mon.communicate(timeout=60)
    assert mon.returncode == 0, err
    assert f"resumed from {tmp_path / 'state.ckpt'} ({exp1['predictions']} predictions)" in err
    assert "skipped a.jsonl:" in err  # malformed lines are reported with their location
    c = snap["counts"]
    assert c["predictions_total"] == total_pred and c["malformed_total"] == total_mal
    y = np.concatenate([exp1["y"], exp2["y"]])
    s = np.concatenate([exp1["s"], exp2["s"]])
    assert c["labelled_total"] == len(y) and c["labels_unmatched_total"] == 0
    pred = (s >= 0.5).astype(int)
    np.testing.assert_array_equal(snap["confusion_matrix"]["total"], skm.confusion_matrix(y, pred))
    assert snap["metrics"]["total"]["f1"] == pytest.approx(skm.f1_score(y, pred), rel=1e-12)
    assert snap["alerts"][0]["state"] == "firing"
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["counts"] == c


def test_stdin_multiclass_jsonl(tmp_path):
    rng = np.random.default_rng(12)
    n, k = 300, 3
    y = rng.integers(0, k, n)
    p = rng.dirichlet(np.ones(k), n).round(6)
    p[:, -1] = 1 - p[:, :-1].sum(axis=1)
    lines = [json.dumps({"score": p[i].tolist(), "label": int(y[i])}) for i in range(n)]
    lines.insert(5, '{"score": [0.5, 0.5], "label": 1}')
    lines.insert(9, "{")
    config = tmp_path / "m.toml"
    config.write_text('[monitor]\ntask = "multiclass"\nnum_classes = 3\nwindow = 100\n'
                      '[input]\npath = "-"\n[export]\nport = -1\n')
    r = subprocess.run([sys.executable, "-m", "tallyml", "monitor", "--config", str(config),
                        "--status-every", "0"], input="\n".join(lines) + "\n", env=ENV,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["counts"]["predictions_total"] == n
    assert summary["counts"]["malformed_total"] == 2
    pred = p.argmax(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = skm.f1_score(y, pred, average="macro", labels=range(k), zero_division=0)
    assert summary["metrics"]["f1"] == pytest.approx(want, rel=1e-12)
    assert summary["metrics"]["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), rel=1e-12)


def test_csv_and_parquet_files_in_process(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tallyml.cli.monitor import run_monitor

    rng = np.random.default_rng(13)
    y = rng.integers(0, 2, 200)
    s = rng.random(200).round(6)
    folder = tmp_path / "in"
    folder.mkdir()
    rows = ["id,score,label"] + [f"{i},{s[i]},{y[i]}" for i in range(100)] + ["x,oops,1"]
    (folder / "a.csv").write_text("\n".join(rows) + "\n")
    pq.write_table(pa.table({"score": s[100:], "label": y[100:]}), folder / "b.parquet")
    cfg = check_config({"monitor": {"task": "binary", "window": 50},
                        "input": {"path": str(folder), "poll": 0.05},
                        "export": {"port": -1}})
    err = open(tmp_path / "err.txt", "w")
    snap = run_monitor(cfg, exit_when_idle=0.3, status_every=0, err=err, out=err)
    err.close()
    assert snap["counts"]["predictions_total"] == 200 and snap["counts"]["malformed_total"] == 1
    np.testing.assert_array_equal(snap["confusion_matrix"]["total"],
                                  skm.confusion_matrix(y, (s >= 0.5).astype(int)))
    assert "a.csv:102" in (tmp_path / "err.txt").read_text()


def test_cli_errors_are_reported(tmp_path):
    config = tmp_path / "m.toml"
    config.write_text('[monitor]\ntask = "binary"\n[input]\npath = "nowhere"\n[export]\nport = -1\n')
    r = subprocess.run([sys.executable, "-m", "tallyml", "monitor", "--config", str(config)],
                       env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = subprocess.run([sys.executable, "-m", "tallyml", "monitor", "--config", str(config),
                        "--page", "nocolon"], env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "MODULE:CALLABLE" in r.stderr


def test_page_hook_and_stop_event(tmp_path):
    import io
    import threading

    from tallyml.cli.monitor import run_monitor

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"score": 0.7, "label": 1}\n')
    cfg = check_config({"monitor": {"task": "binary", "model": "paged"},
                        "input": {"path": str(folder), "poll": 0.05}, "export": {"port": 0}})
    out, err, stop = io.StringIO(), io.StringIO(), threading.Event()
    result = {}
    t = threading.Thread(target=lambda: result.update(run_monitor(
        cfg, page=lambda m: f"<p>{m.model}</p>", status_every=0, stop=stop, out=out, err=err)))
    t.start()
    try:
        deadline = time.monotonic() + 60
        while "serving" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
        base = out.getvalue().split()[1].rsplit("/", 1)[0]
        assert urllib.request.urlopen(base + "/", timeout=10).read() == b"<p>paged</p>"
    finally:
        stop.set()
        t.join(timeout=60)
    assert not t.is_alive() and result["counts"]["predictions_total"] == 1
