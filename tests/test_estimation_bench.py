"""The estimation section of ``tallyml bench`` (small inputs): every row checked against the
numpy reference before it is timed, numpy's formulation agreeing with the reference, and the
printed table."""
import numpy as np
import pytest

from tallyml._bench import suite, workloads


def test_estimation_section_runs_and_prints():
    e = suite.estimation(5000, repeat=1, bandwidth=1e10, progress=lambda _msg: None)
    assert [row["key"] for row in e["throughput"]] == list(workloads.EST_WORKLOADS)
    for row in e["throughput"]:
        assert row["tallyml_mitems_s"] > 0 and row["pct_bandwidth"] > 0
        assert row["ratio_numpy"] > 0
    assert set(e["calls_us"]) == {"EstimatedMetrics binary (1024 bins)",
                                  "EstimatedMetrics binary (no histogram)",
                                  "BinaryMetrics (labelled)"}
    text = "\n".join(suite.format_estimation(e))
    for row in e["throughput"]:
        assert row["title"] in text


@pytest.mark.parametrize("key", list(workloads.EST_WORKLOADS))
def test_numpy_formulation_matches_reference(key):
    title, task, make, _n, _bytes, _items, nb, numpy_fn = workloads.EST_WORKLOADS[key]
    d = make(3001, 3)
    want = workloads.est_reference(task, d, nb)
    workloads.est_check(key, numpy_fn(d, nb), want)
    workloads.est_check(key, workloads.est_tallyml(task, d, nb), want)


def test_check_catches_a_wrong_count():
    d = workloads._est_binary_data(2000, 1)
    state, hist = workloads.est_reference("binary", d, 0)
    bad = state.copy()
    bad[1, 1] *= 1 + 1e-6
    with pytest.raises(AssertionError, match="differs"):
        workloads.est_check("x", (bad, hist), (state, hist))
