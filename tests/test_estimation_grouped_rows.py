"""The multiclass float32 path (C++: rows transposed eight at a time, grouped by prediction in
sub-blocks of 256 rows, summed per class; histogram cells or not) against the numpy reference:
batch sizes on and around every block edge (8-row groups, 256-row sub-blocks, 4096-row blocks),
each class count it serves (2..16, and 17 beside it), first-argmax ties inside and across the
transposed chunks, a bad value first or last in a group / sub-block / block, row sums just inside
and just outside sum_tol (the float32 sum's guard band: the rescan in double decides), -0.0."""
import numpy as np
import pytest

from tallyml.estimation import _kernels, _kernels_numpy

BACKENDS = ["numba"]
try:
    _kernels.load("native")
    BACKENDS.append("native")
except Exception:  # library not built: the native rows are skipped, not faked
    pass


def _run(kern, p, sum_tol=1e-3, start=1.0, nb=0):
    k = p.shape[1]
    out = [np.full((k, k), start), np.full((2, k, k), start), np.full((k, 3, nb), start)]
    _kernels.call(kern.multiclass, p, sum_tol, False, sum_tol, np.zeros((k, 1)), 0, *out)
    return out


def _close(got, want):
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-9)


def _rows(rng, n, k):
    return rng.dirichlet(np.ones(k) * 0.7, n).astype(np.float32)


def _with_ties(p):
    k = p.shape[1]
    n = p.shape[0]
    ties = [[0, k - 1], [k // 2 - 1, k // 2], [7, 8], [3, 4], [0, 1]]
    for r, cols in zip(range(3, n, 37), ties * (n // 37 + 1)):
        cols = [c for c in cols if c < k]
        if not cols:
            continue
        p[r] = 0.0
        p[r, cols] = np.float32(1.0 / len(cols))
    if n > 1:
        p[1] = np.float32(1.0 / k)  # every class tied: class 0
    return p


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 23, 255, 256, 257, 4095, 4096, 4097, 8200])
@pytest.mark.parametrize("nb", [0, 16, 1024])
def test_batch_sizes_around_block_edges(backend, n, nb):
    """nb > n: the histograms are added in place after the batch, else from the cells."""
    rng = np.random.default_rng(n)
    p = _with_ties(_rows(rng, n, 10))
    _close(_run(_kernels.load(backend), p, nb=nb), _run(_kernels_numpy, p, nb=nb))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k", list(range(2, 18)))
@pytest.mark.parametrize("nb", [0, 7])
def test_every_class_count(backend, k, nb):
    rng = np.random.default_rng(100 + k)
    p = _with_ties(_rows(rng, 3_001, k))
    _close(_run(_kernels.load(backend), p, nb=nb), _run(_kernels_numpy, p, nb=nb))


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_class_predicted_throughout(backend):
    """Every row predicts the same class: one list takes the whole sub-block."""
    rng = np.random.default_rng(9)
    p = _rows(rng, 10_000, 10) * np.float32(0.3)
    p[:, 6] = 0.0
    p[:, 6] = np.float32(1.0) - p.sum(axis=1, dtype=np.float32)
    assert (p.argmax(axis=1) == 6).all()
    for nb in (0, 1024):
        _close(_run(_kernels.load(backend), p, nb=nb), _run(_kernels_numpy, p, nb=nb))


SPOT = [0, 7, 8, 255, 256, 511, 4095, 4096, 8191, 9999]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("row", SPOT)
@pytest.mark.parametrize("k,nb", [(3, 0), (10, 0), (16, 0), (10, 64)])
def test_bad_row_at_block_edges_counts_nothing(backend, row, k, nb):
    rng = np.random.default_rng(row + k)
    p = _rows(rng, 10_000, k)
    p[row, k - 1] = 1.5
    if row + 1 < len(p):
        p[row + 1, 0] = np.nan  # a later bad value is not the one reported
    out = [np.ones((k, k)), np.ones((2, k, k)), np.ones((k, 3, nb))]
    with pytest.raises(ValueError) as info:
        _kernels.call(_kernels.load(backend).multiclass, p, 1e-3, False, 1e-3,
                      np.zeros((k, 1)), 0, *out)
    assert str(info.value).startswith(f"scores[{row}, {k - 1}] = 1.5 is outside [0, 1]")
    assert all((a == 1).all() for a in out)


def _set_sum(p, row, target, even=False):
    """Make row ``row`` of float32 ``p`` sum (in float64) to ``target`` within a float32
    rounding, by its last value (``even``: spread evenly first, so no value leaves [0, 1])."""
    if even:
        p[row] = np.float32(target / p.shape[1])
    p[row, -1] = np.float32(target - p[row, :-1].astype(np.float64).sum())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("offset", [-3e-6, -1e-6, -1e-7, 1e-7, 1e-6, 3e-6])
@pytest.mark.parametrize("sum_tol", [1e-3, 0.25, 2e-6])
def test_row_sums_near_the_tolerance(backend, offset, sum_tol):
    """Rows whose float64 sum lies within a few float32 roundings of 1 +- sum_tol: the fast
    check in float32 cannot decide them, the rescan must, exactly as the reference does."""
    rng = np.random.default_rng(int(abs(offset) * 1e7) + int(sum_tol * 1e6))
    p = _rows(rng, 6_000, 10)
    for r in range(6_000):
        _set_sum(p, r, 1.0)
    rows = [5, 300, 4100]
    for sign, r in zip((1, -1, 1), rows):
        _set_sum(p, r, 1.0 + sign * (sum_tol + offset), even=True)
    want_out = [np.ones((10, 10)), np.ones((2, 10, 10)), np.ones((10, 3, 0))]
    got_out = [np.copy(a) for a in want_out]
    errors = []
    for kern, out in ((_kernels_numpy, want_out), (_kernels.load(backend), got_out)):
        try:
            _kernels.call(kern.multiclass, p, sum_tol, False, sum_tol, np.zeros((10, 1)), 0,
                          *out)
            errors.append(None)
        except ValueError as exc:
            errors.append(str(exc))
    assert errors[1] == errors[0]
    if errors[0] is None:
        _close(got_out, want_out)
    else:
        assert all((a == 1).all() for a in got_out)


@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_zero_is_a_valid_probability(backend):
    rng = np.random.default_rng(4)
    p = _rows(rng, 9_000, 10)
    p[::5, 4] += p[::5, 3]
    p[::5, 3] = -0.0
    for nb in (0, 10):
        _close(_run(_kernels.load(backend), p, nb=nb), _run(_kernels_numpy, p, nb=nb))


def _rows_fooling_float32(rng, tol, k=10, tries=200_000):
    """Rows whose float64 sum is just outside 1 + tol while their float32 sum, added in row
    order, rounds to within it: a check done in float32 alone would let them through."""
    target = 1.0 + tol + rng.uniform(1e-9, 2e-7, tries)
    w = rng.uniform(0.5, 1.5, (tries, k))
    p = (w / w.sum(axis=1, keepdims=True) * target[:, None]).astype(np.float32)
    s64 = p.astype(np.float64).sum(axis=1)
    s32 = np.add.accumulate(p, axis=1, dtype=np.float32)[:, -1]
    tol32 = np.float32(tol)
    if np.float64(tol32) > tol:
        tol32 = np.nextafter(tol32, np.float32(0))
    fool = (s64 - 1.0 > tol + 1e-12) & (np.abs(s32 - np.float32(1)) <= tol32) & (p <= 1).all(1)
    return p[fool]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sum_tol", [1e-3, 0.25])
def test_float32_sum_does_not_decide_a_row(backend, sum_tol):
    rng = np.random.default_rng(17)
    bad = _rows_fooling_float32(rng, sum_tol)
    assert len(bad) > 0  # the search found rows to test with
    p = _rows(rng, 5_000, 10)
    for r in range(len(p)):
        _set_sum(p, r, 1.0)
    p[2_222] = bad[0]
    out = [np.ones((10, 10)), np.ones((2, 10, 10)), np.ones((10, 3, 0))]
    with pytest.raises(ValueError, match=r"scores\[2222\] sums to"):
        _kernels.call(_kernels.load(backend).multiclass, p, sum_tol, False, sum_tol,
                      np.zeros((10, 1)), 0, *out)
    assert all((a == 1).all() for a in out)
