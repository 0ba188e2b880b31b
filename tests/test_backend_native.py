"""The native backend against the numpy reference: every function and dtype combination,
weighted and unweighted, ignore_index, one and several threads, errors (same message, outputs
unchanged), random and adversarial inputs."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from tallyml import _native
from tallyml._backends import reference as ref, triplet_bins

pytestmark = pytest.mark.skipif(not _native.available(), reason="native library not built")

if _native.available():
    from tallyml._backends import native as nat

LABEL_DTYPES = [np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64]
SCORE_DTYPES = [np.float32, np.float64]
FAMILIES = ["binary_labels", "binary_scores", "multiclass_labels", "multiclass_scores",
            "multilabel_labels", "multilabel_scores"]


def _labels(rng, shape, high, dtype):
    if dtype is np.bool_:
        return rng.integers(0, min(high, 2), shape).astype(bool)
    return rng.integers(0, high, shape).astype(dtype)


def _scores(rng, shape, dtype, ties):
    if ties:  # few distinct values: argmax ties and scores equal to the threshold
        return (rng.integers(0, 4, shape) / 4).astype(dtype)
    return rng.random(shape).astype(dtype)


def make_case(rng, family, tdt, pdt, weighted, n, k=4, ignore=None, ties=False,
              threshold=0.5):
    """Arguments of `family` (reference order, without num_threads) and the output positions."""
    task, what = family.split("_")
    w = rng.random(n) * 3 if weighted else None
    if weighted:
        w[rng.random(n) < 0.1] = 0.0
    sdt = np.float64 if weighted else np.int64
    if task == "multilabel":
        t = _labels(rng, (n, k), 2, tdt)
        if what == "labels":
            p = _labels(rng, (n, k), 2, pdt)
            return [t, p, w, np.zeros((k, 2, 2), sdt), np.zeros(triplet_bins(k), sdt)], (3, 4)
        p = _scores(rng, (n, k), pdt, ties)
        return [t, p, threshold, w, np.zeros((k, 2, 2), sdt), np.zeros(triplet_bins(k), sdt)], (4, 5)
    kk = 2 if task == "binary" else k
    t = _labels(rng, n, kk, tdt)
    if ignore is not None and tdt is not np.bool_:
        info = np.iinfo(tdt)
        if info.min <= ignore <= info.max:
            t[rng.random(n) < 0.2] = ignore
    if what == "labels":
        p = _labels(rng, n, kk, pdt)
    else:
        p = _scores(rng, n if task == "binary" else (n, kk), pdt, ties)
    if task == "binary":
        if what == "labels":
            return [t, p, w, ignore, np.zeros((2, 2), sdt)], (4,)
        return [t, p, threshold, w, ignore, np.zeros((2, 2), sdt)], (5,)
    return [t, p, w, ignore, np.zeros((k, k), sdt), np.zeros(k, np.uint8)], (4, 5)


def _copy(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def check(family, args, outs, num_threads=1, exact=True):
    """Run reference and native on copies; same outputs, or same error and untouched outputs."""
    a_ref, a_nat = _copy(args), _copy(args)
    # non-zero starting state: counts are added, never overwritten
    for i in outs:
        if a_ref[i].dtype != np.uint8:
            a_ref[i] += 1
            a_nat[i] += 1
    before = [a_nat[i].copy() for i in outs]
    try:
        getattr(ref, family)(*a_ref)
        err = None
    except ValueError as exc:
        err = str(exc)
    if err is not None:
        with pytest.raises(ValueError) as info:
            getattr(nat, family)(*a_nat, num_threads=num_threads)
        assert str(info.value) == err
        for i, b in zip(outs, before):
            np.testing.assert_array_equal(a_nat[i], b)
        return err
    getattr(nat, family)(*a_nat, num_threads=num_threads)
    for i in outs:
        if a_ref[i].dtype == np.float64 and not exact:
            np.testing.assert_allclose(a_nat[i], a_ref[i], rtol=1e-12, atol=0)
        else:
            np.testing.assert_array_equal(a_nat[i], a_ref[i])
    return None


def _pred_dtypes(family):
    return SCORE_DTYPES if family.endswith("scores") else LABEL_DTYPES


ALL_COMBOS = [(f, t, p) for f in FAMILIES for t in LABEL_DTYPES for p in _pred_dtypes(f)]


@pytest.mark.parametrize("family, tdt, pdt", ALL_COMBOS,
                         ids=[f"{f}-{np.dtype(t).name}-{np.dtype(p).name}" for f, t, p in ALL_COMBOS])
def test_every_dtype_combination(family, tdt, pdt):
    rng = np.random.default_rng(hash((family, str(tdt), str(pdt))) % 2**32)
    for weighted in (False, True):
        for n in (1, 7, 64, 3000):
            ignore = None if family.startswith("multilabel") or n == 7 else 1
            args, outs = make_case(rng, family, tdt, pdt, weighted, n, ignore=ignore)
            # starting states are +1, so weighted sums may round differently: tolerance
            assert check(family, args, outs, exact=not weighted) is None


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("weighted", [False, True])
def test_exact_weighted_sums_from_zero_state(family, weighted):
    """From a zero state one thread adds weights in row order, exactly like numpy's bincount."""
    rng = np.random.default_rng(7)
    args, outs = make_case(rng, family, np.int64, _pred_dtypes(family)[0], weighted, 5000)
    a_ref, a_nat = _copy(args), _copy(args)
    getattr(ref, family)(*a_ref)
    getattr(nat, family)(*a_nat, num_threads=1)
    for i in outs:
        np.testing.assert_array_equal(a_nat[i], a_ref[i])


@pytest.mark.parametrize("family", ["binary_scores", "multiclass_scores", "multilabel_scores"])
@pytest.mark.parametrize("dtype", SCORE_DTYPES)
def test_thresholds_and_ties(family, dtype):
    rng = np.random.default_rng(3)
    thresholds = [0.5, 0.25, 0.1, 1 / 3, 0.0, -0.0, 1.0, np.nextafter(0.25, 1),
                  np.nextafter(0.25, 0), float(np.float32(0.1)), 1e300, -1e300, np.inf,
                  -np.inf, np.nan]
    for thr in thresholds:
        args, outs = make_case(rng, family, np.int32, dtype, False, 500, ties=True, threshold=thr)
        if family == "multiclass_scores":
            thr_free = args  # no threshold: ties in the argmax instead
            assert check(family, thr_free, outs) is None
            break
        assert check(family, args, outs) is None
    # float32 scores just around a double threshold
    if dtype is np.float32 and family != "multiclass_scores":
        thr = 0.1
        f = np.float32(thr)
        near = np.array([np.nextafter(f, -1), f, np.nextafter(f, 2)], np.float32)
        args, outs = make_case(rng, family, np.int8, dtype, False, 30, threshold=thr)
        args[1] = np.resize(near, args[1].shape).astype(np.float32)
        assert check(family, args, outs) is None


def test_multiclass_argmax_first_maximum_wins():
    rng = np.random.default_rng(5)
    k = 5
    scores = np.zeros((200, k), np.float32)
    scores[:, 2] = 1.0
    scores[::2, 4] = 1.0
    scores[::3, 0] = -0.0
    scores[::5] = -1.0  # whole row equal: argmax 0
    t = rng.integers(0, k, 200)
    args = [t, scores, None, None, np.zeros((k, k), np.int64), np.zeros(k, np.uint8)]
    assert check("multiclass_scores", args, (4, 5)) is None


@pytest.mark.parametrize("tdt", [np.uint8, np.int8, np.int16, np.int64])
@pytest.mark.parametrize("ignore", [-100, 0, 3, 255, 2**40, -(2**40)])
def test_ignore_index_values(tdt, ignore):
    rng = np.random.default_rng(11)
    for family in ("binary_labels", "multiclass_labels", "multiclass_scores"):
        args, outs = make_case(rng, family, tdt, np.float32 if "scores" in family else tdt,
                               False, 400)
        t = args[0]
        info = np.iinfo(tdt)
        if info.min <= ignore <= info.max:
            t[rng.random(t.size) < 0.3] = ignore
        args[3] = ignore
        check(family, args, outs)


def _inject(rng, family, args, kind, row):
    """Put one bad value of `kind` (target / preds / weight) in `row`."""
    task, what = family.split("_")
    t, p = args[0], args[1]
    widx = {"binary_labels": 2, "binary_scores": 3, "multiclass_labels": 2,
            "multiclass_scores": 2, "multilabel_labels": 2, "multilabel_scores": 3}[family]
    if kind == "target":
        high = 2 if task in ("binary", "multilabel") else args[-2].shape[0]
        bad = -1 if np.issubdtype(t.dtype, np.signedinteger) and rng.random() < 0.5 else high
        if t.ndim == 2:
            t[row, rng.integers(0, t.shape[1])] = bad
        else:
            t[row] = bad
    elif kind == "preds":
        if what == "scores":
            bad = rng.choice([np.nan, np.inf, -np.inf])
        else:
            high = 2 if task in ("binary", "multilabel") else args[-2].shape[0]
            bad = -1 if np.issubdtype(p.dtype, np.signedinteger) and rng.random() < 0.5 else high + 3
        if p.ndim == 2:
            p[row, rng.integers(0, p.shape[1])] = bad
        else:
            p[row] = bad
    else:
        args[widx][row] = rng.choice([-1.0, np.nan, np.inf, -1e-300, -2.5])


@pytest.mark.parametrize("family", FAMILIES)
def test_errors_match_reference(family):
    rng = np.random.default_rng(13)
    for trial in range(40):
        tdt = [np.uint8, np.int8, np.int32, np.int64][trial % 4]
        pdt = SCORE_DTYPES[trial % 2] if family.endswith("scores") else tdt
        weighted = trial % 3 != 0
        ignore = None if family.startswith("multilabel") or trial % 2 else -7
        n = int(rng.integers(1, 300))
        args, outs = make_case(rng, family, tdt, pdt, weighted, n, ignore=ignore)
        kinds = ["target", "preds"] + (["weight"] if weighted else [])
        if tdt is np.uint8:
            kinds = kinds[1:] + ["target"]
        for _ in range(int(rng.integers(1, 4))):
            _inject(rng, family, args, rng.choice(kinds), int(rng.integers(0, n)))
        assert check(family, args, outs, exact=False) is not None or ignore is not None


def test_error_on_same_row_prefers_target_then_preds_then_weight():
    t = np.array([0, 1, 9], np.int64)
    s = np.array([0.1, 0.2, np.nan])
    w = np.array([1.0, 1.0, -1.0])
    state = np.zeros((2, 2))
    with pytest.raises(ValueError, match=r"^target\[2\] = 9 is outside \[0, 2\)$"):
        nat.binary_scores(t, s, 0.5, w, None, state)
    t[2] = 1
    with pytest.raises(ValueError, match=r"^preds\[2\] = nan is not finite$"):
        nat.binary_scores(t, s, 0.5, w, None, state)
    s[2] = 0.3
    with pytest.raises(ValueError, match=r"^sample_weight\[2\] = -1.0 is not a finite non-negative number$"):
        nat.binary_scores(t, s, 0.5, w, None, state)
    assert not state.any()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    family=st.sampled_from(FAMILIES),
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 200),
    k=st.integers(1, 6),
    weighted=st.booleans(),
    use_ignore=st.booleans(),
    bad=st.lists(st.tuples(st.sampled_from(["target", "preds", "weight"]), st.floats(0, 1)),
                 max_size=3),
    threads=st.sampled_from([0, 1, 2]),
)
def test_hypothesis_streams(family, seed, n, k, weighted, use_ignore, bad, threads):
    rng = np.random.default_rng(seed)
    pdt = np.float32 if family.endswith("scores") else np.int16
    ignore = 2 if use_ignore and not family.startswith("multilabel") else None
    k = max(k, 2)
    args, outs = make_case(rng, family, np.int32, pdt, weighted, n, k=k, ignore=ignore,
                           ties=bool(seed % 2))
    for kind, pos in bad:
        if kind == "weight" and not weighted:
            continue
        _inject(rng, family, args, kind, min(n - 1, int(pos * n)))
    check(family, args, outs, num_threads=threads, exact=False)


# ---- threads and large batches ------------------------------------------------------------------

@pytest.fixture(scope="module")
def big():
    rng = np.random.default_rng(21)
    n = 3_000_000
    return {
        "t8": rng.integers(0, 2, n).astype(np.int8),
        "s32": rng.random(n).astype(np.float32),
        "t10": rng.integers(0, 10, n).astype(np.int64),
        "p10": rng.integers(0, 10, n).astype(np.int32),
        "w": rng.random(n),
    }


def test_large_binary_threads_agree(big):
    t, s = big["t8"], big["s32"]
    want = np.zeros((2, 2), np.int64)
    ref.binary_scores(t, s, 0.5, None, None, want)
    for threads in (0, 1, 2, 3):
        got = np.zeros((2, 2), np.int64)
        nat.binary_scores(t, s, 0.5, None, None, got, num_threads=threads)
        np.testing.assert_array_equal(got, want)
    gw = np.zeros((2, 2))
    ww = np.zeros((2, 2))
    ref.binary_scores(t, s, 0.5, big["w"], None, ww)
    nat.binary_scores(t, s, 0.5, big["w"], None, gw, num_threads=2)
    np.testing.assert_allclose(gw, ww, rtol=1e-12)


def test_large_multiclass_threads_agree(big):
    t, p = big["t10"], big["p10"]
    want = np.zeros((10, 10), np.int64)
    ref.multiclass_labels(t, p, None, 3, want, None)
    for threads in (0, 2):
        got = np.zeros((10, 10), np.int64)
        seen = np.zeros(10, np.uint8)
        nat.multiclass_labels(t, p, None, 3, got, seen, num_threads=threads)
        np.testing.assert_array_equal(got, want)
        assert seen.all()


def test_large_multiclass_scores_and_big_state_threads():
    rng = np.random.default_rng(2)
    n, k = 300_000, 10
    s = rng.random((n, k)).astype(np.float32)
    t = rng.integers(0, k, n)
    args = [t, s, None, None, np.zeros((k, k), np.int64), np.zeros(k, np.uint8)]
    assert check("multiclass_scores", args, (4, 5), num_threads=2) is None
    # K = 1000 with a batch smaller than the state: validated first, counted in place
    k = 1000
    t = rng.integers(0, k, 20_000)
    p = rng.integers(0, k, 20_000)
    args = [t, p, rng.random(20_000), None, np.zeros((k, k)), np.zeros(k, np.uint8)]
    assert check("multiclass_labels", args, (4, 5), num_threads=2, exact=False) is None
    args[1][15_000] = k
    assert "preds[15000] = 1000 is outside [0, 1000)" == check(
        "multiclass_labels", args, (4, 5), num_threads=2)


@pytest.mark.parametrize("threads", [0, 2])
def test_error_found_only_by_second_thread(big, threads):
    t = big["t8"].copy()
    s = big["s32"].copy()
    n = t.size
    s[n - 10] = np.nan
    t[n // 2 + 5] = 3
    state = np.full((2, 2), 5, np.int64)
    with pytest.raises(ValueError, match=rf"^target\[{n // 2 + 5}\] = 3 is outside \[0, 2\)$"):
        nat.binary_scores(t, s, 0.5, None, None, state, num_threads=threads)
    # both threads find one: the lower row wins
    t[7] = -1
    with pytest.raises(ValueError, match=r"^target\[7\] = -1 is outside \[0, 2\)$"):
        nat.binary_scores(t, s, 0.5, None, None, state, num_threads=threads)
    np.testing.assert_array_equal(state, 5)
    p = big["p10"].copy()
    p[n - 3] = 10
    state = np.zeros((10, 10), np.int64)
    seen = np.zeros(10, np.uint8)
    with pytest.raises(ValueError, match=rf"^preds\[{n - 3}\] = 10 is outside \[0, 10\)$"):
        nat.multiclass_labels(big["t10"], p, None, None, state, seen, num_threads=threads)
    assert not state.any() and not seen.any()


def test_large_multilabel_threads_agree():
    rng = np.random.default_rng(9)
    for family, pdt in (("multilabel_labels", np.uint8), ("multilabel_scores", np.float32)):
        for weighted in (False, True):
            args, outs = make_case(rng, family, np.bool_, pdt, weighted, 200_000, k=5)
            assert check(family, args, outs, num_threads=2, exact=not weighted) is None


def test_simd_paths_agree():
    lib = _native.library()
    level = lib.functions["tm_simd_level"]()
    rng = np.random.default_rng(17)
    try:
        for simd in (0, level):
            lib.functions["tm_set_simd_level"](simd)
            for family in FAMILIES:
                pdt = np.float32 if family.endswith("scores") else np.int8
                args, outs = make_case(rng, family, np.int8, pdt, False, 20_000, ignore=(
                    None if family.startswith("multilabel") else 1))
                assert check(family, args, outs) is None
    finally:
        lib.functions["tm_set_simd_level"](level)


def test_unsupported_dtype_is_a_type_error():
    t = np.zeros(3, np.uint16)
    with pytest.raises(TypeError, match="target uint16"):
        nat.binary_labels(t, t, None, None, np.zeros((2, 2), np.int64))
    s = np.zeros(3, np.float16)
    with pytest.raises(TypeError, match="preds float16"):
        nat.binary_scores(np.zeros(3, np.int8), s, 0.5, None, None, np.zeros((2, 2), np.int64))


def test_read_only_and_empty_inputs():
    t = np.frombuffer(np.array([0, 1, 1], np.int8).tobytes(), np.int8)
    p = np.frombuffer(np.array([0.2, 0.7, 0.1], np.float32).tobytes(), np.float32)
    assert not t.flags.writeable
    state = np.zeros((2, 2), np.int64)
    nat.binary_scores(t, p, 0.5, None, None, state)
    want = np.zeros((2, 2), np.int64)
    ref.binary_scores(t, p, 0.5, None, None, want)
    np.testing.assert_array_equal(state, want)
    nat.binary_scores(t[:0], p[:0], 0.5, None, None, state)
    np.testing.assert_array_equal(state, want)
    tl = np.zeros((4, 0), np.uint8)
    st2 = np.zeros((0, 2, 2), np.int64)
    samples = np.zeros(1, np.int64)
    nat.multilabel_labels(tl, tl, None, st2, samples)
    assert samples.tolist() == [4]
