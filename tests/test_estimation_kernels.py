"""Estimation kernels (numpy reference, numba, C++) against a per-sample definition written here
independently, and against each other: values, calibration modes, logits, histograms, chunking,
the small-batch in-place path, and errors (message, nothing counted)."""
import math

import numpy as np
import pytest

from tallyml.estimation import _kernels, _kernels_numpy

BACKENDS = ["numpy", "numba"]
try:
    _kernels.load("native")
    BACKENDS.append("native")
except Exception:  # library not built: the native rows are skipped, not faked
    pass


@pytest.fixture(params=BACKENDS)
def kern(request):
    return _kernels.load(request.param)


def _sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def _cal(p, table, mode):
    if mode == 0:
        return p
    if mode == 1:
        g = len(table)
        return table[min(int(p * g), g - 1)]
    g = len(table) - 1
    b = min(int(p * g), g - 1)
    return table[b] + (table[b + 1] - table[b]) * (p * g - b)


def _binary_def(scores, cut, logits, table, mode, nb):
    """Per-sample loop: the issue's E[TP] += p y^ ... written out."""
    state = np.zeros((2, 2))
    var = np.zeros(2)
    hist = np.zeros((3, nb))
    for s in scores.astype(np.float64):
        y = int(s >= cut)
        praw = _sig(s) if logits else s
        p = _cal(praw, table, mode)
        state[1, y] += p
        state[0, y] += 1 - p
        var[y] += p * (1 - p)
        if nb:
            b = min(int(praw * nb), nb - 1)
            hist[:, b] += (p, 1 - p, p * (1 - p))
    return state, var, hist


def _run_binary(kern, scores, cut=0.5, logits=False, table=None, mode=0, nb=0):
    table = np.zeros(1) if table is None else table
    state, var, hist = np.zeros((2, 2)), np.zeros(2), np.zeros((3, nb))
    _kernels.call(kern.binary, scores, 1e-3, cut, logits, table, mode, state, var, hist)
    return state, var, hist


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", [0, 1, 2])
@pytest.mark.parametrize("nb", [0, 7, 64])
@pytest.mark.parametrize("n", [1, 5, 50, 9000])
def test_binary_matches_definition(kern, dtype, mode, nb, n):
    rng = np.random.default_rng(n * 31 + nb + mode)
    scores = rng.random(n).astype(dtype)
    scores[: n // 5] = np.float32(0.5)  # ties at the threshold count as positive
    if n > 3:
        scores[1], scores[2] = 0.0, 1.0
    table = np.sort(rng.random(10 if mode == 1 else 11)) if mode else None
    got = _run_binary(kern, scores, 0.5, False, table, mode, nb)
    want = _binary_def(scores, 0.5, False, table if mode else np.zeros(1), mode, nb)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-9 * n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_logits(kern, dtype):
    rng = np.random.default_rng(3)
    scores = (rng.normal(size=3000) * 4).astype(dtype)
    cut = math.log(0.3) - math.log1p(-0.3)
    got = _run_binary(kern, scores, cut, True, None, 0, 16)
    want = _binary_def(scores, cut, True, np.zeros(1), 0, 16)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-9)


def _mc_def(scores, logits, table, mode, nb):
    n, k = scores.shape
    state, moments, hist = np.zeros((k, k)), np.zeros((2, k, k)), np.zeros((k, 3, nb))
    for row in scores:
        j = int(np.argmax(row))
        x = row.astype(np.float64)
        praw = np.exp(x - x.max()) / np.exp(x - x.max()).sum() if logits else x
        p = praw
        if mode:
            c = np.array([_cal(praw[i], table[i], mode) for i in range(k)])
            p = c / c.sum() if c.sum() > 0 else praw
        for i in range(k):
            state[i, j] += p[i]
            moments[0, i, j] += p[i] ** 2
            moments[1, i, j] += p[i] * p[j]
            if nb:
                b = min(int(praw[i] * nb), nb - 1)
                hist[i, :, b] += (p[i], 1 - p[i], p[i] * (1 - p[i]))
    return state, moments, hist


def _run_mc(kern, scores, logits=False, table=None, mode=0, nb=0, sum_tol=1e-3):
    k = scores.shape[1]
    table = np.zeros((k, 1)) if table is None else table
    state, moments, hist = np.zeros((k, k)), np.zeros((2, k, k)), np.zeros((k, 3, nb))
    _kernels.call(kern.multiclass, scores, sum_tol, logits, sum_tol, table, mode, state, moments,
                  hist)
    return state, moments, hist


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", [0, 1, 2])
@pytest.mark.parametrize("n,k,nb", [(3, 3, 0), (40, 4, 8), (5000, 5, 0), (5000, 3, 32), (7, 60, 4)])
def test_multiclass_matches_definition(kern, dtype, mode, n, k, nb):
    rng = np.random.default_rng(n + k + mode)
    p = rng.dirichlet(np.ones(k) * 0.7, n).astype(dtype)
    p[0] = p[0, ::-1]
    if n > 2:
        p[1] = np.float32(1.0 / k)  # all tied: the first maximum wins
        p[1] = p[1] / p[1].sum()
    table = np.sort(rng.random((k, 9 if mode == 1 else 10)), axis=1) if mode else None
    got = _run_mc(kern, p, False, table, mode, nb)
    want = _mc_def(p, False, table, mode, nb)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-9 * n)


def test_multiclass_logits(kern):
    rng = np.random.default_rng(5)
    z = rng.normal(size=(2000, 4)) * 3
    got = _run_mc(kern, z, True, None, 0, 8)
    want = _mc_def(z, True, None, 0, 8)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-9)


def _ml_def(scores, cut, logits, table, mode, nb):
    n, l = scores.shape
    state, var, subset, hist = np.zeros((l, 2, 2)), np.zeros((l, 2)), np.zeros(2), np.zeros((l, 3, nb))
    for row in scores.astype(np.float64):
        right = 1.0
        for c in range(l):
            st, vr, h = _binary_def(row[c:c + 1], cut, logits, table[c] if mode else None, mode, nb)
            state[c] += st
            var[c] += vr
            hist[c] += h
            y = int(row[c] >= cut)
            right *= st[y, y]
        subset += (right, right * (1 - right))
    return state, var, subset, hist


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", [0, 2])
@pytest.mark.parametrize("n,l,nb", [(4, 2, 0), (300, 3, 16), (5000, 2, 0)])
def test_multilabel_matches_definition(kern, dtype, mode, n, l, nb):
    rng = np.random.default_rng(n + l)
    s = rng.random((n, l)).astype(dtype)
    table = np.sort(rng.random((l, 12)), axis=1) if mode else np.zeros((l, 1))
    state, var, subset, hist = np.zeros((l, 2, 2)), np.zeros((l, 2)), np.zeros(2), np.zeros((l, 3, nb))
    _kernels.call(kern.multilabel, s, 1e-3, 0.4, False, table, mode, state, var, subset, hist)
    want = _ml_def(s, 0.4, False, table, mode, nb)
    for g, w in zip((state, var, subset, hist), want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-9 * n)


def test_chunking_does_not_change_counts(kern):
    rng = np.random.default_rng(11)
    s = rng.random(20000)
    whole = _run_binary(kern, s, 0.5, False, None, 0, 32)
    parts = [np.zeros((2, 2)), np.zeros(2), np.zeros((3, 32))]
    for chunk in np.array_split(s, 37):
        _kernels.call(kern.binary, chunk, 1e-3, 0.5, False, np.zeros(1), 0, *parts)
    for a, b in zip(whole, parts):
        np.testing.assert_allclose(a, b, rtol=1e-12)


BAD_BINARY = [
    ([0.2, np.nan, 2.0], False, "scores[{r1}] = nan is not finite"),
    ([0.2, 0.3, 1.5, np.nan], False, "scores[{r2}] = 1.5 is outside [0, 1]"),
    ([0.2, -0.0, -1e-300], False, "scores[{r2}] = -1e-300 is outside [0, 1]"),
    ([3.0, -np.inf], True, "scores[{r1}] = -inf is not finite"),
]


@pytest.mark.parametrize("tail,logits,msg", BAD_BINARY)
@pytest.mark.parametrize("nb", [0, 4])
@pytest.mark.parametrize("pad", [0, 9000])
def test_binary_errors_count_nothing(kern, tail, logits, msg, nb, pad):
    scores = np.concatenate([np.full(pad, 0.25), np.array(tail)])
    state, var, hist = np.ones((2, 2)), np.ones(2), np.ones((3, nb))
    with pytest.raises(ValueError) as info:
        _kernels.call(kern.binary, scores, 1e-3, 0.5, logits, np.zeros(1), 0, state, var, hist)
    assert str(info.value).startswith(msg.format(r1=pad + 1, r2=pad + 2))
    assert (state == 1).all() and (var == 1).all() and (hist == 1).all()


@pytest.mark.parametrize("pad", [0, 9000])
def test_multiclass_errors_count_nothing(kern, pad):
    good = np.tile([0.25, 0.25, 0.5], (pad, 1))
    cases = [
        ([[0.5, 0.5, 0.0], [0.2, np.nan, 2.0]], "scores[{r}, 1] = nan is not finite"),
        ([[0.5, 0.5, 0.0], [0.2, 0.3, 1.5]], "scores[{r}, 2] = 1.5 is outside [0, 1]"),
        ([[0.5, 0.5, 0.1], [0.2, 0.3, 1.5]], "scores[{r0}] sums to 1.1: probabilities must sum to 1"),
    ]
    for rows, msg in cases:
        s = np.concatenate([good, np.array(rows)]) if pad else np.array(rows)
        state, moments, hist = np.ones((3, 3)), np.ones((2, 3, 3)), np.ones((3, 3, 2))
        with pytest.raises(ValueError) as info:
            _kernels.call(kern.multiclass, s, 1e-3, False, 1e-3, np.zeros((3, 1)), 0, state,
                          moments, hist)
        assert str(info.value).startswith(msg.format(r=pad + 1, r0=pad))
        assert (state == 1).all() and (moments == 1).all() and (hist == 1).all()


def test_multiclass_sum_tolerance(kern):
    s = np.array([[0.5, 0.5004], [0.3, 0.7]])
    _run_mc(kern, s, sum_tol=1e-3)
    with pytest.raises(ValueError, match=r"scores\[0\] sums to"):
        _run_mc(kern, s, sum_tol=1e-4)
    _run_mc(kern, np.array([[5.0, -3.0]]), logits=True)  # logits: no range or sum check


def test_backends_agree_on_large_batch():
    rng = np.random.default_rng(9)
    p = rng.dirichlet(np.ones(10), 30000).astype(np.float32)
    ref = _run_mc(_kernels_numpy, p, nb=16)
    for name in BACKENDS:
        got = _run_mc(_kernels.load(name), p, nb=16)
        for g, w in zip(got, ref):
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-8)


@pytest.mark.skipif("native" not in BACKENDS, reason="native library not built")
def test_native_baseline_and_avx2_paths_agree():
    from tallyml import _native

    level = _native.function("tm_simd_level")()
    kern = _kernels.load("native")
    rng = np.random.default_rng(12)
    s = rng.random(50001).astype(np.float32)
    p = rng.dirichlet(np.ones(5), 20000)
    try:
        results = []
        for lvl in sorted({0, level}):
            assert _native.function("tm_set_simd_level")(lvl) == 0
            results.append((_run_binary(kern, s), _run_mc(kern, p, nb=8)))
    finally:
        _native.function("tm_set_simd_level")(level)
    want = (_run_binary(_kernels_numpy, s), _run_mc(_kernels_numpy, p, nb=8))
    for got in results:
        for g_task, w_task in zip(got, want):
            for g, w in zip(g_task, w_task):
                np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-8)
