"""Shared-memory slots: many processes count, any process reads the exact sum."""
import multiprocessing as mp
import os
import signal
import time

import numpy as np
import pytest
from sklearn import metrics as skm

import tallyml
from tallyml import BinaryMetrics, MulticlassMetrics, MultilabelMetrics, SharedSlots

BE = "numpy"
K = 5


def batches(seed, n_batches, size=64):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, K, size), rng.integers(0, K, size)) for _ in range(n_batches)]


def _worker(path, seed, n_batches, ready=None):
    slots = SharedSlots.open(path)
    w = slots.claim()
    if ready is not None:
        ready.set()
    for y, p in batches(seed, n_batches):
        w.update(y, p)
    w.release()


@pytest.fixture
def slot_file(tmp_path):
    return str(tmp_path / "slots.bin")


def test_workers_sum_to_single_process_result(slot_file):
    SharedSlots.create(MulticlassMetrics(K, labels="all", backend=BE), 4, path=slot_file)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(slot_file, s, 60)) for s in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    single = MulticlassMetrics(K, labels="all", backend=BE)
    for s in range(4):
        for y, p in batches(s, 60):
            single.update(y, p)
    # a restarted reader (a new mapping of the same file) sees everything
    reader = SharedSlots.open(slot_file)
    total = reader.total()
    np.testing.assert_array_equal(total.confusion_matrix(), single.confusion_matrix())
    assert total.count == single.count == 4 * 60 * 64
    # a released slot is free for the next claim (its counts continue), so how the work spread
    # over slots depends on timing; the slots always add up
    assert sum(reader.slot(i).count for i in range(4)) == total.count
    assert reader.owners() == [0, 0, 0, 0]


def _slow_worker(path, seed, progress):
    slots = SharedSlots.open(path)
    w = slots.worker(0)
    rng = np.random.default_rng(seed)  # the same stream as batches(seed, n), generated lazily
    i = 0
    while True:
        y, p = rng.integers(0, K, 64), rng.integers(0, K, 64)
        w.update(y, p)
        i += 1
        progress.value = i


def test_killed_worker_loses_nothing_counted_and_its_slot_is_taken_over(slot_file):
    slots = SharedSlots.create(MulticlassMetrics(K, labels="all", backend=BE), 2, path=slot_file)
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    progress = ctx.Value("l", 0, lock=False)
    proc = ctx.Process(target=_slow_worker, args=(slot_file, 7, progress))
    proc.start()
    deadline = time.monotonic() + 120
    while progress.value < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    done = progress.value  # batches completed (the count is written after each batch)
    total = SharedSlots.open(slot_file).total()
    ref = MulticlassMetrics(K, labels="all", backend=BE)
    for y, p in batches(7, done + 1)[:done]:
        ref.update(y, p)
    got = total.confusion_matrix()
    assert total.count in (done * 64, (done + 1) * 64)  # killed between two batches or just after one
    if total.count == done * 64:
        np.testing.assert_array_equal(got, ref.confusion_matrix())
    else:
        y, p = batches(7, done + 1)[done]
        ref.update(y, p)
        np.testing.assert_array_equal(got, ref.confusion_matrix())
    # slot 0 was claimed by nobody; a claim by this process takes a free slot and keeps counting
    w = slots.claim()
    w.update(np.array([1]), np.array([2]))
    assert slots.total().count == total.count + 1


def test_fork_workers_and_weighted_binary(tmp_path):
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("needs fork")
    slots = SharedSlots.create(BinaryMetrics(0.4, backend=BE), 3, weighted=True, path=str(tmp_path / "w.bin"))
    rng = np.random.default_rng(3)
    parts = [(rng.integers(0, 2, 500), rng.random(500), rng.random(500)) for _ in range(3)]
    ctx = mp.get_context("fork")

    def run(i):
        w = slots.worker(i)  # pre-fork: the mapping is inherited
        y, s, sw = parts[i]
        for a in range(0, 500, 100):
            w.update(y[a:a + 100], s[a:a + 100], sample_weight=sw[a:a + 100])
        os._exit(0)

    procs = [ctx.Process(target=run, args=(i,)) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    y = np.concatenate([p[0] for p in parts])
    pred = (np.concatenate([p[1] for p in parts]) >= 0.4).astype(int)
    sw = np.concatenate([p[2] for p in parts])
    total = slots.total()
    np.testing.assert_allclose(total.confusion_matrix(), skm.confusion_matrix(y, pred, sample_weight=sw), rtol=1e-12)
    np.testing.assert_allclose(total.f1(), skm.f1_score(y, pred, sample_weight=sw), rtol=1e-12)


def test_multilabel_slots_and_update_one(tmp_path):
    slots = SharedSlots.create(MultilabelMetrics(3, backend=BE), 2, path=str(tmp_path / "ml.bin"))
    rng = np.random.default_rng(4)
    y, p = rng.integers(0, 2, (80, 3)), rng.random((80, 3))
    slots.worker(0).update(y[:50], p[:50])
    slots.worker(1).update(y[50:], p[50:])
    np.testing.assert_array_equal(slots.total().confusion_matrix(),
                                  skm.multilabel_confusion_matrix(y, (p >= 0.5).astype(int)))
    assert slots.total().accuracy() == skm.accuracy_score(y, (p >= 0.5).astype(int))
    b = SharedSlots.create(BinaryMetrics(backend=BE), 1, path=str(tmp_path / "b.bin"))
    w = b.worker(0)
    w.update_one(1, 0.7)
    w.update_one(0, 0.7)
    assert SharedSlots.open(b.path).total().confusion_matrix().tolist() == [[0, 1], [0, 1]]


def test_bad_input(tmp_path):
    t = BinaryMetrics(backend=BE)
    with pytest.raises(ValueError, match="slots"):
        SharedSlots.create(t, 0, path=str(tmp_path / "a"))
    with pytest.raises(TypeError, match="template"):
        SharedSlots.create(object(), 2, path=str(tmp_path / "a"))
    used = BinaryMetrics(backend=BE)
    used.update([1], [1])
    with pytest.raises(ValueError, match="empty"):
        SharedSlots.create(used, 2, path=str(tmp_path / "a"))
    slots = SharedSlots.create(t, 2, path=str(tmp_path / "a"))
    with pytest.raises(FileExistsError):
        SharedSlots.create(t, 2, path=str(tmp_path / "a"))
    with pytest.raises(ValueError, match="slot index"):
        slots.worker(2)
    w = slots.worker(0)
    w.update([1, 0], [1, 1])
    with pytest.raises(ValueError, match="sample_weight"):
        w.update([1], [1], sample_weight=[2.0])
    with pytest.raises(ValueError, match=r"target\[1\]"):
        w.update([1, 5], [1, 1])
    assert slots.total().count == 2
    (tmp_path / "junk").write_bytes(b"x" * 100)
    with pytest.raises(ValueError, match="not a tallyml"):
        SharedSlots.open(str(tmp_path / "junk"))
    slots.unlink()
    assert not os.path.exists(slots.path)
