"""The hot tier of update() (tallyml/_backends/hot.py): compiled small-batch kernels that a metric
object picks up after ARM_AFTER small calls. It must count exactly what sklearn counts, hand
every bad value to the normal path (which raises; nothing counted), skip states that are not
int64 on the host, stay exact under concurrent updates, and never be used when turned off."""
import pickle
import threading
import time

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from tallyml import BinaryMetrics, MulticlassMetrics
from tallyml import _backends
from tallyml._backends import hot

pytestmark = pytest.mark.skipif(not _backends.native_available(),
                                reason="native library not built")
rng = np.random.default_rng(2026)


@pytest.fixture
def sync_tier(monkeypatch):
    monkeypatch.setenv(hot.ENV_VAR, "sync")


def _armed(m, target, preds):
    """Make the ARM_AFTER small calls that load the tier (sync mode); returns rows counted."""
    for _ in range(hot.ARM_AFTER + 1):
        m.update(target, preds)
    assert m._hot_ep is not None, hot.failures()
    return (hot.ARM_AFTER + 1) * len(target)


def _binary_oracle(batches, thr=0.5, ignore=None):
    t = np.concatenate([b[0] for b in batches]).astype(np.int64)
    p = np.concatenate([b[1] for b in batches])
    if p.dtype.kind == "f":
        p = (p.astype(np.float64) >= thr).astype(np.int64)
    keep = np.ones(len(t), bool) if ignore is None else t != ignore
    return confusion_matrix(t[keep], p[keep].astype(np.int64), labels=[0, 1])


@pytest.mark.parametrize("tdt", [np.int8, np.bool_, np.int32, np.int64])
@pytest.mark.parametrize("pdt", [np.float32, np.float64, np.int8, np.int64])
def test_binary_counts_equal_sklearn(sync_tier, tdt, pdt):
    ignore = -1 if tdt not in (np.bool_,) else None
    m = BinaryMetrics(threshold=0.3, ignore_index=ignore)

    def batch(n):
        t = (rng.random(n) < 0.4).astype(tdt)
        if ignore is not None:
            t[rng.random(n) < 0.1] = ignore
        if np.dtype(pdt).kind == "f":
            p = rng.random(n).astype(pdt)
            p[::7] = 0.3  # exactly on the threshold: positive
        else:
            p = (rng.random(n) < 0.5).astype(pdt)
        return t, p

    first = batch(64)
    _armed(m, *first)
    batches = [first] * (hot.ARM_AFTER + 1)
    for n in (0, 1, 2, 63, 64, 65, hot.MAX_ROWS, hot.MAX_ROWS + 1, 5000):
        b = batch(n)
        m.update(*b)
        batches.append(b)
    np.testing.assert_array_equal(m.confusion_matrix(), _binary_oracle(batches, 0.3, ignore))
    kept = sum(int(np.sum(b[0] != ignore)) if ignore is not None else len(b[0]) for b in batches)
    assert m.count == kept


def test_binary_logits_threshold(sync_tier):
    m = BinaryMetrics(threshold=0.7, logits=True)
    t = (rng.random(64) < 0.5).astype(np.int8)
    z = rng.normal(size=64).astype(np.float32)
    _armed(m, t, z)
    cut = np.log(0.7 / 0.3)
    expected = confusion_matrix(t, (z.astype(np.float64) >= cut).astype(int), labels=[0, 1])
    np.testing.assert_array_equal(m.confusion_matrix(), expected * (hot.ARM_AFTER + 1))


@pytest.mark.parametrize("bad, match", [
    ("nan", "preds"), ("inf", "preds"), ("target2", "target"), ("target-1", "target")])
def test_binary_bad_values_raise_and_count_nothing(sync_tier, bad, match):
    m = BinaryMetrics()
    t = (rng.random(64) < 0.5).astype(np.int8)
    s = rng.random(64).astype(np.float32)
    _armed(m, t, s)
    before = m.state_dict()
    t2, s2 = t.copy(), s.copy()
    pos = 37
    if bad == "nan":
        s2[pos] = np.nan
    elif bad == "inf":
        s2[pos] = np.inf
    elif bad == "target2":
        t2[pos] = 2
    else:
        t2[pos] = -1
    with pytest.raises(ValueError, match=match):
        m.update(t2, s2)
    after = m.state_dict()
    np.testing.assert_array_equal(after["state"], before["state"])
    assert m.count == before["count"]


def test_binary_ignored_rows_are_not_checked(sync_tier):
    # the backends skip ignored samples entirely, their preds included: so does the tier
    m = BinaryMetrics(ignore_index=9)
    t = np.array([1, 9, 0, 1], np.int8)
    s = np.array([0.9, np.nan, 0.1, 0.2], np.float32)
    _armed(m, t, s)
    np.testing.assert_array_equal(m.confusion_matrix(),
                                  np.array([[1, 0], [1, 1]]) * (hot.ARM_AFTER + 1))


def test_views_readonly_and_strided(sync_tier):
    m = BinaryMetrics()
    t = (rng.random(400) < 0.5).astype(np.int8)
    s = rng.random(400).astype(np.float32)
    _armed(m, t[:64], s[:64])
    ro_t, ro_s = t.copy(), s.copy()
    ro_t.flags.writeable = False
    ro_s.flags.writeable = False
    m.update(ro_t, ro_s)
    m.update(t[::3], s[::3])
    m.update(t[::-1], s[::-1])
    batches = [(t[:64], s[:64])] * (hot.ARM_AFTER + 1) + [(t, s), (t[::3], s[::3]), (t, s)]
    np.testing.assert_array_equal(m.confusion_matrix(), _binary_oracle(batches))


def test_other_dtypes_after_the_tier_still_count(sync_tier):
    m = BinaryMetrics()
    t = (rng.random(64) < 0.5).astype(np.int8)
    s = rng.random(64).astype(np.float32)
    _armed(m, t, s)
    t64, s64 = t.astype(np.int64), s.astype(np.float64)
    m.update(t64, s64)
    m.update(t, s > 0.5)  # bool label preds
    batches = [(t, s)] * (hot.ARM_AFTER + 1) + [(t64, s64), (t, (s > 0.5).astype(np.int8))]
    np.testing.assert_array_equal(m.confusion_matrix(), _binary_oracle(batches))


def test_weighted_state_is_not_touched_by_the_tier(sync_tier):
    m = BinaryMetrics()
    t = (rng.random(64) < 0.5).astype(np.int8)
    s = rng.random(64).astype(np.float32)
    _armed(m, t, s)
    w = rng.random(64)
    m.update(t, s, sample_weight=w)  # float64 counts from here on
    m.update(t, s)
    pred = (s >= 0.5).astype(int)
    expected = (confusion_matrix(t, pred, labels=[0, 1]) * (hot.ARM_AFTER + 2)
                + confusion_matrix(t, pred, labels=[0, 1], sample_weight=w))
    np.testing.assert_allclose(m.confusion_matrix(), expected, rtol=1e-12)


def test_state_replaced_by_reset_and_load(sync_tier):
    m = BinaryMetrics()
    t = (rng.random(64) < 0.5).astype(np.int8)
    s = rng.random(64).astype(np.float32)
    _armed(m, t, s)
    saved = m.state_dict()
    m.reset()
    m.update(t, s)
    np.testing.assert_array_equal(m.confusion_matrix(), _binary_oracle([(t, s)]))
    m.load_state_dict(saved)
    m.update(t, s)
    np.testing.assert_array_equal(m.confusion_matrix(), _binary_oracle([(t, s)] * (hot.ARM_AFTER + 2)))
    c = pickle.loads(pickle.dumps(m))
    c.update(t, s)
    np.testing.assert_array_equal(c.confusion_matrix(), _binary_oracle([(t, s)] * (hot.ARM_AFTER + 3)))


@pytest.mark.parametrize("ignore", [None, 3])
def test_multiclass_labels_and_scores_equal_sklearn(sync_tier, ignore):
    k = 7
    for scores in (False, True):
        m = MulticlassMetrics(k, ignore_index=ignore)
        ts, ps = [], []
        for i in range(hot.ARM_AFTER + 20):
            n = int(rng.integers(0, 80))
            t = rng.integers(0, k, n).astype(np.int32)
            if scores:
                p = rng.random((n, k)).astype(np.float32)
                p[: n // 3, 2] = p[: n // 3, 5] = 2.0  # ties: the first maximum wins
                lab = np.argmax(p, axis=1)
            else:
                p = rng.integers(0, k, n).astype(np.int64)
                lab = p
            m.update(t, p)
            ts.append(t)
            ps.append(lab)
        assert m._hot_ep is not None
        t, p = np.concatenate(ts), np.concatenate(ps)
        keep = np.ones(len(t), bool) if ignore is None else t != ignore
        np.testing.assert_array_equal(m.confusion_matrix(),
                                      confusion_matrix(t[keep], p[keep], labels=range(k)))


@pytest.mark.parametrize("bad", ["label_k", "negative", "nan_score", "columns"])
def test_multiclass_bad_values_raise_and_count_nothing(sync_tier, bad):
    k = 5
    scores = bad in ("nan_score", "columns")
    m = MulticlassMetrics(k)
    t = rng.integers(0, k, 64).astype(np.int32)
    p = rng.random((64, k)) if scores else rng.integers(0, k, 64).astype(np.int32)
    _armed(m, t, p)
    before = m.confusion_matrix().copy()
    t2, p2 = t.copy(), p.copy()
    if bad == "label_k":
        p2[10] = k
    elif bad == "negative":
        t2[63] = -2
    elif bad == "nan_score":
        p2[0, 3] = np.nan
    else:
        p2 = rng.random((64, k + 1))
    with pytest.raises(ValueError):
        m.update(t2, p2)
    np.testing.assert_array_equal(m.confusion_matrix(), before)
    assert m.count == (hot.ARM_AFTER + 1) * 64


def test_multiclass_preds_of_another_ndim_do_not_reach_the_kernel(sync_tier):
    # the entry point trusts the ndim it was compiled for: 1-D float preds must be refused by
    # the normal path, not read as (N, K)
    m = MulticlassMetrics(4)
    t = rng.integers(0, 4, 16).astype(np.int32)
    _armed(m, t, rng.random((16, 4)))
    with pytest.raises(TypeError, match="1-D preds must be integer labels"):
        m.update(t, rng.random(16))
    assert m.count == (hot.ARM_AFTER + 1) * 16


def test_eight_threads_lose_nothing(sync_tier):
    m = BinaryMetrics()
    t = (rng.random(64) < 0.5).astype(np.int8)
    s = rng.random(64).astype(np.float32)
    counted = _armed(m, t, s)
    calls = 2000

    def work():
        for _ in range(calls):
            m.update(t, s)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    expected = _binary_oracle([(t, s)]) * (counted // 64 + 8 * calls)
    np.testing.assert_array_equal(m.confusion_matrix(), expected)


def test_background_loading_is_picked_up(monkeypatch):
    monkeypatch.delenv(hot.ENV_VAR, raising=False)
    m = MulticlassMetrics(3)
    t = np.array([0, 1, 2, 2], np.int16)
    p = np.array([0, 2, 2, 1], np.int16)
    n = 0
    deadline = time.monotonic() + 120  # a liveness bound, not a timing assertion
    while m._hot_ep is None and time.monotonic() < deadline:
        m.update(t, p)
        n += 1
        if n > hot.ARM_AFTER:
            time.sleep(0.01)
    assert m._hot_ep is not None, hot.failures()
    m.update(t, p)
    n += 1
    np.testing.assert_array_equal(m.confusion_matrix(),
                                  confusion_matrix(t, p, labels=[0, 1, 2]) * n)


def test_turned_off(monkeypatch):
    monkeypatch.setenv(hot.ENV_VAR, "0")
    m = BinaryMetrics()
    t = (rng.random(8) < 0.5).astype(np.int8)
    s = rng.random(8).astype(np.float32)
    for _ in range(3 * hot.ARM_AFTER):
        m.update(t, s)
    assert m._hot_ep is None and m._small_calls == {}


def test_reference_backend_stays_numpy(sync_tier):
    m = BinaryMetrics(backend="numpy")
    t = (rng.random(8) < 0.5).astype(np.int8)
    s = rng.random(8).astype(np.float32)
    for _ in range(3 * hot.ARM_AFTER):
        m.update(t, s)
    assert m._hot_ep is None
