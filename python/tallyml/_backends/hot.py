"""The hot tier: small batches in a tight loop counted by numba-compiled kernels.

Why: a ctypes call costs about 0.15 us per argument plus 0.3 us to take each array's address,
so a native call on 64 samples is about 2.5 us of overhead around nanoseconds of counting. A
numba entry point compiled for one exact signature unboxes its arrays in C and costs about
0.4 us. Importing numba (about 0.3 s) and compiling (seconds, once; then numba's disk cache)
must not land on a first ``update()`` or stall a serving loop, so the tier is loaded lazily and
in the background:

1. a metric object that has made ``ARM_AFTER`` small calls with one dtype pair calls
   ``request(name, target_dtype, preds_dtype)``;
2. a daemon thread imports numba and compiles (or loads from cache) that one signature;
3. ``lookup`` then returns the entry point, and the object uses it from then on. Until then,
   and whenever it is absent, the object keeps using the native call: results are identical
   (exact integer counts), only the cost per call differs.

``TALLYML_HOT=0`` turns the tier off; ``TALLYML_HOT=sync`` compiles in the requesting call
(deterministic, for tests and benchmarks); ``warm(...)`` does that for one signature.

Warnings: a first compile (not a load from numba's disk cache) runs numba's type inference,
which enters ``warnings.catch_warnings``; that swaps the process-wide warning filters, so in the
background mode it can undo a ``catch_warnings`` block that another thread is inside at that
moment. The test suite therefore runs with ``TALLYML_HOT=sync`` (tests/conftest.py); a program
that relies on such blocks while the tier may still be compiling can do the same.

Fork safety: a fork while the loader thread holds numba's compiler lock would leave that lock
held forever in the child, so ``os.fork`` waits (``register_at_fork``) until a load in progress
has finished. Exit: the interpreter waits (``atexit``, at most ``EXIT_WAIT_S``) for a load in
progress rather than finalise under a thread that is inside LLVM.
"""
from __future__ import annotations

import atexit
import os
import sys
import threading

__all__ = ["ARM_AFTER", "MAX_ROWS", "enabled", "lookup", "request", "sync", "warm"]

ENV_VAR = "TALLYML_HOT"
#: small calls with one dtype pair before an object asks for the tier
ARM_AFTER = 32
#: batches above this many rows go to the native core (SIMD, threads), whose call cost is noise
MAX_ROWS = 2048

# The ``*_ring`` kernels count for a window's front (windows.py, ``Windowed``) into one int64
# vector that holds the window's bookkeeping, which they read and write, and its bucket states
# (one array argument, not two: each costs ~50 ns to unbox). Positions:
RING_ROWS = 0   # 1: a batch takes n units of room (samples=); 0: it takes RING_UNIT
RING_UNIT = 1   # what a call takes of the room when RING_ROWS is 0: 1 (updates=), 0 (seconds=)
RING_SIZE = 2   # a bucket's length in rows or calls
RING_NB = 3     # buckets B
RING_J = 4      # the current bucket's number (-1: none yet)
RING_CUR = 5    # its row, J % B
RING_ROOM = 6   # units left in it; -1: the kernel admits nothing (see windows.py _point_front)
RING_ROLL = 7   # 1: at no room left, a batch that fits a bucket opens the next one in the kernel
RING_K = 8      # a state is K x K int64 cells
RING_BASE = 9   # where row 0 starts: rows 0 .. B-1 the buckets' states, row B the closed
#                 total's, row B+1 the kernels' scratch row (empty between calls)
RING_CLOCK = 10  # 1: the kernel reads the clock (CLOCK_MONOTONIC, time.monotonic's) and
#                  admits a batch only while it is below RING_EDGE (ns); 0: the caller did
RING_EDGE = 11
RING_TS = 12     # 12, 13: the clock's struct timespec
RING_COUNT = 14  # + r: the sample count of row r (r <= B)
# The ``*_decay`` kernels count for a ``Decayed(unit="seconds")`` front (windows.py) into a vector
# of the same kind: RING_ROOM is -1 there (the front's bound path never admits), RING_K and
# RING_TS as above, then (float64 fields stored as their bits, which the kernels read through
# a float64 pointer):
DECAY_ON = RING_COUNT       # 1: the kernel may count (the running state is in the vector)
DECAY_CELLS = RING_COUNT + 1  # seconds: K * K; smaller batches take the weighted path
DECAY_ACC = RING_COUNT + 2    # where the running float64 state starts
DECAY_SCRATCH = RING_COUNT + 3  # where the int64 scratch state starts (empty between calls)
DECAY_COUNT = RING_COUNT + 4  # the running state's sample count
DECAY_ROWS = RING_COUNT + 5   # rows counted
DECAY_BASE = RING_COUNT + 6   # (float64) the time at which stored weights are 1
DECAY_HALF = RING_COUNT + 7   # (float64) the half-life in seconds
DECAY_T = RING_COUNT + 8      # (float64) the time the last batch was stamped with
# unit="samples" (the ``*_rowdecay`` kernels): DECAY_ROWS is the row count, DECAY_BASE the row
# number (float64) at which stored weights are 1, and
DECAY_SEEN = RING_COUNT + 9   # where the running state's seen mask starts (its bytes)
DECAY_RAMP = RING_COUNT + 10  # where 2 ** (i / half_life), i < MAX_ROWS, starts (float64)
DECAY_DIRECT = RING_COUNT + 11  # multiclass: the backend's direct_below (see _hot_kernels.py)
DECAY_FIELDS = RING_COUNT + 12
# Decayed's rules (windows.py), which the decay kernels follow: stored weights stay below 2 ** this
# times the newest weight's scale (else the general path rebases first), and a batch's weight
# ramp 2 ** (i / half_life) below 2 ** DECAY_RAMP_EXPONENT (else per-row weights)
DECAY_RESCALE_EXPONENT = 64.0
DECAY_RAMP_EXPONENT = 1000.0
#: whether the ring and decay kernels can read ``time.monotonic``'s clock themselves: 64-bit
#: Linux, where CPython reads CLOCK_MONOTONIC with clock_gettime (a timespec of two int64)
KERNEL_CLOCK = sys.platform.startswith("linux") and sys.maxsize > 2 ** 32

_ready: dict = {}      # (name, target dtype, preds dtype) -> entry point
_requested: set = set()
_failed: dict = {}     # key -> the exception text (kept for diagnosis; the tier stays off for it)
_state_lock = threading.Lock()
_load_lock = threading.Lock()  # held while compiling; fork waits on it
_threads: list = []
EXIT_WAIT_S = 60.0


def _mode() -> str:
    v = os.environ.get(ENV_VAR, "").strip().lower()
    if v in ("0", "off", "false", "no"):
        return "off"
    return "sync" if v == "sync" else "background"


def enabled() -> bool:
    return _mode() != "off"


def sync() -> bool:
    """Whether ``request`` compiles in the requesting call (TALLYML_HOT=sync)."""
    return _mode() == "sync"


def lookup(name, target_dtype, preds_dtype):
    """The entry point for this signature, or None when it is not loaded (yet)."""
    return _ready.get((name, target_dtype, preds_dtype))


def _load(key) -> None:
    with _load_lock:
        try:
            from . import _hot_kernels as K

            fn = K.KERNELS[key[0]]
            _ready[key] = fn.compile(K.signature(*key))
        except Exception as e:  # noqa: BLE001 - the tier is an optimisation; keep the native path
            _failed[key] = f"{type(e).__name__}: {e}"


def request(name, target_dtype, preds_dtype) -> None:
    """Ask for a signature; returns at once (unless TALLYML_HOT=sync) and only once per key."""
    mode = _mode()
    if mode == "off":
        return
    key = (name, target_dtype, preds_dtype)
    with _state_lock:
        if key in _requested:
            return
        _requested.add(key)
    if mode == "sync":
        _load(key)
    else:
        th = threading.Thread(target=_load, args=(key,), name="tallyml-hot-tier", daemon=True)
        with _state_lock:
            _threads[:] = [t for t in _threads if t.is_alive()] + [th]
        th.start()


def warm(name, target_dtype, preds_dtype):
    """Load one signature now (in this thread) and return its entry point, or None."""
    key = (name, target_dtype, preds_dtype)
    with _state_lock:
        _requested.add(key)
    if key not in _ready:
        _load(key)
    return _ready.get(key)


def failures() -> dict:
    """Signatures whose load failed, with the error (the tier stays off for them)."""
    return dict(_failed)


@atexit.register
def _wait_for_loads() -> None:
    with _state_lock:
        pending = list(_threads)
    for th in pending:
        th.join(EXIT_WAIT_S)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_load_lock.acquire, after_in_parent=_load_lock.release,
                        after_in_child=_load_lock.release)
