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
import threading

__all__ = ["ARM_AFTER", "MAX_ROWS", "enabled", "lookup", "request", "sync", "warm"]

ENV_VAR = "TALLYML_HOT"
#: small calls with one dtype pair before an object asks for the tier
ARM_AFTER = 32
#: batches above this many rows go to the native core (SIMD, threads), whose call cost is noise
MAX_ROWS = 2048

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
