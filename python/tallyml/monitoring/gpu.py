"""GPU readings through NVML (``pynvml`` from the ``nvidia-ml-py`` package), imported lazily.

Every failure becomes data, never an exception: no pynvml, no NVML library, no driver, no GPU or
no permission give ``{"available": False, "reason": ...}``; a field a device does not support (or
that needs privileges) reads ``None``. Devices are listed in ``CUDA_VISIBLE_DEVICES`` order, so
``devices[i]`` is what CUDA calls device ``i`` (integer entries are NVML indices, which match
CUDA's numbering under ``CUDA_DEVICE_ORDER=PCI_BUS_ID``; ``GPU-``/``MIG-`` entries are UUIDs or
UUID prefixes). As CUDA does, parsing stops at the first entry that names no device; MIG
instances are not resolved.

``process_memory_used_bytes`` sums NVML's compute contexts whose PID is this process's: it is
``None`` when NVML lists none, which includes containers whose PID namespace hides the host PID.
"""
from __future__ import annotations

import logging
import os
import threading

__all__ = ["GpuReader", "visible_nvml_devices"]

_log = logging.getLogger("tallyml.monitoring")


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def visible_nvml_devices(env: str | None, uuids: list[str]) -> list[int]:
    """NVML indices of the devices CUDA sees, in CUDA's order.

    ``env``: the value of CUDA_VISIBLE_DEVICES (None: unset, all devices in NVML order);
    ``uuids``: every NVML device's UUID, by NVML index."""
    if env is None:
        return list(range(len(uuids)))
    out: list[int] = []
    for token in env.split(","):
        token = token.strip()
        if not token:
            break
        if token.lstrip("-").isdigit():
            idx = int(token)
            if idx < 0 or idx >= len(uuids) or idx in out:
                break
            out.append(idx)
            continue
        matches = [i for i, u in enumerate(uuids) if u.startswith(token)]
        if len(matches) != 1 or matches[0] in out:
            break  # unknown or ambiguous prefix (MIG instances are not resolved here)
        out.append(matches[0])
    return out


class GpuReader:
    """Holds an NVML session (initialised on first use, released by :meth:`close`)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._nvml = None
        self._handles: list[tuple[int, object]] = []  # (nvml index, handle), CUDA order
        self._error: str | None = None
        self._driver: str | None = None
        self._logged = False

    def _open(self) -> None:
        try:
            import pynvml
        except ImportError as exc:  # pragma: no cover - a declared dependency
            self._error = f"pynvml is not installed ({exc})"
            return
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            self._error = f"NVML could not be initialised: {_text(exc)}"
            return
        except OSError as exc:
            self._error = f"NVML could not be loaded: {exc}"
            return
        self._nvml = pynvml
        try:
            count = pynvml.nvmlDeviceGetCount()
            all_handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            uuids = [_text(pynvml.nvmlDeviceGetUUID(h)) for h in all_handles]
            try:
                self._driver = _text(pynvml.nvmlSystemGetDriverVersion())
            except pynvml.NVMLError:
                self._driver = None
        except pynvml.NVMLError as exc:
            self._error = f"NVML could not list devices: {_text(exc)}"
            self._shutdown()
            return
        order = visible_nvml_devices(os.environ.get("CUDA_VISIBLE_DEVICES"), uuids)
        self._handles = [(i, all_handles[i]) for i in order]
        if not count:
            self._error = "NVML reports no GPU"
        elif not order:
            self._error = "CUDA_VISIBLE_DEVICES hides every GPU"
        if self._error:
            self._shutdown()

    def read(self) -> dict:
        """One reading of every visible GPU (see the module docstring)."""
        with self._lock:
            if self._nvml is None and self._error is None:
                self._open()
            if self._error is not None:
                if not self._logged:  # once, at debug level: a CPU-only host is normal
                    _log.debug("GPU monitoring unavailable: %s", self._error)
                    self._logged = True
                return {"available": False, "reason": self._error}
            devices = [self._read_device(cuda_idx, nvml_idx, h)
                       for cuda_idx, (nvml_idx, h) in enumerate(self._handles)]
            return {"available": True, "reason": None, "driver_version": self._driver,
                    "devices": devices}

    def _read_device(self, cuda_idx: int, nvml_idx: int, handle) -> dict:
        nv = self._nvml

        def get(fn, *args):
            try:
                return fn(handle, *args)
            except Exception:  # noqa: BLE001 - not supported, no permission, GPU lost, old pynvml
                return None

        util = get(nv.nvmlDeviceGetUtilizationRates)
        mem = get(nv.nvmlDeviceGetMemoryInfo)
        power = get(nv.nvmlDeviceGetPowerUsage)  # milliwatts
        limit = get(nv.nvmlDeviceGetEnforcedPowerLimit)
        temp = get(nv.nvmlDeviceGetTemperature, nv.NVML_TEMPERATURE_GPU)
        name = get(nv.nvmlDeviceGetName)
        uuid = get(nv.nvmlDeviceGetUUID)
        procs = get(nv.nvmlDeviceGetComputeRunningProcesses)
        own = None
        if procs is not None:
            pid = os.getpid()
            mine = [p.usedGpuMemory for p in procs if p.pid == pid]
            # usedGpuMemory is None where the driver withholds it (e.g. Windows WDDM)
            if mine and all(m is not None for m in mine):
                own = int(sum(mine))
        used = int(mem.used) if mem is not None else None
        total = int(mem.total) if mem is not None else None
        return {
            "index": cuda_idx,
            "nvml_index": nvml_idx,
            "name": _text(name) if name is not None else None,
            "uuid": _text(uuid) if uuid is not None else None,
            "utilization_percent": float(util.gpu) if util is not None else None,
            "memory_utilization_percent": float(util.memory) if util is not None else None,
            "memory_used_bytes": used,
            "memory_total_bytes": total,
            "memory_used_ratio": used / total if mem is not None and total else None,
            "power_watts": power / 1000.0 if power is not None else None,
            "power_limit_watts": limit / 1000.0 if limit is not None else None,
            "temperature_celsius": float(temp) if temp is not None else None,
            "process_memory_used_bytes": own,
        }

    def close(self) -> None:
        """Release the NVML session; the next :meth:`read` opens a new one."""
        with self._lock:
            self._shutdown()

    def _shutdown(self) -> None:
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError:
                pass
        self._nvml = None
        self._handles = []

    def reset(self) -> None:
        """Forget a previous failure and session, so that the next read tries again."""
        with self._lock:
            self._shutdown()
            self._error = None
            self._logged = False
