"""Every kernel backend against the numpy reference (``tallyml._backends.reference``).

Unweighted (int64) counts must be equal exactly. Weighted (float64) counts are compared to 1e-12
relative: a backend may sum a bin's weights in another order than ``np.bincount``. An error must
carry exactly the reference's message and leave every output array as it was.

Compile time: each (function, dtype pair, weighted) combination is a numba compilation, so the
dtype pairs below cover every dtype of the contract once rather than their full product, and the
random-stream tests draw from the same combinations.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tallyml import _backends
from tallyml._backends import reference, triplet_bins


def _native_available() -> bool:
    # the native bridge and its backend module are written separately; skip until both exist
    if importlib.util.find_spec("tallyml._backends.native") is None:
        return False
    try:
        return bool(_backends.native_available())
    except ImportError:
        return False


BACKEND_NAMES = [
    pytest.param("native", marks=pytest.mark.skipif(
        not _native_available(), reason="native library or tallyml._backends.native missing")),
    "numba",
    "numpy",
]


@pytest.fixture(params=BACKEND_NAMES)
def backend(request):
    return _backends.load(request.param)


@pytest.fixture
def numba_backend():
    return _backends.load("numba")


B, I8, U8, I16, I32, I64 = np.bool_, np.int8, np.uint8, np.int16, np.int32, np.int64
F32, F64 = np.float32, np.float64

# (target dtype, preds dtype); every dtype of the contract appears on both sides
DTYPES = {
    "binary_labels": [(B, B), (I8, I64), (I32, I8), (I64, I32)],
    "binary_scores": [(B, F32), (I8, F64), (I32, F32), (I64, F64)],
    "multiclass_labels": [(U8, U8), (I8, I16), (I16, I32), (I32, I64), (I64, I8), (B, B)],
    "multiclass_scores": [(B, F32), (I8, F64), (U8, F32), (I16, F64), (I32, F32), (I64, F64)],
    "multilabel_labels": [(B, B), (I8, I64), (I32, I8), (I64, I32)],
    "multilabel_scores": [(B, F32), (I8, F64), (I32, F32), (I64, F64)],
}
# positions of the output arrays in each function's positional arguments
OUTPUTS = {
    "binary_labels": (4,),
    "binary_scores": (5,),
    "multiclass_labels": (4, 5),
    "multiclass_scores": (4, 5),
    "multilabel_labels": (3, 4),
    "multilabel_scores": (4, 5),
}
WEIGHT_POS = {"binary_labels": 2, "binary_scores": 3, "multiclass_labels": 2,
              "multiclass_scores": 2, "multilabel_labels": 2, "multilabel_scores": 3}


def _combos():
    """(function, dtype pair, weighted): every pair unweighted, the first two also weighted."""
    out = []
    for fn, pairs in DTYPES.items():
        for i, pair in enumerate(pairs):
            out.append((fn, pair, False))
            if i < 2:
                out.append((fn, pair, True))
    return out


COMBOS = _combos()


def _combo_id(c):
    fn, (tdt, pdt), weighted = c
    return f"{fn}-{np.dtype(tdt).name}-{np.dtype(pdt).name}-{'w' if weighted else 'u'}"


# --------------------------------------------------------------------------------------------
# building inputs


def _ignore_value(dtype, high):
    """An ignore_index the target dtype can hold, outside [0, high) when it can be."""
    if dtype == B:
        return 1
    if dtype == U8:
        return 255
    return -1 if dtype == I8 else -100


def _labels(rng, shape, high, dtype):
    if dtype == B:
        return rng.integers(0, 2, shape).astype(B)
    high = min(high, int(np.iinfo(dtype).max) + 1)  # valid labels the dtype can hold
    return rng.integers(0, max(high, 1), shape).astype(dtype)


def _scores(rng, shape, dtype, ties):
    """Uniform scores, or (ties) values from a small grid so that equal scores and scores exactly
    at the threshold are common, including -0.0 against 0.0."""
    if ties:
        grid = np.array([-0.0, 0.0, 0.1, 0.25, 0.5, 0.5, 0.75, 1.0], dtype=F64)
        return grid[rng.integers(0, len(grid), shape)].astype(dtype)
    return rng.random(shape).astype(dtype)


def _weights(rng, n):
    w = rng.random(n) * 3.0
    w[rng.random(n) < 0.1] = 0.0
    return w


def _with_ignored(rng, target, ignore_index, frac=0.2):
    t = target.copy()
    mask = rng.random(t.shape[0]) < frac
    t[mask] = ignore_index
    return t


def _prior_state(rng, shape, weighted):
    """A non-zero starting state, so that the backends are seen to add into it."""
    if weighted:
        return rng.random(shape) * 10.0
    return rng.integers(0, 50, shape).astype(np.int64)


def make_case(rng, fn, pair, weighted, n, *, k=3, n_labels=4, ignore=False, ties=False,
              threshold=0.5, seen=True):
    """Positional arguments of ``fn`` for a random valid batch (before any error is injected)."""
    tdt, pdt = pair
    w = _weights(rng, n) if weighted else None
    if fn.startswith("binary"):
        target = _labels(rng, n, 2, tdt)
        ig = _ignore_value(tdt, 2) if ignore else None
        if ig is not None:
            target = _with_ignored(rng, target, ig)
        state = _prior_state(rng, (2, 2), weighted)
        if fn == "binary_labels":
            return [target, _labels(rng, n, 2, pdt), w, ig, state]
        return [target, _scores(rng, n, pdt, ties), threshold, w, ig, state]
    if fn.startswith("multiclass"):
        if tdt == B:
            k = 2
        target = _labels(rng, n, k, tdt)
        ig = _ignore_value(tdt, k) if ignore else None
        if ig is not None:
            target = _with_ignored(rng, target, ig)
        state = _prior_state(rng, (k, k), weighted)
        seen_arr = (rng.random(k) < 0.3).astype(np.uint8) if seen else None
        if fn == "multiclass_labels":
            preds = _labels(rng, n, k, pdt)
        else:
            preds = _scores(rng, (n, k), pdt, ties)
        return [target, preds, w, ig, state, seen_arr]
    target = _labels(rng, (n, n_labels), 2, tdt)
    state = _prior_state(rng, (n_labels, 2, 2), weighted)
    samples = _prior_state(rng, triplet_bins(n_labels), weighted)
    if fn == "multilabel_labels":
        return [target, _labels(rng, (n, n_labels), 2, pdt), w, state, samples]
    return [target, _scores(rng, (n, n_labels), pdt, ties), threshold, w, state, samples]


def _high(fn, args):
    return args[4].shape[0] if fn.startswith("multiclass") else 2


def _bad_labels(dtype, high):
    if dtype == B:
        return []
    info = np.iinfo(dtype)
    cands = [-1, high, high + 5, int(info.max), int(info.min)]
    return [v for v in cands if info.min <= v <= info.max and (v < 0 or v >= high)]


BAD_SCORES = [np.nan, np.inf, -np.inf]
BAD_WEIGHTS = [np.nan, np.inf, -np.inf, -1.0, -5e-324]


def inject(rng, fn, args, what, row, col=0, value_index=0):
    """Put a bad value into target / preds / sample_weight at (row, col); returns False when the
    argument's dtype cannot hold a bad value (bool labels, or no weights)."""
    high = _high(fn, args)
    if what == "weight":
        w = args[WEIGHT_POS[fn]]
        if w is None:
            return False
        w[row] = BAD_WEIGHTS[value_index % len(BAD_WEIGHTS)]
        return True
    arr = args[0] if what == "target" else args[1]
    if arr.dtype.kind == "f":
        value = BAD_SCORES[value_index % len(BAD_SCORES)]
    else:
        bad = _bad_labels(arr.dtype.type, high)
        if what == "target" and len(args) > 3 and not fn.startswith("multilabel"):
            ig = args[3] if fn != "binary_scores" else args[4]
            bad = [v for v in bad if v != ig]
        if not bad:
            return False
        value = bad[value_index % len(bad)]
    if arr.ndim == 2:
        arr[row, col % arr.shape[1]] = value
    else:
        arr[row] = value
    return True


# --------------------------------------------------------------------------------------------
# comparing a backend with the reference


def _assert_same_counts(got, want, what):
    assert got.dtype == want.dtype and got.shape == want.shape, what
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def _run(mod, fn, args, num_threads=0):
    """Call mod.fn on copies of the outputs; return (error message or None, outputs). On error,
    check that the outputs (and the inputs) are exactly as they were."""
    a = list(args)
    for i in OUTPUTS[fn]:
        if a[i] is not None:
            a[i] = a[i].copy()
    before = [x.copy() if isinstance(x, np.ndarray) else x for x in a]
    try:
        getattr(mod, fn)(*a, num_threads=num_threads)
        err = None
    except ValueError as e:
        err = str(e)
        for i in OUTPUTS[fn]:
            if a[i] is not None:
                np.testing.assert_array_equal(a[i], before[i], err_msg=f"output {i} changed")
    for i, x in enumerate(a):
        if isinstance(x, np.ndarray) and i not in OUTPUTS[fn]:
            np.testing.assert_array_equal(x, before[i], err_msg=f"input {i} changed")
    return err, [a[i] for i in OUTPUTS[fn]]


def check_against_reference(mod, fn, args, num_threads=0):
    want_err, want = _run(reference, fn, args)
    got_err, got = _run(mod, fn, args, num_threads)
    assert got_err == want_err
    for g, w in zip(got, want):
        if w is None:
            assert g is None
        else:
            _assert_same_counts(g, w, fn)
    return want_err, got


# --------------------------------------------------------------------------------------------
# valid batches


@pytest.mark.parametrize("combo", COMBOS, ids=_combo_id)
@pytest.mark.parametrize("ignore", [False, True], ids=["all", "ignore"])
def test_random_batches(backend, combo, ignore):
    fn, pair, weighted = combo
    if ignore and fn.startswith("multilabel"):
        pytest.skip("multilabel functions take no ignore_index")
    rng = np.random.default_rng(zlib.crc32(f"{_combo_id(combo)}-{ignore}".encode()))
    for n in (0, 1, 2, 37, 1000):
        args = make_case(rng, fn, pair, weighted, n, k=5, ignore=ignore)
        assert check_against_reference(backend, fn, args)[0] is None


@pytest.mark.parametrize("weighted", [False, True], ids=["u", "w"])
@pytest.mark.parametrize("pair", DTYPES["binary_scores"][:2], ids=["f32", "f64"])
def test_binary_threshold_ties(backend, pair, weighted):
    """Scores exactly at the threshold count as positive; float32 scores are compared after
    widening to float64 (float32(0.1) > 0.1)."""
    rng = np.random.default_rng(1)
    for threshold in (0.5, 0.1, 0.0, -0.0, 1.0, 0.25, np.nextafter(0.5, 1.0), np.inf, -np.inf):
        args = make_case(rng, "binary_scores", pair, weighted, 300, ties=True,
                         threshold=float(threshold))
        check_against_reference(backend, "binary_scores", args)


@pytest.mark.parametrize("pair", DTYPES["multiclass_scores"][:2], ids=["f32", "f64"])
def test_multiclass_argmax_ties(backend, pair):
    """All-equal rows, repeated maxima and -0.0 against 0.0: the first maximum wins."""
    rng = np.random.default_rng(2)
    args = make_case(rng, "multiclass_scores", pair, False, 400, k=6, ties=True)
    scores = args[1]
    scores[:50] = 0.5
    scores[50:60] = -0.0
    scores[60:70, ::2] = 0.0
    scores[70:80, :] = scores[70:80, :1]
    check_against_reference(backend, "multiclass_scores", args)


@pytest.mark.parametrize("fn", ["multiclass_labels", "multiclass_scores"])
@pytest.mark.parametrize("k", [1, 2, 100, 1000])
@pytest.mark.parametrize("weighted", [False, True], ids=["u", "w"])
def test_multiclass_num_classes(backend, fn, k, weighted):
    """Single class, two classes, and a large state (batches smaller and larger than K * K)."""
    rng = np.random.default_rng(k)
    pair = DTYPES[fn][3 if fn == "multiclass_labels" else 4] if not weighted else DTYPES[fn][1]
    # batches below and above K * K (validate-then-count vs. partial histograms)
    for n in (1, 300, 3000) + ((2 * k * k,) if k <= 100 else ()):
        for seen in (True, False):
            args = make_case(rng, fn, pair, weighted, n, k=k, ignore=True, seen=seen)
            check_against_reference(backend, fn, args)


@pytest.mark.parametrize("fn", ["multilabel_labels", "multilabel_scores"])
@pytest.mark.parametrize("n_labels", [1, 3, 40])
@pytest.mark.parametrize("weighted", [False, True], ids=["u", "w"])
def test_multilabel_num_labels(backend, fn, n_labels, weighted):
    rng = np.random.default_rng(n_labels)
    pair = DTYPES[fn][1]
    for n in (0, 1, 50, 2000):
        args = make_case(rng, fn, pair, weighted, n, n_labels=n_labels, ties=True)
        check_against_reference(backend, fn, args)


def test_all_ignored_and_weight_zero(backend):
    rng = np.random.default_rng(3)
    args = make_case(rng, "multiclass_labels", (I32, I64), True, 100, k=4)
    args[0][:] = -100
    args[3] = -100
    check_against_reference(backend, "multiclass_labels", args)
    # weight 0 still marks the labels as seen
    args = make_case(rng, "multiclass_labels", (I32, I64), True, 100, k=4)
    args[2][:] = 0.0
    args[5][:] = 0
    check_against_reference(backend, "multiclass_labels", args)


# --------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize("combo", COMBOS, ids=_combo_id)
def test_errors(backend, combo):
    """One bad value, several bad values in one row (target before preds before sample_weight,
    lowest column first), bad values in ignored rows (not reported)."""
    fn, pair, weighted = combo
    rng = np.random.default_rng(zlib.crc32(_combo_id(combo).encode()))
    whats = ["target", "preds", "weight"]
    for trial in range(12):
        n = int(rng.integers(1, 200))
        ignore = trial % 3 == 1 and not fn.startswith("multilabel")
        args = make_case(rng, fn, pair, weighted, n, k=4, ignore=ignore)
        injected = False
        for _ in range(1 + trial % 3):
            row = int(rng.integers(0, n))
            what = whats[int(rng.integers(0, 3))]
            injected |= inject(rng, fn, args, what, row, int(rng.integers(0, 8)),
                               int(rng.integers(0, 8)))
        if trial % 4 == 0:  # several arguments bad in the same row
            row = int(rng.integers(0, n))
            for what in whats[::-1]:
                injected |= inject(rng, fn, args, what, row, 3 - trial % 3, trial)
        err, _ = check_against_reference(backend, fn, args)
        if injected and not ignore:
            assert err is not None


@pytest.mark.parametrize("fn", list(DTYPES))
def test_error_in_last_sample(backend, fn):
    rng = np.random.default_rng(4)
    pair = DTYPES[fn][1]
    args = make_case(rng, fn, pair, True, 500, k=4)
    inject(rng, fn, args, "weight", 499)
    err, _ = check_against_reference(backend, fn, args)
    assert err is not None and "[499]" in err


# --------------------------------------------------------------------------------------------
# random streams: one state fed batch after batch, errors included


@st.composite
def streams(draw, combos=tuple(COMBOS)):
    combo = draw(st.sampled_from(combos))
    fn = combo[0]
    batches = []
    for _ in range(draw(st.integers(1, 4))):
        batches.append(dict(
            n=draw(st.integers(0, 60)),
            seed=draw(st.integers(0, 2**32 - 1)),
            ignore=draw(st.booleans()) and not fn.startswith("multilabel"),
            ties=draw(st.booleans()),
            bad=draw(st.sampled_from([None, None, "target", "preds", "weight"])),
            value_index=draw(st.integers(0, 7)),
            threshold=draw(st.sampled_from([0.5, 0.1, 0.0, 1.0])),
        ))
    return combo, draw(st.integers(1, 6)), draw(st.integers(1, 5)), batches


def _feed(mod, combo, k, n_labels, batches, num_threads=0):
    fn, pair, weighted = combo
    outs = None
    errors = []
    for b in batches:
        rng = np.random.default_rng(b["seed"])
        args = make_case(rng, fn, pair, weighted, b["n"], k=k, n_labels=n_labels,
                         ignore=b["ignore"], ties=b["ties"], threshold=b["threshold"])
        if b["bad"] and b["n"]:
            inject(rng, fn, args, b["bad"], int(rng.integers(0, b["n"])),
                   int(rng.integers(0, 8)), b["value_index"])
        if outs is None:
            outs = [args[i] for i in OUTPUTS[fn]]
        for i, o in zip(OUTPUTS[fn], outs):
            args[i] = o  # the same state across the stream
        try:
            getattr(mod, fn)(*args, num_threads=num_threads)
            errors.append(None)
        except ValueError as e:
            errors.append(str(e))
    return errors, outs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams())
def test_random_streams(stream):
    combo, k, n_labels, batches = stream
    want_errors, want = _feed(reference, combo, k, n_labels, batches)
    for name in ("numba",) + (("native",) if _native_available() else ()):
        got_errors, got = _feed(_backends.load(name), combo, k, n_labels, batches)
        assert got_errors == want_errors, name
        for g, w in zip(got, want):
            if w is not None:
                _assert_same_counts(g, w, name)


# --------------------------------------------------------------------------------------------
# large batches: the threaded path


LARGE = [
    ("binary_labels", DTYPES["binary_labels"][1], False, dict(n=(1 << 20) + 3)),
    ("binary_scores", DTYPES["binary_scores"][0], False, dict(n=(1 << 20) + 3, ignore=True)),
    ("binary_scores", DTYPES["binary_scores"][1], True, dict(n=(1 << 20) + 3)),
    ("multiclass_labels", DTYPES["multiclass_labels"][3], False, dict(n=(1 << 20) + 5, k=10,
                                                                      ignore=True)),
    ("multiclass_labels", DTYPES["multiclass_labels"][1], True, dict(n=(1 << 20) + 5, k=10)),
    ("multiclass_scores", DTYPES["multiclass_scores"][4], False, dict(n=(1 << 17) + 7, k=9)),
    ("multilabel_scores", DTYPES["multilabel_scores"][1], True, dict(n=(1 << 17) + 7,
                                                                     n_labels=9)),
    ("multilabel_labels", DTYPES["multilabel_labels"][3], False, dict(n=(1 << 17) + 7,
                                                                      n_labels=9)),
]


@pytest.mark.parametrize("fn, pair, weighted, kw", LARGE, ids=[f"{c[0]}-{c[2]}" for c in LARGE])
def test_large_batches_threads(backend, fn, pair, weighted, kw):
    """Batches above the thread threshold: 1 and 2 threads give identical states (weighted ones
    too), equal to the reference; an error only in the last chunk is still reported, and a bad
    value in the first sample wins over one in the last."""
    if backend is reference:
        pytest.skip("the reference has no threaded path")
    rng = np.random.default_rng(5)
    kw = dict(kw)
    n = kw.pop("n")
    args = make_case(rng, fn, pair, weighted, n, **kw)
    _, one = check_against_reference(backend, fn, args, num_threads=1)
    _, two = _run(backend, fn, args, num_threads=2)
    for a, b in zip(one, two):
        if a is not None:
            np.testing.assert_array_equal(a, b)
    what = "target" if pair[0] != B else ("weight" if weighted else "preds")
    args[0][0] = 0  # neither row may be ignored
    args[0][n - 1] = 0
    assert inject(rng, fn, args, what, n - 1, 0, 0)
    err, _ = check_against_reference(backend, fn, args, num_threads=2)
    assert err is not None and f"[{n - 1}" in err
    assert inject(rng, fn, args, "preds", 0, 0, 1)
    err, _ = check_against_reference(backend, fn, args, num_threads=2)
    assert err is not None and err.startswith("preds[0")


# --------------------------------------------------------------------------------------------
# the numba backend's own behaviour


@pytest.fixture
def small_chunks(numba_backend, monkeypatch):
    """Threads and chunks from a few dozen elements, so that random small batches take the
    chunked path."""
    monkeypatch.setattr(numba_backend, "PAR_MIN_ELEMENTS", 64)
    monkeypatch.setattr(numba_backend, "CHUNK_MIN_ELEMENTS", 16)
    return numba_backend


# the threaded drivers compile once per combination: reuse those of the large-batch tests
CHUNKED_COMBOS = [(fn, pair, weighted) for fn, pair, weighted, _ in LARGE]


@settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(stream=streams(CHUNKED_COMBOS), num_threads=st.sampled_from([1, 2]))
def test_numba_chunked_path(small_chunks, stream, num_threads):
    combo, k, n_labels, batches = stream
    for b in batches:
        b["n"] *= 5  # 0..300 samples: up to 18 chunks
    want_errors, want = _feed(reference, combo, k, n_labels, batches)
    got_errors, got = _feed(small_chunks, combo, k, n_labels, batches, num_threads)
    assert got_errors == want_errors
    for g, w in zip(got, want):
        if w is not None:
            _assert_same_counts(g, w, "numba chunked")


@pytest.mark.parametrize("bad", [-1, 1.5, "2", None, True])
def test_numba_num_threads_checked(numba_backend, bad):
    state = np.zeros((2, 2), np.int64)
    t = np.zeros(10, np.int8)
    with pytest.raises(ValueError, match="num_threads"):
        numba_backend.binary_labels(t, t, None, None, state, num_threads=bad)
    np.testing.assert_array_equal(state, 0)


def test_numba_threads_env(numba_backend, monkeypatch):
    t = np.ones((1 << 20) + 1, np.int8)  # dtypes of LARGE[0]: no extra compilation
    p = np.ones(t.size, np.int64)
    state = np.zeros((2, 2), np.int64)
    monkeypatch.setenv("TALLYML_NUM_THREADS", "2")
    numba_backend.binary_labels(t, p, None, None, state)
    assert state[1, 1] == t.size
    monkeypatch.setenv("TALLYML_NUM_THREADS", "zero")
    with pytest.raises(ValueError, match="TALLYML_NUM_THREADS"):
        numba_backend.binary_labels(t, p, None, None, state)
    assert state[1, 1] == t.size


def test_numba_rejects_weighted_int_state(numba_backend):
    t = np.zeros(4, np.int8)
    state = np.zeros((2, 2), np.int64)
    with pytest.raises(TypeError, match="state must be float64"):
        numba_backend.binary_labels(t, t, np.ones(4), None, state)
    np.testing.assert_array_equal(state, 0)


def test_numba_rejects_mismatched_lengths(numba_backend):
    state = np.zeros((3, 3), np.int64)
    with pytest.raises(ValueError, match="preds"):
        numba_backend.multiclass_labels(np.zeros(5, np.int64), np.zeros(4, np.int64), None, None,
                                        state, None)
    with pytest.raises(ValueError, match="sample_weight"):
        numba_backend.binary_labels(np.zeros(5, np.int8), np.zeros(5, np.int8), np.ones(3), None,
                                    np.zeros((2, 2)))
    np.testing.assert_array_equal(state, 0)


def test_import_tallyml_does_not_import_numba():
    code = "import sys, tallyml; assert 'numba' not in sys.modules, sorted(sys.modules)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
