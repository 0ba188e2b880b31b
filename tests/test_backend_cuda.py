"""The cuda backend (numba.cuda kernels) against the numpy reference, run on the CUDA simulator
(tests/conftest.py sets NUMBA_ENABLE_CUDASIM=1). The simulator runs every GPU thread as a Python
thread, so batches are small and grids tiny; the launch is configured so that every batch still
spans several blocks and several grid-stride rounds."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tallyml._backends import reference as ref
from tallyml._backends import triplet_bins

cuda_backend = pytest.importorskip("tallyml._backends.cuda")

if not cuda_backend.available():  # a CI that lost the simulator must fail loudly, not skip
    raise RuntimeError(f"cuda backend unavailable: {cuda_backend.unavailable_reason()}")

from numba import cuda  # noqa: E402  (after conftest enabled the simulator)

ROOT = Path(__file__).resolve().parents[1]
N = 150
LABEL_DTYPES = [np.bool_, np.int8, np.int32, np.int64]
MC_LABEL_DTYPES = LABEL_DTYPES + [np.uint8, np.int16]


@pytest.fixture(autouse=True)
def _small_grid():
    """16 threads x 3 blocks: a 150-sample batch takes several grid-stride rounds per thread."""
    previous = cuda_backend.configure(threads_per_block=16, max_blocks=3)
    yield
    cuda_backend.configure(**previous)


def _rng(*key):
    # Fixed seeds per test case (str hashes are salted per process; crc32 is not).
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _weights(rng, n, kind):
    if kind is None:
        return None
    if kind == "dyadic":  # every partial sum exact: any atomic order gives the reference's bits
        return rng.integers(0, 9, n) / 4.0
    return rng.random(n) * 3.0


def _labels(rng, shape, high, dtype):
    if dtype is np.bool_:
        return rng.integers(0, 2, shape).astype(bool)
    return rng.integers(0, high, shape).astype(dtype)


def _scores(rng, shape, dtype):
    # A coarse grid of values: ties (argmax's first maximum) and scores equal to the threshold.
    return (rng.integers(0, 8, shape) / 8.0).astype(dtype)


def _chunks(n):
    return [slice(0, n // 3), slice(n // 3, n)]


def _assert_same(got_device, want, weighted_kind):
    got = cuda_backend.to_host(got_device)
    assert got.dtype == want.dtype
    if weighted_kind == "random":
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    else:
        np.testing.assert_array_equal(got, want)


def _run_both(fn_name, make_args, host_states, weight_kind, n=N):
    """Feed the same stream, in two chunks, to the reference (host states) and to the cuda
    backend (device states); return the device states."""
    dev_states = [None if s is None else cuda_backend.to_device_state(s) for s in host_states]
    for sl in _chunks(n):
        args = make_args(sl)
        getattr(ref, fn_name)(*args, *host_states)
        getattr(cuda_backend, fn_name)(*args, *dev_states)
    return dev_states


# ---------------------------------------------------------------------------------------------
# Exact counts


WEIGHT_IGNORE = [(None, None), (None, 1), ("dyadic", 1)]


@pytest.mark.parametrize("weight_kind,ignore_index", WEIGHT_IGNORE)
@pytest.mark.parametrize("dtype", LABEL_DTYPES)
def test_binary_labels_match_reference(dtype, ignore_index, weight_kind):
    rng = _rng("bl", dtype, ignore_index, weight_kind)
    t = _labels(rng, N, 2, dtype)
    p = _labels(rng, N, 2, dtype)
    w = _weights(rng, N, weight_kind)
    acc = np.int64 if w is None else np.float64
    state = np.zeros((2, 2), acc)
    (d_state,) = _run_both("binary_labels",
                           lambda sl: (t[sl], p[sl], None if w is None else w[sl], ignore_index),
                           [state], weight_kind)
    _assert_same(d_state, state, weight_kind)
    assert state.sum() > 0


@pytest.mark.parametrize("weight_kind", [None, "dyadic"])
@pytest.mark.parametrize("dtype,score_dtype", [(np.bool_, np.float32), (np.int8, np.float64),
                                               (np.int32, np.float32), (np.int64, np.float64)])
def test_binary_scores_match_reference(dtype, score_dtype, weight_kind):
    rng = _rng("bs", dtype, score_dtype, weight_kind)
    t = _labels(rng, N, 2, dtype)
    s = _scores(rng, N, score_dtype)
    s[:5] = np.array([0.1, -0.0, 0.0, 1e-30, 0.5], dtype=score_dtype)
    w = _weights(rng, N, weight_kind)
    acc = np.int64 if w is None else np.float64
    ignore_index = None if dtype is np.bool_ else 0
    # Just above float32(0.1): the score 0.1 is below it in float64 but equal to it in float32,
    # so a kernel that compared in float32 would count it positive.
    for threshold in (float(np.float32(0.1)) + 1e-12, 0.0):
        state = np.zeros((2, 2), acc)
        (d_state,) = _run_both(
            "binary_scores",
            lambda sl: (t[sl], s[sl], threshold, None if w is None else w[sl], ignore_index),
            [state], weight_kind)
        _assert_same(d_state, state, weight_kind)


@pytest.mark.parametrize("weight_kind,ignore_index", WEIGHT_IGNORE)
@pytest.mark.parametrize("dtype", MC_LABEL_DTYPES)
def test_multiclass_labels_match_reference(dtype, ignore_index, weight_kind):
    k = 2 if dtype is np.bool_ else 5
    rng = _rng("ml", dtype, ignore_index, weight_kind)
    t = _labels(rng, N, k - 1, dtype)  # label k-1 never in target: seen must come from preds
    p = _labels(rng, N, k, dtype)
    w = _weights(rng, N, weight_kind)
    acc = np.int64 if w is None else np.float64
    state = np.zeros((k, k), acc)
    seen = np.zeros(k, np.uint8)
    d_state, d_seen = _run_both(
        "multiclass_labels",
        lambda sl: (t[sl], p[sl], None if w is None else w[sl], ignore_index),
        [state, seen], weight_kind)
    _assert_same(d_state, state, weight_kind)
    _assert_same(d_seen, seen, None)


@pytest.mark.parametrize("weight_kind", [None, "dyadic"])
@pytest.mark.parametrize("dtype,score_dtype", [(np.int8, np.float32), (np.int32, np.float64),
                                               (np.int64, np.float32), (np.uint8, np.float64)])
def test_multiclass_scores_match_reference(dtype, score_dtype, weight_kind):
    k = 4
    rng = _rng("ms", dtype, score_dtype, weight_kind)
    t = _labels(rng, N, k, dtype)
    s = _scores(rng, (N, k), score_dtype)
    s[0] = 0.5  # an all-tie row: class 0 wins
    w = _weights(rng, N, weight_kind)
    acc = np.int64 if w is None else np.float64
    state = np.zeros((k, k), acc)
    seen = np.zeros(k, np.uint8)
    ignore_index = None if dtype is np.uint8 else 3
    d_state, d_seen = _run_both(
        "multiclass_scores",
        lambda sl: (t[sl], s[sl], None if w is None else w[sl], ignore_index),
        [state, seen], weight_kind)
    _assert_same(d_state, state, weight_kind)
    _assert_same(d_seen, seen, None)


@pytest.mark.parametrize("weight_kind", [None, "dyadic"])
@pytest.mark.parametrize("dtype", LABEL_DTYPES)
def test_multilabel_labels_match_reference(dtype, weight_kind):
    n_labels = 5
    rng = _rng("mll", dtype, weight_kind)
    t = _labels(rng, (N, n_labels), 2, dtype)
    p = _labels(rng, (N, n_labels), 2, dtype)
    w = _weights(rng, N, weight_kind)
    acc = np.int64 if w is None else np.float64
    state = np.zeros((n_labels, 2, 2), acc)
    samples = np.zeros(triplet_bins(n_labels), acc)
    d_state, d_samples = _run_both(
        "multilabel_labels", lambda sl: (t[sl], p[sl], None if w is None else w[sl]),
        [state, samples], weight_kind)
    _assert_same(d_state, state, weight_kind)
    _assert_same(d_samples, samples, weight_kind)


@pytest.mark.parametrize("weight_kind", [None, "dyadic"])
@pytest.mark.parametrize("dtype,score_dtype", [(np.bool_, np.float32), (np.int8, np.float64),
                                               (np.int64, np.float32)])
def test_multilabel_scores_match_reference(dtype, score_dtype, weight_kind):
    n_labels = 6
    rng = _rng("mls", dtype, score_dtype, weight_kind)
    t = _labels(rng, (N, n_labels), 2, dtype)
    s = _scores(rng, (N, n_labels), score_dtype)
    w = _weights(rng, N, weight_kind)
    acc = np.int64 if w is None else np.float64
    state = np.zeros((n_labels, 2, 2), acc)
    samples = np.zeros(triplet_bins(n_labels), acc)
    d_state, d_samples = _run_both(
        "multilabel_scores", lambda sl: (t[sl], s[sl], 0.375, None if w is None else w[sl]),
        [state, samples], weight_kind)
    _assert_same(d_state, state, weight_kind)
    _assert_same(d_samples, samples, weight_kind)


def test_random_float_weights_match_to_rounding():
    # Float atomics add in no fixed order: equal to rounding, not bit for bit.
    rng = _rng("float-weights")
    k = 3
    t = _labels(rng, N, k, np.int32)
    p = _labels(rng, N, k, np.int32)
    w = _weights(rng, N, "random")
    state = np.zeros((k, k))
    (d_state,) = _run_both("multiclass_labels",
                           lambda sl: (t[sl], p[sl], w[sl], None), [state, None], "random")[:1]
    _assert_same(d_state, state, "random")


def test_bins_beyond_shared_memory_use_global_atomics(monkeypatch):
    """With a shared-memory budget smaller than the bins, the global-atomics kernels run; they
    must count exactly the same."""
    from tallyml._backends import _cuda_kernels

    picked = []
    real = _cuda_kernels.binned_kernel

    def spy(task, acc_name, shared):
        picked.append(shared)
        return real(task, acc_name, shared)

    monkeypatch.setattr(_cuda_kernels, "binned_kernel", spy)
    cuda_backend.configure(max_shared_bytes=64)
    rng = _rng("global")
    k, n_labels = 6, 4
    t = _labels(rng, N, k, np.int32)
    s = _scores(rng, (N, k), np.float32)
    w = _weights(rng, N, "dyadic")
    state = np.zeros((k, k))
    seen = np.zeros(k, np.uint8)
    d_state, d_seen = _run_both("multiclass_scores",
                                lambda sl: (t[sl], s[sl], w[sl], 0), [state, seen], "dyadic")
    _assert_same(d_state, state, None)
    _assert_same(d_seen, seen, None)

    tl = _labels(rng, (N, n_labels), 2, np.int8)
    pl = _labels(rng, (N, n_labels), 2, np.int8)
    state = np.zeros((n_labels, 2, 2), np.int64)
    samples = np.zeros(triplet_bins(n_labels), np.int64)
    d_state, d_samples = _run_both("multilabel_labels", lambda sl: (tl[sl], pl[sl], None),
                                   [state, samples], None)
    _assert_same(d_state, state, None)
    _assert_same(d_samples, samples, None)
    assert picked and not any(picked)


def test_one_block_one_thread_and_many_blocks_agree():
    rng = _rng("grid")
    k = 3
    t = _labels(rng, 60, k, np.int64)
    p = _labels(rng, 60, k, np.int64)
    want = np.zeros((k, k), np.int64)
    ref.multiclass_labels(t, p, None, None, want, None)
    tb = (t % 2).astype(np.int8)
    want_binary = np.zeros((2, 2), np.int64)
    ref.binary_labels(tb, tb[::-1].copy(), None, None, want_binary)
    for tpb, blocks in ((1, 1), (2, 3), (8, 8)):  # binary: fewer threads than its 4 bins
        cuda_backend.configure(threads_per_block=tpb, max_blocks=blocks)
        d_state = cuda_backend.device_zeros((k, k), np.int64)
        cuda_backend.multiclass_labels(t, p, None, None, d_state, None)
        _assert_same(d_state, want, None)
        d_binary = cuda_backend.device_zeros((2, 2), np.int64)
        cuda_backend.binary_labels(tb, tb[::-1].copy(), None, None, d_binary)
        _assert_same(d_binary, want_binary, None)


def test_ignore_index_outside_int64_ignores_nothing():
    t = np.array([0, 1, 1], np.int64)
    want = np.zeros((2, 2), np.int64)
    ref.binary_labels(t, t, None, 2**70, want)
    d_state = cuda_backend.device_zeros((2, 2), np.int64)
    cuda_backend.binary_labels(t, t, None, 2**70, d_state)
    _assert_same(d_state, want, None)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_streams_any_chunking(data):
    k = data.draw(st.integers(1, 4), label="k")
    n = data.draw(st.integers(0, 40), label="n")
    t = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)), np.int32)
    p = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)), np.int32)
    cut = data.draw(st.integers(0, n), label="cut")
    ignore_index = data.draw(st.sampled_from([None, 0, k - 1]), label="ignore_index")
    want = np.zeros((k, k), np.int64)
    want_seen = np.zeros(k, np.uint8)
    ref.multiclass_labels(t, p, None, ignore_index, want, want_seen)
    d_state = cuda_backend.device_zeros((k, k), np.int64)
    d_seen = cuda_backend.device_zeros(k, np.uint8)
    for sl in (slice(0, cut), slice(cut, n)):
        cuda_backend.multiclass_labels(t[sl], p[sl], None, ignore_index, d_state, d_seen)
    _assert_same(d_state, want, None)
    _assert_same(d_seen, want_seen, None)


def test_concurrent_updates_from_threads_lose_nothing():
    """Each host thread has its own scratch and error slot; their sums all reach the state."""
    rng = _rng("threads")
    k = 3
    batches = [(_labels(rng, 40, k, np.int32), _labels(rng, 40, k, np.int32)) for _ in range(6)]
    want = np.zeros((k, k), np.int64)
    for t, p in batches:
        ref.multiclass_labels(t, p, None, None, want, None)
    d_state = cuda_backend.device_zeros((k, k), np.int64)
    errors = []

    def work(mine):
        try:
            for t, p in mine:
                cuda_backend.multiclass_labels(t, p, None, None, d_state, None)
        except Exception as exc:  # surfaced below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(batches[i::3],)) for i in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    _assert_same(d_state, want, None)


def test_all_ignored_and_empty_batches_change_nothing():
    t = np.ones(20, np.int64)
    p = np.zeros(20, np.int64)
    d_state = cuda_backend.to_device_state(np.array([[1, 2], [3, 4]], np.int64))
    cuda_backend.binary_labels(t, p, None, 1, d_state)
    cuda_backend.binary_labels(t[:0], p[:0], None, None, d_state)
    np.testing.assert_array_equal(cuda_backend.to_host(d_state), [[1, 2], [3, 4]])


# ---------------------------------------------------------------------------------------------
# Device-resident inputs and state


def test_device_inputs_and_state_stay_on_device():
    rng = _rng("device")
    k = 4
    t = _labels(rng, N, k, np.int32)
    s = _scores(rng, (N, k), np.float32)
    w = _weights(rng, N, "dyadic")
    want = np.zeros((k, k))
    ref.multiclass_scores(t, s, w, None, want, None)
    d_state = cuda_backend.device_zeros((k, k), np.float64)
    for sl in _chunks(N):
        args = [cuda.to_device(a[sl]) for a in (t, s, w)]
        cuda_backend.multiclass_scores(args[0], args[1], args[2], None, d_state, None)
        assert getattr(d_state, "__cuda_ndarray__", False)  # still a device array
    _assert_same(d_state, want, None)


def test_host_state_is_rejected():
    t = np.zeros(4, np.int8)
    host_state = np.zeros((2, 2), np.int64)
    with pytest.raises(TypeError, match="state must be a CUDA device array"):
        cuda_backend.binary_labels(t, t, None, None, host_state)
    assert host_state.sum() == 0


def test_state_dtype_must_match_weighting():
    t = np.zeros(4, np.int8)
    d_state = cuda_backend.device_zeros((2, 2), np.int64)
    with pytest.raises(TypeError, match="state must have dtype float64"):
        cuda_backend.binary_labels(t, t, np.ones(4), None, d_state)
    d_weighted = cuda_backend.device_zeros((2, 2), np.float64)
    with pytest.raises(TypeError, match="sample_weight must have dtype float64"):
        cuda_backend.binary_labels(t, t, np.ones(4, np.float32), None, d_weighted)
    assert cuda_backend.to_host(d_weighted).sum() == 0
    d_seen = cuda_backend.device_zeros(3, np.int64)
    d_state3 = cuda_backend.device_zeros((3, 3), np.int64)
    with pytest.raises(TypeError, match="seen must have dtype uint8"):
        cuda_backend.multiclass_labels(t, t, None, None, d_state3, d_seen)


def test_shape_mismatch_is_rejected_before_launch():
    t = np.zeros(4, np.int8)
    d_state = cuda_backend.device_zeros((2, 2), np.int64)
    with pytest.raises(ValueError, match="preds must have 4 rows"):
        cuda_backend.binary_labels(t, t[:3], None, None, d_state)
    with pytest.raises(ValueError, match=re.escape("preds must have shape (N, 3)")):
        cuda_backend.multiclass_scores(t, np.zeros((4, 2)), None, None,
                                       cuda_backend.device_zeros((3, 3), np.int64), None)


def test_to_host_round_trip():
    a = np.arange(12, dtype=np.float64).reshape(3, 2, 2)
    d = cuda_backend.to_device_state(a)
    assert getattr(d, "__cuda_ndarray__", False)
    np.testing.assert_array_equal(cuda_backend.to_host(d), a)


# ---------------------------------------------------------------------------------------------
# Bad values: the reference's exact message, and nothing changes


def _expect_same_error(fn_name, args, host_states):
    """Run the reference on copies to learn the expected message, then the cuda backend on
    device copies of the same (non-zero) states; they must raise the same and keep the states."""
    ref_states = [None if s is None else s.copy() for s in host_states]
    with pytest.raises(ValueError) as want:
        getattr(ref, fn_name)(*args, *ref_states)
    dev_states = [None if s is None else cuda_backend.to_device_state(s) for s in host_states]
    with pytest.raises(ValueError) as got:
        getattr(cuda_backend, fn_name)(*args, *dev_states)
    assert str(got.value) == str(want.value)
    for d, s in zip(dev_states, host_states):
        if d is not None:
            np.testing.assert_array_equal(cuda_backend.to_host(d), s)
    return dev_states


def _nonzero(shape, dtype):
    return (np.arange(int(np.prod(shape))) % 5 + 1).astype(dtype).reshape(shape)


BINARY_CASES = [  # (what to corrupt, row, value)
    ("target", 37, 2), ("target", 0, -1), ("preds", 149, 5), ("weight", 12, -1.0),
    ("weight", 80, np.nan), ("weight", 3, np.inf),
]


@pytest.mark.parametrize("what,row,value", BINARY_CASES)
def test_binary_labels_bad_values(what, row, value):
    rng = _rng("bad-bl", what, row)
    t = _labels(rng, N, 2, np.int8)
    p = _labels(rng, N, 2, np.int8)
    w = _weights(rng, N, "dyadic")
    {"target": t, "preds": p, "weight": w}[what][row] = value
    t[min(row + 1, N - 1)] = 9  # a later bad row (or the same row's target) must win as in ref
    _expect_same_error("binary_labels", (t, p, w, None), [_nonzero((2, 2), np.float64)])


def test_bad_value_in_ignored_row_is_not_reported():
    t = np.zeros(N, np.int64)
    p = np.zeros(N, np.int64)
    t[10] = 7  # ignored: target == ignore_index
    p[10] = 9
    p[50] = 3
    _expect_same_error("binary_labels", (t, p, None, 7), [_nonzero((2, 2), np.int64)])


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("score_dtype", [np.float32, np.float64])
def test_binary_scores_bad_values(score_dtype, value):
    rng = _rng("bad-bs", score_dtype, value)
    t = _labels(rng, N, 2, np.int32)
    s = _scores(rng, N, score_dtype)
    s[66] = value
    s[67] = np.nan
    t[66] = 2  # the same row: target is reported before preds
    s[20] = value
    _expect_same_error("binary_scores", (t, s, 0.5, None, None), [_nonzero((2, 2), np.int64)])


@pytest.mark.parametrize("where", ["target", "preds", "negative"])
def test_multiclass_labels_bad_values(where):
    k = 4
    rng = _rng("bad-ml", where)
    t = _labels(rng, N, k, np.int16)
    p = _labels(rng, N, k, np.int16)
    if where == "negative":
        p[90] = -3
    else:
        {"target": t, "preds": p}[where][90] = k
    p[120] = k + 10
    states = [_nonzero((k, k), np.int64), np.array([1, 0, 0, 0], np.uint8)]
    _expect_same_error("multiclass_labels", (t, p, None, None), states)


def test_multiclass_scores_bad_score_reports_lowest_column():
    k = 5
    rng = _rng("bad-ms")
    t = _labels(rng, N, k, np.int64)
    s = _scores(rng, (N, k), np.float32)
    s[44, 3] = np.inf
    s[44, 1] = np.nan
    s[100, 0] = np.nan
    w = _weights(rng, N, "dyadic")
    w[44] = -2.0  # same row: preds before sample_weight
    states = [_nonzero((k, k), np.float64), np.zeros(k, np.uint8)]
    _expect_same_error("multiclass_scores", (t, s, w, None), states)


@pytest.mark.parametrize("where", ["target", "preds", "weight"])
def test_multilabel_bad_values(where):
    n_labels = 4
    rng = _rng("bad-mll", where)
    t = _labels(rng, (N, n_labels), 2, np.int8)
    p = _labels(rng, (N, n_labels), 2, np.int8)
    s = _scores(rng, (N, n_labels), np.float64)
    w = _weights(rng, N, "dyadic")
    if where == "target":
        t[71, 2] = 2
        t[71, 3] = -1
    elif where == "preds":
        p[71, 1] = 3
        s[71, 1] = np.nan
    else:
        w[71] = np.nan
    t[140, 0] = 5
    states = [_nonzero((n_labels, 2, 2), np.float64), _nonzero(triplet_bins(n_labels), np.float64)]
    _expect_same_error("multilabel_labels", (t, p, w), states)
    if where != "target":
        _expect_same_error("multilabel_scores", (t, s, 0.5, w), states)


def test_update_after_error_counts_normally():
    t = np.array([0, 1, 1, 0], np.int8)
    bad = np.array([0, 1, 2, 0], np.int8)
    d_state = cuda_backend.device_zeros((2, 2), np.int64)
    with pytest.raises(ValueError, match=re.escape("preds[2] = 2 is outside [0, 2)")):
        cuda_backend.binary_labels(t, bad, None, None, d_state)
    cuda_backend.binary_labels(t, t, None, None, d_state)  # the error slot was reset
    np.testing.assert_array_equal(cuda_backend.to_host(d_state), [[2, 0], [0, 2]])


def test_bad_value_on_device_input_is_read_back():
    t = np.zeros(30, np.int32)
    p = np.zeros(30, np.int32)
    p[17] = -4
    d_state = cuda_backend.device_zeros((3, 3), np.int64)
    with pytest.raises(ValueError, match=re.escape("preds[17] = -4 is outside [0, 3)")):
        cuda_backend.multiclass_labels(cuda.to_device(t), cuda.to_device(p), None, None, d_state,
                                       None)
    assert cuda_backend.to_host(d_state).sum() == 0


# ---------------------------------------------------------------------------------------------
# Availability and laziness


def test_unavailable_gpu_raises_clear_error(monkeypatch):
    monkeypatch.setattr(cuda_backend, "_loaded", {})
    monkeypatch.setattr(cuda, "is_available", lambda: False)
    monkeypatch.setattr(cuda, "cuda_error", lambda: "CUDA driver library cannot be found")
    assert not cuda_backend.available()
    assert "CUDA driver library cannot be found" in cuda_backend.unavailable_reason()
    with pytest.raises(cuda_backend.CudaUnavailableError, match="no usable CUDA GPU"):
        cuda_backend.binary_labels(np.zeros(2, np.int8), np.zeros(2, np.int8), None, None,
                                   np.zeros((2, 2), np.int64))
    assert issubclass(cuda_backend.CudaUnavailableError, RuntimeError)


def test_importing_the_backend_does_not_import_numba():
    code = ("import sys, tallyml, tallyml._backends.cuda as c; "
            "assert 'numba' not in sys.modules, 'numba imported'; print('ok')")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# ---------------------------------------------------------------------------------------------
# The device benchmark script must not rot: run it at toy size on the simulator


def test_gpu_check_quick_runs_on_simulator(tmp_path):
    out = tmp_path / "gpu.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"), NUMBA_ENABLE_CUDASIM="1")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--quick",
                           "--n", "64", "--check-n", "40", "--repeats", "1", "--json", str(out)],
                          env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report["simulator"] is True
    names = {r["kernel"] for r in report["results"]}
    assert {"binary_labels", "binary_scores", "multiclass_labels", "multiclass_scores",
            "multilabel_labels", "multilabel_scores"} <= names
    assert all(r["exact"] for r in report["results"])
    assert report["threads_exact"] is True
    assert "| kernel |" in proc.stdout
