"""ResourceMonitor: CPU/RSS readings follow real load, GPU failures are data, the sampler survives."""
import logging
import os
import subprocess
import sys
import threading
import time
import types

import numpy as np
import pytest

from tallyml.monitoring import ResourceMonitor
from tallyml.monitoring import gpu as gpu_mod
from tallyml.monitoring import resources as res_mod

UNIT_SUFFIXES = ("_bytes", "_seconds", "_ratio", "_percent")
UNITLESS = {"cpu_count", "process_threads", "process_open_fds", "gpu"}


def _burn(stop: threading.Event, used: list):
    t0 = time.thread_time()
    x = 0
    while not stop.is_set():
        for i in range(10000):
            x += i
    used.append(time.thread_time() - t0)


def test_snapshot_is_a_plain_dict_with_units():
    mon = ResourceMonitor(gpu=False)
    snap = mon.snapshot()
    for key in snap:
        assert key.endswith(UNIT_SUFFIXES) or key in UNITLESS, key
    assert snap["gpu"] == {"available": False, "reason": "disabled (gpu=False)"}
    assert 0 < snap["process_rss_bytes"] < snap["system_memory_total_bytes"]
    assert snap["process_memory_ratio"] == pytest.approx(
        snap["process_rss_bytes"] / snap["system_memory_total_bytes"])
    assert 0 < snap["system_memory_used_ratio"] <= 1
    assert snap["process_threads"] >= 1
    assert snap["cpu_count"] >= 1
    if os.name == "posix":
        assert snap["process_open_fds"] >= 3


def test_first_cpu_reading_is_none_not_a_bogus_zero(monkeypatch):
    monkeypatch.setattr(res_mod, "_MIN_CPU_WINDOW", 3600.0)
    mon = ResourceMonitor(gpu=False)
    snap = mon.snapshot()
    assert snap["process_cpu_percent"] is None and snap["system_cpu_percent"] is None
    assert "process_cpu_percent" not in mon.summary()  # None never enters the statistics


def test_cpu_rises_while_a_thread_burns_and_falls_after():
    mon = ResourceMonitor(gpu=False)
    time.sleep(0.3)
    idle = mon.snapshot()["process_cpu_percent"]

    stop, used = threading.Event(), []
    burner = threading.Thread(target=_burn, args=(stop, used))
    mon.snapshot()
    start = time.monotonic()
    burner.start()
    time.sleep(0.6)
    busy_snap = mon.snapshot()
    wall = time.monotonic() - start
    stop.set()
    burner.join()
    busy = busy_snap["process_cpu_percent"]
    # the machine is shared: compare with the CPU the burner itself measured it got
    burner_percent = 100.0 * used[0] / wall
    assert burner_percent > 20, "the burner got almost no CPU; the host is overloaded"
    assert busy >= 0.7 * burner_percent
    assert busy > idle + 15
    assert busy_snap["process_cpu_normalized_percent"] == pytest.approx(
        busy / busy_snap["cpu_count"])

    time.sleep(0.3)
    after = mon.snapshot()["process_cpu_percent"]
    assert after < busy - 15


def test_rss_rises_when_allocating():
    mon = ResourceMonitor(gpu=False)
    before = mon.snapshot()["process_rss_bytes"]
    block = np.ones(200 * 2**20 // 8)  # 200 MiB, every page written
    during = mon.snapshot()["process_rss_bytes"]
    assert during - before > 150 * 2**20
    del block


def test_sampler_thread_samples_and_stops_promptly():
    seen = []
    mon = ResourceMonitor(interval=0.05, gpu=False, callback=seen.append)
    with mon as m:
        assert m is mon and mon.running
        deadline = time.monotonic() + 30
        while len(mon.history()) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert not mon.running
    assert len(mon.history()) >= 3 and len(seen) >= 3
    # interval of an hour: stop() must interrupt the wait, not sit it out (join would time out)
    slow = ResourceMonitor(interval=3600, gpu=False).start()
    slow.stop(timeout=20)
    assert not slow.running
    assert slow.summary()["samples"] == 0


def test_sampler_survives_errors(monkeypatch, caplog):
    calls = []

    def flaky(snap):
        calls.append(snap)
        raise RuntimeError("callback failed")

    mon = ResourceMonitor(interval=0.02, gpu=False, callback=flaky)
    real_read = mon._read
    state = {"n": 0}

    def read_failing_twice():
        state["n"] += 1
        if state["n"] <= 2:
            raise OSError("psutil hiccup")
        return real_read()

    monkeypatch.setattr(mon, "_read", read_failing_twice)
    with caplog.at_level(logging.DEBUG, logger="tallyml.monitoring"):
        mon.start()
        deadline = time.monotonic() + 30
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert mon.running
        mon.stop()
    assert len(calls) >= 3
    assert mon.errors >= 2 + 3
    assert mon.last_error.startswith("RuntimeError")
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1  # reported once, then only counted


def test_summary_matches_history():
    mon = ResourceMonitor(gpu=False, history=3)
    snaps = []
    for _ in range(5):
        snaps.append(mon.snapshot())
        time.sleep(0.11)
    assert mon.history() == snaps[-3:]  # bounded ring, oldest first
    summ = mon.summary()
    assert summ["samples"] == 5
    assert summ["first_timestamp_seconds"] == snaps[0]["timestamp_seconds"]
    rss = [s["process_rss_bytes"] for s in snaps]
    assert summ["process_rss_bytes"] == {"mean": pytest.approx(np.mean(rss)), "max": max(rss),
                                         "last": rss[-1]}
    cpu = [s["process_cpu_percent"] for s in snaps if s["process_cpu_percent"] is not None]
    assert summ["process_cpu_percent"]["mean"] == pytest.approx(np.mean(cpu))
    mon.reset()
    assert mon.summary()["samples"] == 0 and mon.history() == []


@pytest.mark.parametrize("kwargs, exc, word", [
    ({"interval": 0}, ValueError, "interval"),
    ({"interval": -1.0}, ValueError, "interval"),
    ({"interval": float("nan")}, ValueError, "interval"),
    ({"interval": "1"}, ValueError, "interval"),
    ({"history": 0}, ValueError, "history"),
    ({"gpu": "yes"}, TypeError, "gpu"),
    ({"callback": 3}, TypeError, "callback"),
])
def test_bad_arguments(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        ResourceMonitor(**kwargs)


# -- GPU ------------------------------------------------------------------------------------------

def _nvml_works() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - any failure means "no GPU here"
        return False
    try:
        return pynvml.nvmlDeviceGetCount() > 0
    finally:
        pynvml.nvmlShutdown()


def test_missing_nvml_library_is_reported_not_raised(monkeypatch, caplog):
    import pynvml

    def not_found():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "_LoadNvmlLibrary", not_found)
    monkeypatch.setattr(pynvml, "nvmlLib", None)
    with caplog.at_level(logging.DEBUG, logger="tallyml.monitoring"):
        mon = ResourceMonitor()
        snaps = [mon.snapshot() for _ in range(3)]
    for snap in snaps:
        assert snap["gpu"]["available"] is False
        assert "Not Found" in snap["gpu"]["reason"]
    assert mon.summary()["gpu"]["available"] is False
    assert len(caplog.records) == 1 and caplog.records[0].levelno == logging.DEBUG


def test_missing_pynvml_is_reported(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    snap = ResourceMonitor().snapshot()
    assert snap["gpu"]["available"] is False
    assert "pynvml" in snap["gpu"]["reason"]


@pytest.mark.parametrize("env, expected", [
    (None, [0, 1, 2]),
    ("", []),
    ("2,0", [2, 0]),
    ("1,7,0", [1]),  # CUDA stops at the first invalid entry
    ("-1", []),
    ("GPU-bbb", [1]),
    ("GPU-c,0", [2, 0]),
    ("GPU-, 1", []),  # ambiguous prefix
    ("0,0", [0]),
])
def test_cuda_visible_devices_order(env, expected):
    uuids = ["GPU-aaa1", "GPU-bbb2", "GPU-ccc3"]
    assert gpu_mod.visible_nvml_devices(env, uuids) == expected


class _FakeNVMLError(Exception):
    pass


def _fake_nvml(pid):
    """A stand-in for pynvml: three devices; device 1 supports no power reading."""
    class Util:
        def __init__(self, g, m):
            self.gpu, self.memory = g, m

    class Mem:
        def __init__(self, used, total):
            self.used, self.total = used, total

    class Proc:
        def __init__(self, p, mem):
            self.pid, self.usedGpuMemory = p, mem

    def power(h):
        if h == 1:
            raise _FakeNVMLError("Not Supported")
        return 100000 + h

    m = types.SimpleNamespace(
        NVMLError=_FakeNVMLError, NVML_TEMPERATURE_GPU=0,
        nvmlInit=lambda: None, nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: 3,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetUUID=lambda h: f"GPU-{h}{h}{h}",
        nvmlSystemGetDriverVersion=lambda: "999.1",
        nvmlDeviceGetName=lambda h: b"Fake GPU",
        nvmlDeviceGetUtilizationRates=lambda h: Util(10 * h, 5 * h),
        nvmlDeviceGetMemoryInfo=lambda h: Mem(2**30 * (h + 1), 2**34),
        nvmlDeviceGetPowerUsage=power,
        nvmlDeviceGetEnforcedPowerLimit=lambda h: 300000,
        nvmlDeviceGetTemperature=lambda h, s: 40 + h,
        nvmlDeviceGetComputeRunningProcesses=lambda h: [Proc(pid, 2**20 * (h + 1)),
                                                        Proc(pid + 1, 2**25)],
    )
    return m


def test_gpu_readings_mapped_to_cuda_order(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(os.getpid()))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,1")
    mon = ResourceMonitor()
    gpu = mon.snapshot()["gpu"]
    assert gpu["available"] is True and gpu["driver_version"] == "999.1"
    d0, d1 = gpu["devices"]
    assert (d0["index"], d0["nvml_index"], d1["index"], d1["nvml_index"]) == (0, 2, 1, 1)
    assert d0["utilization_percent"] == 20.0 and d0["memory_utilization_percent"] == 10.0
    assert d0["memory_used_bytes"] == 3 * 2**30 and d0["memory_total_bytes"] == 2**34
    assert d0["memory_used_ratio"] == 3 * 2**30 / 2**34
    assert d0["power_watts"] == 100.002 and d0["power_limit_watts"] == 300.0
    assert d0["temperature_celsius"] == 42.0 and d0["name"] == "Fake GPU"
    assert d0["process_memory_used_bytes"] == 3 * 2**20  # only this PID's context
    assert d1["power_watts"] is None  # not supported: None, not an exception
    for key in d0:
        assert key.endswith(("_bytes", "_ratio", "_percent", "_watts", "_celsius")) or key in (
            "index", "nvml_index", "name", "uuid"), key
    summ = mon.summary()["gpu"]
    assert summ["available"] and summ["devices"][0]["temperature_celsius"]["last"] == 42.0
    assert "power_watts" not in summ["devices"][1]
    mon.stop()


def test_cuda_visible_devices_hiding_all(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(os.getpid()))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    gpu = ResourceMonitor().snapshot()["gpu"]
    assert gpu == {"available": False, "reason": "CUDA_VISIBLE_DEVICES hides every GPU"}


@pytest.mark.skipif(not _nvml_works(), reason="no GPU with a working NVML on this machine")
def test_nvml_readings_match_nvml_api():
    import pynvml

    mon = ResourceMonitor()
    gpu = mon.snapshot()["gpu"]
    assert gpu["available"], gpu["reason"]
    pynvml.nvmlInit()
    try:
        for dev in gpu["devices"]:
            h = pynvml.nvmlDeviceGetHandleByIndex(dev["nvml_index"])
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            assert dev["memory_total_bytes"] == mem.total
            assert dev["uuid"] == gpu_mod._text(pynvml.nvmlDeviceGetUUID(h))
            assert abs(dev["memory_used_bytes"] - mem.used) <= 0.1 * mem.total
            temp = pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU)
            assert abs(dev["temperature_celsius"] - temp) <= 10
            assert 0 <= dev["utilization_percent"] <= 100
    finally:
        pynvml.nvmlShutdown()
        mon.stop()


def test_import_does_not_load_psutil_or_pynvml():
    code = ("import sys, tallyml.monitoring; "
            "print('psutil' in sys.modules, 'pynvml' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    assert out.stdout.split() == ["False", "False"]
