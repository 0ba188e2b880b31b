"""Metric objects fed GPU-resident arrays (numba device arrays), on the CUDA simulator
(tests/conftest.py sets NUMBA_ENABLE_CUDASIM=1). The same objects fed the same values as host
arrays, and scikit-learn, are the oracles. Batches are small: the simulator runs every GPU
thread as a Python thread."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from tallyml import BinaryMetrics, MulticlassMetrics, MultilabelMetrics

cuda_backend = pytest.importorskip("tallyml._backends.cuda")
if not cuda_backend.available():  # a CI that lost the simulator must fail loudly, not skip
    raise RuntimeError(f"cuda backend unavailable: {cuda_backend.unavailable_reason()}")

from numba import cuda  # noqa: E402  (after conftest enabled the simulator)

ROOT = Path(__file__).resolve().parents[1]
KINDS = ["binary", "multiclass", "multilabel"]


def _rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _new(kind, **kw):
    if kind == "binary":
        return BinaryMetrics(**kw)
    if kind == "multiclass":
        return MulticlassMetrics(4, **kw)
    return MultilabelMetrics(3, **kw)


def _batch(kind, rng, n, scores, weighted):
    """(target, preds, weight) host arrays; dyadic weights (with zeros) add exactly in any order,
    so device float atomics must give the host's bits."""
    if kind == "binary":
        t = rng.integers(0, 2, n)
        p = (rng.integers(0, 8, n) / 8.0) if scores else rng.integers(0, 2, n).astype(np.int8)
    elif kind == "multiclass":
        t = rng.integers(0, 4, n).astype(np.int32)
        p = (rng.integers(0, 8, (n, 4)) / 8.0).astype(np.float32) if scores else rng.integers(0, 4, n)
    else:
        t = rng.integers(0, 2, (n, 3)).astype(np.int8)
        p = rng.integers(0, 8, (n, 3)) / 8.0 if scores else rng.integers(0, 2, (n, 3)).astype(bool)
    w = rng.integers(0, 5, n) / 4.0 if weighted else None
    return t, p, w


def _dev(*arrays):
    return tuple(None if a is None else cuda.to_device(a) for a in arrays)


def _is_dev(x):
    return bool(getattr(x, "__cuda_ndarray__", False))


def _values(m):
    """Every value of compute() plus the confusion matrix, warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = dict(m.compute())
        out["confusion_matrix"] = m.confusion_matrix()
        if isinstance(m, MultilabelMetrics):
            out["f1_samples"] = m.f1("samples")
        else:
            out["f1_macro"] = m.f1("macro")
        return out


def _assert_values_equal(a, b):
    va, vb = _values(a), _values(b)
    assert va.keys() == vb.keys()
    for key in va:
        np.testing.assert_array_equal(np.asarray(va[key]), np.asarray(vb[key]), err_msg=key)


def _assert_state_equal(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        if isinstance(sa[key], np.ndarray):
            assert sa[key].dtype == sb[key].dtype, key
            np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)
        else:
            assert sa[key] == sb[key], key


def _stream(kind, seed, weighted, n_batches=3):
    rng = _rng(kind, seed, weighted)
    return [_batch(kind, rng, int(rng.integers(0, 25)), i % 2 == 1, weighted and i > 0)
            for i in range(n_batches)]


# ------------------------------------------------------------------ same values as the host
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_device_arrays_give_the_host_values(kind, weighted):
    kw = {} if kind == "multilabel" else {"ignore_index": 1 if kind == "multiclass" else None}
    gpu, cpu = _new(kind, **kw), _new(kind, **kw)
    for t, p, w in _stream(kind, 0, weighted):
        gpu.update(*_dev(t, p, w))
        cpu.update(t, p, sample_weight=w)
        assert gpu.backend == "cuda" and _is_dev(gpu._state)  # stays on the device between updates
    assert cpu.backend != "cuda" and isinstance(cpu._state, np.ndarray)
    _assert_state_equal(gpu, cpu)
    _assert_values_equal(gpu, cpu)
    assert _is_dev(gpu._state)  # reading values copies back, the state stays


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_device_values_match_sklearn(kind):
    rng = _rng("sk", kind)
    t, p, w = _batch(kind, rng, 40, True, True)
    m = _new(kind)
    m.update(*_dev(t[:15], p[:15], w[:15]))
    m.update(*_dev(t[15:], p[15:], w[15:]))
    pred = (p >= 0.5).astype(int) if kind == "binary" else p.argmax(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(m.confusion_matrix(), skm.confusion_matrix(
            t, pred, sample_weight=w, labels=[0, 1] if kind == "binary" else None))
        assert m.accuracy() == pytest.approx(skm.accuracy_score(t, pred, sample_weight=w), rel=1e-12)
        assert m.f1("macro") == pytest.approx(
            skm.f1_score(t, pred, average="macro", sample_weight=w), rel=1e-12)
        assert m.mcc() == pytest.approx(skm.matthews_corrcoef(t, pred, sample_weight=w), rel=1e-12)


def test_multilabel_device_values_match_sklearn():
    rng = _rng("sk", "multilabel")
    t, p, w = _batch("multilabel", rng, 30, True, True)
    m = MultilabelMetrics(3)
    m.update(*_dev(t, p, w))
    pred = (p >= 0.5).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for avg in ("macro", "micro", "samples"):
            assert m.f1(avg) == pytest.approx(
                skm.f1_score(t, pred, average=avg, sample_weight=w), rel=1e-12), avg
        assert m.accuracy() == pytest.approx(skm.accuracy_score(t, pred, sample_weight=w), rel=1e-12)


def test_zero_weight_labels_are_seen_on_the_device():
    """A label present only in zero-weight samples belongs to sklearn's label set."""
    t = np.array([0, 0, 1, 0])
    p = np.array([0, 0, 1, 0], dtype=np.int8)
    w = np.array([1.0, 2.0, 0.0, 1.0])
    gpu, cpu = BinaryMetrics(), BinaryMetrics()
    gpu.update(*_dev(t, p, w))
    cpu.update(t, p, sample_weight=w)
    _assert_state_equal(gpu, cpu)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert gpu.recall("macro") == cpu.recall("macro") == pytest.approx(
            skm.recall_score(t, p, average="macro", sample_weight=w))
    ml_t = np.array([[1, 0, 1], [0, 0, 1]], dtype=np.int8)
    ml_w = np.array([2.0, 0.0])
    mg, mh = MultilabelMetrics(3), MultilabelMetrics(3)
    mg.update(*_dev(ml_t, ml_t, ml_w))
    mh.update(ml_t, ml_t, sample_weight=ml_w)
    _assert_state_equal(mg, mh)


def test_ignore_index_counts_on_the_device():
    t = np.array([0, 3, 1, 3, 2, 3, 1], dtype=np.int64)
    p = np.array([0, 1, 1, 2, 2, 0, 0], dtype=np.int64)
    gpu = MulticlassMetrics(4, ignore_index=3)
    gpu.update(*_dev(t, p))
    assert gpu.count == 4  # from a device-side count, not a host copy of target
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keep = t != 3
        np.testing.assert_array_equal(gpu.confusion_matrix(), skm.confusion_matrix(t[keep], p[keep]))
    b = BinaryMetrics(ignore_index=-100)
    bt = np.array([1, -100, 0, 1])
    b.update(*_dev(bt, np.array([0.9, 0.1, 0.2, 0.3])))
    assert b.count == 3


# ------------------------------------------------------------------ placement rules
def test_backend_cuda_keeps_state_on_device_from_the_start():
    m = MulticlassMetrics(3, backend="cuda")
    assert m.backend == "cuda" and _is_dev(m._state) and _is_dev(m._seen)
    t = np.array([0, 1, 2, 2])
    m.update(t, t)  # host arrays are copied to the device
    assert _is_dev(m._state) and m.count == 4
    m.reset()
    assert _is_dev(m._state) and m.count == 0


def test_host_batches_after_the_move_are_copied_to_the_device():
    rng = _rng("host-after")
    gpu, cpu = BinaryMetrics(), BinaryMetrics()
    batches = [_batch("binary", rng, 12, s, w) for s, w in ((False, False), (True, False),
                                                             (True, True), (False, False))]
    for i, (t, p, w) in enumerate(batches):
        args = _dev(t, p, w) if i == 0 else (t, p, w)
        gpu.update(*args)
        cpu.update(t, p, sample_weight=w)
        assert _is_dev(gpu._state)
    gpu.update_one(1, 0.75)
    cpu.update_one(1, 0.75)
    _assert_state_equal(gpu, cpu)
    assert _is_dev(gpu._state)


def test_counts_so_far_move_with_the_state():
    t = np.array([0, 1, 1, 0])
    m, ref = BinaryMetrics(), BinaryMetrics()
    for obj in (m, ref):
        obj.update(t, t)
        obj.update_one(1, 1)
    m.update(*_dev(t, 1 - t))
    ref.update(t, 1 - t)
    assert m.backend == "cuda"
    _assert_state_equal(m, ref)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_named_host_backend_refuses_device_arrays(backend):
    m = BinaryMetrics(backend=backend)
    t = np.array([0, 1])
    m.update(t, t)
    before = m.state_dict()
    with pytest.raises(ValueError, match=rf"backend='{backend}'.*cannot take CUDA device arrays"):
        m.update(*_dev(t, t))
    _assert_state_equal(m, _loaded(before))


def _loaded(state):
    m = BinaryMetrics()
    m.load_state_dict(state)
    return m


@pytest.mark.parametrize("kind", KINDS)
def test_mixed_host_and_device_arrays_are_rejected(kind):
    rng = _rng("mixed", kind)
    t, p, w = _batch(kind, rng, 10, True, True)
    m = _new(kind)
    m.update(*_dev(t, p))
    before = m.state_dict()
    dt, dp, dw = _dev(t, p, w)
    with pytest.raises(ValueError, match=r"target is a CUDA device array but preds is on the host"):
        m.update(dt, p)
    with pytest.raises(ValueError, match=r"preds is a CUDA device array but target is on the host"):
        m.update(t, dp)
    with pytest.raises(ValueError, match=r"target and preds are CUDA device arrays but sample_weight"):
        m.update(dt, dp, sample_weight=w)
    with pytest.raises(ValueError, match=r"sample_weight is a CUDA device array but target and preds"):
        m.update(t, p, sample_weight=dw)
    fresh = _new(kind)  # also before any device batch: nothing moves
    with pytest.raises(ValueError, match="CUDA device array"):
        fresh.update(dt, p)
    assert fresh.backend != "cuda" and fresh.count == 0
    after = m.state_dict()
    for key in before:
        np.testing.assert_array_equal(np.asarray(before[key], dtype=object), np.asarray(after[key], dtype=object))


# ------------------------------------------------------------------ bad input, state unchanged
def _bad_cases():
    i64 = np.int64
    return [
        ("binary", np.array([0, 2, 1], i64), np.array([0, 1, 1], i64), None,
         ValueError, r"target\[1\] = 2 is outside \[0, 2\)"),
        ("binary", np.array([0, 1, 1], i64), np.array([0.1, np.nan, 0.2]), None,
         ValueError, r"preds\[1\] = nan is not finite"),
        ("binary", np.array([0, 1, 1], i64), np.array([0, 1, 1], i64), np.array([1.0, -1.0, 1.0]),
         ValueError, r"sample_weight\[1\] = -1.0 is not a finite non-negative number"),
        ("binary", np.array([0, 1, 1], i64), np.array([0.1, 0.2, 0.3], np.float16), None,
         TypeError, "preds scores on the device must be float32 or float64"),
        ("binary", np.array([0, 1, 1], i64), np.array([0, 1], i64), None,
         ValueError, "same number of samples"),
        ("binary", np.array([0.0, 1.0]), np.array([0, 1], i64), None,
         TypeError, "target on the device must hold bool or integer labels"),
        ("binary", np.array([0, 1], i64), np.array([0, 1], i64), np.array([1, 1], np.float32),
         TypeError, "sample_weight on the device must have dtype float64"),
        ("multiclass", np.array([0, 4], i64), np.array([0, 1], i64), None,
         ValueError, r"target\[1\] = 4 is outside \[0, 4\)"),
        ("multiclass", np.array([0, 1], i64), np.zeros((2, 3)), None,
         ValueError, r"preds scores must have shape \(n_samples, 4\)"),
        ("multiclass", np.array([0, 1], i64), np.array([0.0, 1.0]), None,
         TypeError, "preds must be integer labels"),
        ("multilabel", np.array([[0, 1, 1], [1, 0, 3]], i64), np.zeros((2, 3), i64), None,
         ValueError, r"target\[1, 2\] = 3 is outside \[0, 2\)"),
        ("multilabel", np.zeros((2, 2), i64), np.zeros((2, 2), i64), None,
         ValueError, r"target must be 2-D \(n_samples, 3\)"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_cases())))
def test_bad_device_input_is_rejected_and_changes_nothing(case):
    kind, t, p, w, exc, msg = _bad_cases()[case]
    m = _new(kind)
    good_t, good_p, _ = _batch(kind, _rng("good", kind), 8, False, False)
    m.update(*_dev(good_t, good_p))
    before = m.state_dict()
    with pytest.raises(exc, match=msg):
        m.update(*_dev(t, p, w))
    after = m.state_dict()
    assert after["count"] == before["count"]
    np.testing.assert_array_equal(after["state"], before["state"])
    assert _is_dev(m._state)
    if exc is ValueError and ("outside" in msg or "finite" in msg):
        # the host path says exactly the same
        h = _new(kind)
        with pytest.raises(exc) as host_err:
            h.update(t, p, sample_weight=w)
        with pytest.raises(exc) as dev_err:
            m.update(*_dev(t, p, w))
        assert str(host_err.value) == str(dev_err.value)


def test_wide_multilabel_stays_on_the_host():
    m = MultilabelMetrics(129)
    t = np.zeros((2, 129), np.int8)
    with pytest.raises(ValueError, match="num_labels > 128 counts on the host"):
        m.update(*_dev(t, t))
    assert m.backend != "cuda" and m.count == 0
    with pytest.raises(ValueError, match="backend='cuda' needs num_labels <= 128"):
        MultilabelMetrics(129, backend="cuda")


# ------------------------------------------------------------------ merge, state_dict, pickle
@pytest.mark.parametrize("kind", KINDS)
def test_merge_gpu_with_cpu_both_ways(kind):
    a, b = _stream(kind, 1, True), _stream(kind, 2, False)
    whole = _new(kind)
    for t, p, w in a + b:
        whole.update(t, p, sample_weight=w)

    def gpu():
        m = _new(kind)
        for t, p, w in a:
            m.update(*_dev(t, p, w))
        return m

    def cpu():
        m = _new(kind)
        for t, p, w in b:
            m.update(t, p, sample_weight=w)
        return m

    g = gpu().merge(cpu())
    assert _is_dev(g._state)
    _assert_state_equal(g, whole)
    c = cpu().merge(gpu())
    assert isinstance(c._state, np.ndarray)
    _assert_state_equal(c, whole)
    _assert_state_equal(gpu() + cpu(), whole)
    _assert_values_equal(g, whole)


@pytest.mark.parametrize("kind", KINDS)
def test_pickle_and_state_dict_round_trip(kind):
    m = _new(kind)
    for t, p, w in _stream(kind, 3, True):
        m.update(*_dev(t, p, w))
    back = pickle.loads(pickle.dumps(m))
    _assert_state_equal(back, m)
    _assert_values_equal(back, m)
    assert isinstance(back._state, np.ndarray)  # "auto" objects unpickle onto the host

    state = m.state_dict()
    assert all(isinstance(v, np.ndarray) for k, v in state.items() if k in ("state", "seen", "samples"))
    on_dev = _new(kind, backend="cuda")
    on_dev.load_state_dict(state)
    assert _is_dev(on_dev._state)
    _assert_state_equal(on_dev, m)
    # both go on counting alike
    t, p, w = _batch(kind, _rng("more", kind), 9, True, True)
    for obj in (m, on_dev, back):
        obj.update(*_dev(t, p, w))
    _assert_state_equal(on_dev, m)
    _assert_state_equal(back, m)
    explicit = pickle.loads(pickle.dumps(on_dev))
    assert _is_dev(explicit._state)
    _assert_state_equal(explicit, m)


def test_bad_state_dict_leaves_device_state_unchanged():
    m = BinaryMetrics(backend="cuda")
    m.update(*_dev(np.array([0, 1, 1]), np.array([0, 1, 0])))
    state = m.state_dict()
    state["state"] = np.zeros((3, 3), np.int64)
    with pytest.raises(ValueError, match="shape"):
        m.load_state_dict(state)
    assert _is_dev(m._state)
    np.testing.assert_array_equal(m.confusion_matrix(), [[1, 0], [1, 1]])


# ------------------------------------------------------------------ no GPU
def test_backend_cuda_without_gpu_says_why():
    """Without the simulator and with no visible GPU: importing works, "auto" counts on the
    host, backend="cuda" raises CudaUnavailableError (exported by the package) saying why."""
    code = (
        "import numpy as np, tallyml\n"
        "from tallyml import BinaryMetrics, CudaUnavailableError\n"
        "m = BinaryMetrics(); m.update(np.array([0, 1]), np.array([0, 1])); assert m.backend != 'cuda'\n"
        "try:\n"
        "    BinaryMetrics(backend='cuda')\n"
        "except CudaUnavailableError as exc:\n"
        "    print('REASON', exc)\n"
        "else:\n"
        "    raise SystemExit('no error')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env.update(PYTHONPATH=str(ROOT / "python"), CUDA_VISIBLE_DEVICES="")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "REASON" in out.stdout and "NUMBA_ENABLE_CUDASIM=1" in out.stdout, out.stdout


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.int64, np.float64])
def test_count_equal_matches_numpy(dtype):
    """The device-side count behind ignore_index and zero weights; 150 values span several
    grid-stride rounds of the simulator's 2 x 32 grid."""
    rng = _rng("count", np.dtype(dtype).name)
    x = rng.integers(0, 3, 150).astype(dtype)
    d = cuda.to_device(x)
    values = [0.0, 1.0, 0.5] if np.dtype(dtype).kind == "f" else [0, 1, 2, -1, 2**70]
    for v in values:
        want = int(np.count_nonzero(x == v)) if abs(v) < 2**63 else 0
        assert cuda_backend.count_equal(d, v) == want, v
    assert cuda_backend.count_equal(cuda.to_device(x[:0]), 1 if dtype is not np.float64 else 1.0) == 0
