"""Hardware readers: NVIDIA GPUs through NVML, AMD GPUs through amdsmi, and on CPU hosts the
launched server's process tree through psutil.

Each reader is opened once (`open()` says what it found, or raises Unavailable with why) and then
read about once a second (`read()`). A figure a device does not report is None, never 0. The
vendor libraries are optional imports (`pip install 'llmbench-tui[nvidia]'`; amdsmi ships with
ROCm); tests pass fake modules in their place.
"""

from __future__ import annotations

import time
from typing import Any

from engine.events import DeviceReading

MIB = 2**20


class Unavailable(Exception):
    """This kind of telemetry cannot be read here; the message says why."""


def _num(value: Any) -> float | None:
    """A number, or None for what the libraries return when they have none ("N/A", None)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _try(fn, *args) -> Any:
    """One library call; None where the device does not support it (NVMLError, AmdSmiException...)."""
    try:
        return fn(*args)
    except Exception:
        return None


def _pick(handles: list, indices: list[int] | None) -> list[tuple[int, Any]]:
    if indices is None:
        return list(enumerate(handles))
    return [(i, handles[i]) for i in indices if 0 <= i < len(handles)]


class NvmlReader:
    """NVIDIA GPUs through NVML (nvidia-ml-py's `pynvml`). `indices`: the devices the server uses
    (NVML's order), None for all."""

    kind = "nvidia"

    def __init__(self, indices: list[int] | None = None, nvml: Any = None):
        self.indices, self.nvml = indices, nvml
        self.devices: list[tuple[int, Any, str]] = []

    def open(self) -> str:
        nvml = self.nvml
        if nvml is None:
            try:
                import pynvml as nvml  # nvidia-ml-py
            except ImportError:
                raise Unavailable("nvidia-ml-py is not installed (pip install 'llmbench-tui[nvidia]')") from None
            self.nvml = nvml
        try:
            nvml.nvmlInit()
        except Exception as exc:
            raise Unavailable(f"NVML did not start ({exc}): no NVIDIA driver or GPU") from None
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        for i, h in _pick(handles, self.indices):
            name = _try(nvml.nvmlDeviceGetName, h) or "NVIDIA GPU"
            self.devices.append((i, h, name.decode() if isinstance(name, bytes) else str(name)))
        if not self.devices:
            _try(nvml.nvmlShutdown)
            raise Unavailable("NVML sees no GPU" + (f" among indices {self.indices}" if self.indices else ""))
        return _described(self.kind, [(i, n) for i, _, n in self.devices])

    def read(self) -> list[DeviceReading]:
        nvml, out = self.nvml, []
        for i, h, name in self.devices:
            util = _try(nvml.nvmlDeviceGetUtilizationRates, h)
            mem = _try(nvml.nvmlDeviceGetMemoryInfo, h)
            power_mw = _num(_try(nvml.nvmlDeviceGetPowerUsage, h))
            energy_mj = _num(_try(nvml.nvmlDeviceGetTotalEnergyConsumption, h))
            out.append(
                DeviceReading(
                    source=f"nvidia:{i}",
                    name=name,
                    utilization=_num(getattr(util, "gpu", None)),
                    memory_used_mib=None if mem is None else _num(mem.used) / MIB,
                    power_w=None if power_mw is None else power_mw / 1000,
                    temperature_c=_num(_try(nvml.nvmlDeviceGetTemperature, h, nvml.NVML_TEMPERATURE_GPU)),
                    clock_mhz=_num(_try(nvml.nvmlDeviceGetClockInfo, h, nvml.NVML_CLOCK_SM)),
                    memory_clock_mhz=_num(_try(nvml.nvmlDeviceGetClockInfo, h, nvml.NVML_CLOCK_MEM)),
                    energy_counter_j=None if energy_mj is None else energy_mj / 1000,
                )
            )
        return out

    def close(self) -> None:
        if self.devices:
            _try(self.nvml.nvmlShutdown)
            self.devices = []


class AmdSmiReader:
    """AMD GPUs through amdsmi (ROCm's Python package). `indices`: the devices the server uses."""

    kind = "amd"

    def __init__(self, indices: list[int] | None = None, amdsmi: Any = None):
        self.indices, self.amdsmi = indices, amdsmi
        self.devices: list[tuple[int, Any, str]] = []

    def open(self) -> str:
        smi = self.amdsmi
        if smi is None:
            try:
                import amdsmi as smi  # ships with ROCm (/opt/rocm/share/amd_smi)
            except ImportError:
                raise Unavailable("amdsmi is not installed (it ships with ROCm)") from None
            except Exception as exc:  # amdsmi raises when its shared library is missing
                raise Unavailable(f"amdsmi does not load ({exc})") from None
            self.amdsmi = smi
        try:
            flags = getattr(getattr(smi, "AmdSmiInitFlags", None), "INIT_AMD_GPUS", None)
            smi.amdsmi_init() if flags is None else smi.amdsmi_init(flags)
            handles = list(smi.amdsmi_get_processor_handles())
        except Exception as exc:
            raise Unavailable(f"amdsmi did not start ({exc}): no AMD driver or GPU") from None
        for i, h in _pick(handles, self.indices):
            asic = _try(smi.amdsmi_get_gpu_asic_info, h) or {}
            self.devices.append((i, h, str(asic.get("market_name") or "AMD GPU")))
        if not self.devices:
            _try(smi.amdsmi_shut_down)
            raise Unavailable("amdsmi sees no GPU" + (f" among indices {self.indices}" if self.indices else ""))
        return _described(self.kind, [(i, n) for i, _, n in self.devices])

    def read(self) -> list[DeviceReading]:
        smi, out = self.amdsmi, []
        for i, h, name in self.devices:
            activity = _try(smi.amdsmi_get_gpu_activity, h) or {}
            vram = _try(smi.amdsmi_get_gpu_vram_usage, h) or {}
            power = _try(smi.amdsmi_get_power_info, h) or {}
            # MI300 and later report current_socket_power (average_socket_power is "N/A"); older ones the average.
            watts = _num(power.get("current_socket_power"))
            if watts is None:
                watts = _num(power.get("average_socket_power"))
            out.append(
                DeviceReading(
                    source=f"amd:{i}",
                    name=name,
                    utilization=_num(activity.get("gfx_activity")),
                    memory_used_mib=_num(vram.get("vram_used")),  # amdsmi reports MB
                    power_w=watts,
                    temperature_c=self._temperature(h),
                    clock_mhz=self._clock(h, "GFX"),
                    memory_clock_mhz=self._clock(h, "MEM"),
                )
            )
        return out

    def _temperature(self, h) -> float | None:
        smi = self.amdsmi
        kinds, metric = getattr(smi, "AmdSmiTemperatureType", None), getattr(smi, "AmdSmiTemperatureMetric", None)
        if kinds is None or metric is None:
            return None
        for sensor in ("HOTSPOT", "EDGE"):  # MI300 has no edge sensor
            if hasattr(kinds, sensor):
                value = _num(_try(smi.amdsmi_get_temp_metric, h, getattr(kinds, sensor), metric.CURRENT))
                if value is not None:
                    return value
        return None

    def _clock(self, h, which: str) -> float | None:
        kinds = getattr(self.amdsmi, "AmdSmiClkType", None)
        if kinds is None or not hasattr(kinds, which):
            return None
        info = _try(self.amdsmi.amdsmi_get_clock_info, h, getattr(kinds, which)) or {}
        return _num(info.get("clk", info.get("cur_clk")))  # the key's name changed across ROCm versions

    def close(self) -> None:
        if self.devices:
            _try(self.amdsmi.amdsmi_shut_down)
            self.devices = []


class ProcessTreeReader:
    """The launched server's processes (every descendant of `root_pid`, the server's keeper): CPU
    use in % of one core since the last read, and resident memory summed over the processes (pages
    they share are counted in each).

    Listing a tree means reading every process's /proc entry (~4 ms of CPU on this host), so the
    list is kept and refreshed every `relist_s` seconds, or at once when one of its processes ends;
    reading the listed processes costs well under a millisecond."""

    kind = "process"

    def __init__(self, root_pid: int, psutil: Any = None, relist_s: float = 10.0):
        self.root_pid, self.psutil, self.relist_s = root_pid, psutil, relist_s
        self._root: Any = None
        self._procs: list = []
        self._listed_at = -float("inf")
        self._cpu: dict[tuple[int, float], float] = {}  # (pid, create time) -> CPU seconds at the last read
        self._last: tuple[float, float] | None = None  # (monotonic, epoch) of the last read

    def open(self) -> str:
        if self.psutil is None:
            try:
                import psutil
            except ImportError:
                raise Unavailable("psutil is not installed") from None
            self.psutil = psutil
        try:
            self._root = self.psutil.Process(self.root_pid)
        except Exception as exc:
            raise Unavailable(f"the server's process {self.root_pid} cannot be read ({exc})") from None
        self.read()  # the first CPU figure needs a previous read
        return f"the launched server's processes (descendants of pid {self.root_pid}): CPU use, resident memory"

    def read(self) -> list[DeviceReading]:
        mono, now = time.monotonic(), time.time()
        if self._root is None or not self._root.is_running():
            self._procs = []
            return []  # the server is gone: nothing to read, which is not zero
        stale = not self._procs or not all(p.is_running() for p in self._procs)
        if stale or mono - self._listed_at >= self.relist_s:
            try:
                self._procs = self._root.children(recursive=True)
            except Exception:
                self._procs = []
                return []
            self._listed_at = mono
        cpu_s, rss, seen = 0.0, 0, {}
        for p in self._procs:
            try:
                with p.oneshot():
                    times, mem, born = p.cpu_times(), p.memory_info(), p.create_time()
            except Exception:  # it ended between the listing and the read
                continue
            used = times.user + times.system
            key = (p.pid, born)
            before = self._cpu.get(key)
            if before is not None:
                cpu_s += used - before
            elif self._last is not None and born >= self._last[1]:
                cpu_s += used  # started since the last read: all of its CPU is new
            seen[key] = used
            rss += mem.rss
        last, self._cpu, self._last = self._last, seen, (mono, now)
        percent = None if last is None or mono <= last[0] else 100.0 * cpu_s / (mono - last[0])
        name = f"{len(seen)} processes"
        return [DeviceReading(source="process", name=name, cpu_percent=percent, rss_mib=rss / MIB)]

    def close(self) -> None:
        pass


def _described(kind: str, devices: list[tuple[int, str]]) -> str:
    names = ", ".join(f"{kind}:{i} {name}" for i, name in devices)
    return f"{len(devices)} device{'s' if len(devices) != 1 else ''}: {names}"


def visible_indices(value: str | None) -> list[int] | None:
    """Device indices from CUDA_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES ("0,1"); None when unset or
    not plain indices (UUIDs: read every device)."""
    if value is None or not value.strip():
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()]
    return [int(p) for p in parts] if all(p.isdigit() for p in parts) else None
