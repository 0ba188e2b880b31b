"""Per-call costs of the public update path, and the fresh-process costs (import, first update,
peak memory), each measured in a subprocess so that nothing is already loaded."""
from __future__ import annotations

import json
import math
import subprocess
import time
import sys

import numpy as np

from .timing import interleaved

__all__ = ["small_batch_calls", "import_seconds", "first_update_seconds", "update_rss_growth",
           "window_overhead"]


def _per_call(fn, calls: int, repeat: int) -> dict:
    return interleaved({"f": fn}, repeat=repeat, number=calls)["f"]


def small_batch_calls(calls: int = 20000, repeat: int = 7, peers: bool = True) -> dict:
    """Microseconds per call, name -> {"wall": us, "cpu": us}: ``update()`` with 64 and 1
    samples (validation on) for binary scores and multiclass labels, the scalar ``update_one``,
    and the installed peers on the same batches (torchmetrics ``BinaryF1Score`` /
    ``MulticlassF1Score``, river ``F1`` per sample)."""
    from tallyml import BinaryMetrics, MulticlassMetrics

    rng = np.random.default_rng(7)
    t64 = (rng.random(64) < 0.5).astype(np.int8)
    s64 = rng.random(64, dtype=np.float32)
    y64 = rng.integers(0, 10, 64, dtype=np.int32)
    p64 = rng.integers(0, 10, 64, dtype=np.int32)
    t1, s1 = t64[:1].copy(), s64[:1].copy()
    b = BinaryMetrics()
    m = MulticlassMetrics(10)
    # steady state of a hot loop: the hot tier loaded (in the background, as in use)
    _until_hot(b, t64, s64)
    _until_hot(m, y64, p64)
    # before the tier has loaded (or with TALLYML_HOT=0): the bound native call
    bn, mn = BinaryMetrics(), MulticlassMetrics(10)
    bn._hot_on = mn._hot_on = False
    bn.update(t64, s64)
    mn.update(y64, p64)
    # the scalar path is timed as river's is: a loop over 64 Python (target, score) pairs, per
    # sample, so that neither carries the timing's own call per sample
    pairs = list(zip(t64.tolist(), s64.tolist()))

    def scalar_64():
        one = b.update_one
        for a, c in pairs:
            one(a, c)

    out = {
        "binary update(64)": _per_call(lambda: b.update(t64, s64), calls, repeat),
        "multiclass update(64)": _per_call(lambda: m.update(y64, p64), calls, repeat),
        "binary update(1)": _per_call(lambda: b.update(t1, s1), calls, repeat),
        "binary update_one": {c: v / 64 for c, v in _per_call(scalar_64, max(200, calls // 10),
                                                                repeat).items()},
        "binary update(64), native call": _per_call(lambda: bn.update(t64, s64), calls, repeat),
        "multiclass update(64), native call": _per_call(lambda: mn.update(y64, p64), calls,
                                                        repeat),
        "binary update(1), native call": _per_call(lambda: bn.update(t1, s1), calls, repeat),
    }
    b2 = BinaryMetrics()
    b2.update(t64, s64)
    if b2.count != 64:
        raise AssertionError("small-batch update lost samples")
    if peers:
        out.update(_peer_calls(t64, s64, y64, p64, max(200, calls // 50), repeat))
    return {k: {c: s * 1e6 for c, s in v.items()} for k, v in out.items()}


def _until_hot(metric, target, preds, limit_s: float = 300.0) -> None:
    """Update small batches until the hot tier is picked up (it loads in a background thread:
    numba's import, then its disk cache or a compile), then reset the counts."""
    from .._backends import hot

    if not hot.enabled():
        return
    deadline = time.monotonic() + limit_s
    while metric._hot_ep is None and time.monotonic() < deadline:
        metric.update(target, preds)
        time.sleep(0.001)
    if metric._hot_ep is None:
        raise RuntimeError(f"the hot tier did not load: {hot.failures()}")
    metric.reset()


def _peer_calls(t64, s64, y64, p64, calls, repeat):
    from .workloads import optional

    out = {}
    if optional("torchmetrics"):
        import torch
        from torchmetrics.classification import BinaryF1Score, MulticlassF1Score

        bt, bs = torch.from_numpy(t64.astype(np.int64)), torch.from_numpy(s64)
        my, mp = torch.from_numpy(y64.astype(np.int64)), torch.from_numpy(p64.astype(np.int64))
        bf, mf = BinaryF1Score(), MulticlassF1Score(num_classes=10)
        out["torchmetrics BinaryF1Score.update(64)"] = _per_call(lambda: bf.update(bs, bt), calls, repeat)
        out["torchmetrics MulticlassF1Score.update(64)"] = _per_call(lambda: mf.update(mp, my), calls, repeat)
    if optional("river"):
        from river.metrics import F1

        f1 = F1()
        pairs = [(bool(a), bool(c >= 0.5)) for a, c in zip(t64, s64)]

        def river_64():
            for a, c in pairs:
                f1.update(a, c)

        out["river F1.update per sample"] = {
            c: s / 64 for c, s in _per_call(river_64, calls, repeat).items()}
    return out


_IMPORT = "import time; t = time.perf_counter(); import {mod}; print(time.perf_counter() - t)"


def _python(code: str, env=None) -> str:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=env)
    return res.stdout.strip().splitlines()[-1]


def import_seconds(repeat: int = 5) -> dict:
    """Median wall seconds of a fresh interpreter importing numpy, and tallyml, measured inside
    the child (interpreter start excluded), alternating the two."""
    runs = {"numpy": [], "tallyml": []}
    for _ in range(repeat):
        for mod in runs:
            runs[mod].append(float(_python(_IMPORT.format(mod=mod))))
    return {mod: float(np.median(v)) for mod, v in runs.items()}


_FIRST = """
import time
t0 = time.perf_counter()
import numpy as np
t1 = time.perf_counter()
import tallyml
m = tallyml.BinaryMetrics()
m.update(np.array([0, 1, 1], np.int8), np.array([0.2, 0.7, 0.4], np.float32))
t2 = time.perf_counter()
print(t2 - t1)
"""


def first_update_seconds(repeat: int = 3) -> float:
    """Seconds from ``import tallyml`` to the end of the first ``update()`` in a fresh process
    (numpy already imported), median of ``repeat`` processes."""
    return float(np.median([float(_python(_FIRST)) for _ in range(repeat)]))


_RSS = """
import json, resource
import numpy as np
n, multiclass = {n}, {multiclass}
rng = np.random.default_rng(1)
target = np.empty(n, np.int32 if multiclass else np.int8)
preds = np.empty(n, np.int32) if multiclass else np.empty(n, np.float32)
for i in range(0, n, 1 << 20):  # in chunks: no temporaries of size n before the update
    j = min(n, i + (1 << 20))
    if multiclass:
        target[i:j] = rng.integers(0, 10, j - i)
        preds[i:j] = rng.integers(0, 10, j - i)
    else:
        target[i:j] = rng.random(j - i) < 0.4
        rng.random(out=preds[i:j], dtype=np.float32)
import tallyml
m = tallyml.MulticlassMetrics(10) if multiclass else tallyml.BinaryMetrics()
m.update(target[:10], preds[:10])  # loads the library; its pages are not the update's
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
m.update(target, preds)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert m.count == n + 10
print(json.dumps((after - before) * 1024))
"""


def update_rss_growth(n: int = 10_000_000, multiclass: bool = False) -> int:
    """Bytes by which the peak RSS of a fresh process grows during one ``update()`` of ``n``
    samples whose inputs already exist (binary scores, or multiclass labels)."""
    return int(json.loads(_python(_RSS.format(n=n, multiclass=multiclass))))


# ------------------------------------------------------------------ window overhead (windows.py)
#: the windows timed by ``window_overhead``: name -> Windowed/Decayed keyword arguments
WINDOW_VARIANTS = {
    "samples=1M/10": dict(samples=1_000_000, buckets=10),    # a bucket closes every 100 updates
    "samples=100k/10": dict(samples=100_000, buckets=10),    # ... every 10 updates
    "samples=10k/10": dict(samples=10_000, buckets=10),      # ... every update
    "updates=1000/10": dict(updates=1000, buckets=10),       # ... every 100 updates
    "updates=100/10": dict(updates=100, buckets=10),         # ... every 10 updates
    "seconds=3600/60": dict(seconds=3600.0, buckets=60),
    # a bucket that never closes in the run: the front's own bookkeeping alone
    "updates=1G/1": dict(updates=1 << 30, buckets=1),
    "Decayed(samples)": dict(half_life=50_000),
    "Decayed(seconds)": dict(half_life=60.0, unit="seconds"),
}


def _warm_passes(kw, batch, batches):
    """Passes over the data that open ``buckets + 2`` buckets (all but ``seconds`` windows),
    at most 30 (a window with longer buckets closes none in the timed run either)."""
    per_bucket = kw.get("updates", kw.get("samples", 0) / batch) / kw["buckets"]
    return min(30, max(1, int(math.ceil((kw["buckets"] + 2) * per_bucket / batches))))


def window_overhead(batch: int = 1000, batches: int = 50, repeat: int = 61) -> dict:
    """Per-update cost of ``Windowed``/``Decayed`` over the plain metric object, batches of
    ``batch`` rows (binary float32 scores + int8 labels; multiclass K = 10 int32 labels), every
    variant timed round-robin against the plain object in one process. Returns
    kind -> {"plain_us": {"wall", "cpu"}, variant -> {"wall", "cpu", "overhead", "cpu_overhead"}}
    (overhead: (windowed - plain) / plain of the median per-update times). Each window's total
    is checked against the plain object's counts before its timing is believed."""
    from tallyml import BinaryMetrics, Decayed, MulticlassMetrics, Windowed

    from .._backends import hot as _hot
    from .timing import interleaved

    rng = np.random.default_rng(11)
    kinds = {
        "binary": (lambda: BinaryMetrics(),
                   [((rng.random(batch) < 0.4).astype(np.int8), rng.random(batch, dtype=np.float32))
                    for _ in range(batches)]),
        "multiclass10": (lambda: MulticlassMetrics(10, labels="all"),
                         [(rng.integers(0, 10, batch, dtype=np.int32),
                           rng.integers(0, 10, batch, dtype=np.int32)) for _ in range(batches)]),
    }
    out = {}
    for kind, (make, data) in kinds.items():
        # the hot tier loaded first (as in a long-running loop), so that every object, plain or
        # bucket, counts through it from its first bound call
        _until_hot(make(), *data[0])
        objs = {"plain": make()}
        for name, kw in WINDOW_VARIANTS.items():
            objs[name] = (Decayed if name.startswith("Decayed") else Windowed)(make(), **kw)

        passes = dict.fromkeys(objs, 0)

        def run(name, obj):
            up = obj.update
            for y, p in data:
                up(y, p)
            passes[name] += 1

        fns = {name: (lambda name=name, obj=obj: run(name, obj)) for name, obj in objs.items()}
        for name, fn in fns.items():
            # warm-up: steady state, where every bucket object has counted before (an object's
            # first update binds its native call; the ring starts with ``buckets + 2`` of them)
            for _ in range(1 if name == "plain" or name.startswith("Decayed")
                           else _warm_passes(WINDOW_VARIANTS[name], batch, batches)):
                fn()
            # a view's front asks for its own hot-tier kernel (loaded in the background): time
            # it once it counts through that, as a long-running loop does
            front = getattr(objs[name], "_front", None) if _hot.enabled() else None
            deadline = time.monotonic() + 60
            while front is not None and front._hot_ep is None and time.monotonic() < deadline:
                fn()
        # a round is 4 passes (200 updates), so that every round holds the same number of
        # bucket changes: with 1 pass a round, a window changing buckets every 100 updates
        # changes one in every other round, and the median picks either half
        times = interleaved(fns, repeat=repeat, number=4)
        one = make()  # one pass's counts; every object ran whole passes
        for y, p in data:
            one.update(y, p)
        for name, obj in objs.items():
            if isinstance(obj, Windowed):
                if not np.array_equal(obj.total().confusion_matrix(),
                                      one.confusion_matrix() * passes[name]):
                    raise AssertionError(f"window overhead: {name} lost or added counts")
            elif isinstance(obj, Decayed) and obj.current().count != one.count * passes[name]:
                raise AssertionError(f"window overhead: {name} lost or added samples")
        per = {name: {c: s / batches * 1e6 for c, s in t.items()} for name, t in times.items()}
        base = per.pop("plain")
        res = {"plain_us": base}
        for name, t in per.items():
            res[name] = dict(t, overhead=t["wall"] / base["wall"] - 1.0,
                             cpu_overhead=t["cpu"] / base["cpu"] - 1.0)
        out[kind] = res
    return out
