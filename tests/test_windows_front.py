"""Windowed's front (windows.py ``_bind``): for BinaryMetrics and MulticlassMetrics templates on
the native backend (the one with bound calls, which arm the hot tier), ``update`` is a metric
object whose arrays alias the current bucket's and whose hot-tier and bound native paths do the
window's bookkeeping under the one lock. Every result must equal the general path's (the numpy
backend has neither fast path, so its windows take the general path only, which
tests/test_windows.py checks against sklearn) and sklearn's on the rows the window covers,
through bucket changes, splits, errors, weights, pickling, restores and threads."""
import math
import pickle
import threading
import time
import zlib

import numpy as np
import pytest
from sklearn import metrics as skm

from tallyml import BinaryMetrics, MulticlassMetrics, Windowed
from tallyml import _backends
from tallyml._backends import hot

pytestmark = pytest.mark.skipif(not _backends.native_available(),
                                reason="native library not built")
BACKENDS = ["native"]


@pytest.fixture(autouse=True)
def sync_tier(monkeypatch):
    monkeypatch.setenv(hot.ENV_VAR, "sync")  # the hot tier loads in the calling thread


def _hot_loaded(kind):
    """Wait until this process has the hot-tier kernel of ``kind``'s dtypes. Sync mode loads it
    in the requesting call, but an earlier test may have asked for it in the background (a
    request is made once per process): then the front picks it up only once that load ends."""
    m = _make(kind, "native")
    t, p = _batch(np.random.default_rng(0), kind, 8)
    deadline = time.monotonic() + 300
    while m._hot_ep is None and time.monotonic() < deadline:
        m.update(t, p)
        time.sleep(0.001)
    assert m._hot_ep is not None, hot.failures()
    # and its window variant, which fronts then take from their first bound call
    name = {"binary": "binary_scores", "multiclass": "multiclass_labels"}.get(kind, "multiclass_scores")
    assert hot.warm(name + "_ring", t.dtype, p.dtype) is not None, hot.failures()


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _make(kind, backend):
    if kind == "binary":
        return BinaryMetrics(threshold=0.4, backend=backend)
    return MulticlassMetrics(4, labels="all", backend=backend)


def _batch(rng, kind, n):
    if kind == "binary":
        return (rng.integers(0, 2, n).astype(np.int8), rng.random(n, dtype=np.float32))
    if kind == "multiclass":
        return (rng.integers(0, 4, n).astype(np.int32), rng.integers(0, 4, n).astype(np.int32))
    scores = rng.random((n, 4), dtype=np.float32)
    return (rng.integers(0, 4, n).astype(np.int32), scores)


def _labels(kind, preds):
    if kind == "binary":
        return (preds.astype(np.float64) >= 0.4).astype(np.int64)
    return preds if preds.ndim == 1 else preds.argmax(axis=1)


def _sizes(rng, count):
    """Mostly hot-tier batches, some above its row limit (bound native call), some empty."""
    sizes = rng.integers(1, 300, count)
    sizes[rng.random(count) < 0.1] = 0
    sizes[rng.random(count) < 0.1] = hot.MAX_ROWS + 1 + rng.integers(0, 2000)
    return sizes


MODES = [dict(samples=1500, buckets=5), dict(samples=600, buckets=600 // 200),
         dict(updates=12, buckets=4), dict(updates=3, buckets=3), dict(seconds=10.0, buckets=5)]


def _window(mode, clock=None):
    return dict(mode, clock=clock) if "seconds" in mode else mode


def _same(a, b):
    np.testing.assert_array_equal(a.confusion_matrix(), b.confusion_matrix())
    assert a.count == b.count


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["binary", "multiclass", "scores"])
@pytest.mark.parametrize("mode", MODES, ids=lambda m: "-".join(f"{k}{v}" for k, v in m.items()))
def test_front_equals_general_path_and_sklearn(backend, kind, mode):
    _hot_loaded(kind)
    rng = np.random.default_rng(zlib.crc32(f"{backend}{kind}{mode}".encode()))
    c1, c2 = Clock(), Clock()
    fast = Windowed(_make(kind, backend), **_window(mode, c1))
    slow = Windowed(_make(kind, "numpy"), **_window(mode, c2))
    assert fast._front is not None and slow._front is None
    rows_t, rows_p, calls = [], [], []
    for n in _sizes(rng, 90):
        c1.t = c2.t = c1.t + float(rng.random()) * 1.5
        t, p = _batch(rng, kind, int(n))
        fast.update(t, p)
        slow.update(t, p)
        rows_t.append(t)
        rows_p.append(_labels(kind, p))
        calls.append(len(t))
        assert fast.window_bounds() == slow.window_bounds()
        _same(fast.window(), slow.window())
        _same(fast.total(), slow.total())
    # hot tier and bound call both took part
    assert fast._front._hot_ep is not None
    if "seconds" in mode:
        return
    # sklearn on exactly the rows (samples) or calls (updates) the window covers
    first, end = fast.window_bounds()
    if "samples" in mode:
        y, p = np.concatenate(rows_t)[first:end], np.concatenate(rows_p)[first:end]
    else:
        y = np.concatenate(rows_t[first:end]) if end > first else np.zeros(0, int)
        p = np.concatenate(rows_p[first:end]) if end > first else np.zeros(0, int)
    k = 2 if kind == "binary" else 4
    np.testing.assert_array_equal(fast.window().confusion_matrix(),
                                  skm.confusion_matrix(y, p, labels=range(k)))
    y_all, p_all = np.concatenate(rows_t), np.concatenate(rows_p)
    np.testing.assert_array_equal(fast.total().confusion_matrix(),
                                  skm.confusion_matrix(y_all, p_all, labels=range(k)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES[:4], ids=str)
def test_bad_batch_on_the_front_changes_nothing(backend, mode):
    _hot_loaded("binary")
    rng = np.random.default_rng(5)
    w = Windowed(_make("binary", backend), **mode)
    for _ in range(hot.ARM_AFTER + 5):
        w.update(*_batch(rng, "binary", 50))
    assert w._front._hot_ep is not None
    before = (w.window().confusion_matrix(), w.total().confusion_matrix(), w.window_bounds())
    for where in (0, 17, 49):
        t, p = _batch(rng, "binary", 50)
        t[where] = 3
        with pytest.raises(ValueError, match=rf"target\[{where}\] = 3"):
            w.update(t, p)
        t, p = _batch(rng, "binary", 50)
        p[where] = np.nan
        with pytest.raises(ValueError, match="preds"):
            w.update(t, p)
    after = (w.window().confusion_matrix(), w.total().confusion_matrix(), w.window_bounds())
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    assert before[2] == after[2]


@pytest.mark.parametrize("backend", BACKENDS)
def test_weighted_batches_between_fast_ones(backend):
    rng = np.random.default_rng(9)
    fast = Windowed(_make("multiclass", backend), updates=8, buckets=4)
    slow = Windowed(_make("multiclass", "numpy"), updates=8, buckets=4)
    for i in range(120):
        t, p = _batch(rng, "multiclass", int(rng.integers(1, 200)))
        w = rng.random(len(t)) if i % 9 == 4 else None
        fast.update(t, p, sample_weight=w)
        slow.update(t, p, sample_weight=w)
        np.testing.assert_allclose(fast.window().confusion_matrix(),
                                   slow.window().confusion_matrix(), rtol=1e-12)
        np.testing.assert_allclose(fast.total().confusion_matrix(),
                                   slow.total().confusion_matrix(), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pickled_window_keeps_counting_through_a_new_front(backend):
    rng = np.random.default_rng(4)
    w = Windowed(_make("binary", backend), samples=900, buckets=3)
    ref = Windowed(_make("binary", "numpy"), samples=900, buckets=3)
    for _ in range(50):
        b = _batch(rng, "binary", int(rng.integers(1, 120)))
        w.update(*b)
        ref.update(*b)
    w2 = pickle.loads(pickle.dumps(w))
    assert w2._front is not None and w2._front is not w._front
    for _ in range(50):
        b = _batch(rng, "binary", int(rng.integers(1, 120)))
        w2.update(*b)
        ref.update(*b)
        _same(w2.window(), ref.window())
        _same(w2.total(), ref.total())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", [dict(updates=40, buckets=4), dict(samples=4000, buckets=4)],
                         ids=str)
def test_threads_lose_nothing_and_buckets_stay_whole(backend, mode):
    t, p = _batch(np.random.default_rng(1), "binary", 100)
    w = Windowed(_make("binary", backend), **mode)
    n_threads, calls = 8, 300

    def worker():
        for _ in range(calls):
            w.update(t, p)

    threads = [threading.Thread(target=worker) for _ in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    one = _make("binary", backend)
    one.update(t, p)
    total = n_threads * calls
    np.testing.assert_array_equal(w.total().confusion_matrix(), one.confusion_matrix() * total)
    # every batch is the same: the window holds whole buckets of it (the bookkeeping ran under
    # the same lock as the counting)
    first, end = w.window_bounds()
    per_call = 1 if "updates" in mode else len(t)
    assert end == total * per_call
    np.testing.assert_array_equal(w.window().confusion_matrix(),
                                  one.confusion_matrix() * ((end - first) // per_call))


class _Counting(BinaryMetrics):
    def update(self, target, preds, sample_weight=None):
        super().update(target, preds, sample_weight)


def test_general_path_where_a_front_gains_nothing_or_would_be_wrong():
    assert Windowed(BinaryMetrics(), updates=4)._front is not None
    assert Windowed(_Counting(), updates=4)._front is None  # its update() would run twice
    assert Windowed(MulticlassMetrics(3, top_k=2), updates=4)._front is None
    assert Windowed(BinaryMetrics(backend="numpy"), updates=4)._front is None


def test_restore_in_place_keeps_the_lock_and_the_front():
    # monitor checkpoints put a window's state back into the running window (monitor/_checkpoint.py)
    rng = np.random.default_rng(12)
    w = Windowed(_make("binary", "native"), updates=6, buckets=3)
    for _ in range(40):
        w.update(*_batch(rng, "binary", 30))
    saved = pickle.loads(pickle.dumps(w.__getstate__()))
    ref = pickle.loads(pickle.dumps(w))
    lock, front, update = w._lock, w._front, w.update
    for _ in range(7):
        w.update(*_batch(rng, "binary", 30))  # counts the checkpoint does not have
    w._restore(saved)
    assert w._lock is lock and w._front is front and front._lock is lock
    for _ in range(40):
        b = _batch(rng, "binary", int(rng.integers(1, 60)))
        update(*b)  # an update() taken before the restore still counts into the window
        ref.update(*b)
        _same(w.window(), ref.window())
        _same(w.total(), ref.total())


def test_bucket_moved_to_the_gpu_keeps_the_front_off_its_host_paths():
    # backend="auto": a device batch moves the current bucket's state to the GPU (here numba's
    # simulator, see tests/conftest.py); later host batches must reach it through the general
    # path (copied to the device), never the front's host kernels
    from numba import cuda

    _hot_loaded("binary")
    rng = np.random.default_rng(21)
    w = Windowed(BinaryMetrics(threshold=0.4), updates=1000, buckets=2)
    ref = Windowed(BinaryMetrics(threshold=0.4, backend="numpy"), updates=1000, buckets=2)
    batches = [_batch(rng, "binary", 20) for _ in range(hot.ARM_AFTER + 12)]
    for b in batches[:hot.ARM_AFTER + 5]:
        w.update(*b)
    assert w._front._hot_ep is not None
    for i, b in enumerate(batches[hot.ARM_AFTER + 5:]):
        w.update(*(tuple(cuda.to_device(a) for a in b) if i == 2 else b))
    for b in batches:
        ref.update(*b)
    assert w._cur_obj._on_device and w._front._on_device
    _same(w.window(), ref.window())
    _same(w.total(), ref.total())


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
@pytest.mark.parametrize("mode", [dict(samples=200, buckets=4), dict(updates=4, buckets=2),
                                  dict(seconds=10.0, buckets=5)], ids=str)
def test_bad_batch_at_a_bucket_change_changes_nothing(kind, mode):
    """The batch that opens the next bucket is counted by the front's kernel into the stack's
    scratch row, and only then is the bucket changed (``_backends/_hot_kernels.py``, the
    ``*_ring`` kernels): a bad one there must leave the window, the total, the bounds and the
    scratch row as they were, and the good batch after it must open the bucket as the general
    path does."""
    _hot_loaded(kind)
    rng = np.random.default_rng(31)
    clock = Clock()
    fast = Windowed(_make(kind, "native"), **_window(mode, clock))
    slow = Windowed(_make(kind, "numpy"), **_window(mode, clock))
    size = 50
    slow_calls = []
    general = fast._front._ring_slow
    fast._front._ring_slow = lambda *a: (slow_calls.append(1), general(*a))[1]
    changes = 0
    for step in range(40):
        if "seconds" in mode:
            clock.t += 0.7
        t, p = _batch(rng, kind, size)
        change = (fast._rbuf[hot.RING_ROOM] == 0 if "seconds" not in mode
                  else clock.t >= fast._front._wedge)
        if change and fast._cur_obj is not None:
            bad_t = t.copy()
            bad_t[int(rng.integers(0, size))] = 7  # outside both label sets
            before = (fast.window().confusion_matrix(), fast.total().confusion_matrix(),
                      fast.total().count, fast.window_bounds())
            with pytest.raises(ValueError, match="target"):
                fast.update(bad_t, p)
            after = (fast.window().confusion_matrix(), fast.total().confusion_matrix(),
                     fast.total().count, fast.window_bounds())
            for a, b in zip(before, after):
                np.testing.assert_array_equal(a, b)
            assert not fast._views[-1].any()  # the kernels' scratch row stays empty
            assert all(not o._state.any() and o._count == 0 for o in fast._pool)
        trips = len(slow_calls)
        fast.update(t, p)
        slow.update(t, p)
        changes += change and len(slow_calls) == trips  # changed in the kernel
        _same(fast.window(), slow.window())
        _same(fast.total(), slow.total())
        assert fast.window_bounds() == slow.window_bounds()
    # the window variant of the kernel counted (sync tier) and, but for seconds windows (whose
    # changes take the general path), changed buckets
    assert fast._front._hot_ep is not None
    assert changes >= (0 if "seconds" in mode else 5)


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
@pytest.mark.parametrize("buckets", [1, 2, 3, 10])
@pytest.mark.parametrize("mode", ["samples", "updates"])
def test_reads_pickles_and_restores_at_random_moments(kind, buckets, mode):
    """Bucket changes in the front's kernel between reads at random moments,
    long stretches without one, pickles and restores: the window, the total and the bounds must
    equal the general path's every time they are read, for rings of 1 to 10 buckets."""
    _hot_loaded(kind)
    rng = np.random.default_rng(zlib.crc32(f"{kind}{buckets}{mode}".encode()))
    size = 2 * buckets if mode == "updates" else 400 * buckets
    fast = Windowed(_make(kind, "native"), **{mode: size, "buckets": buckets})
    slow = Windowed(_make(kind, "numpy"), **{mode: size, "buckets": buckets})
    for step in range(300):
        n = int(rng.choice([0, 30, 100, 250, hot.MAX_ROWS + 7], p=[.05, .4, .35, .15, .05]))
        t, p = _batch(rng, kind, n)
        fast.update(t, p)
        slow.update(t, p)
        r = rng.random()
        if r < 0.15:
            assert fast.window_bounds() == slow.window_bounds()
            _same(fast.window(), slow.window())
            _same(fast.total(), slow.total())
        elif r < 0.17:
            fast = pickle.loads(pickle.dumps(fast))
        elif r < 0.19:
            fast._restore(pickle.loads(pickle.dumps(fast.__getstate__())))
    _same(fast.window(), slow.window())
    _same(fast.total(), slow.total())
    assert len(fast._pool) <= buckets + 2  # spare objects do not pile up


@pytest.mark.parametrize("buckets", [1, 3])
def test_settling_into_float_counts_after_a_weighted_batch(buckets):
    """After a weighted batch the running total holds float64 counts, so a bucket change adds
    and empties with numpy, not the compiled roll; with ``buckets=1`` the bucket it empties is
    the one it has just added (the add must come first)."""
    _hot_loaded("multiclass")
    rng = np.random.default_rng(buckets)
    fast = Windowed(_make("multiclass", "native"), updates=2 * buckets, buckets=buckets)
    slow = Windowed(_make("multiclass", "numpy"), updates=2 * buckets, buckets=buckets)
    for step in range(60):
        t, p = _batch(rng, "multiclass", int(rng.integers(1, 200)))
        w = rng.random(len(t)) if step == 3 else None
        fast.update(t, p, sample_weight=w)
        slow.update(t, p, sample_weight=w)
        if step % 7 == 6:
            np.testing.assert_allclose(fast.total().confusion_matrix(),
                                       slow.total().confusion_matrix(), rtol=1e-12)
            np.testing.assert_allclose(fast.window().confusion_matrix(),
                                       slow.window().confusion_matrix(), rtol=1e-12)
    assert fast._closed._float


@pytest.mark.skipif(not hot.KERNEL_CLOCK, reason="the kernels read the clock on 64-bit Linux only")
@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_seconds_window_on_the_kernels_clock(kind):
    """With ``time.monotonic`` (the default clock) on 64-bit Linux the front's kernel reads the
    clock itself (``_backends/_hot_kernels.py``, ``_now_ns``): every batch must land in the
    bucket of a moment between the readings just before and just after its ``update``, and the
    kernel, not the general path, must have counted most batches."""
    _hot_loaded(kind)
    rng = np.random.default_rng(41)
    width, nb = 0.02, 4
    w = Windowed(_make(kind, "native"), seconds=width * nb, buckets=nb)
    assert w._rbuf[hot.RING_CLOCK] == 1 and w._front._wclock is None
    trips = []
    general = w._front._ring_slow
    w._front._ring_slow = lambda *a: (trips.append(1), general(*a))[1]
    plain = _make(kind, "native")
    log = []  # (first possible bucket, last possible bucket, samples)
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        t, p = _batch(rng, kind, int(rng.integers(1, 60)))
        before = time.monotonic()
        w.update(t, p)
        after = time.monotonic()
        plain.update(t, p)
        log.append((math.floor(before / width), math.floor(after / width), len(t)))
        time.sleep(0.0005)
    _same(w.total(), plain)
    with w._lock:
        w._pull_front()
        held = {j: w._slots[k]._count for k, j in enumerate(w._ids) if j is not None}
    assert len(held) == nb
    for j, count in held.items():
        low = sum(n for a, b, n in log if a == b == j)
        high = sum(n for a, b, n in log if a <= j <= b)
        assert low <= count <= high, (j, low, count, high)
    buckets = len({a for a, _, _ in log} | {b for _, b, _ in log})
    assert len(trips) <= buckets + 2 and len(log) > 5 * len(trips), (len(trips), buckets, len(log))
