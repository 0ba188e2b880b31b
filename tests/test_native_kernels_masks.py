"""Adversarial tests of the native core's bit-mask multilabel path (1-byte targets against scores,
AVX2) and of the split-diagonal multiclass path (label counting into a large K x K state).

Each case runs the native kernel and the numpy reference on copies with a non-zero starting
state: same counts, or the same error message and untouched outputs. Sizes are chosen around the
kernels' internal boundaries: vector widths (8 floats, 4 doubles, 32 label bytes), the 255-row
flush of byte counters, validation blocks (8192 elements), the last rows of a batch (whose label
loads must not read past its end) and the split between direct and partial counting."""
from __future__ import annotations

import numpy as np
import pytest

from tallyml import _native
from tallyml._backends import triplet_bins

pytestmark = pytest.mark.skipif(not _native.available(), reason="native library not built")

if _native.available():
    from tallyml._backends import native as nat

# reference vs native on copies with a non-zero start: same counts, or same error and untouched
# outputs (returns the message or None)
from test_backend_native import check as _run_both  # noqa: E402

LABEL_COUNTS = [1, 7, 8, 9, 20, 31, 32, 33, 64, 65]
MASK_TARGETS = [np.bool_, np.uint8, np.int8]
SCORE_DTYPES = [np.float32, np.float64]


def _block_rows(l):
    return max(1, 8192 // l)




def _ml_case(rng, n, l, tdt, sdt, ties=False, threshold=0.5):
    t = rng.random((n, l)) < rng.random(l)  # a different positive rate per label
    t = t.astype(tdt)
    if ties:  # scores equal to the threshold and to each other
        s = (rng.integers(0, 5, (n, l)) / 4).astype(sdt)
    else:
        s = rng.random((n, l)).astype(sdt)
    state = np.zeros((l, 2, 2), np.int64)
    samples = np.zeros(triplet_bins(l), np.int64)
    return [t, s, threshold, None, state, samples]


def _row_counts(l):
    """Batch sizes around the mask path's boundaries for L labels."""
    blk = _block_rows(l)
    sizes = {1, 2, 3, 5, 254, 255, 256, 511, blk - 1, blk, blk + 1, 2 * blk + 7}
    sizes.add(4 * triplet_bins(l) + 3)  # just past the direct-counting limit: partials
    return sorted(s for s in sizes if 0 < s <= 300_000)


@pytest.mark.parametrize("l", LABEL_COUNTS)
@pytest.mark.parametrize("sdt", SCORE_DTYPES)
def test_multilabel_masks_match_reference(l, sdt):
    rng = np.random.default_rng(1000 + l)
    for n in _row_counts(l):
        for tdt in MASK_TARGETS:
            args = _ml_case(rng, n, l, tdt, sdt, ties=n % 2 == 0)
            assert _run_both("multilabel_scores", args, (4, 5), num_threads=1) is None


@pytest.mark.parametrize("l", [1, 9, 20, 33])
def test_multilabel_masks_threads_and_wide_targets_agree(l):
    # two threads split the rows; int16/int32 targets take the scalar path: all equal reference
    rng = np.random.default_rng(7 + l)
    n = 4 * triplet_bins(l) + 2 * _block_rows(l) + 5
    for tdt in (np.int8, np.int16, np.int32):
        for threads in (1, 2):
            args = _ml_case(rng, n, l, tdt, np.float32)
            assert _run_both("multilabel_scores", args, (4, 5), num_threads=threads) is None


def test_multilabel_masks_direct_counting_on_two_threads():
    # a batch small against the triplet histogram (L = 64: 47905 bins) is validated first, then
    # counted straight into the state by one thread and into a partial by the other
    rng = np.random.default_rng(64)
    for sdt in SCORE_DTYPES:
        args = _ml_case(rng, 150_000, 64, np.uint8, sdt)
        assert _run_both("multilabel_scores", args, (4, 5), num_threads=2) is None
        args[1][149_999, 63] = np.nan
        args[1][80_000, 5] = np.inf  # in the second thread's half
        err = _run_both("multilabel_scores", args, (4, 5), num_threads=2)
        assert err == "preds[80000, 5] = inf is not finite"


@pytest.mark.parametrize("threshold", [0.1, 0.5, 0.0, 1.0, -np.inf, np.inf, np.nan, 1e40, -1e40])
@pytest.mark.parametrize("sdt", SCORE_DTYPES)
def test_multilabel_masks_thresholds(threshold, sdt):
    # 0.1 is not a float32: the comparison must still be the one done in float64
    rng = np.random.default_rng(3)
    n, l = 3000, 20
    args = _ml_case(rng, n, l, np.int8, sdt, threshold=threshold)
    s = args[1]
    s[rng.random((n, l)) < 0.2] = sdt(np.float32(0.1))
    s[rng.random((n, l)) < 0.1] = sdt(0.1)
    s[rng.random((n, l)) < 0.05] = -0.0
    assert _run_both("multilabel_scores", args, (4, 5), num_threads=1) is None


def _bad_positions(n, l):
    """(row, col) pairs at block edges: first/last element of the batch and of each block."""
    blk = _block_rows(l)
    rows = {0, n - 1, blk - 1, blk, min(n - 1, 2 * blk - 1), 255, 254}
    out = []
    for r in sorted(x for x in rows if 0 <= x < n):
        out += [(r, 0), (r, l - 1), (r, (r * 7) % l)]
    return out


BAD_TARGETS = [2, -1, 255]  # -1 and 255 are the same byte in int8 / uint8
BAD_SCORES = [np.nan, np.inf, -np.inf]


@pytest.mark.parametrize("l", [1, 7, 8, 9, 20, 32, 33, 64])
@pytest.mark.parametrize("sdt", SCORE_DTYPES)
def test_multilabel_masks_bad_values_at_block_edges(l, sdt):
    rng = np.random.default_rng(50 + l)
    n = 2 * _block_rows(l) + 3
    for threads in (1, 2):
        for k, (r, c) in enumerate(_bad_positions(n, l)):
            tdt = (np.int8, np.uint8)[k % 2]
            args = _ml_case(rng, n, l, tdt, sdt)
            if k % 3 == 0:
                bad = BAD_TARGETS[k % len(BAD_TARGETS)]
                if tdt is np.uint8 and bad < 0:
                    bad = 255
                args[0][r, c] = bad
            else:
                args[1][r, c] = BAD_SCORES[k % len(BAD_SCORES)]
            err = _run_both("multilabel_scores", args, (4, 5), num_threads=threads)
            assert err is not None and f"[{r}, {c}]" in err


def test_multilabel_masks_first_bad_wins_and_prefers_target():
    # a bad score before a bad target in the same row: the target is reported (reference order);
    # a later row's bad value never hides an earlier one
    rng = np.random.default_rng(9)
    n, l = 1000, 20
    args = _ml_case(rng, n, l, np.int8, np.float32)
    args[1][300, 2] = np.nan
    args[0][300, 15] = 3
    args[1][299, 19] = np.inf
    err = _run_both("multilabel_scores", args, (4, 5), num_threads=1)
    assert err == "preds[299, 19] = inf is not finite"
    args[1][299, 19] = 0.25
    err = _run_both("multilabel_scores", args, (4, 5), num_threads=1)
    assert err == "target[300, 15] = 3 is outside [0, 2)"


def test_multilabel_masks_match_sklearn():
    from sklearn.metrics import multilabel_confusion_matrix

    rng = np.random.default_rng(21)
    for l in (2, 20, 33):  # sklearn reads a single column as binary, not multilabel
        n = 4 * triplet_bins(l) + 1000
        t, s, thr, _, state, samples = _ml_case(rng, n, l, np.int8, np.float32)
        nat.multilabel_scores(t, s, thr, None, state, samples, num_threads=1)
        want = multilabel_confusion_matrix(t, (s >= thr).astype(np.int8))
        np.testing.assert_array_equal(state, want)
        assert samples.sum() == n


def test_multilabel_masks_simd_levels_agree():
    lib = _native.library()
    level = lib.functions["tm_simd_level"]()
    rng = np.random.default_rng(5)
    cases = [_ml_case(rng, 40_000, l, np.int8, sdt) for l in (7, 20, 40) for sdt in SCORE_DTYPES]
    results = []
    try:
        for simd in (0, level):
            lib.functions["tm_set_simd_level"](simd)
            got = []
            for args in cases:
                a = [x.copy() if isinstance(x, np.ndarray) else x for x in args]
                nat.multilabel_scores(*a, num_threads=1)
                got.append((a[4], a[5]))
            results.append(got)
    finally:
        lib.functions["tm_set_simd_level"](level)
    for (s0, h0), (s1, h1) in zip(*results):
        np.testing.assert_array_equal(s0, s1)
        np.testing.assert_array_equal(h0, h1)


# ------------------------------------------------------------------ multiclass, split diagonal
def _mc_case(rng, n, k, tdt, pdt, right=0.7, ignore=None):
    t = rng.integers(0, k, n).astype(tdt)
    p = np.where(rng.random(n) < right, t, rng.integers(0, k, n)).astype(pdt)
    if ignore is not None:
        t[rng.random(n) < 0.1] = ignore
    return [t, p, None, ignore, np.zeros((k, k), np.int64), None]


@pytest.mark.parametrize("k", [182, 200, 1000])  # K^2 above 32768 cells: the split diagonal
@pytest.mark.parametrize("right", [0.0, 0.7, 1.0])
def test_multiclass_split_diagonal_matches_reference(k, right):
    rng = np.random.default_rng(k)
    n = 4 * k * k + 4099  # past the direct-counting limit: counted into partials
    for tdt, pdt in ((np.int32, np.int32), (np.int16, np.int64), (np.int64, np.int16)):
        for threads in (1, 2):
            args = _mc_case(rng, n, k, tdt, pdt, right=right)
            assert _run_both("multiclass_labels", args, (4,), num_threads=threads) is None


def test_multiclass_split_diagonal_ignore_index_and_errors():
    rng = np.random.default_rng(11)
    k = 300
    n = 4 * k * k + 17
    for ignore in (0, 5, k - 1, -1):
        args = _mc_case(rng, n, k, np.int32, np.int32, ignore=ignore)
        assert _run_both("multiclass_labels", args, (4,), num_threads=1) is None
    # bad labels at the first/last row and around a sub-block edge; a bad label on an ignored row
    # is not an error
    for row, where, value in ((0, 0, k), (n - 1, 1, -1), (1023, 0, -5), (1024, 1, k + 7)):
        for threads in (1, 2):
            args = _mc_case(rng, n, k, np.int32, np.int32, ignore=3)
            args[0][row] = 7  # a kept row
            args[where][row] = value
            err = _run_both("multiclass_labels", args, (4,), num_threads=threads)
            assert err is not None and f"[{row}]" in err
    args = _mc_case(rng, n, k, np.int32, np.int32, ignore=3)
    args[0][10] = 3
    args[1][10] = -4
    assert _run_both("multiclass_labels", args, (4,), num_threads=1) is None


def test_multiclass_split_diagonal_matches_sklearn():
    from sklearn.metrics import confusion_matrix

    rng = np.random.default_rng(4)
    k = 250
    t, p, _, _, state, _ = _mc_case(rng, 4 * k * k + 999, k, np.int32, np.int32)
    nat.multiclass_labels(t, p, None, None, state, None, num_threads=1)
    np.testing.assert_array_equal(state, confusion_matrix(t, p, labels=np.arange(k)))
