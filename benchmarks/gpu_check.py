"""Device check of the cuda backend, for a machine with an NVIDIA GPU (one run of a few minutes).

1. Exactness: on fresh random data, every kernel (weighted and not, with ignore_index, from host
   arrays, numba device arrays and a bare ``__cuda_array_interface__`` producer) must give the
   numpy reference's counts exactly; a bad value must raise the reference's message and leave
   the state as it was; updates of one state from several host threads lose nothing.
2. Speed: each kernel at N = 1e8 (binary int8 labels / float32 scores, multiclass K=10 int32
   labels and (N, 10) float32 scores, multilabel L=20 int8 labels / float32 scores), timed with
   CUDA events (warm-up, then the median of many updates; an update includes its 8-byte error
   read-back), reported as G predictions/s and as a fraction of the device-to-device copy
   bandwidth measured in the same run, beside plain baselines when installed (CuPy / PyTorch
   ``bincount``, torchmetrics on the GPU).

Prints a markdown table; ``--json PATH`` writes the results. ``--quick`` runs a toy size so that
the script can be checked on the CUDA simulator (NUMBA_ENABLE_CUDASIM=1): timings are then
meaningless.

    PYTHONPATH=python python benchmarks/gpu_check.py --json gpu.json

``--compile-only`` needs no GPU: it compiles every kernel to PTX with libnvvm (a type check the
simulator cannot give).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
from numba import cuda  # a device script: numba.cuda is what it checks

try:
    from tallyml._backends import cuda as backend
except ImportError:  # run from a checkout without PYTHONPATH
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
    from tallyml._backends import cuda as backend
from tallyml._backends import reference, triplet_bins

K = 10
L = 20
TASKS = ("binary_labels", "binary_scores", "multiclass_labels", "multiclass_scores",
         "multilabel_labels", "multilabel_scores")


# ---------------------------------------------------------------------------------------------
# Inputs


class _Interface:
    """A bare __cuda_array_interface__ producer (what CuPy or PyTorch hand over)."""

    def __init__(self, dev):
        self._dev = dev  # keeps the memory alive
        self.__cuda_array_interface__ = dev.__cuda_array_interface__


def _host_inputs(task, n, rng, weighted):
    """(target, preds, extra positional args before weight) for the reference calls."""
    w = rng.integers(0, 9, n) / 4.0 if weighted else None  # dyadic: float sums are exact
    if task == "binary_labels":
        return rng.integers(0, 2, n, dtype=np.int8), rng.integers(0, 2, n, dtype=np.int8), (), w
    if task == "binary_scores":
        return (rng.integers(0, 2, n, dtype=np.int8), rng.random(n, dtype=np.float32), (0.5,), w)
    if task == "multiclass_labels":
        return rng.integers(0, K, n, dtype=np.int32), rng.integers(0, K, n, dtype=np.int32), (), w
    if task == "multiclass_scores":
        scores = (rng.integers(0, 16, (n, K)) / 16).astype(np.float32)  # ties: first max wins
        return rng.integers(0, K, n, dtype=np.int32), scores, (), w
    if task == "multilabel_labels":
        return (rng.integers(0, 2, (n, L), dtype=np.int8),
                rng.integers(0, 2, (n, L), dtype=np.int8), (), w)
    return (rng.integers(0, 2, (n, L), dtype=np.int8), rng.random((n, L), dtype=np.float32),
            (0.5,), w)


def _states(task, weighted):
    acc = np.float64 if weighted else np.int64
    if task.startswith("binary"):
        return [np.zeros((2, 2), acc)]
    if task.startswith("multiclass"):
        return [np.zeros((K, K), acc), np.zeros(K, np.uint8)]
    return [np.zeros((L, 2, 2), acc), np.zeros(triplet_bins(L), acc)]


def _call(module, task, target, preds, extra, w, ignore_index, states):
    fn = getattr(module, task)
    if task.startswith("multilabel"):
        return fn(target, preds, *extra, w, *states)
    return fn(target, preds, *extra, w, ignore_index, *states)


def _ignore(task):
    return None if task.startswith("multilabel") else 1


def check_exact(cu, task, n, seed, simulated):
    """Counts equal to the reference for host, device and interface inputs; a bad value gives
    the reference's message and leaves the state unchanged."""
    rng = np.random.default_rng(seed)
    failures = []
    for weighted in (False, True):
        target, preds, extra, w = _host_inputs(task, n, rng, weighted)
        want = _states(task, weighted)
        _call(reference, task, target, preds, extra, w, _ignore(task), want)
        kinds = {"host": lambda a: a, "device": cu.to_device}
        if not simulated:  # the simulator has no __cuda_array_interface__
            kinds["interface"] = lambda a: _Interface(cu.to_device(a))
        for kind, wrap in kinds.items():
            got = [backend.to_device_state(np.zeros_like(s)) for s in _states(task, weighted)]
            _call(backend, task, wrap(target), wrap(preds), extra,
                  None if w is None else wrap(w), _ignore(task), got)
            for g, s in zip(got, want):
                if not np.array_equal(backend.to_host(g), s):
                    failures.append(f"{kind} inputs, weighted={weighted}: counts differ")
    # Error path: one bad target in the middle, state must not move.
    target, preds, extra, w = _host_inputs(task, n, rng, False)
    target = target.copy()
    bad_row = n // 2
    if target.ndim == 2:
        target[bad_row, L // 2] = 3
    else:
        target[bad_row] = K + 3
    start = [s + 1 for s in _states(task, False)]
    messages = []
    for module, states in ((reference, [s.copy() for s in start]),
                           (backend, [backend.to_device_state(s) for s in start])):
        try:
            _call(module, task, target, preds, extra, None, None, states)
            messages.append(None)
        except ValueError as exc:
            messages.append(str(exc))
        if module is backend:
            for g, s in zip(states, start):
                if not np.array_equal(backend.to_host(g), s):
                    failures.append("state changed by a failed update")
    if messages[0] is None or messages[0] != messages[1]:
        failures.append(f"error message {messages[1]!r} != reference {messages[0]!r}")
    return failures


def check_threads(n, seed, n_threads=4, per_thread=4):
    """Updates of one device state from several host threads equal the reference's sum."""
    rng = np.random.default_rng(seed)
    batches = [(rng.integers(0, K, n, dtype=np.int32), rng.integers(0, K, n, dtype=np.int32),
                rng.integers(0, 9, n) / 4.0) for _ in range(n_threads * per_thread)]
    want = np.zeros((K, K))
    for t, p, w in batches:
        reference.multiclass_labels(t, p, w, None, want, None)
    state = backend.device_zeros((K, K), np.float64)
    errors = []

    def work(mine):
        try:
            for t, p, w in mine:
                backend.multiclass_labels(t, p, w, None, state, None)
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(batches[i::n_threads],))
               for i in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        return errors
    return [] if np.array_equal(backend.to_host(state), want) else ["threaded counts differ"]


# ---------------------------------------------------------------------------------------------
# Device data for the timings (made on the device: 1e8 x 10 float32 is 4 GB)

# Integer hash kept below 2**63 (no wrap-around), so that the simulator computes the same.
@cuda.jit(device=True)
def _hash(i, seed):
    x = ((i + seed * 7919) % 4294967296) * 2654435761 % 4294967296
    x = (x ^ (x >> 16)) * 73244475 % 4294967296
    return x ^ (x >> 16)


@cuda.jit
def _fill_labels(out, high, seed):  # out: a flat view
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        out[i] = _hash(i, seed) % high


@cuda.jit
def _fill_scores(out, seed):
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        out[i] = (_hash(i, seed) & 16777215) / 16777216.0


def _device_inputs(cu, task, n):
    def labels(shape, dtype, high, seed):
        a = cu.device_array(shape, dtype=dtype)
        size = int(np.prod(shape))
        _fill_labels[backend._launch_shape(cu, size)](a.reshape(size), np.int64(high),
                                                      np.int64(seed))
        return a

    def scores(shape, seed):
        a = cu.device_array(shape, dtype=np.float32)
        size = int(np.prod(shape))
        _fill_scores[backend._launch_shape(cu, size)](a.reshape(size), np.int64(seed))
        return a

    if task == "binary_labels":
        return labels(n, np.int8, 2, 1), labels(n, np.int8, 2, 2), ()
    if task == "binary_scores":
        return labels(n, np.int8, 2, 1), scores(n, 3), (0.5,)
    if task == "multiclass_labels":
        return labels(n, np.int32, K, 1), labels(n, np.int32, K, 2), ()
    if task == "multiclass_scores":
        return labels(n, np.int32, K, 1), scores((n, K), 3), ()
    if task == "multilabel_labels":
        return labels((n, L), np.int8, 2, 1), labels((n, L), np.int8, 2, 2), ()
    return labels((n, L), np.int8, 2, 1), scores((n, L), 3), (0.5,)


# ---------------------------------------------------------------------------------------------
# Timing


def _timer(cu, simulated):
    """seconds(fn): one timed call. CUDA events on a GPU (they also time CuPy / PyTorch work on
    the legacy default stream); the simulator's events record nothing, so wall time there."""

    def seconds(fn):
        if simulated:
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0
        start, stop = cu.event(), cu.event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        return cu.event_elapsed_time(start, stop) / 1e3

    return seconds


def median_time(seconds, fn, warmup, repeats, sync):
    for _ in range(warmup):
        fn()
    sync()
    return statistics.median(seconds(fn) for _ in range(repeats))


def copy_bandwidth(cu, nbytes, seconds, warmup, repeats):
    """Device-to-device copy: bytes read + written per second."""
    src = cu.device_array(nbytes, dtype=np.uint8)
    dst = cu.device_array(nbytes, dtype=np.uint8)
    t = median_time(seconds, lambda: dst.copy_to_device(src), warmup, repeats, cu.synchronize)
    return 2 * nbytes / t


def _baselines(task, target, preds, n):
    """Plain GPU baselines on the same device data (zero-copy): {name: zero-arg fn}."""
    out = {}
    try:
        import cupy as cp

        t, p = cp.asarray(target), cp.asarray(preds)
        if task == "binary_labels":
            out["cupy.bincount"] = lambda: cp.bincount(t.astype(cp.int64) * 2 + p, minlength=4)
        elif task == "binary_scores":
            out["cupy.bincount"] = lambda: cp.bincount(t.astype(cp.int64) * 2 + (p >= 0.5),
                                                       minlength=4)
        elif task == "multiclass_labels":
            out["cupy.bincount"] = lambda: cp.bincount(t.astype(cp.int64) * K + p, minlength=K * K)
        elif task == "multiclass_scores":
            out["cupy.bincount"] = lambda: cp.bincount(t.astype(cp.int64) * K + p.argmax(axis=1),
                                                       minlength=K * K)
        else:  # per label, no samples histogram: a lower bound on the baseline's cost
            def _ml():
                pb = p if task == "multilabel_labels" else (p >= 0.5)
                return [cp.bincount(t[:, j].astype(cp.int64) * 2 + pb[:, j], minlength=4)
                        for j in range(L)]

            out["cupy.bincount"] = _ml
    except Exception as exc:  # not installed, or failed: reported, not fatal
        out["cupy.bincount"] = exc
    try:
        import torch

        t = torch.as_tensor(target, device="cuda")
        p = torch.as_tensor(preds, device="cuda")
        if task == "binary_labels":
            out["torch.bincount"] = lambda: torch.bincount(t.long() * 2 + p, minlength=4)
        elif task == "binary_scores":
            out["torch.bincount"] = lambda: torch.bincount(t.long() * 2 + (p >= 0.5), minlength=4)
        elif task == "multiclass_labels":
            out["torch.bincount"] = lambda: torch.bincount(t.long() * K + p, minlength=K * K)
        elif task == "multiclass_scores":
            out["torch.bincount"] = lambda: torch.bincount(t.long() * K + p.argmax(dim=1),
                                                           minlength=K * K)
        else:
            def _tml():
                pb = p.long() if task == "multilabel_labels" else (p >= 0.5).long()
                return [torch.bincount(t[:, j].long() * 2 + pb[:, j], minlength=4)
                        for j in range(L)]

            out["torch.bincount"] = _tml
        try:
            import torchmetrics.classification as tmc

            if task.startswith("binary"):
                metric = tmc.BinaryConfusionMatrix().to("cuda")
                pp = p.float() if task == "binary_scores" else p.long()
                out["torchmetrics"] = lambda: metric.update(pp, t.long())
            elif task.startswith("multiclass"):
                metric = tmc.MulticlassConfusionMatrix(num_classes=K).to("cuda")
                pp = p if task == "multiclass_scores" else p.long()
                out["torchmetrics"] = lambda: metric.update(pp, t.long())
            else:
                metric = tmc.MultilabelConfusionMatrix(num_labels=L).to("cuda")
                pp = p.float() if task == "multilabel_scores" else p.long()
                out["torchmetrics"] = lambda: metric.update(pp, t.long())
        except Exception as exc:
            out["torchmetrics"] = exc
    except Exception as exc:
        out["torch.bincount"] = exc
    return out


def _sync_all(cu):
    cu.synchronize()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
    except Exception:
        pass


def time_task(cu, task, n, seconds, warmup, repeats, copy_bw, with_baselines):
    target, preds, extra = _device_inputs(cu, task, n)
    cu.synchronize()
    states = [backend.to_device_state(s) for s in _states(task, False)]
    t = median_time(seconds, lambda: _call(backend, task, target, preds, extra, None, None, states),
                    warmup, repeats, cu.synchronize)
    in_bytes = target.nbytes + preds.nbytes
    per_row = L if task.startswith("multilabel") else 1
    row = {
        "kernel": task, "n": n, "target_dtype": str(np.dtype(target.dtype)),
        "preds_dtype": str(np.dtype(preds.dtype)), "preds_shape": list(preds.shape),
        "seconds": t, "gpred_per_s": n * per_row / t / 1e9, "rows_per_s": n / t,
        "input_gb_per_s": in_bytes / t / 1e9,
        "fraction_of_copy_bw": (in_bytes / t) / copy_bw,
        "baselines": {},
    }
    if with_baselines:
        for name, fn in _baselines(task, target, preds, n).items():
            if isinstance(fn, Exception):
                row["baselines"][name] = {"error": f"{type(fn).__name__}: {fn}"[:200]}
                continue
            try:
                bt = median_time(seconds, fn, warmup, max(3, repeats // 2), lambda: _sync_all(cu))
                row["baselines"][name] = {"seconds": bt, "speedup": bt / t}
            except Exception as exc:  # e.g. out of memory for the temporaries
                row["baselines"][name] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
    del target, preds
    return row


# ---------------------------------------------------------------------------------------------
# Compile-only: type-check every kernel for a real GPU on a machine without one


def compile_only(all_dtypes, cc=(8, 0)):
    """Compile the kernels to PTX with libnvvm (pip install nvidia-nvvm nvidia-cuda-nvrtc
    nvidia-cuda-runtime), no GPU needed. The simulator runs kernels as plain Python and never
    types them, so this is the only check short of a GPU that they compile for the device."""
    import types as pytypes

    import numba.cuda.dispatcher as dispatcher
    from numba import types as T

    from tallyml._backends import _cuda_kernels as kernels

    # Device functions ask the current device for its compute capability; there is none.
    dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=cc)
    a1 = lambda dt: T.Array(dt, 1, "C")  # noqa: E731
    a2 = lambda dt: T.Array(dt, 2, "C")  # noqa: E731
    labels = [T.boolean, T.int8, T.int32, T.int64, T.uint8, T.int16] if all_dtypes else [T.int8]
    scores = [T.float32, T.float64] if all_dtypes else [T.float32]
    jobs = []
    for acc_name, acc in (("int64", T.int64), ("float64", T.float64)):
        tail = (a1(acc), T.int64, T.boolean, T.int64, T.float64, T.int64, T.boolean, acc,
                a1(acc), a1(T.int64))
        for lt in labels:
            jobs.append((kernels.binary_kernel(acc_name, False), (a1(lt), a1(lt)) + tail))
            for shared in (True, False):
                jobs.append((kernels.binned_kernel("multiclass_labels", acc_name, shared),
                             (a1(lt), a1(lt)) + tail))
                jobs.append((kernels.binned_kernel("multilabel_labels", acc_name, shared),
                             (a2(lt), a2(lt)) + tail))
            for st in scores:
                jobs.append((kernels.binary_kernel(acc_name, True), (a1(lt), a1(st)) + tail))
                for shared in (True, False):
                    jobs.append((kernels.binned_kernel("multiclass_scores", acc_name, shared),
                                 (a1(lt), a2(st)) + tail))
                    jobs.append((kernels.binned_kernel("multilabel_scores", acc_name, shared),
                                 (a2(lt), a2(st)) + tail))
        jobs.append((kernels.finish, (a1(T.int64), a1(acc), a1(acc), a1(acc), a1(T.uint8))))
    jobs.append((_fill_labels, (a1(T.int8), T.int64, T.int64)))
    jobs.append((_fill_scores, (a1(T.float32), T.int64)))
    for fn, sig in jobs:
        cuda.compile_ptx(fn.py_func, sig, cc=cc)
    print(f"compiled {len(jobs)} kernel specialisations to PTX for sm_{cc[0]}{cc[1]}")
    return 0


# ---------------------------------------------------------------------------------------------


def _markdown(report):
    lines = [
        f"device: {report['device']}  (copy bandwidth {report['copy_gb_per_s']:.0f} GB/s"
        + (", SIMULATOR: timings meaningless" if report["simulator"] else "") + ")",
        "",
        "| kernel | N | inputs | exact | ms | G pred/s | GB/s | of copy BW "
        "| baselines (ms, our speedup) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["results"]:
        base = []
        for name, b in r.get("baselines", {}).items():
            if "seconds" in b:
                base.append(f"{name} {b['seconds'] * 1e3:.2f} ms ({b['speedup']:.1f}x)")
            elif not b["error"].startswith(("ModuleNotFoundError", "ImportError")):
                base.append(f"{name}: {b['error'][:60]}")
        inputs = f"{r['target_dtype']} + {r['preds_dtype']}{tuple(r['preds_shape'][1:]) or ''}"
        lines.append(
            f"| {r['kernel']} | {r['n']:,} | {inputs} | {'yes' if r['exact'] else 'NO'} "
            f"| {r['seconds'] * 1e3:.2f} | {r['gpred_per_s']:.1f} | {r['input_gb_per_s']:.0f} "
            f"| {r['fraction_of_copy_bw']:.0%} | {'; '.join(base) or '-'} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="toy sizes (simulator smoke test)")
    parser.add_argument("--n", type=float, default=None, help="timing batch size (default 1e8)")
    parser.add_argument("--check-n", type=int, default=None, help="exactness batch size")
    parser.add_argument("--repeats", type=int, default=None, help="timed updates per kernel")
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--compile-only", action="store_true",
                        help="no GPU: compile every kernel to PTX with libnvvm and stop")
    parser.add_argument("--all-dtypes", action="store_true",
                        help="with --compile-only: every supported dtype, not one per kind")
    args = parser.parse_args(argv)

    if args.compile_only:
        if backend._simulated():
            print("--compile-only needs NUMBA_ENABLE_CUDASIM unset", file=sys.stderr)
            return 2
        return compile_only(args.all_dtypes)

    if not backend.available():
        print(f"cuda backend unavailable: {backend.unavailable_reason()}", file=sys.stderr)
        return 2
    cu = cuda

    simulated = backend._simulated()
    quick = args.quick
    n = int(args.n or (200 if quick else 1e8))
    check_n = args.check_n or (100 if quick else 2_000_000)
    repeats = args.repeats or (2 if quick else 20)
    warmup = 1 if quick else 3
    if simulated:
        backend.configure(threads_per_block=32, max_blocks=2)
    seconds = _timer(cu, simulated)
    dev = cu.get_current_device()
    name = getattr(dev, "name", b"CUDA simulator")
    name = name.decode() if isinstance(name, bytes) else str(name)

    copy_bytes = 4096 if quick else 1 << 30
    copy_bw = copy_bandwidth(cu, copy_bytes, seconds, warmup, repeats)
    results = []
    for i, task in enumerate(TASKS):
        t0 = time.perf_counter()
        failures = check_exact(cu, task, check_n, seed=1000 + i, simulated=simulated)
        row = time_task(cu, task, n, seconds, warmup, repeats, copy_bw,
                        with_baselines=not args.no_baselines and not simulated)
        row["exact"] = not failures
        row["failures"] = failures
        results.append(row)
        print(f"{task}: exact={not failures} {failures or ''} ({time.perf_counter() - t0:.1f} s)",
              file=sys.stderr)

    thread_failures = check_threads(check_n, seed=999)
    print(f"threaded updates: exact={not thread_failures} {thread_failures or ''}",
          file=sys.stderr)

    report = {
        "device": name, "simulator": simulated, "copy_gb_per_s": copy_bw / 1e9,
        "threads_exact": not thread_failures, "thread_failures": thread_failures,
        "check_n": check_n, "repeats": repeats, "python": platform.python_version(),
        "numpy": np.__version__, "results": results,
    }
    try:
        import numba
        import numba_cuda

        report["numba"] = numba.__version__
        report["numba_cuda"] = numba_cuda.__version__
    except ImportError:
        pass
    print(_markdown(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=float))
    return 0 if all(r["exact"] for r in results) and not thread_failures else 1


if __name__ == "__main__":
    sys.exit(main())
