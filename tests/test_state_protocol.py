"""Every metric object family rides the same state machinery (metrics/_base.py): curves and
label-free estimates too. For each family: checkpoint round trip, sliding window equal to an
object fed only the window's samples, decay equal to an explicitly weighted update, shared-memory
slots equal to one process, and merge / pickle of the results."""
import pickle

import numpy as np
import pytest

import tallyml
from tallyml.shared import SharedSlots

rng = np.random.default_rng(77)


def _probs(n, k):
    p = rng.random((n, k)) + 0.05
    return p / p.sum(axis=1, keepdims=True)


# family -> (factory, batch maker returning update args, rows of a batch)
def _binary_curves():
    return tallyml.BinaryCurves()


def _binary_curves_batch(n):
    return (rng.integers(0, 2, n), rng.random(n))


def _multiclass_curves():
    return tallyml.MulticlassCurves(3, ignore_index=-1)


def _multiclass_curves_batch(n):
    t = rng.integers(0, 3, n)
    t[rng.random(n) < 0.1] = -1
    return (t, _probs(n, 3))


def _multilabel_curves():
    return tallyml.MultilabelCurves(4)


def _multilabel_curves_batch(n):
    return (rng.integers(0, 2, (n, 4)), rng.random((n, 4)))


def _est_binary():
    return tallyml.EstimatedMetrics(task="binary")


def _est_binary_batch(n):
    return (rng.random(n),)


def _est_multiclass():
    return tallyml.EstimatedMetrics(task="multiclass", num_classes=3)


def _est_multiclass_batch(n):
    return (_probs(n, 3),)


FAMILIES = {
    "binary_curves": (_binary_curves, _binary_curves_batch),
    "multiclass_curves": (_multiclass_curves, _multiclass_curves_batch),
    "multilabel_curves": (_multilabel_curves, _multilabel_curves_batch),
    "estimated_binary": (_est_binary, _est_binary_batch),
    "estimated_multiclass": (_est_multiclass, _est_multiclass_batch),
}


def _arrays(obj):
    state = obj.state_dict()
    return {k: v for k, v in state.items() if isinstance(v, np.ndarray)}


def _assert_same(a, b, rtol=0.0):
    assert type(a) is type(b)
    sa, sb = _arrays(a), _arrays(b)
    assert sa.keys() == sb.keys()
    for k in sa:
        if rtol:
            np.testing.assert_allclose(sa[k], sb[k], rtol=rtol, atol=1e-12, err_msg=k)
        else:
            np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)
    assert a.count == b.count


def _fed(make, batches, weights=None):
    obj = make()
    for i, b in enumerate(batches):
        if weights is None:
            obj.update(*b)
        else:
            obj.update(*b, sample_weight=weights[i])
    return obj


@pytest.mark.parametrize("family", FAMILIES)
def test_checkpoint_round_trip(family, tmp_path):
    make, batch = FAMILIES[family]
    obj = _fed(make, [batch(500), batch(3)])
    obj.save(tmp_path / "one.tallyml")
    back = tallyml.load(tmp_path / "one.tallyml")
    _assert_same(back, obj)
    other = make()
    other.load(tmp_path / "one.tallyml")
    _assert_same(other, obj)
    tallyml.save(tmp_path / "group.tallyml", {"a": obj, "b": make()})
    group = tallyml.load(tmp_path / "group.tallyml")
    _assert_same(group["a"], obj)
    assert group["b"].count == 0


@pytest.mark.parametrize("family", FAMILIES)
def test_checkpoint_of_another_configuration_is_refused(family, tmp_path):
    make, batch = FAMILIES[family]
    obj = _fed(make, [batch(50)])
    obj.save(tmp_path / "x.tallyml")
    if family.startswith("estimated"):
        other = tallyml.EstimatedMetrics(task="multilabel", num_labels=2)
    else:
        other = tallyml.BinaryCurves(64, layout="uniform") if family != "binary_curves" \
            else tallyml.BinaryCurves(64, layout="uniform")
    before = _arrays(other)
    with pytest.raises((ValueError, TypeError)):
        other.load(tmp_path / "x.tallyml")
    after = _arrays(other)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])


@pytest.mark.parametrize("family", FAMILIES)
def test_window_equals_object_fed_the_window(family):
    make, batch = FAMILIES[family]
    w = tallyml.Windowed(make(), samples=400, buckets=4)
    batches = [batch(100) for _ in range(9)]
    for b in batches:
        w.update(*b)
    _assert_same(w.window(), _fed(make, batches[-4:]), rtol=1e-12)
    _assert_same(w.total(), _fed(make, batches), rtol=1e-12)
    clone = pickle.loads(pickle.dumps(w))
    _assert_same(clone.window(), w.window())


@pytest.mark.parametrize("family", [f for f in FAMILIES if f.endswith("curves")])
def test_decay_equals_explicit_weights(family):
    make, batch = FAMILIES[family]
    half_life = 150
    d = tallyml.Decayed(make(), half_life=half_life, unit="samples")
    batches = [batch(100) for _ in range(5)]
    for b in batches:
        d.update(*b)
    n = 500
    age = n - 1 - np.arange(n)  # rows counted after each sample
    weights = np.split(2.0 ** (-age / half_life), 5)
    direct = _fed(make, batches, weights)
    got = d.current()
    sa, sb = _arrays(got), _arrays(direct)
    for k in sa:
        if sa[k].dtype.kind == "f" or sb[k].dtype.kind == "f":
            np.testing.assert_allclose(sa[k], sb[k], rtol=1e-9, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("family", [f for f in FAMILIES if f.startswith("estimated")])
def test_decay_refuses_objects_without_weights(family):
    with pytest.raises(TypeError, match="sample_weight.*use Windowed"):
        tallyml.Decayed(FAMILIES[family][0](), half_life=10)


@pytest.mark.parametrize("family", FAMILIES)
def test_shared_slots_equal_one_process(family, tmp_path):
    make, batch = FAMILIES[family]
    slots = SharedSlots.create(make(), 3, path=tmp_path / "slots.bin")
    try:
        batches = [batch(200) for _ in range(6)]
        for i, b in enumerate(batches):
            slots.worker(i % 3).update(*b)
        _assert_same(slots.total(), _fed(make, batches), rtol=1e-12)
    finally:
        slots.close()
        slots.unlink()


@pytest.mark.parametrize("family", FAMILIES)
def test_merge_and_add(family):
    make, batch = FAMILIES[family]
    a, b = batch(300), batch(200)
    x, y = _fed(make, [a]), _fed(make, [b])
    _assert_same(x + y, _fed(make, [a, b]), rtol=1e-12)
    x.merge(y)
    _assert_same(x, _fed(make, [a, b]), rtol=1e-12)
