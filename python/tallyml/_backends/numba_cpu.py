"""The numba CPU backend: the contract of ``tallyml._backends`` as ``@njit`` kernels.

This is the fallback when the C++ library is missing, so it is written for speed. Every kernel
makes one fused pass (ignore, range/NaN checks, threshold or argmax, counting) and counts into
private partials that reach the caller's state only when the whole batch is valid. A kernel never
raises: it returns ``(code, row, col)`` (code 0: valid; 1: target, 2: preds, 3: sample_weight) and
the Python wrapper formats the message exactly as ``reference.py`` does, from the array value.

Threads: batches of at least ``PAR_MIN_ELEMENTS`` elements are cut into chunks whose number
depends on the batch shape only (never on the thread count, so weighted float sums do not depend
on it either); a ``prange`` over chunks calls the single-thread kernel into one partial per chunk
(a ``prange`` with the counting loop inline stopped vectorising), and the first chunk that failed
holds the first bad sample overall.

Weighted sums: a partial summed from zero and then added to the state is exactly what the
reference's ``bincount`` does. Small batches with a large state (fewer samples than bins) are
validated first and then counted straight into the state instead, which avoids zeroing a large
partial per call; their weighted bins can differ from the reference in the last bit.

Concurrency: the kernels release the GIL, and adding a batch's partial into the state is not
atomic, so calls that share one state array must be serialised by the caller (the metric
object's lock); calls on different states run in parallel.

Importing this module imports numba (~0.3 s); ``tallyml._backends.load`` imports it lazily.
"""
from __future__ import annotations

import os

import numba
import numpy as np
from numba import njit, prange
from numba.extending import overload

__all__ = [
    "binary_labels",
    "binary_scores",
    "multiclass_labels",
    "multiclass_scores",
    "multilabel_labels",
    "multilabel_scores",
]

# Threads start at this many input elements (samples, or samples x columns for 2-D inputs).
PAR_MIN_ELEMENTS = 1 << 20
# A chunk holds at least this many elements; at most MAX_CHUNKS chunks.
CHUNK_MIN_ELEMENTS = 1 << 18
MAX_CHUNKS = 64
THREADS_ENV_VAR = "TALLYML_NUM_THREADS"

_NO_WEIGHT = np.empty(0, dtype=np.float64)
_NO_SEEN = np.empty(0, dtype=np.uint8)
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
# Unweighted multiclass counting spreads consecutive samples over this many sub-histograms
# (breaks the store-to-load dependency on repeated bins) when the state is small.
_SUBHIST = 4
_SUBHIST_MAX_K = 64

_KW = dict(nogil=True, cache=True)
_KW_PAR = dict(nogil=True, cache=True, parallel=True)

_OK = (0, 0, -1)


# --------------------------------------------------------------------------------------------
# per-element checks and helpers (same module, so that cache=True sees changes to them)

@njit(**_KW)
def _score_bad(x):
    # NaN fails both comparisons; +-inf fails the second
    return not (abs(x) < np.inf)


@njit(**_KW)
def _weight_bad(w):
    return not (w >= 0.0 and w < np.inf)


@njit(**_KW)
def _triplet_index(tp, fp, fn):
    s = tp + fp + fn
    r = fp + fn
    return s * (s + 1) * (s + 2) // 6 + r * (r + 1) // 2 + fn


@njit(**_KW)
def _chunk_bounds(n, nchunks, c):
    return c * n // nchunks, (c + 1) * n // nchunks


@njit(**_KW)
def _first_error(errs):
    for c in range(errs.shape[0]):
        if errs[c, 0] != 0:
            return errs[c, 0], errs[c, 1], errs[c, 2]
    return 0, 0, -1


# --------------------------------------------------------------------------------------------
# binary

@njit(**_KW)
def _binary_locate(target, preds, scores_mode, threshold, weight, has_w, ig, has_ig, lo, hi):
    """Slow scan for the first bad sample in [lo, hi) (only runs once a batch is known bad)."""
    for i in range(lo, hi):
        t = np.int64(target[i])
        if has_ig and t == ig:
            continue
        if (t >> 1) != 0:
            return 1, i, -1
        if scores_mode:
            if _score_bad(preds[i]):
                return 2, i, -1
        elif (np.int64(preds[i]) >> 1) != 0:
            return 2, i, -1
        if has_w and _weight_bad(weight[i]):
            return 3, i, -1
    return 0, 0, -1


@njit(**_KW)
def _sums_labels(target, preds):
    """(count, sum t, sum p, sum t & p, badness); badness != 0 if a label is not 0 or 1
    (t >> 1 is -1 for negatives, non-zero above 1). Callers pass slices: indices counted from 0
    are provably non-negative, which drops numba's wraparound select and lets the loop
    vectorise."""
    st = 0
    sp = 0
    stp = 0
    bad = 0
    for i in range(target.shape[0]):
        t = np.int64(target[i])
        p = np.int64(preds[i])
        bad |= (t >> 1) | (p >> 1)
        st += t
        sp += p
        stp += t & p
    return target.shape[0], st, sp, stp, bad


@njit(**_KW)
def _sums_labels_ig(target, preds, ig):
    cnt = 0
    st = 0
    sp = 0
    stp = 0
    bad = 0
    for i in range(target.shape[0]):
        t = np.int64(target[i])
        p = np.int64(preds[i])
        keep = -np.int64(t != ig)  # all ones when kept
        bad |= ((t >> 1) | (p >> 1)) & keep
        cnt -= keep
        st += t & keep
        sp += p & keep
        stp += t & p & keep
    return cnt, st, sp, stp, bad


@njit(**_KW)
def _sums_scores(target, scores, threshold):
    st = 0
    sp = 0
    stp = 0
    bad = 0
    for i in range(target.shape[0]):
        t = np.int64(target[i])
        x = scores[i]
        p = np.int64(np.float64(x) >= threshold)
        bad |= (t >> 1) | np.int64(_score_bad(x))
        st += t
        sp += p
        stp += t & p
    return target.shape[0], st, sp, stp, bad


@njit(**_KW)
def _sums_scores_ig(target, scores, threshold, ig):
    cnt = 0
    st = 0
    sp = 0
    stp = 0
    bad = 0
    for i in range(target.shape[0]):
        t = np.int64(target[i])
        x = scores[i]
        p = np.int64(np.float64(x) >= threshold)
        keep = -np.int64(t != ig)
        bad |= ((t >> 1) | np.int64(_score_bad(x))) & keep
        cnt -= keep
        st += t & keep
        sp += p & keep
        stp += t & p & keep
    return cnt, st, sp, stp, bad


@njit(**_KW)
def _binary_range(target, preds, scores_mode, threshold, weight, has_w, ig, has_ig, lo, hi, acc):
    """Count samples [lo, hi) into acc (4,) = flat [t, p] partial; return (code, row, col)."""
    if has_w:
        # weighted: one bin at a time, in sample order (bit-equal to the reference's bincount)
        for i in range(lo, hi):
            t = np.int64(target[i])
            if has_ig and t == ig:
                continue
            if (t >> 1) != 0:
                return 1, i, -1
            if scores_mode:
                x = preds[i]
                if _score_bad(x):
                    return 2, i, -1
                p = np.int64(np.float64(x) >= threshold)
            else:
                p = np.int64(preds[i])
                if (p >> 1) != 0:
                    return 2, i, -1
            w = weight[i]
            if _weight_bad(w):
                return 3, i, -1
            acc[t * 2 + p] += w
        return 0, 0, -1
    # unweighted: branch-free sums of t, p and t & p; badness is OR-ed and located afterwards.
    # One tight loop per mode, so that each vectorises.
    if scores_mode:
        if has_ig:
            cnt, st, sp, stp, bad = _sums_scores_ig(target[lo:hi], preds[lo:hi], threshold, ig)
        else:
            cnt, st, sp, stp, bad = _sums_scores(target[lo:hi], preds[lo:hi], threshold)
    elif has_ig:
        cnt, st, sp, stp, bad = _sums_labels_ig(target[lo:hi], preds[lo:hi], ig)
    else:
        cnt, st, sp, stp, bad = _sums_labels(target[lo:hi], preds[lo:hi])
    if bad != 0:
        return _binary_locate(target, preds, scores_mode, threshold, weight, has_w, ig, has_ig,
                              lo, hi)
    acc[0] += cnt - st - sp + stp
    acc[1] += sp - stp
    acc[2] += st - stp
    acc[3] += stp
    return 0, 0, -1


@njit(**_KW)
def _binary_serial(target, preds, scores_mode, threshold, weight, has_w, ig, has_ig, state):
    acc = np.zeros(4, dtype=state.dtype)
    err = _binary_range(target, preds, scores_mode, threshold, weight, has_w, ig, has_ig,
                        0, target.shape[0], acc)
    if err[0] == 0:
        state[0, 0] += acc[0]
        state[0, 1] += acc[1]
        state[1, 0] += acc[2]
        state[1, 1] += acc[3]
    return err


@njit(**_KW_PAR)
def _binary_par(target, preds, scores_mode, threshold, weight, has_w, ig, has_ig, state, nchunks):
    n = target.shape[0]
    parts = np.zeros((nchunks, 4), dtype=state.dtype)
    errs = np.zeros((nchunks, 3), dtype=np.int64)
    for c in prange(nchunks):
        lo, hi = _chunk_bounds(n, nchunks, c)
        e = _binary_range(target, preds, scores_mode, threshold, weight, has_w, ig, has_ig,
                          lo, hi, parts[c])
        errs[c, 0] = e[0]
        errs[c, 1] = e[1]
        errs[c, 2] = e[2]
    err = _first_error(errs)
    if err[0] == 0:
        acc = np.zeros(4, dtype=state.dtype)
        for c in range(nchunks):
            for b in range(4):
                acc[b] += parts[c, b]
        state[0, 0] += acc[0]
        state[0, 1] += acc[1]
        state[1, 0] += acc[2]
        state[1, 1] += acc[3]
    return err


# --------------------------------------------------------------------------------------------
# multiclass

def _row_pred(preds, i, k):
    """Prediction of sample i and a status: -1 valid, -2 label out of range, j >= 0 the first
    non-finite score column. Labels (N,) or scores (N, k), chosen when compiling."""
    raise NotImplementedError


@overload(_row_pred, jit_options=_KW)
def _row_pred_impl(preds, i, k):
    if preds.ndim == 2:
        def scores_argmax(preds, i, k):
            best = preds[i, 0]
            p = 0
            for j in range(k):
                v = preds[i, j]
                if _score_bad(v):
                    return np.int64(0), np.int64(j)
                if v > best:  # strict: the first maximum wins
                    best = v
                    p = j
            return np.int64(p), np.int64(-1)
        return scores_argmax

    def label(preds, i, k):
        p = np.int64(preds[i])
        if np.uint64(p) >= np.uint64(k):
            return p, np.int64(-2)
        return p, np.int64(-1)
    return label


@njit(**_KW)
def _mc_range(target, preds, weight, has_w, ig, has_ig, k, lo, hi, hist, nsub,
              seen, has_seen, count):
    """Check samples [lo, hi) and, when ``count``, add them to hist (flat, nsub sub-histograms
    of k*k bins; nsub is a power of two, 1 when weighted) and mark seen. preds are labels (N,)
    or scores (N, k) whose argmax (first maximum) is the prediction."""
    kk = k * k
    uk = np.uint64(k)
    mask = nsub - 1
    for i in range(lo, hi):
        t = np.int64(target[i])
        if has_ig and t == ig:
            continue
        if np.uint64(t) >= uk:  # negative labels wrap to huge values
            return 1, i, -1
        p, status = _row_pred(preds, i, k)
        if status != -1:
            return 2, i, max(status, -1)
        if has_w:
            w = weight[i]
            if _weight_bad(w):
                return 3, i, -1
            if count:
                hist[t * k + p] += w
        elif count:
            hist[(i & mask) * kk + t * k + p] += 1
        if count and has_seen:
            seen[t] = 1
            seen[p] = 1
    return 0, 0, -1


@njit(**_KW)
def _mc_serial(target, preds, weight, has_w, ig, has_ig, state, seen, has_seen):
    n = target.shape[0]
    k = state.shape[0]
    kk = k * k
    flat = state.reshape(kk)
    if n < kk:
        # small batch, large state: validate, then count straight into the state
        err = _mc_range(target, preds, weight, has_w, ig, has_ig, k, 0, n, flat, 1,
                        seen, has_seen, False)
        if err[0] == 0:
            _mc_range(target, preds, weight, has_w, ig, has_ig, k, 0, n, flat, 1,
                      seen, has_seen, True)
        return err
    nsub = 1
    if not has_w and k <= _SUBHIST_MAX_K and n >= _SUBHIST * kk:
        nsub = _SUBHIST
    hist = np.zeros(nsub * kk, dtype=state.dtype)
    seen_part = np.zeros(k if has_seen else 0, dtype=np.uint8)
    err = _mc_range(target, preds, weight, has_w, ig, has_ig, k, 0, n, hist, nsub,
                    seen_part, has_seen, True)
    if err[0] == 0:
        for b in range(kk):
            s = hist[b]
            for h in range(1, nsub):
                s += hist[h * kk + b]
            flat[b] += s
        if has_seen:
            for j in range(k):
                if seen_part[j]:
                    seen[j] = 1
    return err


@njit(**_KW_PAR)
def _mc_par(target, preds, weight, has_w, ig, has_ig, state, seen, has_seen,
            nchunks):
    n = target.shape[0]
    k = state.shape[0]
    kk = k * k
    flat = state.reshape(kk)
    parts = np.zeros((nchunks, kk), dtype=state.dtype)
    seen_parts = np.zeros((nchunks, k if has_seen else 0), dtype=np.uint8)
    errs = np.zeros((nchunks, 3), dtype=np.int64)
    for c in prange(nchunks):
        lo, hi = _chunk_bounds(n, nchunks, c)
        e = _mc_range(target, preds, weight, has_w, ig, has_ig, k, lo, hi, parts[c],
                      1, seen_parts[c], has_seen, True)
        errs[c, 0] = e[0]
        errs[c, 1] = e[1]
        errs[c, 2] = e[2]
    err = _first_error(errs)
    if err[0] == 0:
        for b in prange(kk):
            s = parts[0, b]
            for c in range(1, nchunks):
                s += parts[c, b]
            flat[b] += s
        if has_seen:
            for c in range(nchunks):
                for j in range(k):
                    if seen_parts[c, j]:
                        seen[j] = 1
    return err


# --------------------------------------------------------------------------------------------
# multilabel

@njit(**_KW)
def _ml_range(target, preds, scores_mode, threshold, weight, has_w, lo, hi, hist, samples, count):
    """Check rows [lo, hi) (target's row before preds' row, lowest column first) and, when
    ``count``, add them to hist (flat L*4 partial of state[l, t, p]) and to the per-sample
    triplet histogram."""
    n_lab = target.shape[1]
    for i in range(lo, hi):
        for j in range(n_lab):
            if (np.int64(target[i, j]) >> 1) != 0:
                return 1, i, j
        for j in range(n_lab):
            if scores_mode:
                if _score_bad(preds[i, j]):
                    return 2, i, j
            elif (np.int64(preds[i, j]) >> 1) != 0:
                return 2, i, j
        w = 1.0
        if has_w:
            w = weight[i]
            if _weight_bad(w):
                return 3, i, -1
        if not count:
            continue
        tp = 0
        t_sum = 0
        p_sum = 0
        for j in range(n_lab):
            t = np.int64(target[i, j])
            if scores_mode:
                p = np.int64(np.float64(preds[i, j]) >= threshold)
            else:
                p = np.int64(preds[i, j])
            tp += t & p
            t_sum += t
            p_sum += p
            if has_w:
                hist[j * 4 + t * 2 + p] += w
            else:
                hist[j * 4 + t * 2 + p] += 1
        b = _triplet_index(tp, p_sum - tp, t_sum - tp)
        if has_w:
            samples[b] += w
        else:
            samples[b] += 1
    return 0, 0, -1


@njit(**_KW)
def _ml_serial(target, preds, scores_mode, threshold, weight, has_w, state, samples):
    n = target.shape[0]
    n_lab = target.shape[1]
    flat = state.reshape(n_lab * 4)
    if n * n_lab < samples.shape[0]:
        # few rows, long triplet histogram: validate, then count straight into the outputs
        err = _ml_range(target, preds, scores_mode, threshold, weight, has_w, 0, n, flat, samples,
                        False)
        if err[0] == 0:
            _ml_range(target, preds, scores_mode, threshold, weight, has_w, 0, n, flat, samples,
                      True)
        return err
    hist = np.zeros(n_lab * 4, dtype=state.dtype)
    samp = np.zeros(samples.shape[0], dtype=samples.dtype)
    err = _ml_range(target, preds, scores_mode, threshold, weight, has_w, 0, n, hist, samp, True)
    if err[0] == 0:
        for b in range(n_lab * 4):
            flat[b] += hist[b]
        for b in range(samp.shape[0]):
            samples[b] += samp[b]
    return err


@njit(**_KW_PAR)
def _ml_par(target, preds, scores_mode, threshold, weight, has_w, state, samples, nchunks):
    n = target.shape[0]
    n_lab = target.shape[1]
    nb = samples.shape[0]
    flat = state.reshape(n_lab * 4)
    parts = np.zeros((nchunks, n_lab * 4), dtype=state.dtype)
    samp_parts = np.zeros((nchunks, nb), dtype=samples.dtype)
    errs = np.zeros((nchunks, 3), dtype=np.int64)
    for c in prange(nchunks):
        lo, hi = _chunk_bounds(n, nchunks, c)
        e = _ml_range(target, preds, scores_mode, threshold, weight, has_w, lo, hi, parts[c],
                      samp_parts[c], True)
        errs[c, 0] = e[0]
        errs[c, 1] = e[1]
        errs[c, 2] = e[2]
    err = _first_error(errs)
    if err[0] == 0:
        for b in range(n_lab * 4):
            s = parts[0, b]
            for c in range(1, nchunks):
                s += parts[c, b]
            flat[b] += s
        for b in prange(nb):
            s = samp_parts[0, b]
            for c in range(1, nchunks):
                s += samp_parts[c, b]
            samples[b] += s
    return err


# --------------------------------------------------------------------------------------------
# Python wrappers: argument plumbing, thread plan, error messages

def _weight_args(weight):
    return (_NO_WEIGHT, False) if weight is None else (weight, True)


def _ignore_args(ignore_index):
    if ignore_index is None:
        return 0, False
    ig = int(ignore_index)
    if ig < _INT64_MIN or ig > _INT64_MAX:
        return 0, False  # no int64 target can equal it
    return ig, True


def _threads_wanted(num_threads):
    if num_threads is None or isinstance(num_threads, bool) or not isinstance(
            num_threads, (int, np.integer)) or num_threads < 0:
        raise ValueError(f"num_threads must be an integer >= 0; got {num_threads!r}")
    n = int(num_threads)
    if n == 0:
        env = os.environ.get(THREADS_ENV_VAR, "").strip()
        if env:
            try:
                n = int(env)
            except ValueError:
                n = -1
            if n < 1:
                raise ValueError(
                    f"environment variable {THREADS_ENV_VAR} must be an integer >= 1; got {env!r}"
                )
    limit = numba.config.NUMBA_NUM_THREADS
    return limit if n == 0 else min(n, limit)


def _plan(n, elements, partial_bins, num_threads):
    """Number of chunks (a function of the batch shape only) and of threads for a batch."""
    if elements < PAR_MIN_ELEMENTS or n < 2:
        if type(num_threads) is not int or num_threads < 0:  # cheap check on the hot path
            _threads_wanted(num_threads)
        return 1, 1
    nchunks = min(MAX_CHUNKS, elements // CHUNK_MIN_ELEMENTS, n // max(1, partial_bins), n)
    threads = _threads_wanted(num_threads)
    if nchunks < 2:
        return 1, 1
    return nchunks, max(1, min(threads, nchunks))


def _run_par(func, threads, args):
    old = numba.get_num_threads()
    numba.set_num_threads(threads)  # thread-local to the calling thread
    try:
        return func(*args)
    finally:
        numba.set_num_threads(old)


def _check_len(name, arr, n):
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} samples but target has {n}")


def _check_weighted_state(*outputs):
    # a weighted count added into an int64 array would be truncated silently
    for out in outputs:
        if out.dtype != np.float64:
            raise TypeError(f"state must be float64 when sample_weight is given; got {out.dtype}")


def _check_shape(name, arr, shape):
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {arr.shape}")


def _raise(err, target, preds, weight, high, preds_are_scores):
    code, row, col = int(err[0]), int(err[1]), int(err[2])
    if code == 3:
        raise ValueError(
            f"sample_weight[{row}] = {float(weight[row])!r} is not a finite non-negative number"
        )
    name, arr = ("target", target) if code == 1 else ("preds", preds)
    if col < 0:
        where, value = f"{name}[{row}]", arr[row]
    else:
        where, value = f"{name}[{row}, {col}]", arr[row, col]
    if code == 2 and preds_are_scores:
        raise ValueError(f"{where} = {float(value)!r} is not finite")
    raise ValueError(f"{where} = {int(value)} is outside [0, {high})")


def _binary(target, preds, scores_mode, threshold, weight, ignore_index, state, num_threads):
    n = target.shape[0]
    # one combined test on the hot path; _check_* name the culprit
    if preds.shape[0] != n or state.shape != (2, 2) or (
            weight is not None and weight.shape[0] != n):
        _check_len("preds", preds, n)
        if weight is not None:
            _check_len("sample_weight", weight, n)
        _check_shape("state", state, (2, 2))
    if weight is None:
        w, has_w = _NO_WEIGHT, False
    else:
        _check_weighted_state(state)
        w, has_w = weight, True
    if ignore_index is None:
        ig, has_ig = 0, False
    else:
        ig, has_ig = _ignore_args(ignore_index)
    if n < PAR_MIN_ELEMENTS and type(num_threads) is int and num_threads >= 0:
        nchunks = 1
    else:
        nchunks, threads = _plan(n, n, 4, num_threads)
    if nchunks == 1:
        err = _binary_serial(target, preds, scores_mode, threshold, w, has_w, ig, has_ig, state)
    else:
        err = _run_par(_binary_par, threads, (target, preds, scores_mode, threshold, w, has_w, ig,
                                              has_ig, state, nchunks))
    if err[0]:
        _raise(err, target, preds, weight, 2, scores_mode)


def binary_labels(target, preds, weight, ignore_index, state, num_threads=0):
    _binary(target, preds, False, 0.5, weight, ignore_index, state, num_threads)


def binary_scores(target, scores, threshold, weight, ignore_index, state, num_threads=0):
    if type(threshold) is not float:
        threshold = float(threshold)
    _binary(target, scores, True, threshold, weight, ignore_index, state, num_threads)


def _multiclass(target, preds, scores_mode, weight, ignore_index, state, seen, num_threads):
    n = target.shape[0]
    k = state.shape[0]
    # one combined test on the hot path; the _check_* calls name the culprit
    if (state.shape != (k, k) or target.ndim != 1
            or preds.shape != ((n, k) if scores_mode else (n,))
            or (weight is not None and weight.shape != (n,))
            or (seen is not None and seen.shape != (k,))):
        _check_shape("state", state, (k, k))
        _check_shape("target", target, (n,))
        _check_shape("preds", preds, (n, k) if scores_mode else (n,))
        if weight is not None:
            _check_shape("sample_weight", weight, (n,))
        if seen is not None:
            _check_shape("seen", seen, (k,))
    if weight is not None:
        _check_weighted_state(state)
    w, has_w = _weight_args(weight)
    ig, has_ig = (0, False) if ignore_index is None else _ignore_args(ignore_index)
    s, has_seen = (_NO_SEEN, False) if seen is None else (seen, True)
    elements = n * k if scores_mode else n
    nchunks, threads = _plan(n, elements, k * k, num_threads)
    if nchunks == 1:
        err = _mc_serial(target, preds, w, has_w, ig, has_ig, state, s, has_seen)
    else:
        err = _run_par(_mc_par, threads, (target, preds, w, has_w, ig, has_ig, state,
                                          s, has_seen, nchunks))
    if err[0]:
        _raise(err, target, preds, weight, k, scores_mode)


def multiclass_labels(target, preds, weight, ignore_index, state, seen, num_threads=0):
    _multiclass(target, preds, False, weight, ignore_index, state, seen, num_threads)


def multiclass_scores(target, scores, weight, ignore_index, state, seen, num_threads=0):
    _multiclass(target, scores, True, weight, ignore_index, state, seen, num_threads)


def _multilabel(target, preds, scores_mode, threshold, weight, state, samples, num_threads):
    if target.ndim != 2:
        raise ValueError(f"target must be 2-D (samples, labels); got shape {target.shape}")
    n, n_lab = target.shape
    _check_shape("preds", preds, (n, n_lab))
    if weight is not None:
        _check_len("sample_weight", weight, n)
    _check_shape("state", state, (n_lab, 2, 2))
    bins = (n_lab + 1) * (n_lab + 2) * (n_lab + 3) // 6
    _check_shape("samples", samples, (bins,))
    if weight is not None:
        _check_weighted_state(state, samples)
    w, has_w = _weight_args(weight)
    nchunks, threads = _plan(n, n * n_lab, n_lab * 4 + bins, num_threads)
    if nchunks == 1:
        err = _ml_serial(target, preds, scores_mode, threshold, w, has_w, state, samples)
    else:
        err = _run_par(_ml_par, threads, (target, preds, scores_mode, threshold, w, has_w, state,
                                          samples, nchunks))
    if err[0]:
        _raise(err, target, preds, weight, 2, scores_mode)


def multilabel_labels(target, preds, weight, state, samples, num_threads=0):
    _multilabel(target, preds, False, 0.5, weight, state, samples, num_threads)


def multilabel_scores(target, scores, threshold, weight, state, samples, num_threads=0):
    _multilabel(target, scores, True, float(threshold), weight, state, samples, num_threads)
