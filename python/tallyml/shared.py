"""Counts in shared memory: one slot per worker process, summed by any reader.

Pre-fork servers (gunicorn, multiprocessing pools) run several processes that each see part of
the traffic. ``SharedSlots`` lays out ``n`` copies of a metric object's count arrays in one
memory-mapped file (``/dev/shm`` by default, so it lives in RAM): every worker counts into its
own slot with the ordinary kernels, writing straight into the mapping, so there are no locks on
the hot path; any process maps the same file and reads the sum (``total()``). Counts live in
the file, not in the worker: a worker that dies (even by SIGKILL) loses nothing it had counted,
a new worker can take over its slot, and a reader can restart and see everything.

File layout (native byte order, little-endian on every supported platform)::

    offset 0   b"TALLYSLT"                 magic
    offset 8   uint32 layout version (1), uint32 length L of the JSON that follows
    offset 16  L bytes of JSON: class, constructor arguments, dtype, slot count, slot size,
               data offset and, per state array, its attribute, offset in the slot, shape, dtype
    data       slot i at data_offset + i * slot_bytes, each 64-byte aligned:
               int64 sample count, int64 owner pid (0: free), padding to 64 bytes,
               then each array at its offset (64-byte aligned: no false sharing between slots)

Reads are not snapshots: a reader that runs while workers update may see a batch half added
(each 64-bit count is read whole). Counting is exact once the workers are quiet.
"""
from __future__ import annotations

import json
import math
import mmap
import os
import struct
import tempfile
import threading

import numpy as np

from ._version import __version__

__all__ = ["SharedSlots", "SlotWorker"]

_MAGIC = b"TALLYSLT"
_LAYOUT_VERSION = 1
_ALIGN = 64
_SLOT_HEADER = 64


def _round_up(n, a=_ALIGN):
    return (n + a - 1) // a * a


def _default_dir():
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()


def _pid_alive(pid):
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class SharedSlots:
    """``slots`` count states of one metric configuration in a shared memory-mapped file.

    Create once (in the parent, before forking, or in any process), then in each worker
    ``claim()`` a slot (or ``worker(i)`` for a fixed index) and ``update`` it; read the sum
    anywhere with ``total()``. Other processes attach with ``SharedSlots.open(path)``; a
    ``SharedSlots`` pickles as its path.

    ``weighted=False`` keeps int64 counts (updates with ``sample_weight`` are refused);
    ``weighted=True`` keeps float64 counts (exact for integer counts below 2**53).
    """

    def __init__(self, _path, _meta, _mm):
        # use create() or open()
        self._path = _path
        self._meta = _meta
        self._mm = _mm
        self._buf = np.frombuffer(_mm, dtype=np.uint8)
        self._lock = threading.Lock()
        self._template = None

    # ------------------------------------------------------------ construction
    @classmethod
    def create(cls, template, slots: int, *, path=None, weighted: bool = False, exist_ok=False):
        """Lay out ``slots`` empty states like ``template`` (an empty metric object) in a new
        file at ``path`` (default: a fresh file in /dev/shm). The file appears complete or not
        at all (written aside, then renamed)."""
        from .metrics._base import _MetricsBase

        if not isinstance(template, _MetricsBase):
            raise TypeError(f"template must be a tallyml metric object; got {type(template).__name__}")
        if template.count != 0:
            raise ValueError(f"template must be an empty metric object; this one has count={template.count}")
        if isinstance(slots, bool) or not isinstance(slots, (int, np.integer)) or slots < 1:
            raise ValueError(f"slots must be a positive integer; got {slots!r}")
        if not isinstance(weighted, bool):
            raise TypeError(f"weighted must be True or False; got {weighted!r}")
        dtype = np.dtype(np.float64 if weighted else np.int64)
        arrays, off = [], _SLOT_HEADER
        for attr, ref in template._empty_like()._new_arrays().items():
            if ref is None:
                continue
            # masks, float sums and arrays that are float64 from the start (expected counts)
            # keep their own dtype; counts follow the slots' dtype
            keep = attr == template._SEEN_ATTR or attr in template._SUM_ATTRS or ref.dtype == np.float64
            dt = ref.dtype if keep else dtype
            arrays.append({"attr": attr, "offset": off, "shape": list(ref.shape), "dtype": dt.str})
            off = _round_up(off + ref.size * dt.itemsize)
        meta = {"tallyml_version": __version__, "class": type(template).__name__,
                "init": template._init_args(), "kind": template._KIND, "dtype": dtype.str,
                "slots": int(slots), "slot_bytes": off, "arrays": arrays}
        from .persistence import _encode

        body = json.dumps(_encode(meta)).encode()
        data_offset = _round_up(16 + len(body) + 64)
        meta["data_offset"] = data_offset
        body = json.dumps(_encode(meta)).encode()
        assert 16 + len(body) <= data_offset
        size = data_offset + int(slots) * off

        if path is None:
            fd, path = tempfile.mkstemp(dir=_default_dir(), prefix="tallyml-slots-", suffix=".bin")
            os.close(fd)
            exist_ok = True
        path = os.path.abspath(os.fspath(path))
        if os.path.exists(path) and not exist_ok:
            raise FileExistsError(f"path {path!r} exists; open it with SharedSlots.open or pass exist_ok=True")
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tallyml-slots-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC + struct.pack("<II", _LAYOUT_VERSION, len(body)) + body)
                f.truncate(size)  # the rest reads as zeros
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return cls.open(path)

    @classmethod
    def open(cls, path):
        """Attach to an existing slot file (any process, any time)."""
        path = os.path.abspath(os.fspath(path))
        with open(path, "r+b") as f:
            head = f.read(16)
            if len(head) < 16 or head[:8] != _MAGIC:
                raise ValueError(f"{path}: not a tallyml shared-slot file")
            version, n = struct.unpack("<II", head[8:])
            if version != _LAYOUT_VERSION:
                raise ValueError(f"{path}: slot layout version {version}; this tallyml reads {_LAYOUT_VERSION}")
            from .persistence import _decode

            meta = _decode(json.loads(f.read(n)))
            size = meta["data_offset"] + meta["slots"] * meta["slot_bytes"]
            if os.fstat(f.fileno()).st_size != size:
                raise ValueError(f"{path}: file size {os.fstat(f.fileno()).st_size} does not match its layout ({size})")
            mm = mmap.mmap(f.fileno(), size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        return cls(path, meta, mm)

    def __reduce__(self):
        return (SharedSlots.open, (self._path,))

    # ------------------------------------------------------------ layout access
    @property
    def path(self) -> str:
        return self._path

    @property
    def slots(self) -> int:
        return self._meta["slots"]

    @property
    def weighted(self) -> bool:
        return np.dtype(self._meta["dtype"]) == np.float64

    def _new_template(self):
        if self._template is None:
            from .persistence import _classes

            cls = _classes()[self._meta["class"]]
            self._template = cls(**self._meta["init"])
        return self._template._empty_like()

    def _check_index(self, i):
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < self.slots:
            raise ValueError(f"slot index must be an integer in [0, {self.slots}); got {i!r}")
        return int(i)

    def _base(self, i):
        return self._meta["data_offset"] + i * self._meta["slot_bytes"]

    def _header(self, i):
        base = self._base(i)
        return self._buf[base:base + 16].view(np.int64)  # [count, owner pid]

    def _views(self, i):
        base = self._base(i)
        out = {}
        for spec in self._meta["arrays"]:
            dt = np.dtype(spec["dtype"])
            start = base + spec["offset"]
            n = int(np.prod(spec["shape"], dtype=np.int64))
            out[spec["attr"]] = self._buf[start:start + n * dt.itemsize].view(dt).reshape(spec["shape"])
        return out

    # ------------------------------------------------------------ workers
    def worker(self, i):
        """A ``SlotWorker`` counting into slot ``i`` (the caller makes sure no other live
        process writes to it)."""
        return SlotWorker(self, self._check_index(i))

    def claim(self):
        """Take a free slot for this process (one never used, or whose owner process has
        died: its counts are kept and continued) and return its ``SlotWorker``. Serialised
        between processes by a lock on the file."""
        import fcntl

        with open(self._path, "r+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                me = os.getpid()
                for i in range(self.slots):
                    h = self._header(i)
                    owner = int(h[1])
                    if owner == me or not _pid_alive(owner):
                        h[1] = me
                        return SlotWorker(self, i)
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        raise RuntimeError(f"all {self.slots} slots of {self._path} are owned by live processes")

    def owners(self) -> list:
        """Owner pid of each slot (0: never claimed or released)."""
        return [int(self._header(i)[1]) for i in range(self.slots)]

    # ------------------------------------------------------------ readers
    def _add_slot(self, out, i):
        views = self._views(i)
        arrays = {a: None for a in out._new_arrays()}
        arrays.update({a: v.copy() for a, v in views.items()})
        out._add_arrays(arrays, int(self._header(i)[0]))

    def slot(self, i):
        """A metric object with a copy of slot ``i``'s counts."""
        out = self._new_template()
        self._add_slot(out, self._check_index(i))
        return out

    def total(self):
        """A metric object with the sum of every slot."""
        out = self._new_template()
        for i in range(self.slots):
            self._add_slot(out, i)
        return out

    def reset(self) -> None:
        """Zero every slot (owners are kept). Only while no worker is counting."""
        for i in range(self.slots):
            self._header(i)[0] = 0
            for v in self._views(i).values():
                v[...] = 0

    def close(self) -> None:
        """Unmap the file in this process (workers made from it must not be used after)."""
        self._buf = None
        try:
            self._mm.close()
        except BufferError:  # views still alive; the mapping goes when they do
            pass

    def unlink(self) -> None:
        """Delete the file (processes that mapped it keep their mapping)."""
        os.unlink(self._path)

    def __repr__(self):
        return f"SharedSlots({self._meta['class']}, slots={self.slots}, path={self._path!r})"


class SlotWorker:
    """Counts into one slot of a ``SharedSlots``: ``update`` (and ``update_one`` where the
    metric class has it) take what the metric class's methods take; the arrays the kernels
    write are the shared mapping itself. ``local()`` reads this slot as a metric object."""

    def __init__(self, slots: SharedSlots, index: int):
        self._slots = slots
        self.index = index
        obj = slots._new_template()
        self._views = slots._views(index)
        self._header = slots._header(index)
        for attr, view in self._views.items():
            setattr(obj, attr, view)
        obj._float = obj._state.dtype == np.float64
        obj._count = int(self._header[0])  # a taken-over slot continues its count
        self._obj = obj
        self._weighted = slots.weighted

    def update(self, *args, **kwargs) -> None:
        """Count a batch into the slot (all or nothing, like the metric's ``update``)."""
        if not self._weighted and (kwargs.get("sample_weight") is not None or len(args) > 2 and args[2] is not None):
            raise ValueError("sample_weight: this SharedSlots keeps int64 counts; create it with "
                             "weighted=True to count weighted samples")
        obj = self._obj
        obj.update(*args, **kwargs)
        self._header[0] = obj._count
        self._rebind()

    def update_one(self, *args) -> None:
        """Count one sample (and write it to the slot at once)."""
        obj = self._obj
        obj.update_one(*args)
        with obj._lock:
            obj._flush()
            self._header[0] = obj._count

    def _rebind(self):
        # a metric class that replaced an array (instead of adding in place) would write
        # elsewhere from now on: copy the values back into the mapping and point it there again
        obj = self._obj
        for attr, view in self._views.items():
            cur = getattr(obj, attr)
            if cur is not view:
                view[...] = cur
                setattr(obj, attr, view)

    @property
    def count(self) -> int:
        return int(self._header[0])

    def local(self):
        """A metric object with a copy of this slot's counts."""
        return self._slots.slot(self.index)

    def release(self) -> None:
        """Give the slot back (its counts stay in the total)."""
        h = self._header
        if int(h[1]) == os.getpid():
            h[1] = 0

    def __repr__(self):
        return f"SlotWorker(slot={self.index}, {self._slots!r})"
