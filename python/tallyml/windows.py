"""Windowed and exponentially decayed views of any metric object.

Both rest on one property of the metric objects: states merge by addition.

``Windowed`` keeps a ring of ``buckets`` count states of the template's class. Each batch is
counted once, into the bucket that is current; when a bucket closes its counts are added into a
running "closed" state, so ``total()`` is closed + current (no second pass over the data) and
``window()`` is the sum of the buckets still inside the window. Memory is
O(buckets x state size); an update costs the counting itself (the bucket object's own
``update``, so the metric's fast path) plus O(1) bookkeeping, and O(state size) when a bucket
closes: the evicted bucket object is emptied in place and reused, nothing is allocated.
For ``BinaryMetrics`` and ``MulticlassMetrics`` templates on the native backend the buckets'
states are rows of one int64 vector that also holds the window's bookkeeping, and a batch of
up to ``hot.MAX_ROWS`` rows is counted into the current bucket, or opens the next one, in one
compiled call (the hot tier's ``*_ring`` kernels; see ``Windowed._bind``).

What the window covers (``s = N / buckets`` for ``samples=N`` and ``updates=N``,
``d = T / buckets`` seconds for ``seconds=T``):

``samples=N``
    Rows are numbered 0, 1, 2, ... in the order given to ``update`` (rows dropped by
    ``ignore_index`` still take a number). Bucket ``j`` holds rows ``[j*s, (j+1)*s)``; a batch
    that straddles a bucket boundary is split there. After ``n`` rows the window is buckets
    ``c - buckets + 1 .. c`` with ``c = (n - 1) // s``: the last ``N - s + 1`` to ``N`` rows,
    exactly the last ``N`` whenever ``n`` is a multiple of ``s`` (always, with
    ``buckets=N``).
``updates=N``
    The same with ``update()`` calls instead of rows (every successful call counts, empty
    batches included): the window holds the last ``N - s + 1`` to ``N`` calls.
``seconds=T``
    A batch is stamped with ``clock()`` when ``update`` runs (``time.monotonic`` unless a
    ``clock`` is given) and lands in bucket ``floor(t / d)``. At read time ``now`` the window
    is buckets ``floor(now / d) - buckets + 1 .. floor(now / d)``: every batch stamped at
    most ``T - d`` seconds ago and none stamped more than ``T`` seconds ago. A clock that
    steps backwards puts the batch into the current bucket.

``Decayed`` keeps one float64 state in which a sample of age ``a`` (rows counted after it, or
seconds since its update) weighs ``2 ** (-a / half_life)`` times its own weight. New samples are
added with growing weights and the state is rescaled only every 64 half-lives, so an update
never rescales the old counts. With ``unit="seconds"`` a batch shares one weight: an
unweighted batch at least as large as the state is counted unweighted (the metric's fast path)
into a scratch state and added scaled (one compiled call, the hot tier's ``scaled_fold``, once
loaded), which equals the weighted count up to one rounding per cell. Any other unweighted
batch of at most ``hot.MAX_ROWS`` rows for a ``BinaryMetrics`` or ``MulticlassMetrics``
template is counted with its decay weights in one compiled call (the hot tier's weighted
kernels, once loaded; ``_count_scaled`` on the object), to exactly the counts of the weighted
``update``. With ``unit="seconds"`` on ``time.monotonic`` (the default clock) on 64-bit Linux,
and such a template on the native backend, a batch of at least as many rows as the state has
cells and at most ``hot.MAX_ROWS`` is stamped, counted and added scaled in one compiled call
(the hot tier's ``*_decay`` kernels, see ``Decayed._make_front``), to the bits of the
scratch-and-fold path above. With ``unit="samples"`` and such a template, a batch of at most
``hot.MAX_ROWS`` rows is counted with its decay weights in one compiled call from the front
(the ``*_rowdecay`` kernels), to the bits of ``_count_scaled``.
"""
from __future__ import annotations

import copy
import inspect
import math
import re
import threading
import time

import numpy as np

from ._backends import hot as _hot
from .metrics._base import _MetricsBase

__all__ = ["Windowed", "Decayed"]

_DEFAULT_BUCKETS = 10
_RESCALE_EXPONENT = _hot.DECAY_RESCALE_EXPONENT
_ROW_IN_MESSAGE = re.compile(r"^(\w+)\[(\d+)")
_I64 = np.dtype(np.int64)
_I64_MIN = -(2 ** 63)
_F64 = np.dtype(np.float64)


# ---------------------------------------------------------------- the metric-object protocol
# Metric objects (metrics/_base.py) provide these hooks; the fallbacks keep any object with
# update/merge/reset usable.
def _empty_like(obj):
    fn = getattr(obj, "_empty_like", None)
    if fn is not None:
        return fn()
    out = copy.copy(obj)
    out.reset()
    return out


def _add(dst, src):
    fn = getattr(dst, "_add_from", None)
    if fn is not None:
        fn(src)
    else:
        dst.merge(src)


def _reset_obj(obj):
    obj.reset()


def _check_template(template, name="template"):
    for attr in ("update", "merge", "reset"):
        if not callable(getattr(template, attr, None)):
            raise TypeError(f"{name} must be a metric object (with update, merge and reset); "
                            f"got {type(template).__name__}")
    count = getattr(template, "count", None)
    if isinstance(count, (int, np.integer)) and count != 0:
        raise ValueError(f"{name} must be an empty metric object (it sets the class and "
                         f"configuration); this one has count={int(count)}")


def _positive_int(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive integer; got {value!r} ({type(value).__name__})")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer; got {int(value)}")
    return int(value)


def _positive_real(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a positive number; got {value!r} ({type(value).__name__})")
    value = float(value)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive finite number; got {value!r}")
    return value


def _check_clock(clock):
    if clock is None:
        return time.monotonic
    if not callable(clock):
        raise TypeError(f"clock must be a callable returning seconds; got {type(clock).__name__}")
    return clock


def _rows(args, kwargs):
    """Number of rows of a batch: the length of the first argument (the targets)."""
    target = args[0] if args else kwargs.get("target")
    try:
        return len(target)
    except TypeError:
        raise TypeError(f"target must be an array or sequence of samples; got "
                        f"{type(target).__name__}") from None


# ---------------------------------------------------------------- bucket fast paths
# A window owns its bucket objects: every call on them is made under the window's lock and none
# is ever handed out. For metric objects that keep their counts in host numpy arrays with the
# base class's state handling (metrics/_base.py), that allows two shortcuts over the public
# hooks, which lock, flush and allocate: emptying a bucket in place (same arrays, so the
# object's bound native call stays valid and its next update takes the fast path) and adding a
# bucket into an accumulator with in-place ufuncs. Anything else (device or float64 counts,
# subclasses with their own state handling) takes the general hooks. The scalar path's pending
# samples need no flush: windows never call ``update_one`` on their objects.
def _fast_protocol(template):
    """``(arrays, seen)`` -- the attribute names of ``template``'s state arrays and of its
    OR-merged mask -- when the shortcuts apply to objects of its class, else None."""
    cls = type(template)
    if not (isinstance(template, _MetricsBase) and cls._reset_state is _MetricsBase._reset_state
            and cls._add_from is _MetricsBase._add_from):
        return None
    arrays = tuple(template._new_arrays())
    if set(arrays) != set(template._array_attrs()):
        return None
    return arrays, template._SEEN_ATTR


def _clear_in_place(obj, arrays, int_arrays):
    """Empty a bucket: zero its arrays where they are (no allocation), or ``reset()`` it when
    they differ from a fresh object's (float64 after weighted updates, on a device).
    ``int_arrays``: the arrays an int64 object can have touched (see ``_int_arrays``)."""
    if obj._float or obj._on_device:
        obj.reset()
        return
    for a in int_arrays:
        v = getattr(obj, a)
        if v is not None:
            v.fill(0)
    obj._count = 0


def _add_in_place(dst, src, arrays, seen, int_arrays):
    """``dst += src`` (counts, mask, sample count); the general hook when the dtypes change."""
    if src._float > dst._float or src._on_device or dst._on_device:
        dst._add_from(src)
        return
    for a in (arrays if src._float else int_arrays):
        s = getattr(src, a)
        if s is not None:
            d = getattr(dst, a)
            # the operators, not np.add(..., out=): same in-place work, less call overhead
            if a == seen:
                d |= s
            else:
                d += s
    dst._count += src._count


def _int_arrays(template, arrays, seen):
    """The arrays an object with int64 counts can have written: all but the seen mask where the
    class keeps it zero until a weighted update makes the counts float64
    (``_SEEN_ONLY_WEIGHTED``). A bucket change then adds and zeroes one small array fewer, and
    each of those numpy calls is microseconds here (more when the code is cold, as a bucket
    change, once every many updates, is)."""
    if getattr(type(template), "_SEEN_ONLY_WEIGHTED", False):
        return tuple(a for a in arrays if a != seen)
    return arrays


# ---------------------------------------------------------------- Windowed
class Windowed:
    """A metric object's counts over a sliding window, plus the cumulative total.

    Parameters
    ----------
    template : metric object
        An empty ``BinaryMetrics``, ``MulticlassMetrics``, ... : sets the class and configuration
        of every bucket (it is copied, never updated).
    samples, updates, seconds : exactly one
        Window length in rows, in ``update()`` calls, or in seconds (see the module docstring for
        what exactly each covers).
    buckets : int
        Ring size: memory is ``buckets + 3`` states (up to ``2 * buckets + 2`` after a batch
        that spans many buckets: emptied bucket objects are kept for reuse). For ``samples``/``updates`` it must divide
        the length (default: the largest divisor not above 10); for ``seconds`` the default is 10.
    clock : callable, optional
        Seconds as a float (``seconds`` windows only; default ``time.monotonic``).

    ``update(...)`` takes exactly what the template's ``update`` takes and, like it, counts the
    whole batch or (on error) nothing. ``window()`` and ``total()`` return new metric objects of
    the template's class.
    """

    #: the hot-tier kernels a front of this view calls: ``<kernel>_ring``
    _KERNEL_SUFFIX = "_ring"

    def __init__(self, template, *, samples=None, updates=None, seconds=None, buckets=None,
                 clock=None):
        _check_template(template)
        given = [(k, v) for k, v in (("samples", samples), ("updates", updates),
                                     ("seconds", seconds)) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of samples=, updates=, seconds= (got "
                             f"{', '.join(k for k, _ in given) or 'none'})")
        mode, length = given[0]
        if mode == "seconds":
            length = _positive_real("seconds", length)
            buckets = _DEFAULT_BUCKETS if buckets is None else _positive_int("buckets", buckets)
            self._width = length / buckets
            self._clock = _check_clock(clock)
            self._size = None
        else:
            length = _positive_int(mode, length)
            if buckets is None:
                buckets = max(b for b in range(1, min(length, _DEFAULT_BUCKETS) + 1) if length % b == 0)
            buckets = _positive_int("buckets", buckets)
            if buckets > length or length % buckets:
                raise ValueError(f"buckets must divide {mode}: {mode}={length} is not a multiple "
                                 f"of buckets={buckets}")
            if clock is not None:
                raise ValueError(f"clock= only applies to seconds= windows, not {mode}=")
            self._size = length // buckets
        self._mode, self._length, self._buckets = mode, length, buckets
        self._template = _empty_like(template)
        self._reset()
        self._bind()

    def _bind(self):
        """Per-process attributes, rebuilt after unpickling: the lock, ``update``, the bucket
        hooks, the spare buckets, the front.

        ``update`` is the front's own ``update`` where the template's class carries the window
        hooks (``_MetricsBase._ring_capable``) and keeps its int64 counts in ``_state`` alone:
        the front is an object of the template's class whose lock is the window's and whose
        hot path calls the window variant of its hot-tier kernel on the window's ring vector
        (``_make_front``), so a batch that fits the current bucket, or opens the next one,
        costs what a plain update costs plus a few dozen nanoseconds. Every other batch (a
        split, weights, a seconds window's new bucket, a first call, a bad value) reaches the
        mode's update method below through the front's ``_ring_slow``. Other templates get the
        mode's method directly."""
        self._lock = threading.Lock()
        self.update = self._update_mode = getattr(self, "_update_" + self._mode)
        self._front = self._rbuf = None
        fast = _fast_protocol(self._template)
        if fast is None:
            self._clear = _reset_obj
            self._add = _add
        else:
            arrays, seen = fast
            self._arrays = arrays
            ints = _int_arrays(self._template, arrays, seen)
            # closures, not functools.partial with keywords: that costs ~0.6 us a call here
            self._clear = lambda obj: _clear_in_place(obj, arrays, ints)
            self._add = lambda dst, src: _add_in_place(dst, src, arrays, seen, ints)
            if self._template._ring_capable() and ints == ("_state",):
                self._make_front()
        self._pool = []    # emptied bucket objects, reused when a bucket opens
        self._probe = _empty_like(self._template)  # replays a failed split batch for its error
        self._point_front()

    def _make_front(self):
        """The front (see ``_bind``) and the ring vector its kernels count into (layout:
        ``_backends/hot.py``): the bookkeeping the ``*_ring`` kernels share with
        ``_point_front`` and ``_pull_front``, then B + 2 state rows: rows 0 .. B-1 the ring's
        bucket states (bucket object k keeps row k as its ``_state`` for good: a bucket change
        copies counts, it does not move objects), row B the closed total's, row B+1 the
        kernels' scratch row."""
        b = self._buckets
        shape = self._template._state.shape
        cells = shape[0] * shape[1]
        base = _hot.RING_COUNT + b + 1
        ring = np.zeros(base + (b + 2) * cells, dtype=np.int64)
        ring[_hot.RING_ROWS] = self._mode == "samples"  # room in rows, else in calls
        ring[_hot.RING_UNIT] = self._mode == "updates"  # a seconds window's room stays 1
        ring[_hot.RING_SIZE] = self._size or 0
        ring[_hot.RING_NB] = b
        ring[_hot.RING_K] = shape[0]
        ring[_hot.RING_BASE] = base
        self._rbuf = ring
        self._views = [ring[base + r * cells:base + (r + 1) * cells].reshape(shape)
                       for r in range(b + 2)]
        front = _empty_like(self._template)
        front._ring = self
        front._ring_slow = self._front_slow
        front._wring, front._wviews = ring, self._views
        if self._mode == "seconds":
            # time.monotonic on 64-bit Linux: the kernel reads the same clock (~30 ns against
            # ~100 ns for a Python call), and the front's hot path skips its own reading
            ring[_hot.RING_CLOCK] = self._clock is time.monotonic and _hot.KERNEL_CLOCK
            front._wclock = None if ring[_hot.RING_CLOCK] else self._clock
        self._front, self._lock, self.update = front, front._lock, front.update

    def _front_slow(self, target, preds, sample_weight):
        """The mode's update for a batch the front hands over (as the caller gave it: the
        split path slices every positional argument)."""
        if sample_weight is None:
            return self._update_mode(target, preds)
        return self._update_mode(target, preds, sample_weight=sample_weight)

    def _point_front(self):
        """Hand the ring to the front (lock held; after anything that may have changed the
        buckets, their arrays or the room): the bucket objects' states into their rows of the
        ring vector, the bookkeeping into it, and the current bucket's arrays to the front's
        bound native path. A bucket whose counts are float64 (after a weighted batch) or on a
        device has arrays of its own, outside the ring vector: while the current bucket is one,
        the kernels admit nothing (room -1); while any is, they change no bucket (a change then
        takes the general path, which copies and adds as the dtypes require)."""
        front = self._front
        if front is None:
            return
        views, slots, b = self._views, self._slots, self._buckets
        attached = True
        counts = []
        for r in range(b + 1):
            obj = slots[r] if r < b else self._closed
            if obj._state is not views[r]:
                if obj._float or obj._on_device:
                    attached = False
                else:  # a new or reset object: its int64 counts move into its row
                    views[r][...] = obj._state
                    obj._state = views[r]
            counts.append(obj._count)
        cur = self._cur_obj
        ring = self._rbuf
        ring[_hot.RING_COUNT:_hot.RING_COUNT + b + 1] = counts
        if cur is None:  # no bucket yet: samples/updates windows open one in the kernel
            k, room = 0, (0 if self._size else -1)
        else:
            k = self._cur % b
            room = -1 if cur._state is not views[k] else (self._room if self._size else 1)
            for a in self._arrays:
                setattr(front, a, getattr(cur, a))
            front._bound, front._float, front._on_device = cur._bound, cur._float, cur._on_device
        ring[_hot.RING_J] = self._cur if (self._size and cur is not None) else -1
        ring[_hot.RING_CUR] = k
        ring[_hot.RING_ROOM] = room
        ring[_hot.RING_ROLL] = bool(self._size) and attached
        front._wedge = edge = self._edge
        # the kernel's clock in integer ns: admitted below floor(edge * 1e9), where t / width
        # still gives the current bucket for sure (the margin in _update_seconds is far wider)
        ring[_hot.RING_EDGE] = math.floor(edge * 1e9) if edge > -math.inf else _I64_MIN

    def _pull_front(self):
        """Take back what the front's kernels have written (lock held; before reading or
        changing the ring): the current bucket and the room (they may have changed buckets)
        and every bucket's sample count."""
        ring = self._rbuf
        if ring is None:
            return
        m = ring[:_hot.RING_COUNT + self._buckets + 1].tolist()
        if self._size:
            j = m[_hot.RING_J]
            if j >= 0 and j != self._cur:  # buckets changed in the kernel
                b = self._buckets
                self._cur, self._cur_obj = j, self._slots[j % b]
                # bucket numbers are contiguous: slot k holds the latest j' <= j, j' = k mod b
                self._ids = [i if i >= 0 else None for i in (j - (j - k) % b for k in range(b))]
            if m[_hot.RING_ROOM] >= 0:
                self._room = m[_hot.RING_ROOM]
        c = _hot.RING_COUNT
        for obj, n in zip(self._slots, m[c:c + self._buckets]):
            obj._count = n
        self._closed._count = m[c + self._buckets]

    def _reset(self):
        b = self._buckets
        self._slots = [_empty_like(self._template) for _ in range(b)]
        self._ids = [None] * b        # bucket number held by each slot (None: none yet)
        self._closed = _empty_like(self._template)  # every count outside the current bucket
        # current bucket number: -1 before the first (samples, updates); -inf (seconds) so that
        # the first batch opens the bucket of its time
        self._cur = -1 if self._size else -math.inf
        self._cur_obj = None
        self._room = 0                # rows (samples) or calls (updates) left in the current bucket
        self._edge = -math.inf        # seconds: clock readings below it fall in the current bucket

    def reset(self) -> None:
        """Forget every count (window and total)."""
        with self._lock:
            self._reset()
            self._point_front()

    _TRANSIENT = ("_lock", "update", "_update_mode", "_clear", "_add", "_pool", "_probe",
                  "_front", "_arrays", "_rbuf", "_views")

    def __getstate__(self):
        # pickle (and copy.deepcopy) the counts and positions only: no lock, no bound methods
        # (a pickled bound update would carry a second copy of the window), no spare buckets
        self._pull_front()
        return {k: v for k, v in self.__dict__.items() if k not in self._TRANSIENT}

    def __setstate__(self, d):
        self._take_state(d)
        self._bind()

    def _take_state(self, d):
        d = {k: v for k, v in d.items() if k not in self._TRANSIENT and k != "_pos"}
        d.setdefault("_size", None)  # (seconds windows pickled by older versions lack it)
        d.setdefault("_edge", -math.inf)
        self.__dict__.update(d)
        if self._cur_obj is None and not self._size:
            self._cur = -math.inf  # (states written before the first seconds bucket held -1)

    def _restore(self, d):
        """Replace counts and positions by those of a ``__getstate__`` dict in place, keeping
        this window's lock, ``update`` and front (which callers may hold): monitor checkpoints.
        The configuration must match (the caller checks it)."""
        with self._lock:
            self._take_state(d)
            self._pool = []
            self._point_front()

    # ------------------------------------------------------------ properties
    @property
    def mode(self) -> str:
        """"samples", "updates" or "seconds"."""
        return self._mode

    @property
    def length(self):
        """Window length N (rows or calls) or T (seconds)."""
        return self._length

    @property
    def buckets(self) -> int:
        return self._buckets

    @property
    def template(self):
        """An empty copy of the template."""
        return _empty_like(self._template)

    def __repr__(self):
        return (f"Windowed({self._template!r}, {self._mode}={self._length!r}, "
                f"buckets={self._buckets})")

    def _done(self):
        """Rows (samples) or calls (updates) counted so far: buckets are contiguous, so this
        follows from the current bucket and the room left in it."""
        return 0 if self._cur_obj is None else (self._cur + 1) * self._size - self._room

    # ------------------------------------------------------------ update
    # The three update methods are the hot path: the common case is one lock, one call of the
    # current bucket's own update (which keeps the metric's fast path) and one counter store.
    def update(self, *args, **kwargs) -> None:
        """Count a batch (the template's ``update`` arguments) into the current bucket."""
        # _bind sets the mode's own method over this one (one dispatch less per call)
        getattr(self, "_update_" + self._mode)(*args, **kwargs)

    def _update_samples(self, *args, **kwargs):
        try:
            n = len(args[0] if args else kwargs.get("target"))
        except TypeError as exc:
            with self._lock:
                self._raise_as_template(args, kwargs, TypeError(
                    f"target must be an array or sequence of samples; got {exc}"))
        with self._lock:
            self._pull_front()
            room = self._room
            try:
                if 0 < n <= room:
                    self._cur_obj.update(*args, **kwargs)
                    self._room = room - n
                elif room == 0 and 0 < n <= self._size:  # starts a bucket and fits in it
                    self._open_bucket(self._cur + 1, args, kwargs)
                    self._room = self._size - n
                elif n:
                    self._split_update(n, args, kwargs)
                else:  # empty batch: still checked
                    (self._cur_obj or self._probe).update(*args, **kwargs)
            finally:
                self._point_front()

    def _update_updates(self, *args, **kwargs):
        with self._lock:
            self._pull_front()
            room = self._room
            try:
                if room:
                    self._cur_obj.update(*args, **kwargs)
                    self._room = room - 1
                else:
                    self._open_bucket(self._cur + 1, args, kwargs)
                    self._room = self._size - 1
            finally:
                self._point_front()

    def _update_seconds(self, *args, **kwargs):
        with self._lock:
            self._pull_front()
            try:
                t = self._clock()
                # below _edge, floor(t / width) <= current bucket for sure: no division needed
                if t < self._edge:
                    self._cur_obj.update(*args, **kwargs)
                    return
                j = math.floor(t / self._width)
                if j <= self._cur:  # also a clock that stepped back: into the current bucket
                    self._cur_obj.update(*args, **kwargs)
                else:
                    self._open_bucket(j, args, kwargs)
                    end = (j + 1) * self._width
                    # a margin far above the rounding of t / width and of this product (at 0,
                    # t / width may underflow to -0.0 below it: no shortcut then)
                    self._edge = end - abs(end) * 1e-12 if end else -math.inf
            finally:
                self._point_front()

    def _take(self):
        """An empty bucket object: a reused one when there is one."""
        obj = self._pool.pop() if self._pool else _empty_like(self._template)
        front = self._front
        if front is not None:
            # it counts one batch now and then, too few to warm its own caches: it shares the
            # front's dtype-pair kernel table (which does not depend on the counts)
            obj._kernels = front._kernels
        return obj

    def _recycle(self, obj):
        self._clear(obj)
        self._pool.append(obj)

    def _open_bucket(self, j, args, kwargs):
        """Count a batch into a new bucket ``j``: into an empty object first, so that a failed
        update changes nothing; then commit it (``_commit``)."""
        obj = self._take()
        try:
            obj.update(*args, **kwargs)
        except BaseException:
            self._recycle(obj)
            raise
        self._commit(obj, j)

    def _commit(self, obj, j):
        """Make ``obj`` (counted already) the current bucket ``j``: close the current bucket (its
        counts go into ``closed``) and put ``obj`` in the ring (``_install``). Lock held;
        cannot fail."""
        cur = self._cur_obj
        if cur is not None:
            self._add(self._closed, cur)
        self._cur, self._cur_obj = j, self._install(j, obj)

    def _install(self, j, obj):
        """Put bucket ``j``, counted into ``obj``, into its slot, evicting the bucket there
        (whose counts are in ``closed`` already), and return the slot's object. With a front the
        slot objects stay (their states are rows of the ring vector): the slot is emptied, ``obj``
        added into it and emptied for reuse; otherwise ``obj`` takes the slot and the evicted
        object, emptied, is kept for reuse. Lock held; cannot fail."""
        k = j % self._buckets
        slots = self._slots
        old = slots[k]
        self._clear(old)
        self._ids[k] = j
        if self._front is not None:
            self._add(old, obj)
            if len(old._bound) < len(obj._bound):
                old._adopt_bindings(obj)  # the front's bound path uses the slot's calls
            self._recycle(obj)
            return old
        slots[k] = obj
        self._pool.append(old)
        return obj

    def _split_update(self, n, args, kwargs):
        """``samples`` windows: a batch that crosses bucket boundaries, counted piece by piece
        (each row once). Every piece that can fail is counted into an object nobody sees yet,
        the current bucket's piece last; only then are the pieces committed (which cannot
        fail), so a failure changes nothing."""
        cols = [np.asarray(a) for a in args]
        kw = dict(kwargs)
        if "target" in kw:
            kw["target"] = np.asarray(kw["target"])
        w = kw.get("sample_weight")
        if w is not None:
            kw["sample_weight"] = np.asarray(w)
        for a in cols + [kw.get("target"), kw.get("sample_weight")]:
            if a is not None and (a.ndim == 0 or a.shape[0] != n):
                self._raise_as_template(args, kwargs, ValueError(
                    "target and preds (and sample_weight) must have the same number of rows"))

        def piece(obj, a, b):
            sub_kw = dict(kw)
            for key in ("target", "sample_weight"):
                if sub_kw.get(key) is not None:
                    sub_kw[key] = sub_kw[key][a:b]
            obj.update(*[c[a:b] for c in cols], **sub_kw)

        size, nb = self._size, self._buckets
        pos0, room, cur = self._done(), self._room, self._cur
        last = (pos0 + n - 1) // size          # bucket of the last row
        keep_from = last - nb + 1              # oldest bucket still in the window afterwards
        first_new = max(cur + 1, keep_from)    # new buckets that enter the ring
        evicted_end = max(room, keep_from * size - pos0)  # rows of buckets that leave at once
        used = []
        try:
            evicted = None
            if evicted_end > room:
                evicted = self._take()
                used.append(evicted)
                piece(evicted, room, evicted_end)
            fresh, r = [], evicted_end
            for j in range(first_new, last + 1):
                obj = self._take()
                used.append(obj)
                end = min(n, (j + 1) * size - pos0)
                piece(obj, r, end)
                fresh.append((j, obj))
                r = end
            if room:
                piece(self._cur_obj, 0, room)  # all or nothing by itself
        except Exception as exc:
            for obj in used:
                self._recycle(obj)
            self._raise_as_template(args, kwargs, exc)
        closed, add = self._closed, self._add
        if self._cur_obj is not None:
            add(closed, self._cur_obj)
        if evicted is not None:
            add(closed, evicted)
            self._recycle(evicted)
        for j, obj in fresh:
            obj = self._install(j, obj)
            if j < last:
                add(closed, obj)
        self._cur = last
        self._cur_obj = self._slots[last % nb]
        self._room = (last + 1) * size - (pos0 + n)

    def _raise_as_template(self, args, kwargs, exc):
        """Raise the error the template gives for the whole batch (row numbers and shapes of
        the batch, not of a piece). Called with nothing changed."""
        try:
            self._probe.update(*args, **kwargs)
        except Exception as whole:
            raise whole from None
        finally:
            self._clear(self._probe)
        raise exc

    # ------------------------------------------------------------ read
    def _sum(self, objs):
        out = _empty_like(self._template)
        for obj in objs:
            self._add(out, obj)
        return out

    def window(self):
        """A new metric object (the template's class) holding exactly the window's counts."""
        with self._lock:
            self._pull_front()
            if self._cur_obj is None:
                return _empty_like(self._template)
            ref = self._cur
            if self._mode == "seconds":
                ref = max(ref, math.floor(self._clock() / self._width))
            live = sorted((j, k) for k, j in enumerate(self._ids)
                          if j is not None and j > ref - self._buckets)
            return self._sum(self._slots[k] for _, k in live)

    def total(self):
        """A new metric object with every count since the start (or the last ``reset``)."""
        with self._lock:
            self._pull_front()
            return self._sum([self._closed] + ([self._cur_obj] if self._cur_obj is not None else []))

    def window_bounds(self):
        """What ``window()`` covers now: ``(first, end)`` row or call numbers (``end``
        exclusive) for ``samples``/``updates``; ``(start, end)`` clock times for ``seconds``
        (batches stamped ``start <= t < end`` are inside)."""
        with self._lock:
            self._pull_front()
            if self._mode == "seconds":
                ref = math.floor(self._clock() / self._width)
                if self._cur_obj is not None:
                    ref = max(ref, self._cur)
                return ((ref - self._buckets + 1) * self._width, (ref + 1) * self._width)
            return (max(0, (self._cur - self._buckets + 1) * self._size), self._done())


# ---------------------------------------------------------------- Decayed
def _add_scaled(dst, src, factor, arrays, seen):
    """``dst += factor * src`` for fast-protocol objects; ``dst`` holds float64 counts."""
    if not dst._float:
        dst._scale_counts(1.0)  # float64 from here on
    for a in arrays:
        s = getattr(src, a)
        if s is not None:
            d = getattr(dst, a)
            if a == seen:
                np.bitwise_or(d, s, out=d)
            else:
                d += s * factor
    dst._count += src._count


class Decayed:
    """Exponentially decayed counts of a metric object.

    A sample of age ``a`` weighs ``2 ** (-a / half_life)`` (times its own ``sample_weight``):
    with ``unit="samples"`` the age is the number of rows given after it (the newest row weighs
    1; rows of one batch get successive ages), with ``unit="seconds"`` it is the time since its
    ``update`` (``clock()``, default ``time.monotonic``; a batch shares one timestamp).
    ``current()`` returns a metric object of the template's class whose (float64) counts are
    these weighted sums: equal to scikit-learn given the same weights. Rows dropped by
    ``ignore_index`` still age the others. The template's ``update`` must take ``sample_weight``.
    """

    #: the hot-tier kernels a front of this view calls: ``<kernel>_decay``
    _KERNEL_SUFFIX = "_decay"

    def __init__(self, template, *, half_life, unit="samples", clock=None):
        _check_template(template)
        if not callable(getattr(template, "_scale_counts", None)):
            raise TypeError(f"Decayed needs a metric object that can scale its counts; "
                            f"{type(template).__name__} cannot")
        try:
            takes_weight = "sample_weight" in inspect.signature(template.update).parameters
        except (TypeError, ValueError):  # no signature to read: let update() decide
            takes_weight = True
        if not takes_weight:
            raise TypeError(f"Decayed weighs samples through update(sample_weight=...); "
                            f"{type(template).__name__}.update takes no sample_weight (use Windowed)")
        if unit not in ("samples", "seconds"):
            raise ValueError(f'unit must be "samples" or "seconds"; got {unit!r}')
        self._half_life = _positive_real("half_life", half_life)
        self._unit = unit
        if unit == "seconds":
            self._clock = _check_clock(clock)
        elif clock is not None:
            raise ValueError('clock= only applies to unit="seconds"')
        self._template = _empty_like(template)
        self._reset()
        self._bind()

    def _bind(self):
        """Per-process attributes, rebuilt after unpickling: the lock, the cached weight ramp,
        ``update``, the front (``_make_front``) and, for ``unit="seconds"``, the scratch object
        of the unweighted fast path."""
        self._lock = threading.Lock()
        self._ramp = (0, np.ones(0))  # 2 ** (i / half_life), i < n, for the last batch size
        self._wbuf = np.empty(0)      # the batch's weights (reused)
        self._scratch = None
        self._fold = None      # the hot tier's scaled_fold, once loaded
        self._fold_ok = False
        # the metric objects' weighted hot path (``_count_scaled``): a small batch counted with
        # weights ramp[i] * scale in one compiled call, no weight array, no validation passes.
        # unit="seconds" gives it a ramp of ones (1.0 * scale is scale exactly; the kernel
        # reads the first n): a stride-0 view, no memory (measured: as fast as a ones array,
        # and a constant-weight kernel variant would double the signatures to compile)
        self._hot_ok = isinstance(self._template, _MetricsBase)
        self._ones = (np.broadcast_to(np.float64(1.0), (_hot.MAX_ROWS,))
                      if (self._hot_ok and self._unit == "seconds") else None)
        fast = _fast_protocol(self._template)
        if self._unit == "seconds" and fast is not None:
            arrays, seen = fast
            # a batch shares one weight: counted unweighted (the metric's fast path) into the
            # scratch object and added scaled, when that pass over the state costs less than
            # the weighted kernel's pass over the batch
            self._scratch = _empty_like(self._template)
            self._fast = fast
            # the scratch writes only its state while int64 (a class that keeps the seen mask
            # for weighted updates): then one compiled call adds it scaled (``scaled_fold``)
            self._fold_ok = _int_arrays(self._template, *fast) == ("_state",)
            fresh = self._template._new_arrays()
            self._cells = sum(v.size for a, v in fresh.items() if v is not None and a != seen)
        self.update = self._update_general
        self._front = None
        if self._unit == "seconds":
            if (self._fold_ok and self._clock is time.monotonic and _hot.KERNEL_CLOCK
                    and self._template._ring_capable()):
                self._make_front()
        elif self._hot_ok and self._template._ring_capable() and fast is not None:
            self._make_front()
        self._point_front()

    def _make_front(self):
        """A front, as ``Windowed`` has (see ``Windowed._bind``): ``update`` is the ``update``
        of an object of the template's class whose hot path calls a variant of its hot-tier
        kernel on one int64 vector (layout: ``_backends/hot.py``) holding the running float64
        state and the bookkeeping. ``unit="seconds"`` (``*_decay``, on ``time.monotonic`` on
        64-bit Linux): the kernel reads the clock, counts a batch at least as large as the state
        into an int64 scratch state in the vector and adds it scaled, as the general path's
        fold does. ``unit="samples"`` (``*_rowdecay``): the kernel counts the batch with its
        decay weights into the running state and seen mask, as the general path's
        ``_count_scaled`` does, from a weight ramp stored in the vector. One call either way;
        everything else (weights, a rebase, a first call, a bad value, and for seconds smaller
        batches) goes to the general path, ``_update_general``."""
        template = self._template
        shape = template._state.shape
        cells = shape[0] * shape[1]
        acc_at = _hot.DECAY_FIELDS
        rows = self._unit == "samples"
        if rows:
            m = template._seen.shape[0]
            seen_at = acc_at + cells
            ramp_at = seen_at + (m + 7) // 8
            ring = np.zeros(ramp_at + _hot.MAX_ROWS, dtype=np.int64)
            ring[_hot.DECAY_SEEN] = seen_at
            ring[_hot.DECAY_RAMP] = ramp_at
            # the ramp _ramp_of gives, element for element (exp2 of i / half_life), as far as a
            # batch the kernel takes reaches (n - 1 <= _RAMP_EXPONENT * half_life)
            usable = min(_hot.MAX_ROWS, int(self._RAMP_EXPONENT * self._half_life) + 1)
            ring[ramp_at:ramp_at + usable].view(np.float64)[:] = np.exp2(
                np.arange(usable, dtype=np.float64) / self._half_life)
            # multiclass: the backend's direct-summation bound
            ring[_hot.DECAY_DIRECT] = template._direct_below() or 0
            self._sview = ring[seen_at:ramp_at].view(np.uint8)[:m]
            self._KERNEL_SUFFIX = "_rowdecay"
        else:
            ring = np.zeros(acc_at + 2 * cells, dtype=np.int64)
            ring[_hot.DECAY_SCRATCH] = acc_at + cells
            ring[_hot.DECAY_CELLS] = cells  # smaller batches take the weighted path
        ring[_hot.RING_ROOM] = -1  # the front's bound path admits nothing
        ring[_hot.RING_K] = shape[0]
        ring[_hot.DECAY_ACC] = acc_at
        ring.view(np.float64)[_hot.DECAY_HALF] = self._half_life
        self._dbuf = ring
        self._dview = ring[acc_at:acc_at + cells].view(np.float64).reshape(shape)
        front = _empty_like(template)
        front._ring = self
        front._ring_slow = self._front_slow
        front._wring = ring
        if not rows:
            # the scratch object's bound native calls, so that the front's bound path arms the
            # hot tier (``_tier_up``); bound to the scratch's state, not the front's, they never
            # count for it (``_count_bound`` checks), and the batch goes to the general path.
            # (unit="samples" arms it from the general path: ``_arm_front``.)
            front._bound = self._scratch._bound
        self._front, self._lock, self.update = front, front._lock, front.update

    def _arm_front(self, target, preds):
        """After the general path counted a batch through the running state's weighted hot
        kernel (so its dtypes are ones the kernels take): let the front ask for its own
        kernel for them (``_tier_up``; it takes it once loaded)."""
        front = self._front
        if front._hot_t is not target.dtype or front._hot_p is not preds.dtype:
            front._tier_up(*front._hot_key(target, preds))

    def _front_slow(self, target, preds, sample_weight):
        if sample_weight is None:
            return self._update_general(target, preds)
        return self._update_general(target, preds, sample_weight=sample_weight)

    def _point_front(self):
        """Hand the running state and the bookkeeping to the front's kernel (lock held; after
        anything that may have changed them): float64 counts on the host move into the vector
        (the running state's ``_state``, and for ``unit="samples"`` its ``_seen``, are then
        views of it); until there is such a state and a base, the kernel counts nothing."""
        front = self._front
        if front is None:
            return
        ring, acc = self._dbuf, self._acc
        on = self._base is not None and acc._float and not acc._on_device
        if on and acc._state is not self._dview:
            self._dview[...] = acc._state
            acc._state = self._dview
        if on and self._unit == "samples" and acc._seen is not self._sview:
            self._sview[...] = acc._seen
            acc._seen = self._sview
        ring[_hot.DECAY_COUNT] = acc._count
        ring[_hot.DECAY_ROWS] = self._pos
        ring.view(np.float64)[_hot.DECAY_BASE] = 0.0 if self._base is None else self._base
        ring[_hot.DECAY_ON] = on

    def _pull_front(self):
        """Take back the sample and row counts the front's kernel has written (lock held)."""
        if self._front is not None:
            ring = self._dbuf
            self._acc._count = int(ring[_hot.DECAY_COUNT])
            self._pos = int(ring[_hot.DECAY_ROWS])

    def _reset(self):
        self._acc = _empty_like(self._template)
        self._pos = 0       # rows counted (samples)
        self._base = None   # row number or time at which stored weights are 1

    def reset(self) -> None:
        with self._lock:
            self._reset()
            self._point_front()

    #: a batch's weight ramp 2 ** (i / half_life) stays below 2 ** this (else: per-row weights)
    _RAMP_EXPONENT = _hot.DECAY_RAMP_EXPONENT

    _TRANSIENT = ("_lock", "_ramp", "_wbuf", "_scratch", "_fast", "_cells", "_hot_ok", "_ones",
                  "_fold", "_fold_ok", "update", "_front", "_dbuf", "_dview", "_sview",
                  "_KERNEL_SUFFIX")

    def __getstate__(self):
        self._pull_front()
        return {k: v for k, v in self.__dict__.items() if k not in self._TRANSIENT}

    def __setstate__(self, d):
        self.__dict__.update({k: v for k, v in d.items() if k not in self._TRANSIENT})
        self._bind()

    @property
    def half_life(self) -> float:
        return self._half_life

    @property
    def unit(self) -> str:
        return self._unit

    def __repr__(self):
        return f"Decayed({self._template!r}, half_life={self._half_life!r}, unit={self._unit!r})"

    def _ramp_of(self, n):
        """``2 ** (i / half_life)`` for i < n (cached for the last batch size)."""
        m, ramp = self._ramp
        if m != n:
            ramp = np.exp2(np.arange(n, dtype=np.float64) / self._half_life)
            self._ramp = (n, ramp)
            self._wbuf = np.empty(n)
        return ramp

    def _weights(self, n, scale):
        """``2 ** (i / half_life) * scale`` for i < n, in a reused buffer."""
        return np.multiply(self._ramp_of(n), scale, out=self._wbuf)

    def _rebase(self, new_base):
        """Move the reference point forward: stored weights are divided by the weight growth
        since the old base (one pass over the state, every 64 half-lives at most)."""
        if self._base is not None and new_base != self._base:
            self._acc._scale_counts(math.exp2(-(new_base - self._base) / self._half_life))
        self._base = new_base

    def update(self, *args, **kwargs) -> None:
        """Count a batch (the template's ``update`` arguments) with decay weights."""
        # _bind sets the front's update or _update_general over this one
        self._update_general(*args, **kwargs)

    def _update_general(self, *args, **kwargs) -> None:
        # the weighted hot path (see _bind) takes (target, preds) and nothing else
        hot = self._hot_ok and len(args) == 2 and not kwargs
        if hot and type(args[0]) is np.ndarray:
            n = len(args[0])
            user_w = None
        else:
            if len(args) >= 3:
                raise TypeError("Decayed.update: pass sample_weight as a keyword")
            n = _rows(args, kwargs)
            user_w = kwargs.pop("sample_weight", None)
            if user_w is not None:
                user_w = np.asarray(user_w, dtype=np.float64)
                if user_w.shape != (n,):
                    raise ValueError(f"sample_weight must have shape ({n},); got {user_w.shape}")
        h = self._half_life
        lock = self._lock
        lock.acquire()  # not `with`: a tenth of a microsecond less, on a path of a few
        try:
            self._pull_front()
            if self._unit == "samples":
                pos = self._pos
                end = pos + n  # stored weight of row i is 2 ** ((i - base) / h)
                if self._base is None or (end - 1 - self._base) / h > _RESCALE_EXPONENT:
                    self._rebase(max(end - 1, 0))
                scale = math.exp2((pos - self._base) / h)
                if n - 1 > self._RAMP_EXPONENT * h:
                    # 2 ** (i / h) would overflow (and the scale turn subnormal): each row's
                    # weight from its own exponent, <= 64 (the old rows' may underflow to 0)
                    ramp = np.exp2((np.arange(n, dtype=np.float64) + (pos - self._base)) / h)
                    scale = 1.0
                    w = ramp
                else:
                    m, ramp = self._ramp
                    if m != n:
                        ramp = self._ramp_of(n)
                    w = None
                if hot and self._acc._count_scaled(args[0], args[1], ramp, scale):
                    self._pos = end
                    if self._front is not None:
                        self._arm_front(args[0], args[1])
                    return
                if w is None:
                    w = self._weights(n, scale)
            else:
                t = float(self._clock())
                if self._base is None or (t - self._base) / h > _RESCALE_EXPONENT:
                    self._rebase(t)
                scale = math.exp2(max(t - self._base, 0.0) / h)
                scratch = self._scratch
                if scratch is not None and user_w is None and n >= self._cells:
                    scratch.update(*args, **kwargs)  # counts all or nothing (its hot path)
                    acc, fold = self._acc, self._fold
                    if (fold is not None and acc._float and not scratch._float
                            and not acc._on_device and not scratch._on_device):
                        fold(acc._state, scratch._state, scale)  # the one array it wrote
                        acc._count += scratch._count
                        scratch._count = 0
                    else:
                        arrays, seen = self._fast
                        _add_scaled(acc, scratch, scale, arrays, seen)
                        _clear_in_place(scratch, arrays, arrays)
                        if self._fold_ok and fold is None and scratch._hot_on:
                            _hot.request("scaled_fold", _F64, _I64)  # once per process
                            self._fold = _hot.lookup("scaled_fold", _F64, _I64)
                    self._pos += n
                    return
                if hot and self._acc._count_scaled(args[0], args[1], self._ones, scale):
                    self._pos += n
                    return
                w = np.full(n, scale)
            if user_w is not None:
                w = w * user_w
            self._acc.update(*args, sample_weight=w, **kwargs)
            self._pos += n
        finally:
            self._point_front()
            lock.release()

    def current(self):
        """A new metric object with the decayed counts as of now."""
        with self._lock:
            self._pull_front()
            out = _empty_like(self._template)
            _add(out, self._acc)
            if self._base is not None:
                now = (self._pos - 1) if self._unit == "samples" else float(self._clock())
                out._scale_counts(math.exp2(-(now - self._base) / self._half_life))
            return out
