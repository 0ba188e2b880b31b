"""CPU, memory and GPU use of this process and of the machine, sampled on demand or by a thread."""
from __future__ import annotations

import collections
import logging
import math
import os
import threading
import time
from typing import Callable

from .gpu import GpuReader

__all__ = ["ResourceMonitor"]

_log = logging.getLogger("tallyml.monitoring")

# CPU times advance in clock ticks (10 ms on Linux): a utilisation over a shorter window is noise,
# so a reading less than this long after the previous one repeats the previous value.
_MIN_CPU_WINDOW = 0.1


def _usable_cores(proc) -> int:
    try:
        return max(len(proc.cpu_affinity()), 1)
    except (AttributeError, OSError, NotImplementedError):
        import psutil

        return psutil.cpu_count() or 1


def _system_cpu_times() -> tuple[float, float]:
    """(busy, total) CPU seconds summed over all cores, with psutil's definition of busy."""
    import psutil

    t = psutil.cpu_times()
    total = sum(t)
    # guest time is already counted in user/nice on Linux
    total -= getattr(t, "guest", 0.0) + getattr(t, "guest_nice", 0.0)
    idle = t.idle + getattr(t, "iowait", 0.0)
    return total - idle, total


class ResourceMonitor:
    """Resource use of the current process, its machine and its GPUs.

    ``snapshot()`` takes one reading now (a plain dict, units in the key names); ``start()``
    (or ``with ResourceMonitor(...) as mon:``) samples every ``interval`` seconds in a daemon
    thread. Every reading, pulled or sampled, goes into a ring of the last ``history`` readings
    and into the running ``summary()`` (mean, max and last of each numeric field).

    CPU utilisation is CPU time over wall time, x 100, since the previous reading (at least
    0.1 s before; the first window starts when the monitor is created): ``process_cpu_percent``
    exceeds 100 when several threads run; ``process_cpu_normalized_percent`` divides it by the
    cores this process may run on. It is ``None`` until 0.1 s have passed.

    ``gpu=False`` skips NVML. Without a GPU, NVML or permission the ``"gpu"`` entry reads
    ``{"available": False, "reason": ...}``; nothing raises and nothing is logged above debug.
    ``callback``, if given, is called with each sampled snapshot in the sampler thread; its
    exceptions (like the sampler's own) are counted in ``errors`` and never stop sampling.
    """

    def __init__(self, interval: float = 1.0, gpu: bool = True, history: int = 3600,
                 callback: Callable[[dict], object] | None = None):
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not (
            math.isfinite(interval) and interval > 0
        ):
            raise ValueError(f"interval must be a finite number of seconds > 0; got {interval!r}")
        if not isinstance(gpu, bool):
            raise TypeError(f"gpu must be a bool; got {type(gpu).__name__}")
        if isinstance(history, bool) or not isinstance(history, int) or history < 1:
            raise ValueError(f"history must be an integer >= 1; got {history!r}")
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable or None; got {type(callback).__name__}")
        import psutil  # lazily: `import tallyml` does not pay for it

        self._psutil = psutil
        self.interval = float(interval)
        self.gpu = gpu
        self.callback = callback
        self._gpu_reader = GpuReader() if gpu else None
        self._lock = threading.RLock()
        self._history: collections.deque = collections.deque(maxlen=history)
        self._stats: dict[str, list] = {}  # key -> [n, sum, max, last]
        self._samples = 0
        self._first_time: float | None = None
        self._last_time: float | None = None
        self._gpu_status: dict = {"available": False, "reason": "no reading yet"}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.errors = 0
        self.last_error: str | None = None
        self._attach()

    def _attach(self) -> None:
        """(Re)bind to the current process; also run after a fork."""
        self._pid = os.getpid()
        self._proc = self._psutil.Process(self._pid)
        self._cores = _usable_cores(self._proc)
        self._ref = self._cpu_reference()
        self._last_cpu: dict = {"cpu_window_seconds": None, "process_cpu_percent": None,
                                "process_cpu_normalized_percent": None,
                                "system_cpu_percent": None}

    def _cpu_reference(self) -> tuple[float, float, float, float]:
        t = self._proc.cpu_times()
        busy, total = _system_cpu_times()
        return time.monotonic(), t.user + t.system, busy, total

    # -- readings ----------------------------------------------------------------------------

    def _cpu(self, now: tuple[float, float, float, float]) -> dict:
        wall0, cpu0, busy0, total0 = self._ref
        wall1, cpu1, busy1, total1 = now
        window = wall1 - wall0
        if window >= _MIN_CPU_WINDOW:
            pct = 100.0 * (cpu1 - cpu0) / window
            dtotal = total1 - total0
            self._last_cpu = {
                "cpu_window_seconds": window,
                "process_cpu_percent": pct,
                "process_cpu_normalized_percent": pct / self._cores,
                "system_cpu_percent": 100.0 * (busy1 - busy0) / dtotal if dtotal > 0 else None,
            }
            self._ref = now
        return dict(self._last_cpu)

    def _read(self) -> dict:
        if os.getpid() != self._pid:
            self._attach()
        ps = self._psutil
        proc = self._proc
        with proc.oneshot():
            now = self._cpu_reference()
            rss = proc.memory_info().rss
            threads = proc.num_threads()
            try:
                fds = proc.num_fds()
            except (AttributeError, ps.Error):  # not POSIX, or not permitted
                fds = None
        vm = ps.virtual_memory()
        used = vm.total - vm.available
        snap = {"timestamp_seconds": time.time()}
        snap.update(self._cpu(now))
        snap.update({
            "process_cpu_seconds": now[1],
            "cpu_count": self._cores,
            "process_rss_bytes": int(rss),
            "process_memory_ratio": rss / vm.total,
            "system_memory_used_bytes": int(used),
            "system_memory_total_bytes": int(vm.total),
            "system_memory_used_ratio": used / vm.total,
            "process_threads": int(threads),
            "process_open_fds": fds,
        })
        if self._gpu_reader is not None:
            snap["gpu"] = self._gpu_reader.read()
        else:
            snap["gpu"] = {"available": False, "reason": "disabled (gpu=False)"}
        return snap

    def snapshot(self) -> dict:
        """One reading now; it also enters the history and the summary."""
        with self._lock:
            snap = self._read()
            self._history.append(snap)
            self._accumulate(snap)
            return snap

    def _accumulate(self, snap: dict) -> None:
        self._samples += 1
        if self._first_time is None:
            self._first_time = snap["timestamp_seconds"]
        self._last_time = snap["timestamp_seconds"]
        items = [(k, v) for k, v in snap.items() if k not in ("gpu", "timestamp_seconds")]
        gpu = snap["gpu"]
        self._gpu_status = {"available": gpu["available"], "reason": gpu["reason"]}
        for dev in gpu.get("devices", ()):
            items.extend((f"gpu/{dev['index']}/{k}", v) for k, v in dev.items())
        for key, value in items:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            st = self._stats.get(key)
            if st is None:
                self._stats[key] = [1, value, value, value]
            else:
                st[0] += 1
                st[1] += value
                st[2] = value if value > st[2] else st[2]
                st[3] = value

    def summary(self) -> dict:
        """Mean, max and last of every numeric field over all readings since creation (or
        ``reset()``); ``gpu`` holds one such dict per device, in CUDA order."""
        with self._lock:
            out: dict = {"samples": self._samples, "errors": self.errors,
                         "first_timestamp_seconds": self._first_time,
                         "last_timestamp_seconds": self._last_time}
            devices: dict[int, dict] = {}
            for key, (n, total, vmax, last) in self._stats.items():
                stats = {"mean": total / n, "max": vmax, "last": last}
                if key.startswith("gpu/"):
                    _, idx, field = key.split("/", 2)
                    devices.setdefault(int(idx), {})[field] = stats
                else:
                    out[key] = stats
            out["gpu"] = dict(self._gpu_status)
            if devices:
                out["gpu"]["devices"] = [devices[i] for i in sorted(devices)]
            return out

    def history(self) -> list[dict]:
        """The last ``history`` readings, oldest first."""
        with self._lock:
            return list(self._history)

    def reset(self) -> None:
        """Forget history and summary (the CPU window keeps running)."""
        with self._lock:
            self._history.clear()
            self._stats.clear()
            self._samples = 0
            self._first_time = self._last_time = None
            self.errors = 0
            self.last_error = None

    # -- sampler thread ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> "ResourceMonitor":
        """Start the sampler thread (a no-op when it already runs); returns ``self``."""
        with self._lock:
            if self.running:
                return self
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="tallyml-resources",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the sampler (promptly: it waits on an Event) and release NVML."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None
        if self._gpu_reader is not None:
            self._gpu_reader.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                snap = self.snapshot()
            except Exception as exc:  # noqa: BLE001 - the sampler must survive anything
                self._note_error(exc)
                continue
            if self.callback is not None:
                try:
                    self.callback(snap)
                except Exception as exc:  # noqa: BLE001
                    self._note_error(exc)

    def _note_error(self, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        if self.errors == 1:  # once, not every interval
            _log.warning("tallyml resource sampler error (further ones are counted only): %s",
                         self.last_error)

    def __enter__(self) -> "ResourceMonitor":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (f"ResourceMonitor(interval={self.interval}, gpu={self.gpu}, "
                f"running={self.running}, samples={self._samples})")
