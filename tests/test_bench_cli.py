"""``tallyml bench --quick`` end to end (small inputs), and the checks the benchmarks rely on."""
import json

import numpy as np
import pytest

from tallyml.cli import main
from tallyml._bench import workloads
from tallyml._bench.timing import interleaved, run_threads


def test_bench_quick_end_to_end(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--rows", "3000", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    r = json.loads(out.read_text())
    keys = [row["key"] for row in r["throughput"]]
    assert set(workloads.WORKLOADS) <= set(keys)
    for row in r["throughput"]:
        assert row["rows"] == 3000
        assert row["tallyml_mpred_s"] > 0 and row["pct_bandwidth"] > 0
        assert row["title"] in printed
        if row["threads"] == 1:
            assert row["ratio"]["numpy"] > 0  # numpy is always a peer
    assert r["bandwidth"]["one_thread_gb_s"] > 0
    assert r["python_threads"]["two_threads_mpred_s"] > 0
    for name in ("binary update(64)", "multiclass update(64)", "binary update(1)",
                 "binary update_one"):
        assert r["calls_us"][name]["wall"] > 0 and r["calls_us"][name]["cpu"] >= 0
    assert r["import_s"]["tallyml"] > 0 and r["first_update_s"] > 0
    assert r["rss_growth_bytes"] >= 0
    assert "import: numpy" in printed and "per call (us)" in printed


def test_bench_rejects_tiny_rows(capsys):
    assert main(["bench", "--rows", "10"]) == 2
    assert "--rows must be >= 1000" in capsys.readouterr().err


@pytest.mark.parametrize("key", list(workloads.WORKLOADS))
def test_every_runner_matches_the_reference(key):
    w = workloads.WORKLOADS[key]
    d = w.make(500, 3)
    expected = w.reference(d)
    workloads.check(key, w.tallyml(d, 1), expected)
    workloads.check(key, w.tallyml(d, 2), expected)
    for name, fn in w.peers.items():
        if name != "numpy" and not workloads.optional(workloads.PEER_MODULES[name]):
            continue
        workloads.check(f"{name} {key}", fn(d), expected)


def test_check_catches_a_wrong_result():
    with pytest.raises(AssertionError, match="differs"):
        workloads.check("x", np.array([[1, 0], [0, 1]]), np.array([[1, 0], [0, 2]]))
    with pytest.raises(AssertionError):
        workloads.check("x", np.zeros(3), np.zeros((3, 1)))


def test_interleaved_and_threads():
    calls = []
    res = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeat=3)
    assert calls == ["a", "b"] * 3
    assert set(res) == {"a", "b"} and all(v["wall"] >= 0 for v in res.values())
    with pytest.raises(ZeroDivisionError):
        run_threads([lambda: None, lambda: 1 / 0])
