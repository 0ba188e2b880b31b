"""The command line: `tallyml eval` on each file format against scikit-learn, `tallyml dashboard`,
`python -m tallyml`, and errors."""
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from tallyml.cli import main


def _sk(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


@pytest.fixture
def binary_files(tmp_path):
    rng = np.random.default_rng(3)
    t = rng.integers(0, 2, 5003).astype(np.int8)
    s = rng.random(5003).astype(np.float32)
    np.save(tmp_path / "t.npy", t)
    np.save(tmp_path / "s.npy", s)
    return tmp_path, t, s


def test_eval_binary_npy_chunked_matches_sklearn(binary_files, capsys):
    d, t, s = binary_files
    out = d / "m.json"
    rc = main(["eval", "--target", str(d / "t.npy"), "--preds", str(d / "s.npy"),
               "--chunk-size", "1000", "--threshold", "0.3", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "binary, 5003 samples" in text
    got = json.loads(out.read_text())["metrics"]
    p = (s.astype(np.float64) >= 0.3).astype(int)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(t, p), rel=1e-12)
    assert got["f1"] == pytest.approx(_sk(skm.f1_score, t, p), rel=1e-12)
    assert got["mcc"] == pytest.approx(skm.matthews_corrcoef(t, p), rel=1e-12)


def test_eval_multiclass_csv_with_header_and_mismatched_chunks(tmp_path, capsys):
    rng = np.random.default_rng(4)
    t = rng.integers(0, 5, 2001)
    p = np.where(rng.random(2001) < 0.7, t, rng.integers(0, 5, 2001))
    (tmp_path / "t.csv").write_text("label\n" + "\n".join(map(str, t)) + "\n")
    np.save(tmp_path / "p.npy", p.astype(np.int32))
    out = tmp_path / "m.json"
    rc = main(["eval", "--target", str(tmp_path / "t.csv"), "--preds", str(tmp_path / "p.npy"),
               "--chunk-size", "333", "--json", str(out)])
    assert rc == 0
    got = json.loads(out.read_text())["metrics"]
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(t, p), rel=1e-12)
    assert got["f1"] == pytest.approx(_sk(skm.f1_score, t, p, average="macro"), rel=1e-12)
    assert "5 classes" in capsys.readouterr().out


def test_eval_multiclass_scores_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rng = np.random.default_rng(5)
    t = rng.integers(0, 3, 900)
    s = rng.random((900, 3))
    pq.write_table(pa.table({"y": t}), tmp_path / "t.parquet", row_group_size=128)
    np.save(tmp_path / "s.npy", s)
    out = tmp_path / "m.json"
    assert main(["eval", "--target", str(tmp_path / "t.parquet"), "--preds", str(tmp_path / "s.npy"),
                 "--json", str(out)]) == 0
    got = json.loads(out.read_text())["metrics"]
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(t, s.argmax(1)), rel=1e-12)


def test_eval_errors_name_the_problem(binary_files, capsys):
    d, t, s = binary_files
    np.save(d / "short.npy", s[:10])
    assert main(["eval", "--target", str(d / "t.npy"), "--preds", str(d / "short.npy")]) == 2
    assert "different numbers of rows" in capsys.readouterr().err
    assert main(["eval", "--target", str(d / "missing.npy"), "--preds", str(d / "s.npy")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (d / "x.txt").write_text("1\n")
    assert main(["eval", "--target", str(d / "x.txt"), "--preds", str(d / "s.npy")]) == 2
    assert "unsupported file type" in capsys.readouterr().err


def test_dashboard_command_writes_json_and_yaml(tmp_path, capsys):
    out = tmp_path / "dash.json"
    assert main(["dashboard", "--model", "fraud", "--out", str(out)]) == 0
    dash = json.loads(out.read_text())
    assert dash["panels"] and "fraud" in json.dumps(dash)
    assert (tmp_path / "dash.yaml").exists()
    assert main(["dashboard", "--model", "m", "--out", str(tmp_path / "nope" / "d.json")]) == 2


def test_python_dash_m_runs_the_cli():
    r = subprocess.run([sys.executable, "-m", "tallyml", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("tallyml ")
