"""Checkpoints: exact round trips, refusal of foreign/corrupt files, crash safety."""
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

import tallyml
from tallyml import BinaryMetrics, CheckpointError, MulticlassMetrics, MultilabelMetrics

BE = "numpy"


def filled(rng):
    b = BinaryMetrics(0.3, ignore_index=-1, zero_division=np.nan, backend=BE)
    b.update(rng.integers(0, 2, 200), rng.random(200))
    b.update_one(1, 0.9)  # pending scalar counts are saved too
    m = MulticlassMetrics(5, labels="all", backend=BE)
    m.update(rng.integers(0, 5, 300), rng.integers(0, 5, 300), sample_weight=rng.random(300))
    ml = MultilabelMetrics(3, threshold=0.7, logits=True, backend=BE)
    ml.update(rng.integers(0, 2, (100, 3)), rng.normal(size=(100, 3)))
    return {"binary": b, "multiclass": m, "multilabel": ml}


def assert_same_state(a, b):
    assert type(a) is type(b)
    assert a._init_args() == b._init_args() or repr(a) == repr(b)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        if isinstance(sa[k], np.ndarray):
            assert sa[k].dtype == sb[k].dtype
            np.testing.assert_array_equal(sa[k], sb[k])
        else:
            assert sa[k] == sb[k] or (sa[k] != sa[k] and sb[k] != sb[k]), k


def test_single_and_group_round_trip(tmp_path):
    objs = filled(np.random.default_rng(0))
    for name, obj in objs.items():
        path = tmp_path / f"{name}.tally"
        obj.save(path)
        back = tallyml.load(path, backend=BE)
        assert_same_state(obj, back)
        fresh = obj._empty_like()
        fresh.load(path)
        assert_same_state(obj, fresh)
        assert obj.compute().keys() == back.compute().keys()
    tallyml.save(tmp_path / "group.tally", objs)
    back = tallyml.load(tmp_path / "group.tally")
    assert back.keys() == objs.keys()
    for k in objs:
        assert_same_state(objs[k], back[k])
    target = objs["multiclass"]._empty_like()
    target.load(tmp_path / "group.tally", name="multiclass")
    assert_same_state(objs["multiclass"], target)
    # readable by numpy as an .npz (documented format)
    with np.load(tmp_path / "group.tally") as z:
        assert "tallyml.json" in z.files or "tallyml.json" in z.zip.namelist()


def test_nan_zero_division_survives_as_standard_json(tmp_path):
    b = BinaryMetrics(zero_division=np.nan, backend=BE)
    b.update([0, 1], [1, 1])
    b.save(tmp_path / "b")
    with zipfile.ZipFile(tmp_path / "b") as z:
        text = z.read("tallyml.json").decode()
    assert "NaN" not in text
    assert np.isnan(tallyml.load(tmp_path / "b")._zero_division)


def test_loading_into_another_class_or_shape_is_refused_and_changes_nothing(tmp_path):
    rng = np.random.default_rng(1)
    objs = filled(rng)
    objs["multiclass"].save(tmp_path / "mc")
    other = MulticlassMetrics(4, labels="all", backend=BE)
    other.update([0, 1, 3], [1, 1, 3])
    before = other.state_dict()
    with pytest.raises(CheckpointError, match="num_classes"):
        other.load(tmp_path / "mc")
    b = BinaryMetrics(backend=BE)
    with pytest.raises(CheckpointError, match="MulticlassMetrics.*BinaryMetrics"):
        b.load(tmp_path / "mc")
    assert b.count == 0
    np.testing.assert_array_equal(other.state_dict()["state"], before["state"])
    thr = BinaryMetrics(0.5, ignore_index=-1, backend=BE)
    objs["binary"].save(tmp_path / "b")
    with pytest.raises(CheckpointError, match="threshold"):
        thr.load(tmp_path / "b")
    tallyml.save(tmp_path / "g", objs)
    with pytest.raises(CheckpointError, match="name="):
        objs["binary"]._empty_like().load(tmp_path / "g")
    with pytest.raises(CheckpointError, match="nope"):
        objs["binary"]._empty_like().load(tmp_path / "g", name="nope")


def test_corrupt_and_foreign_files_are_refused(tmp_path):
    objs = filled(np.random.default_rng(2))
    good = tmp_path / "good"
    tallyml.save(good, objs)
    data = good.read_bytes()
    with pytest.raises(CheckpointError, match="no such"):
        tallyml.load(tmp_path / "missing")
    (tmp_path / "text").write_text("hello")
    with pytest.raises(CheckpointError, match="not a tallyml checkpoint"):
        tallyml.load(tmp_path / "text")
    rng = np.random.default_rng(3)
    for cut in sorted(set(rng.integers(1, len(data), 15).tolist())):
        (tmp_path / "trunc").write_bytes(data[:cut])
        with pytest.raises(CheckpointError):
            tallyml.load(tmp_path / "trunc")
    # flip bytes inside stored members: the zip CRC (or the npy/JSON parse) catches them
    for _ in range(20):
        i = int(rng.integers(0, len(data)))
        bad = bytearray(data)
        bad[i] ^= 0xFF
        (tmp_path / "flip").write_bytes(bytes(bad))
        try:
            back = tallyml.load(tmp_path / "flip")
        except CheckpointError:
            continue
        for k in objs:  # a flip in slack bytes (zip comments, padding) must not change a count
            assert_same_state(objs[k], back[k])
    # another format version and an npz of something else
    import json
    with zipfile.ZipFile(good) as z:
        meta = json.loads(z.read("tallyml.json"))
        members = {n: z.read(n) for n in z.namelist() if n != "tallyml.json"}
    meta["format_version"] = 99
    with zipfile.ZipFile(tmp_path / "v99", "w") as z:
        z.writestr("tallyml.json", json.dumps(meta))
        for n, b in members.items():
            z.writestr(n, b)
    with pytest.raises(CheckpointError, match="version 99"):
        tallyml.load(tmp_path / "v99")
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    with pytest.raises(CheckpointError, match="not a tallyml checkpoint"):
        tallyml.load(tmp_path / "other.npz")


def test_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="metric object"):
        tallyml.save(tmp_path / "x", object())
    with pytest.raises(ValueError, match="group names"):
        tallyml.save(tmp_path / "x", {"a/b": BinaryMetrics(backend=BE)})
    with pytest.raises(ValueError, match="at least one"):
        tallyml.save(tmp_path / "x", {})
    assert not os.path.exists(tmp_path / "x")
    with pytest.raises(ValueError, match="interval"):
        tallyml.Autosave(tmp_path / "x", BinaryMetrics(backend=BE), 0)


def test_autosave_writes_periodically_and_on_stop(tmp_path):
    m = BinaryMetrics(backend=BE)
    path = tmp_path / "auto"
    saver = tallyml.Autosave(path, {"m": m}, interval=0.05)
    m.update([1, 0, 1], [1, 1, 1])
    deadline = time.monotonic() + 30
    while saver.saves == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert saver.saves >= 1
    m.update([1], [0])
    saver.stop()
    assert saver.last_error is None
    assert tallyml.load(path)["m"].count == 4


WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, {pythonpath!r})
    import tallyml
    m = tallyml.MulticlassMetrics(50, labels="all", backend="numpy")
    i = 0
    print("ready", flush=True)
    while True:
        i += 1
        # every checkpoint is self-consistent: all 2500 cells equal i, count = 2500 * i
        m.load_state_dict(dict(m.state_dict(), state=np.full((50, 50), i, dtype=np.int64),
                               count=2500 * i))
        tallyml.save({path!r}, {{"m": m, "n": m}})
""")


def test_killing_the_writer_mid_save_leaves_a_whole_checkpoint(tmp_path):
    path = str(tmp_path / "ckpt")
    pythonpath = os.path.join(os.path.dirname(__file__), "..", "python")
    script = WRITER.format(pythonpath=os.path.abspath(pythonpath), path=path)
    rng = np.random.default_rng(4)
    seen = set()
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.05, 0.4)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        if not os.path.exists(path):
            continue
        g = tallyml.load(path)
        i = int(g["m"].state_dict()["state"][0, 0])
        for m in g.values():
            st = m.state_dict()
            assert (st["state"] == i).all() and st["count"] == 2500 * i
        seen.add(i)
    assert seen, "the writer never completed a checkpoint"
