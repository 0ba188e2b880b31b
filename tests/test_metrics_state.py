"""State of the metric objects: chunking, merge, state_dict, pickling, reset, threads."""
import copy
import pickle
import sys
import threading

import numpy as np
import pytest
from hypothesis import Phase, given, settings, strategies as st
from sklearn import metrics as skm

from tallyml import BinaryMetrics, MulticlassMetrics, MultilabelMetrics


def _batches(kind, rng, n_batches, weighted):
    """Random batches (target, preds, weight) for one metric kind; weights on some batches."""
    out = []
    for i in range(n_batches):
        n = int(rng.integers(0, 30))
        if kind == "binary":
            t = rng.integers(0, 2, n)
            p = rng.random(n) if i % 2 else rng.integers(0, 2, n).astype(np.int8)
        elif kind == "multiclass":
            t = rng.integers(0, 4, n)
            p = rng.random((n, 4)).astype(np.float32) if i % 2 else rng.integers(0, 4, n)
        else:
            t = rng.integers(0, 2, (n, 3))
            p = rng.random((n, 3)) if i % 2 else rng.integers(0, 2, (n, 3))
        w = rng.random(n) * (rng.random(n) < 0.8) if weighted and rng.random() < 0.6 else None
        out.append((t, p, w))
    return out


def _new(kind, **kw):
    if kind == "binary":
        return BinaryMetrics(**kw)
    if kind == "multiclass":
        return MulticlassMetrics(4, **kw)
    return MultilabelMetrics(3, **kw)


def _feed(m, batches):
    for t, p, w in batches:
        m.update(t, p, sample_weight=w)
    return m


def _assert_same_state(a, b, exact=True):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        if isinstance(sa[key], np.ndarray):
            assert sa[key].dtype == sb[key].dtype, key
            if exact:
                np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)
            else:  # float sums in another order
                np.testing.assert_allclose(sa[key], sb[key], rtol=1e-12, atol=1e-12, err_msg=key)
        else:
            assert sa[key] == sb[key], key


def _concat(batches):
    t = np.concatenate([b[0] for b in batches])
    p_all = [b[1] for b in batches]
    return t, p_all


KINDS = ["binary", "multiclass", "multilabel"]


@settings(max_examples=20, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate))
@given(kind=st.sampled_from(KINDS), seed=st.integers(0, 2**32 - 1), weighted=st.booleans(),
       split=st.integers(0, 6))
def test_merge_equals_concatenation(kind, seed, weighted, split):
    rng = np.random.default_rng(seed)
    batches = _batches(kind, rng, 6, weighted)
    whole = _feed(_new(kind), batches)
    left, right = _feed(_new(kind), batches[:split]), _feed(_new(kind), batches[split:])
    exact = not whole.weighted
    _assert_same_state(left + right, whole, exact)
    _assert_same_state(right + left, whole, exact)
    merged = _new(kind)
    merged.merge(left).merge(right)
    _assert_same_state(merged, whole, exact)
    left += right
    _assert_same_state(left, whole, exact)
    # chunking a batch never changes anything
    rechunked = _new(kind)
    for t, p, w in batches:
        cut = len(t) // 2
        rechunked.update(t[:cut], p[:cut], None if w is None else w[:cut])
        rechunked.update(t[cut:], p[cut:], None if w is None else w[cut:])
    _assert_same_state(rechunked, whole, exact)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_state_dict_and_pickle_round_trip(kind, weighted):
    rng = np.random.default_rng(1)
    m = _feed(_new(kind, zero_division=1), _batches(kind, rng, 5, weighted))
    if kind != "multilabel":
        m.update_one(1, 1)  # pending scalar counts are part of the state
    for clone in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m), copy.copy(m)):
        _assert_same_state(clone, m)
        assert clone.count == m.count
        assert repr(clone) == repr(m)
        clone.update(*_batches(kind, rng, 1, False)[0][:2])  # a working lock and backend
    fresh = _new(kind)
    fresh.load_state_dict(m.state_dict())
    _assert_same_state(fresh, m)
    sd = m.state_dict()
    sd["state"][...] = 0  # state_dict returns copies
    assert m.state_dict()["state"].sum() > 0


def test_load_state_dict_checks_and_changes_nothing():
    m = MulticlassMetrics(3)
    m.update([0, 1, 2], [0, 1, 1])
    before = m.state_dict()
    good = m.state_dict()
    bad_cases = [
        ({**good, "kind": "binary"}, "kind"),
        ({**good, "state": np.zeros((4, 4), np.int64)}, "shape"),
        ({**good, "state": np.zeros((3, 3), np.float32)}, "int64 or float64"),
        ({**good, "seen": np.zeros(3, np.int64)}, "dtype"),
        ({**good, "config": {"num_classes": 3, "ignore_index": 0}}, "ignore_index"),
        ({**good, "count": -1}, "count"),
        ({k: v for k, v in good.items() if k != "state"}, "state"),
    ]
    target = MulticlassMetrics(3)
    target.update([2], [2])
    snapshot = target.state_dict()
    for sd, match in bad_cases:
        with pytest.raises(ValueError, match=match):
            target.load_state_dict(sd)
        _assert_same_state(target, _from(snapshot))
    with pytest.raises(TypeError):
        target.load_state_dict([1, 2])
    _assert_same_state(m, _from(before))


def _from(sd):
    m = MulticlassMetrics(3)
    m.load_state_dict(sd)
    return m


@pytest.mark.parametrize("a, b, match", [
    (BinaryMetrics(), MulticlassMetrics(2), "BinaryMetrics"),
    (BinaryMetrics(0.5), BinaryMetrics(0.6), "threshold"),
    (BinaryMetrics(logits=True), BinaryMetrics(), "logits"),
    (BinaryMetrics(ignore_index=-1), BinaryMetrics(), "ignore_index"),
    (MulticlassMetrics(3), MulticlassMetrics(4), "num_classes"),
    (MulticlassMetrics(3, ignore_index=0), MulticlassMetrics(3), "ignore_index"),
    (MultilabelMetrics(3), MultilabelMetrics(4), "num_labels"),
    (MultilabelMetrics(3, threshold=0.2), MultilabelMetrics(3), "threshold"),
])
def test_merging_incompatible_objects_fails_and_changes_nothing(a, b, match):
    before = a.state_dict()
    with pytest.raises(ValueError, match=match):
        a.merge(b)
    with pytest.raises(ValueError, match=match):
        a + b
    with pytest.raises(ValueError, match=match):
        a += b
    np.testing.assert_array_equal(a.state_dict()["state"], before["state"])


def test_merge_keeps_label_set_and_mixed_dtypes():
    a, b = MulticlassMetrics(5), MulticlassMetrics(5, labels="all")  # labels is not state
    a.update([0, 1], [0, 1])
    b.update([3], [4], sample_weight=[0.0])
    c = a + b
    assert c.weighted and c.count == 3
    np.testing.assert_array_equal(c.label_set(), [0, 1, 3, 4])
    assert c.state_dict()["state"].dtype == np.float64


def test_reset():
    m = MultilabelMetrics(3)
    m.update(np.eye(3, dtype=int), np.eye(3), sample_weight=[1.0, 0.0, 2.0])
    m.reset()
    fresh = MultilabelMetrics(3)
    _assert_same_state(m, fresh)
    assert not m.weighted


def test_merge_with_itself_doubles():
    m = BinaryMetrics()
    m.update([0, 1, 1], [0, 1, 0])
    m += m
    assert m.confusion_matrix().tolist() == [[2, 0], [2, 2]] and m.count == 6


def _run_with_reader(workers, reader, stop):
    """Run ``reader`` on a thread until every worker (one thread each) has returned."""
    r = threading.Thread(target=reader)
    r.start()
    threads = [threading.Thread(target=w) for w in workers]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    stop.set()
    r.join()


def test_threads_lose_no_counts():
    rng = np.random.default_rng(7)
    t = rng.integers(0, 5, 64)
    p = rng.integers(0, 5, 64)
    s = rng.random(64)
    mc, bm = MulticlassMetrics(5), BinaryMetrics()
    n_threads, n_iter = 8, 150
    seen_partial = []
    stop = threading.Event()

    def worker(i):
        for j in range(n_iter):
            mc.update(t, p)
            bm.update(t % 2, s)
            if j % 10 == 0:
                mc.update_one(int(t[j % 64]), int(p[j % 64]))

    def reader():
        # a reader sees whole batches only: the batch total is 64, scalar updates come in ones
        while not stop.is_set():
            total = int(bm.confusion_matrix().sum())
            if total % 64:
                seen_partial.append(total)

    _run_with_reader([lambda i=i: worker(i) for i in range(n_threads)], reader, stop)
    one = MulticlassMetrics(5)
    one.update(t, p)
    expected = one.state_dict()["state"] * n_threads * n_iter
    for j in range(0, n_iter, 10):
        expected[t[j % 64], p[j % 64]] += n_threads
    np.testing.assert_array_equal(mc.state_dict()["state"], expected)
    assert mc.count == n_threads * (n_iter * 64 + n_iter // 10)
    assert bm.count == n_threads * n_iter * 64
    assert not seen_partial


def test_scalar_path_threads_lose_no_counts_across_flushes():
    # 8 writers push far more than the pending limit each while a reader flushes concurrently:
    # every append lands in exactly one flush
    rng = np.random.default_rng(11)
    t = rng.integers(0, 2, 1000).tolist()
    s = rng.random(1000).tolist()
    bm = BinaryMetrics(threshold=0.4)
    n_threads, rounds = 8, 50
    stop = threading.Event()

    def worker():
        u = bm.update_one
        for _ in range(rounds):
            for a, b in zip(t, s):
                u(a, b)

    def reader():
        while not stop.is_set():
            bm.confusion_matrix()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, inside the flush too
    try:
        _run_with_reader([worker] * n_threads, reader, stop)
    finally:
        sys.setswitchinterval(old)
    expected = skm.confusion_matrix(t, (np.array(s) >= 0.4).astype(int), labels=[0, 1])
    np.testing.assert_array_equal(bm.confusion_matrix(), expected * n_threads * rounds)
    assert bm.count == n_threads * rounds * len(t)


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_seen_mask_does_not_depend_on_the_counting_path(kind):
    # the second batch is unweighted: an object already weighted counts it through the float64
    # path (which marks its labels seen), a fresh one through the int64 path (which leaves the
    # mask alone); merged, the two must give the one stream's state_dict
    if kind == "binary":
        t1, p1, w1 = np.array([0, 0]), np.array([0, 0]), np.array([1.0, 2.0])
        t2, p2 = np.array([1, 0]), np.array([1, 1])
    else:
        t1, p1, w1 = np.array([0, 1, 2]), np.array([1, 2, 0]), np.array([1.0, 0.0, 2.0])
        t2, p2 = np.array([3, 0]), np.array([3, 1])
    new = BinaryMetrics if kind == "binary" else (lambda: MulticlassMetrics(4))
    whole = new()
    whole.update(t1, p1, sample_weight=w1)
    whole.update(t2, p2)
    a, b = new(), new()
    a.update(t1, p1, sample_weight=w1)
    b.update(t2, p2)
    _assert_same_state(a + b, whole)
    _assert_same_state(b + a, whole)
