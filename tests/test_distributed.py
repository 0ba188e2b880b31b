"""tallyml.distributed.all_reduce with 2 gloo processes on CPU (skipped without torch)."""
import os
import socket
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: the torch.distributed sync is not tested")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as tmp  # noqa: E402

BE = "numpy"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data(rank):
    rng = np.random.default_rng(rank)
    return (rng.integers(0, 2, 300), rng.random(300), rng.integers(0, 4, 200), rng.integers(0, 4, 200),
            rng.random(200))


def _rank(rank, world, port, out_dir, pythonpath):
    sys.path.insert(0, pythonpath)
    import tallyml
    from tallyml.distributed import all_reduce

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    calls = []
    real = dist.all_reduce

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    dist.all_reduce = counting
    yb, sb, ym, pm, wm = _data(rank)
    b = tallyml.BinaryMetrics(backend=BE)
    b.update(yb, sb)
    m = tallyml.MulticlassMetrics(4, labels="all", backend=BE)
    m.update(ym, pm, sample_weight=wm if rank == 1 else None)  # weighted on one rank only
    res = all_reduce({"b": b, "m": m})
    tallyml.save(os.path.join(out_dir, f"rank{rank}.tally"), res)
    with open(os.path.join(out_dir, f"calls{rank}"), "w") as f:
        f.write(str(len(calls)))
    dist.destroy_process_group()


def test_two_gloo_ranks_sum_with_one_collective(tmp_path):
    import tallyml

    pythonpath = os.path.join(os.path.dirname(__file__), "..", "python")
    tmp.spawn(_rank, args=(2, _free_port(), str(tmp_path), os.path.abspath(pythonpath)), nprocs=2, join=True)
    b = tallyml.BinaryMetrics(backend=BE)
    m = tallyml.MulticlassMetrics(4, labels="all", backend=BE)
    for r in range(2):
        yb, sb, ym, pm, wm = _data(r)
        b.update(yb, sb)
        m.update(ym, pm, sample_weight=wm if r == 1 else np.ones(len(ym)))
    for r in range(2):
        got = tallyml.load(tmp_path / f"rank{r}.tally")
        assert (tmp_path / f"calls{r}").read_text() == "1"
        np.testing.assert_array_equal(got["b"].confusion_matrix(), b.confusion_matrix())
        assert got["b"].confusion_matrix().dtype == np.int64
        np.testing.assert_allclose(got["m"].confusion_matrix(), m.confusion_matrix(), rtol=1e-12)
        assert got["b"].count == b.count and got["m"].count == m.count
