"""Timing and memory-bandwidth measurement.

Medians, not minima: the machines this runs on are shared, and a median says what a user sees.
Competing implementations are timed round-robin (``interleaved``) so that a burst of load on the
machine hits all of them alike."""
from __future__ import annotations

import threading
import time

import numpy as np

__all__ = ["median_seconds", "interleaved", "read_bandwidth", "run_threads"]


def median_seconds(fn, repeat: int = 5, number: int = 1) -> float:
    """Median wall time of ``number`` calls of ``fn()``, over ``repeat`` rounds, per call."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return float(np.median(times))


def interleaved(fns: dict, repeat: int = 5, number: int = 1) -> dict:
    """Median seconds per call of each ``fns[name]()``, timed round-robin: round r runs every
    function once (``number`` calls) before round r + 1 starts. Returns name -> {"wall": s,
    "cpu": s}; "cpu" is the calling thread's CPU time, which leaves out the time a loaded
    machine keeps the process waiting (meaningful for single-threaded work only)."""
    wall = {name: [] for name in fns}
    cpu = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            c0, t0 = time.thread_time(), time.perf_counter()
            for _ in range(number):
                fn()
            wall[name].append((time.perf_counter() - t0) / number)
            cpu[name].append((time.thread_time() - c0) / number)
    return {name: {"wall": float(np.median(wall[name])), "cpu": float(np.median(cpu[name]))}
            for name in fns}


def run_threads(fns) -> None:
    """Run the callables ``fns`` on one Python thread each and wait for all of them."""
    errors = []

    def guard(fn):
        try:
            fn()
        except BaseException as exc:  # re-raised below, on the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=guard, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def read_bandwidth(nbytes: int = 256 << 20, threads: int = 1, repeat: int = 5) -> float:
    """Read bandwidth of this machine in bytes/s: an OR-reduction over ``nbytes`` of uint64
    (numpy releases the GIL in it), split over ``threads`` Python threads. The buffer is written
    once first so that its pages exist."""
    words = max(threads, nbytes // 8)
    data = np.ones(words, dtype=np.uint64)
    parts = np.array_split(data, threads)
    reduce = np.bitwise_or.reduce
    if threads == 1:
        sec = median_seconds(lambda: reduce(data), repeat)
    else:
        sec = median_seconds(lambda: run_threads([lambda p=p: reduce(p) for p in parts]), repeat)
    return data.nbytes / sec
