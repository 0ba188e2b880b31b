"""Alert rules: expression language, states with for/hysteresis, actions, Prometheus rendering."""
import logging
import shutil
import subprocess

import numpy as np
import pytest

from tallyml import FitMonitor
from tallyml.drift import ScoreDrift
from tallyml.monitoring import LatencyTracker
from tallyml.rules import AlertEngine, LogAction, Rule

KNOWN = {"f1_last_10000", "psi", "latency_p99_seconds", "gpu_memory_ratio", "overfitting_detected"}


def _states(engine, seq, **kw):
    out = []
    for i, v in enumerate(seq):
        engine.evaluate(v if isinstance(v, dict) else {"psi": v}, now=kw.get("step", 1.0) * i)
        out.append(engine.states())
    return out


def test_unknown_names_fail_at_construction():
    e = AlertEngine(KNOWN)
    with pytest.raises(ValueError, match=r"unknown values \['f1'\]"):
        e.add(Rule("f1_low", "f1 < 0.9"))
    with pytest.raises(ValueError, match=r"unknown values \['psii'\]"):
        AlertEngine(KNOWN, [Rule("r", "psi > 1", clear="psii < 0.1")])
    assert e.rules == []


@pytest.mark.parametrize("expr", ["psi > 'a'", "__import__('os')", "psi.real > 1", "psi[0] > 1",
                                  "psi ** 2 > 1", "lambda: 1", "psi if psi else 1", ""])
def test_expression_language_rejects_everything_else(expr):
    with pytest.raises((ValueError, TypeError)):
        Rule("r", expr)


def test_expression_semantics_against_python():
    rng = np.random.default_rng(0)
    exprs = ["psi > 0.2 and not gpu_memory_ratio >= 0.9", "0.1 < psi <= 0.3 or overfitting_detected",
             "-psi + 2 * gpu_memory_ratio / 4 > 0.1", "not (psi > 0.5 or gpu_memory_ratio < 0.2)"]
    for text in exprs:
        rule = Rule("r", text)
        for _ in range(200):
            vals = {"psi": float(rng.random()), "gpu_memory_ratio": float(rng.random()),
                    "overfitting_detected": float(rng.integers(0, 2))}
            assert rule.expr.evaluate(vals) == bool(eval(text, {}, dict(vals)))


def test_for_count_fires_after_consecutive_windows_and_hysteresis():
    events = []
    e = AlertEngine(KNOWN, [Rule("psi_high", "psi > 0.2", for_count=3, clear="psi < 0.1",
                                 clear_count=2, actions=[events.append])])
    seq = [0.3, 0.3, 0.1, 0.3, 0.3, 0.3, 0.15, 0.05, 0.3, 0.05, 0.05, 0.05]
    got = [s["psi_high"] for s in _states(e, seq)]
    assert got == ["pending", "pending", "inactive", "pending", "pending", "firing",
                   "firing",  # 0.15: not yet clear (hysteresis)
                   "firing",  # first clear evaluation
                   "firing",  # not clear: the clear streak restarts
                   "firing", "resolved", "resolved"]
    assert [(ev.previous, ev.state) for ev in events] == [("pending", "firing"), ("firing", "resolved")]
    assert events[0].values == {"psi": 0.3}


def test_for_duration_and_no_data():
    e = AlertEngine(KNOWN, [Rule("lat", "latency_p99_seconds > 0.05", for_=60)])
    for t, v, want in [(0, 0.06, "pending"), (30, None, "pending"), (59, 0.07, "pending"),
                       (60, float("nan"), "pending"), (61, 0.07, "firing"), (62, None, "firing"),
                       (63, 0.01, "resolved"), (64, 0.09, "pending")]:
        e.evaluate({"latency_p99_seconds": v}, now=t)
        assert e.states()["lat"] == want, (t, v)
    assert e.firing() == []


def test_actions_errors_and_logging(caplog):
    def boom(event):
        raise RuntimeError("action failed")

    got = []
    e = AlertEngine(KNOWN, [Rule("g", "gpu_memory_ratio > 0.9", severity="critical")],
                    actions=[boom, LogAction(), got.append])
    with caplog.at_level(logging.INFO, logger="tallyml.rules"):
        e.evaluate({"gpu_memory_ratio": 0.95}, now=0)
        e.evaluate({"gpu_memory_ratio": 0.5}, now=1)
    assert [ev.state for ev in got] == ["firing", "resolved"]
    text = caplog.text
    assert "action failed" in text and "alert g firing" in text and "alert g resolved" in text


def test_provider_with_real_monitors():
    """Rules over values that tallyml objects produce: drift, latency, fit."""
    rng = np.random.default_rng(1)
    drift = ScoreDrift(rng.beta(2, 5, 20_000), window=1000, stride=1000)
    lat = LatencyTracker()
    fit = FitMonitor(patience=2, gap_tolerance=0.01)

    def provider():
        s = drift.statistics()
        return {"psi": s["psi"], "latency_p99_seconds": lat.quantile(0.99) if lat.count else None,
                "overfitting_detected": fit.values()["overfitting_detected"]}

    e = AlertEngine({"psi", "latency_p99_seconds", "overfitting_detected"}, provider=provider)
    e.add(Rule("psi_high", "psi > 0.2", for_count=2))
    e.add(Rule("slow", "latency_p99_seconds > 0.05"))
    e.add(Rule("overfit", "overfitting_detected"))
    e.evaluate(now=0)
    assert e.states() == {"psi_high": "inactive", "slow": "inactive", "overfit": "inactive"}
    lat.record_many(np.full(100, 0.08))
    for v in (0.3, 0.31, 0.32, 0.33):
        fit.update(train_error=0.1, val_error=v)
    for t in range(1, 4):
        drift.update(rng.beta(5, 2, 1000))
        e.evaluate(now=t)
    assert e.states() == {"psi_high": "firing", "slow": "firing", "overfit": "firing"}


def test_prometheus_rendering():
    r = Rule("combo", "not (f1_last_10000 >= 0.9 or latency_p99_seconds * 1000 <= 50)",
             for_count=3, clear_for=120, labels={"team": "ml"})
    with pytest.raises(ValueError, match="evaluation_interval"):
        r.to_prometheus()
    out = r.to_prometheus({"f1_last_10000": "tallyml_f1_ratio"}, evaluation_interval=30)
    assert out["expr"] == ("(tallyml_f1_ratio < 0.9) and on() "
                           "((tallyml_latency_p99_seconds * 1000.0) > 50.0)")
    assert out["for"] == "1m" and out["keep_firing_for"] == "2m"
    assert out["labels"] == {"severity": "warning", "team": "ml"}
    assert Rule("o", "overfitting_detected").to_prometheus()["expr"] == "tallyml_overfitting_detected != 0"
    assert Rule("n", "not overfitting_detected").to_prometheus()["expr"] == \
        "tallyml_overfitting_detected == 0"
    assert Rule("c", "0.1 < psi < 0.2").to_prometheus()["expr"] == \
        "(0.1 < tallyml_psi) and on() (tallyml_psi < 0.2)"
    group = AlertEngine({"psi": "tallyml_score_psi"}, [Rule("p", "psi > 0.2", for_=300)]).to_prometheus()
    assert group["rules"][0]["expr"] == "tallyml_score_psi > 0.2" and group["rules"][0]["for"] == "5m"


@pytest.mark.prometheus
@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_rendered_rules_pass_promtool(tmp_path):
    import json

    e = AlertEngine(KNOWN, [Rule("a", "psi > 0.2", for_count=3), Rule("b", "not overfitting_detected"),
                            Rule("c", "0.1 < gpu_memory_ratio < 0.2 or latency_p99_seconds > 1")])
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps({"groups": [e.to_prometheus(evaluation_interval=60)]}))  # JSON is YAML
    subprocess.run(["promtool", "check", "rules", str(path)], check=True)


def test_bad_arguments():
    with pytest.raises(ValueError, match="for_count"):
        Rule("r", "psi > 1", for_count=0)
    with pytest.raises(ValueError, match="for_"):
        Rule("r", "psi > 1", for_=-1)
    with pytest.raises(ValueError, match="name"):
        Rule("bad name", "psi > 1")
    with pytest.raises(TypeError, match="actions"):
        Rule("r", "psi > 1", actions=[3])
    e = AlertEngine(KNOWN, [Rule("r", "psi > 1")])
    with pytest.raises(ValueError, match="already exists"):
        e.add(Rule("r", "psi > 2"))
    with pytest.raises(ValueError, match="provider"):
        e.evaluate()
    with pytest.raises(TypeError, match="values"):
        e.evaluate([1])
