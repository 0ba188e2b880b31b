"""Checkpoints of metric objects: a versioned, crash-safe file format.

A checkpoint is a zip archive (readable by ``numpy.load`` as an ``.npz``) holding

- ``tallyml.json``: the metadata (format name and version, the tallyml version that wrote it,
  and for every object its class, constructor arguments, configuration, sample count and the
  name, dtype and shape of each array);
- one ``.npy`` member per state array, written without pickle.

The format is documented in docs/persistence.md. Reading checks everything before anything is
built: the format name and version, the zip's CRC of every member, the arrays against the
metadata, and (through ``load_state_dict``) the arrays against the class and configuration.
Any failure raises ``CheckpointError`` (a ``ValueError``) naming the file and the problem.

Crash safety: ``save`` writes a temporary file in the target's directory, flushes and fsyncs it,
renames it over the target (atomic on POSIX and Windows) and fsyncs the directory, so a crash at
any moment leaves the old checkpoint or the new one, never a mixture. A crash can leave a
``.<name>.*.tmp`` file behind; it is never read.
"""
from __future__ import annotations

import io
import json
import math
import os
import tempfile
import threading
import zipfile
import zlib

import numpy as np

from ._version import __version__

__all__ = ["save", "load", "load_into", "Autosave", "CheckpointError", "FORMAT", "FORMAT_VERSION"]

FORMAT = "tallyml-checkpoint"
FORMAT_VERSION = 1
_META = "tallyml.json"
_SINGLE = ""  # member name of a checkpoint of one object (not a group)


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read: missing, corrupt, of another format or version, or
    for another class or configuration."""


# ---------------------------------------------------------------- JSON of constructor arguments
def _encode(v):
    # standard JSON has no nan/inf (zero_division=nan, logit thresholds)
    if isinstance(v, float) and not math.isfinite(v):
        return {"$float": repr(v)}
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return _encode(float(v))
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, dict):
        return {k: _encode(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_encode(x) for x in v]
    return v


def _decode(v):
    if isinstance(v, dict):
        if set(v) == {"$float"}:
            return float(v["$float"])
        return {k: _decode(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_decode(x) for x in v]
    return v


# ---------------------------------------------------------------- classes
def _classes() -> dict:
    """Class name -> class of every metric object that can be checkpointed."""
    from .metrics._base import _MetricsBase
    from . import curves, estimation, metrics  # noqa: F401  (register the built-in subclasses)

    out, todo = {}, [_MetricsBase]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            # public classes, and private concrete ones that a public factory returns (e.g.
            # EstimatedMetrics(task=...) -> _BinaryEstimated): those define their own arrays
            if not sub.__name__.startswith("_") or "_new_arrays" in vars(sub):
                out[sub.__name__] = sub
    return out


def _check_object(name, obj):
    from .metrics._base import _MetricsBase

    if not isinstance(obj, _MetricsBase):
        where = "obj" if name == _SINGLE else f"obj[{name!r}]"
        raise TypeError(f"{where} must be a tallyml metric object; got {type(obj).__name__}")


def _members(obj):
    """Normalise ``obj`` (one metric object or a dict name -> object) to (is_group, dict)."""
    if isinstance(obj, dict):
        if not obj:
            raise ValueError("obj: a group checkpoint needs at least one object")
        for k, v in obj.items():
            if not isinstance(k, str) or not k or "/" in k:
                raise ValueError(f"obj: group names must be non-empty strings without '/'; got {k!r}")
            _check_object(k, v)
        return True, dict(obj)
    _check_object(_SINGLE, obj)
    return False, {_SINGLE: obj}


# ---------------------------------------------------------------- write
def _encode_file(is_group, objs) -> tuple[dict, dict]:
    """(metadata, member name -> array) of the objects' current states."""
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "tallyml_version": __version__,
            "group": is_group, "objects": {}}
    files = {}
    for name, obj in objs.items():
        state = obj.state_dict()
        entry = {"class": type(obj).__name__, "kind": state["kind"], "state_version": state["version"],
                 "init": _encode(obj._init_args()), "config": _encode(state["config"]),
                 "count": int(state["count"]), "arrays": {}}
        for key, arr in state.items():
            if key in ("kind", "version", "config", "count"):
                continue
            if arr is None:
                entry["arrays"][key] = None
                continue
            member = f"{name}/{key}.npy" if name else f"{key}.npy"
            files[member] = np.ascontiguousarray(arr)
            entry["arrays"][key] = {"file": member, "dtype": arr.dtype.str, "shape": list(arr.shape)}
        meta["objects"][name] = entry
    return meta, files


def save(path, obj) -> None:
    """Write a checkpoint of ``obj`` (a metric object, or a dict name -> metric object) to
    ``path``, atomically: after a crash the file holds the old checkpoint or the new one."""
    path = os.fspath(path)
    is_group, objs = _members(obj)
    meta, files = _encode_file(is_group, objs)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
                z.writestr(_META, json.dumps(meta, indent=1, allow_nan=False))
                for member, arr in files.items():
                    buf = io.BytesIO()
                    np.lib.format.write_array(buf, arr, allow_pickle=False)
                    z.writestr(member, buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


def _fsync_dir(directory):
    if os.name != "posix":  # Windows cannot open a directory; its rename is already durable
        return
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


# ---------------------------------------------------------------- read
def _read(path) -> tuple[dict, dict]:
    """(metadata, {object name: state dict}) with every check that needs no object."""
    path = os.fspath(path)
    try:
        z = zipfile.ZipFile(path, "r")
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a tallyml checkpoint or truncated/corrupt ({e})") from None
    with z:
        try:
            meta = json.loads(z.read(_META))
        except KeyError:
            raise CheckpointError(f"{path}: not a tallyml checkpoint (no {_META})") from None
        except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError) as e:  # CRC, JSON
            raise CheckpointError(f"{path}: corrupt metadata ({e})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise CheckpointError(f"{path}: not a tallyml checkpoint (format {meta.get('format')!r})"
                                  if isinstance(meta, dict) else f"{path}: corrupt metadata")
        version = meta.get("format_version")
        if version != FORMAT_VERSION:
            raise CheckpointError(
                f"{path}: checkpoint format version {version!r} (written by tallyml "
                f"{meta.get('tallyml_version')}); this tallyml {__version__} reads version {FORMAT_VERSION}")
        objects = meta.get("objects")
        if not isinstance(objects, dict) or not objects or not isinstance(meta.get("group"), bool):
            raise CheckpointError(f"{path}: corrupt metadata (objects)")
        expected = {_META}
        states = {}
        try:
            for name, entry in objects.items():
                state = {"kind": entry["kind"], "version": entry["state_version"],
                         "config": _decode(entry["config"]), "count": entry["count"]}
                for key, spec in entry["arrays"].items():
                    if spec is None:
                        state[key] = None
                        continue
                    expected.add(spec["file"])
                    arr = np.lib.format.read_array(io.BytesIO(z.read(spec["file"])), allow_pickle=False)
                    if arr.dtype.str != spec["dtype"] or list(arr.shape) != spec["shape"]:
                        raise CheckpointError(
                            f"{path}: array {spec['file']} is {arr.dtype.str} {list(arr.shape)}; "
                            f"the metadata says {spec['dtype']} {spec['shape']}")
                    state[key] = arr
                states[name] = state
        except CheckpointError:
            raise
        except (KeyError, TypeError, AttributeError) as e:
            raise CheckpointError(f"{path}: corrupt metadata or missing member ({e!r})") from None
        except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError) as e:
            raise CheckpointError(f"{path}: corrupt array data ({e})") from None
        extra = set(z.namelist()) - expected
        if extra:
            raise CheckpointError(f"{path}: unexpected members {sorted(extra)}")
    return meta, states


def _build(path, entry, state, backend):
    cls = _classes().get(entry.get("class"))
    if cls is None:
        raise CheckpointError(f"{path}: unknown metric class {entry.get('class')!r}")
    init = _decode(entry.get("init"))
    if not isinstance(init, dict):
        raise CheckpointError(f"{path}: corrupt metadata (init)")
    if backend is not None:
        init["backend"] = backend
    try:
        obj = cls(**init)
        obj.load_state_dict(state)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot rebuild {cls.__name__}: {e}") from None
    return obj


def load(path, *, backend=None):
    """Read a checkpoint: the metric object saved, or the dict name -> object of a group.
    ``backend`` overrides the saved backend request (e.g. "numpy" on a machine without the
    native core)."""
    meta, states = _read(path)
    objs = {name: _build(path, meta["objects"][name], states[name], backend) for name in states}
    if meta["group"]:
        return objs
    if set(objs) != {_SINGLE}:
        raise CheckpointError(f"{path}: corrupt metadata (single-object checkpoint with names)")
    return objs[_SINGLE]


def load_into(path, obj, *, name=None) -> None:
    """Replace ``obj``'s counts by a checkpoint's (``name``: the member of a group checkpoint).
    Refuses another class or configuration and leaves ``obj`` unchanged then."""
    _check_object(_SINGLE, obj)
    meta, states = _read(path)
    if name is None:
        if meta["group"]:
            raise CheckpointError(f"{path}: a group checkpoint ({sorted(states)}); pass name=")
        name = _SINGLE
    elif name not in states or not meta["group"]:
        raise CheckpointError(f"{path}: no object named {name!r} (has {sorted(states)})")
    entry = meta["objects"][name]
    if entry.get("class") != type(obj).__name__:
        raise CheckpointError(f"{path}: holds a {entry.get('class')} "
                              f"({_describe(entry)}); cannot load it into a {type(obj).__name__}")
    try:
        obj.load_state_dict(states[name])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: does not fit this {type(obj).__name__}: {e}") from None


def _describe(entry):
    config = _decode(entry.get("config")) or {}
    return ", ".join(f"{k}={v!r}" for k, v in config.items())


# ---------------------------------------------------------------- periodic autosave
class Autosave:
    """Save ``obj`` (one metric object or a dict name -> object) to ``path`` every ``interval``
    seconds from a background thread; ``stop()`` ends it after one last save. Also a context
    manager. A failed save is kept in ``last_error`` and retried at the next interval."""

    def __init__(self, path, obj, interval: float, *, start: bool = True):
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) \
                or not (interval > 0 and math.isfinite(interval)):
            raise ValueError(f"interval must be a positive number of seconds; got {interval!r}")
        _members(obj)
        self.path, self.obj, self.interval = os.fspath(path), obj, float(interval)
        self.saves = 0
        self.last_error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = None
        if start:
            self.start()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("Autosave already started")
        self._thread = threading.Thread(target=self._run, name="tallyml-autosave", daemon=True)
        self._thread.start()

    def save_now(self) -> None:
        save(self.path, self.obj)
        self.saves += 1

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                self.save_now()
                self.last_error = None
            except Exception as e:  # keep the thread alive; the next interval retries
                self.last_error = e

    def stop(self, final_save: bool = True) -> None:
        """Stop the thread (waits for a save in progress) and save once more."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if final_save:
            self.save_now()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
