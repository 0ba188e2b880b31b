"""Monitor checkpoints: a versioned file written atomically (temp file in the same folder,
flush, fsync, rename over the target, fsync the folder), so that a crash leaves the previous
checkpoint or the new one, never a mixture.

File layout: one header line ``TALLYML-MONITOR-CHECKPOINT <version>\\n`` followed by a pickle
of ``{"config": ..., "state": ..., "extra": ...}``. Pickle runs code when read: load only
checkpoints this process (or another you trust) wrote. The header is checked before anything
is unpickled, so a stray or truncated file is refused with a clear error.

What is kept: realized and estimated counts (window ring and lifetime), drift window, latency,
fit history, counters and the pending predictions. Rule states are not kept (their timers are
monotonic-clock readings of the old process): rules start inactive after a restart.

``tallyml.Windowed`` states are its own ``__getstate__`` dicts, put back in place by its
``_restore`` (the running window keeps its lock and ``update``).
"""
from __future__ import annotations

import os
import pickle
import tempfile

__all__ = ["save", "load", "monitor_state", "restore_monitor", "FORMAT_VERSION",
           "MonitorCheckpointError"]

FORMAT_VERSION = 1
_MAGIC = b"TALLYML-MONITOR-CHECKPOINT"


class MonitorCheckpointError(ValueError):
    """A monitor checkpoint that cannot be used: missing header, other version, corrupt, or
    written by a monitor of another configuration."""


def _windowed_state(w):
    # the window's own pickling state: without its lock and its bound update method (a pickled
    # bound method would carry a second copy of the window, and updates would go there)
    with w._lock:
        return pickle.dumps(w.__getstate__(), protocol=pickle.HIGHEST_PROTOCOL)


def _windowed_apply(w, state) -> None:
    w._restore(state)  # in place: keeps the lock and update() other threads may be using


def _windowed_restore(w, blob):
    state = pickle.loads(blob)
    if (state.get("_mode"), state.get("_length"), state.get("_buckets")) != (w.mode, w.length, w.buckets):
        raise MonitorCheckpointError(
            f"window was ({state.get('_mode')}={state.get('_length')}, buckets="
            f"{state.get('_buckets')}); this monitor has ({w.mode}={w.length}, buckets={w.buckets})")
    return state


def _fit_state(fit):
    d = fit.__getstate__()
    d.pop("_callbacks", None)  # callbacks belong to the running program, not the checkpoint
    return d


def monitor_state(m) -> dict:
    with m._lock:
        counts = dict(m._counts)
        pending = list(m._pending.items())
    return {
        "realized": _windowed_state(m._realized),
        "estimated": None if m._estimated is None else _windowed_state(m._estimated),
        "drift": None if m._drift is None else pickle.dumps(m._drift),
        "latency": m._latency.state_dict(),
        "fit": _fit_state(m._fit),
        "counts": counts,
        "pending": pending,
    }


def restore_monitor(m, state) -> None:
    """Check everything first, then assign: on error the monitor is unchanged."""
    if not isinstance(state, dict) or set(state) != {"realized", "estimated", "drift", "latency",
                                                    "fit", "counts", "pending"}:
        raise MonitorCheckpointError("state is not a Monitor.state_dict()")
    realized = _windowed_restore(m._realized, state["realized"])
    if (state["estimated"] is None) != (m._estimated is None):
        raise MonitorCheckpointError("the checkpoint and this monitor differ in estimate=")
    estimated = None if m._estimated is None else _windowed_restore(m._estimated, state["estimated"])
    if (state["drift"] is None) != (m._drift is None):
        raise MonitorCheckpointError("the checkpoint and this monitor differ in reference_scores")
    drift = None if m._drift is None else pickle.loads(state["drift"])
    if drift is not None and (drift.window != m._drift.window):
        raise MonitorCheckpointError(f"drift window was {drift.window}; this monitor has "
                                     f"{m._drift.window}")
    from ..monitoring import LatencyTracker

    latency = LatencyTracker()
    latency.load_state_dict(state["latency"])
    _windowed_apply(m._realized, realized)
    if estimated is not None:
        _windowed_apply(m._estimated, estimated)
    if drift is not None:
        # keep the monitor's own reference/thresholds object, take the window's counts
        m._drift.__setstate__({k: v for k, v in drift.__getstate__().items()})
    m._latency.load_state_dict(state["latency"])
    fit = dict(state["fit"])
    with m._fit._lock:
        fit["_callbacks"] = m._fit._callbacks
        m._fit.__dict__.update(fit)
    with m._lock:
        m._counts.update(state["counts"])
        m._pending.clear()
        m._pending.update(state["pending"])
        m._counts["pending_labels"] = len(m._pending)


def save(path, m, extra=None) -> None:
    path = os.fspath(path)
    payload = pickle.dumps({"config": m._config(), "state": monitor_state(m), "extra": extra},
                           protocol=pickle.HIGHEST_PROTOCOL)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC + b" %d\n" % FORMAT_VERSION)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:  # platforms without directory fds
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def load(path, m):
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            header = f.readline()
            body = f.read()
    except OSError as e:
        raise MonitorCheckpointError(f"cannot read checkpoint {path!r}: {e.strerror or e}") from e
    parts = header.split()
    if len(parts) != 2 or parts[0] != _MAGIC:
        raise MonitorCheckpointError(f"{path!r} is not a tallyml monitor checkpoint")
    if parts[1] != str(FORMAT_VERSION).encode():
        raise MonitorCheckpointError(f"{path!r} has checkpoint version {parts[1].decode(errors='replace')}; "
                                     f"this tallyml reads version {FORMAT_VERSION}")
    try:
        data = pickle.loads(body)
    except Exception as e:  # noqa: BLE001 - truncated or corrupt
        raise MonitorCheckpointError(f"{path!r} is corrupt: {e!r}") from e
    if not isinstance(data, dict) or data.get("config") != m._config():
        got = data.get("config") if isinstance(data, dict) else None
        raise MonitorCheckpointError(f"{path!r} was written by a monitor configured {got}; "
                                     f"this one is {m._config()}")
    restore_monitor(m, data["state"])
    return data.get("extra")
