"""Machinery shared by the metric objects: backend choice, the lock, count arrays, merge,
state_dict and pickling.

State model (see DESIGN.md): every count lives in a small numpy array owned by the object.
Counts are int64 while the stream is unweighted; the first update with ``sample_weight``
converts every count array to float64 (exact for counts below 2**53) and they stay float64 from
then on, also after merging with an int64 object. Merging adds counts, ORs ``seen`` masks and adds
sample counts, which keeps it associative and commutative.

Thread safety: one ``threading.Lock`` per object guards every write (the kernel call included)
and every read of the state, so concurrent ``update()`` calls never lose counts and a reader
never sees a half-added batch. The lock is dropped when pickling and recreated when unpickling.
The scalar path (``update_one``) appends flat cell indices to a list (``list.append`` is atomic
under the GIL, so no lock); every reader first flushes the list into the counts under the lock.

GPU: the arrays named in ``_DEVICE_ATTRS`` may live on the device (``self._on_device``; see
``_device.py`` for the placement rules). Only ``update`` counts there; every other reader or
writer (values, merge, state_dict, pickle, the scalar path's flush) works on host copies,
brought over by ``_host_side()`` or ``_snapshot()``.
"""
from __future__ import annotations

import contextlib
import math
import threading
import time

import numpy as np

from .. import _backends
from .. import _validate as V
from .._backends import hot as _hot
from .._backends.hot import (RING_CLOCK as _RING_CLOCK, RING_COUNT as _RING_COUNT,
                             RING_CUR as _RING_CUR, RING_EDGE as _RING_EDGE,
                             RING_ROOM as _RING_ROOM, RING_ROWS as _RING_ROWS,
                             RING_UNIT as _RING_UNIT)
from . import _device

__all__: list[str] = []  # private module

_I64 = np.dtype(np.int64)
_F64 = np.dtype(np.float64)
_STATE_VERSION = 1
#: scalar-path samples kept pending (flat indices) before they are added into the state
_PENDING_MAX = 4096


class _MetricsBase:
    """Base of the stateful metric objects.

    Subclasses set ``_KIND`` (the name in state_dict), ``_COUNT_ATTRS`` (attributes holding count
    arrays: added on merge, converted to float64 by a weighted update), ``_SEEN_ATTR`` (a uint8
    mask ORed on merge, or None), ``_CONFIG`` (attributes that must agree for merge and load),
    and implement ``_new_arrays()`` (fresh zeroed arrays, as a dict attr -> array).

    ``self._state`` is the main count array; ``self._float`` says whether the counts are
    float64 (kept beside the arrays so that the hot path does not compare dtypes)."""

    _KIND = "base"
    _COUNT_ATTRS: tuple = ()
    #: float64 sums (of scores, losses ...) that are always float64: added on merge, scaled by
    #: decay, outside the int64 -> float64 rule of the counts
    _SUM_ATTRS: tuple = ()
    _SEEN_ATTR = None
    _CONFIG: tuple = ()
    #: count arrays (and masks) that move to the device; the rest stay on the host
    _DEVICE_ATTRS: tuple = ("_state",)

    def _setup(self, zero_division, validate, backend, num_threads=0):
        self._zero_division = V.zero_division(zero_division)
        # passed positionally to every kernel call: 0 = the backend decides by batch size
        self._nt = V.positive_int("num_threads", num_threads, 0)
        self._validate = V.flag("validate", validate)
        self._backend_request = backend
        self._backend_name = _backends.resolve(backend)
        self._be = _backends.load(self._backend_name)
        self._lock = threading.Lock()
        self._kernels = {}
        self._on_device = self._backend_name == "cuda"
        # dtype pair -> bound native call into the current int64 state (see _bound_call)
        self._bound = {}
        self._binder = getattr(self._be, "bind_" + self._KIND, None)
        # hot tier (``_backends/hot.py``): small calls made per dtype key before the tier was
        # asked for. Host backends that count exact integers only: the reference backend stays
        # pure numpy.
        self._small_calls = {}
        # the last entry point picked up, by dtype identity (builtin dtypes are singletons, and
        # hashing a dtype costs more than the rest of a hot call): _hot_t/_hot_p are the target
        # and preds dtypes, _hot_nd preds' ndim
        self._hot_t = self._hot_p = self._hot_nd = self._hot_ep = None
        self._hot_on = self._backend_name in ("native", "numba") and _hot.enabled()
        # the weighted hot kernel of ``_count_scaled`` (Decayed's path), by dtype identity like
        # _hot_t/_hot_p
        self._whot_t = self._whot_p = self._whot_ep = None
        ign = getattr(self, "_ignore_index", None)
        self._has_ign, self._ign = (False, 0) if ign is None else (True, int(ign))
        # a front's fields (see _ring_capable), set here on every object although only
        # fronts use them: an attribute added after __init__ takes an object off CPython's
        # shared-key attribute layout and slows every attribute read in update() by ~15%
        self._ring = self._ring_slow = self._wclock = self._wring = None
        self._wviews, self._wedge = (), -math.inf
        self._reset_state()

    # ------------------------------------------------------------ state
    def _reset_state(self):
        for attr, arr in self._new_arrays().items():
            setattr(self, attr, arr)
        self._float = False
        self._count = 0
        self._clear_pending()
        if self._on_device:
            self._send_to_device()

    def _new_arrays(self) -> dict:
        raise NotImplementedError

    def _clear_pending(self):
        pend = getattr(self, "_pend", None)
        if pend is None:
            self._pend = []
        else:
            pend.clear()

    def _flush(self):
        """Move the scalar path's pending flat indices into ``_state`` (lock held)."""
        pend = self._pend
        n = len(pend)
        if n:
            # a copy and a delete of the first n (each one atomic), not a swap of lists: an
            # append racing with the flush lands after them and stays for the next flush
            idx = np.fromiter(pend[:n], dtype=np.intp, count=n)
            del pend[:n]
            with self._host_side():
                np.add.at(self._state.reshape(-1), idx, 1)
            self._count += n

    def _push(self, flat_index):
        """Scalar path: list.append is atomic, so no lock is needed until the flush."""
        pend = self._pend
        pend.append(flat_index)
        if len(pend) > _PENDING_MAX:
            self._drain()

    def _drain(self):
        with self._lock:
            self._flush()

    def _bound_call(self, key, *args):
        """The backend's bound call for dtype pair ``key`` into the current int64 state (lock
        held), made on first use and again whenever the state array was replaced; None when the
        backend has none. The hot path checks ``call.state is self._state`` under the lock."""
        call = self._bound.get(key)
        if call is None or call.state is not self._state:
            call = self._binder(key[0], key[1], self._state, *args, self._nt)
            if call is None:
                return None
            self._bound[key] = call
        return call

    def _bind_args(self) -> tuple:
        """The arguments of the backend's binder after the state (see ``_bound_call``)."""
        return ()

    def _adopt_bindings(self, src) -> None:
        """Bind for this object's int64 state the native calls ``src`` has (lock held): a
        window's bucket that takes over another object's counts takes over its fast path."""
        if self._float or self._on_device or self._binder is None:
            return
        for key, call in src._bound.items():
            if key not in self._bound:
                mine = self._bound_call(key, *self._bind_args())
                if mine is not None and hasattr(call, "ndim"):
                    mine.ndim = call.ndim

    def _count_bound(self, call, target, preds) -> bool:
        """Count through a bound native call (see ``_bound_call``) under the lock; False, having
        done nothing, when the state was replaced since binding, the call refuses the arrays,
        or (a window's front) the batch does not fit the current bucket."""
        ignore = self._ignore_index
        counted = len(target) if ignore is None else len(target) - int(
            np.count_nonzero(target == ignore))
        with self._lock:
            if call.state is self._state:
                if self._ring is None:
                    if call(target, preds):
                        self._count += counted
                        return True
                else:
                    n = len(target)
                    if self._ring_admits(n) and call(target, preds):
                        self._ring_counted(n, counted)
                        return True
        return False

    def _ring_capable(self) -> bool:
        """Whether this object's ``update`` carries a front's hooks. A front (made by
        ``tallyml.Windowed`` or ``tallyml.Decayed``, see windows.py) is an object of the
        template's class that counts for the view, under the view's lock. Its hot path calls
        the view's variant of the hot-tier kernel (``_tier_up``: ``*_ring`` for a window,
        ``*_decay`` for a decayed view), which counts into the view's vector ``_wring`` (states
        and bookkeeping) and does the bookkeeping itself, a window's bucket change included
        (see ``_backends/_hot_kernels.py``). A window on another clock than ``time.monotonic``,
        or off Linux, checks its clock here first (``_wclock`` against ``_wedge``). A window
        front's bound native path (large batches, or before the tier is loaded) counts into
        its ``_state``, the current bucket's row, when ``_ring_admits`` says the batch fits,
        and books it (``_ring_counted``). Every other batch goes to ``_ring_slow``, the view's
        general update. So a windowed update costs one call and one lock, like a plain one."""
        return False

    def _ring_admits(self, n) -> bool:
        m = self._wring
        return ((n if m[_RING_ROWS] else m[_RING_UNIT]) <= m[_RING_ROOM]
                and self._state is self._wviews[m[_RING_CUR]]  # not moved on by the kernel
                and (self._wclock is None or self._wclock() < self._wedge)
                and (not m[_RING_CLOCK] or time.monotonic_ns() < m[_RING_EDGE]))

    def _ring_counted(self, n, counted) -> None:
        m = self._wring
        m[_RING_ROOM] -= n if m[_RING_ROWS] else m[_RING_UNIT]
        m[_RING_COUNT + m[_RING_CUR]] += counted

    def _has_fast_paths(self) -> bool:
        """Whether update() has a bound native call (and so the hot tier, which it arms): the
        paths a window's front makes cheap."""
        return self._binder is not None

    def _tier_up(self, name, key) -> None:
        """Called on the bound native path for a small batch under ``key`` (target dtype,
        preds dtype[, more]): pick up the hot tier's kernel ``name`` when this process has it
        loaded already (any object may have asked for it); otherwise count the call and, at the
        ``ARM_AFTER``-th, ask for it. Until it is there the native call keeps counting; results
        do not depend on the path."""
        if self._ring is not None:  # a view's front: the kernel's variant for that view
            name += self._ring._KERNEL_SUFFIX
        ep = self._hot_entry(name, key)
        if ep is not None:
            self._hot_t, self._hot_p, self._hot_ep = key[0], key[1], ep
            self._hot_nd = key[2] if len(key) > 2 else 1

    def _hot_entry(self, name, key, eager=False):
        """The hot tier's kernel ``name`` for the dtypes ``key[0], key[1]`` when this process
        has it loaded (any object may have asked for it); otherwise count a call under ``key``
        (the dtypes, then what else tells the kernels apart) and ask for it at the
        ``ARM_AFTER``-th (``eager``: at the first under TALLYML_HOT=sync), and None until it is
        there."""
        ep = _hot.lookup(name, key[0], key[1])
        if ep is None:
            n = self._small_calls.get(key, 0) + 1
            self._small_calls[key] = n
            if n == _hot.ARM_AFTER or (eager and n == 1 and _hot.sync()):
                _hot.request(name, key[0], key[1])
                ep = _hot.lookup(name, key[0], key[1])  # there already when loaded synchronously
        return ep

    def _count_scaled(self, target, preds, ramp, scale) -> bool:
        """Count a batch with weights ``ramp[i] * scale`` through a weighted hot-tier kernel, as
        ``update(target, preds, sample_weight=ramp[:n] * scale)`` would (bit-identical counts,
        ``seen`` and sample count); False, having done nothing, when that path does not apply
        (then the caller takes ``update``, which also raises the errors). Used by ``Decayed``.
        Here: never applies; the classes with weighted hot kernels override it."""
        return False

    def _count_scaled_hot(self, ep, head, tail) -> bool:
        """The locked part of the subclasses' ``_count_scaled``: ``ep(*head, state, *tail)``,
        a weighted hot kernel that returns the rows it counted, or -1 having changed nothing,
        into the float64 counts (int64 ones are converted first, kept only if it counted, as in
        ``_update_weighted``)."""
        lock = self._lock
        lock.acquire()  # not `with`: see BinaryMetrics.update
        try:
            if self._on_device or self._ring is not None:
                return False
            if self._pend:
                self._flush()
            state = self._state if self._float else self._state.astype(np.float64)
            c = ep(*head, state, *tail)
            if c < 0:
                return False
            self._state, self._float = state, True
            self._count += c
            return True
        finally:
            lock.release()

    def reset(self) -> None:
        """Forget every count (configuration is kept)."""
        with self._lock:
            self._reset_state()

    @property
    def count(self) -> int:
        """Number of samples counted so far (ignored samples excluded; zero-weight samples
        included)."""
        with self._lock:
            self._flush()
            return self._count

    @property
    def backend(self) -> str:
        """The concrete kernel backend this object counts with."""
        return self._backend_name

    @property
    def num_threads(self) -> int:
        """Threads a large batch may use (0: decided by batch size and TALLYML_NUM_THREADS)."""
        return self._nt

    @property
    def weighted(self) -> bool:
        """True once a weighted update (or merge) converted the counts to float64."""
        return self._float

    def _snapshot(self):
        """Copies of every array and the sample count, taken under the lock."""
        with self._lock:
            self._flush()
            arrays = {a: getattr(self, a) for a in self._array_attrs()}
            arrays = {a: (None if v is None else _host_copy(v)) for a, v in arrays.items()}
            return arrays, self._count

    def _array_attrs(self):
        return self._COUNT_ATTRS + self._SUM_ATTRS + ((self._SEEN_ATTR,) if self._SEEN_ATTR else ())

    def _config(self) -> dict:
        return {name: getattr(self, "_" + name) for name in self._CONFIG}

    def _check_compatible(self, other, what: str):
        if type(other) is not type(self):
            raise ValueError(f"cannot {what} a {type(self).__name__} with a {type(other).__name__}")
        mine, theirs = self._config(), other._config()
        for name in self._CONFIG:
            a, b = mine[name], theirs[name]
            if not (a == b or (a != a and b != b)):
                raise ValueError(f"cannot {what}: {name} differs ({a!r} vs {b!r})")

    # ------------------------------------------------------------ merge
    def merge(self, other):
        """Add ``other``'s counts into this object (in place) and return self."""
        self._check_compatible(other, "merge")
        arrays, count = other._snapshot()
        self._add_arrays(arrays, count)
        return self

    def _add_arrays(self, arrays, count):
        with self._lock, self._host_side():
            self._flush()
            floats = any(arrays[a] is not None and arrays[a].dtype == _F64 for a in self._COUNT_ATTRS)
            new = {}
            for a in self._COUNT_ATTRS:
                mine, theirs = getattr(self, a), arrays[a]
                if mine is None:
                    continue
                if floats or mine.dtype == _F64:
                    new[a] = mine.astype(np.float64) + theirs
                else:
                    new[a] = mine + theirs
            for a in self._SUM_ATTRS:
                new[a] = getattr(self, a) + arrays[a]
            for a, v in new.items():
                setattr(self, a, v)
            self._float = self._state.dtype == _F64
            if self._SEEN_ATTR:
                getattr(self, self._SEEN_ATTR)[:] |= arrays[self._SEEN_ATTR]
            self._count += count

    def __add__(self, other):
        if not isinstance(other, _MetricsBase):
            return NotImplemented
        self._check_compatible(other, "add")
        out = self._clone_empty()
        out._add_arrays(*self._snapshot())
        out._add_arrays(*other._snapshot())
        return out

    def __iadd__(self, other):
        if not isinstance(other, _MetricsBase):
            return NotImplemented
        return self.merge(other)

    def _clone_empty(self):
        out = object.__new__(type(self))
        out.__setstate__({"init": self._init_args(), "state": None})
        return out

    # ------------------------------------------------------------ hooks for windows, decay, shared slots
    # (tallyml.windows and tallyml.shared use only these and the public update/merge/reset)
    def _empty_like(self):
        """A new object of the same class and configuration with no counts."""
        return self._clone_empty()

    def _add_from(self, other) -> None:
        """Add ``other``'s counts into this object in place, without copies or compatibility
        checks: for objects cloned from one template whose owner (a window) serialises every
        update to both, so neither changes during the call."""
        with other._lock, other._host_side():
            other._flush()
            theirs = [getattr(other, a) for a in self._array_attrs()]
            count = other._count
        floats = False
        with self._lock, self._host_side():
            self._flush()
            for a, t in zip(self._array_attrs(), theirs):
                if t is None:
                    continue
                mine = getattr(self, a)
                if a == self._SEEN_ATTR:
                    mine |= t
                elif mine.dtype == t.dtype or mine.dtype == _F64:
                    mine += t
                else:  # int64 += float64: this object becomes weighted
                    floats = True
                    setattr(self, a, mine + t)
            if floats:  # keep every count array of one dtype
                for a in self._COUNT_ATTRS:
                    v = getattr(self, a)
                    if v is not None and v.dtype != _F64:
                        setattr(self, a, v.astype(np.float64))
                self._float = True
            self._count += count
    def _save_state(self):
        """An opaque copy of the counts, for ``_restore_state`` (rolling back a multi-step
        update that failed half-way)."""
        return self._snapshot()

    def _restore_state(self, saved) -> None:
        arrays, count = saved
        with self._lock, self._host_side():
            self._clear_pending()
            for a, v in arrays.items():
                setattr(self, a, None if v is None else v.copy())
            self._count = count

    def _scale_counts(self, factor: float) -> None:
        """Multiply every count by ``factor`` (in place; the counts become float64). Used by
        exponential decay; masks and the sample count are unchanged."""
        with self._lock, self._host_side():
            self._flush()
            for a in self._COUNT_ATTRS + self._SUM_ATTRS:
                v = getattr(self, a)
                if v is not None:
                    setattr(self, a, v.astype(np.float64) * factor)
            self._float = True

    def save(self, path) -> None:
        """Write the counts to a checkpoint file (crash-safe; see ``tallyml.persistence``)."""
        from .. import persistence

        persistence.save(path, self)

    def load(self, path, name=None) -> None:
        """Replace the counts by those of a checkpoint written by ``save`` (for a group
        checkpoint, ``name`` picks the member). Refuses another class or configuration and
        changes nothing then."""
        from .. import persistence

        persistence.load_into(path, self, name=name)

    # ------------------------------------------------------------ state_dict / pickle
    def _init_args(self) -> dict:
        raise NotImplementedError

    def _canonical_arrays(self, arrays) -> dict:
        """``arrays`` (copies) in the one form state_dict shows for a given stream, whatever
        paths counted it; the values read the same from either form."""
        return arrays

    def state_dict(self) -> dict:
        """The counts as plain numpy arrays (copies) plus what identifies them."""
        arrays, count = self._snapshot()
        arrays = self._canonical_arrays(arrays)
        out = {"kind": self._KIND, "version": _STATE_VERSION, "config": self._config(), "count": count}
        out.update({a.lstrip("_"): v for a, v in arrays.items()})
        return out

    def load_state_dict(self, state: dict) -> None:
        """Replace the counts by those of ``state`` (from ``state_dict()``); checks kind,
        configuration, shapes and dtypes first and changes nothing when they do not fit."""
        arrays, count = self._checked_state(state)
        with self._lock, self._host_side():
            self._clear_pending()
            for a, v in arrays.items():
                setattr(self, a, v)
            self._float = self._state.dtype == _F64
            self._count = count

    def _checked_state(self, state):
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict from state_dict(); got {type(state).__name__}")
        if state.get("kind") != self._KIND:
            raise ValueError(f"state['kind'] is {state.get('kind')!r}; this object needs {self._KIND!r}")
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"state['version'] is {state.get('version')!r}; expected {_STATE_VERSION}")
        config = state.get("config")
        mine = self._config()
        if not isinstance(config, dict) or set(config) != set(mine):
            raise ValueError(f"state config must have keys {sorted(mine)}; got {config!r}")
        for name, a in mine.items():
            b = config[name]
            if not (a == b or (a != a and b != b)):
                raise ValueError(f"state was saved with {name}={b!r}; this object has {name}={a!r}")
        fresh = self._new_arrays()
        arrays = {}
        dtypes = set()
        for a, ref in fresh.items():
            v = state.get(a.lstrip("_"), "missing")
            if ref is None:
                if v is not None:
                    raise ValueError(f"state[{a.lstrip('_')!r}] must be None for this object")
                arrays[a] = None
                continue
            if not isinstance(v, np.ndarray):
                raise ValueError(f"state[{a.lstrip('_')!r}] must be a numpy array; got {type(v).__name__}")
            if v.shape != ref.shape:
                raise ValueError(f"state[{a.lstrip('_')!r}] must have shape {ref.shape}; got {v.shape}")
            if a == self._SEEN_ATTR or a in self._SUM_ATTRS:
                if v.dtype != ref.dtype:
                    raise ValueError(f"state[{a.lstrip('_')!r}] must have dtype {ref.dtype}; got {v.dtype}")
            else:
                if v.dtype not in (_I64, _F64):
                    raise ValueError(f"state[{a.lstrip('_')!r}] must be int64 or float64; got {v.dtype}")
                dtypes.add(v.dtype)
            arrays[a] = np.array(v, copy=True, order="C")
        if len(dtypes) > 1:
            raise ValueError("state count arrays must all be int64 or all float64")
        count = state.get("count")
        if isinstance(count, (bool, np.bool_)) or not isinstance(count, (int, np.integer)) or count < 0:
            raise ValueError(f"state['count'] must be a non-negative integer; got {count!r}")
        return arrays, int(count)

    def __getstate__(self):
        arrays, count = self._snapshot()
        return {"init": self._init_args(), "state": (arrays, count)}

    def __setstate__(self, d):
        # the backend is re-resolved: the unpickling process may lack the one we used
        self.__init__(**d["init"])
        if d["state"] is not None:
            arrays, count = d["state"]
            with self._host_side():
                for a, v in arrays.items():
                    setattr(self, a, v)
            self._float = self._state.dtype == _F64
            self._count = count

    def __copy__(self):
        out = self._clone_empty()
        out.__setstate__(self.__getstate__())
        return out

    def __deepcopy__(self, memo):
        return self.__copy__()

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._init_args().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------ device (GPU) state
    def _send_to_device(self):
        """Copy the host arrays of ``_DEVICE_ATTRS`` to the device (lock held or not yet shared)."""
        be = _backends.load("cuda")
        moved = {a: be.to_device_state(getattr(self, a)) for a in self._DEVICE_ATTRS
                 if getattr(self, a) is not None}  # all copies made before any attribute changes
        for a, v in moved.items():
            setattr(self, a, v)

    @contextlib.contextmanager
    def _host_side(self):
        """Lock held: inside the block the device arrays are host numpy arrays (copies), sent
        back to the device on leaving it, also on error. Re-entrant; nothing on the host."""
        if not self._on_device or type(self._state) is np.ndarray:
            yield
            return
        be = _backends.load("cuda")
        for a in self._DEVICE_ATTRS:
            v = getattr(self, a)
            if v is not None:
                setattr(self, a, be.to_host(v))
        try:
            yield
        finally:
            self._send_to_device()

    def _move_to_device(self):
        """``backend="auto"``: the first device batch moves the state to the device for good."""
        if self._backend_request != "auto":
            raise ValueError(
                f"{type(self).__name__} counts on the host (backend={self._backend_request!r}) and "
                "cannot take CUDA device arrays: create it with backend='auto' or 'cuda', or copy "
                "the arrays to the host")
        with self._lock:
            if self._on_device:
                return
            self._flush()
            self._send_to_device()  # raises CudaUnavailableError (state unchanged) without a GPU
            self._be = _backends.load("cuda")
            self._backend_name = "cuda"
            self._kernels.clear()  # cached host kernels must not see device state
            self._on_device = True

    def _update_device(self, target, preds, sample_weight) -> None:
        """update() for a device batch, or any batch once the state lives on the device."""
        device = _device.placement(target, preds, sample_weight)
        if device:
            if not self._on_device:
                self._move_to_device()
            target, preds, sample_weight = self._device_args(
                *_device.views(target, preds, sample_weight))
        else:
            target, preds, sample_weight = self._host_args(target, preds, sample_weight)
        if int(target.shape[0]) == 0:
            return
        self._count_device(target, preds, sample_weight, device)

    def _device_args(self, target, preds, sample_weight):
        """Shape and dtype checks of numba device views; returns them."""
        raise NotImplementedError

    def _host_args(self, target, preds, sample_weight):
        """Host checks and conversions (as in update()); returns (target, preds, sample_weight)."""
        raise NotImplementedError

    def _count_device(self, target, preds, sample_weight, device) -> None:
        raise NotImplementedError

    def _n_ignored(self, target, device) -> int:
        ignore = getattr(self, "_ignore_index", None)
        if ignore is None:
            return 0
        if device:
            return self._be.count_equal(target, ignore)
        return int(np.count_nonzero(target == ignore))

    def _float_copy(self, v):
        """A float64 copy of a count array, on the side where it lives."""
        if v is None or type(v) is np.ndarray:
            return None if v is None else v.astype(np.float64)
        return self._be.to_device_state(self._be.to_host(v).astype(np.float64))

    # ------------------------------------------------------------ helpers for subclasses
    def _check_empty(self, count):
        if count == 0:
            raise ValueError(f"{type(self).__name__} has no samples yet: call update() first")


def _host_copy(v):
    if type(v) is np.ndarray:
        return v.copy()
    return _backends.load("cuda").to_host(v)
