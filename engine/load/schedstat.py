"""Did the client get a CPU when it needed one? Linux's scheduler statistics, read around a cell.

A client on the same cores as the server under test can spend most of a cell runnable but not
running: every timestamp it takes is then late by that wait, however little CPU it uses. The
kernel counts it: /proc/thread-self/schedstat gives the thread's time on a CPU and time waiting
on the run queue (ns), /proc/thread-self/status its involuntary context switches, /proc/stat the
whole host's CPU use (and steal, on a VM). Where these files are missing (not Linux), the figures
are None: absent, never zero.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass


def parse_schedstat(text: str) -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for one) from a schedstat line."""
    on_cpu_ns, wait_ns, *_ = text.split()
    return int(on_cpu_ns) / 1e9, int(wait_ns) / 1e9


def parse_involuntary_switches(status: str) -> int:
    for line in status.splitlines():
        if line.startswith("nonvoluntary_ctxt_switches:"):
            return int(line.split(":", 1)[1])
    raise ValueError("no nonvoluntary_ctxt_switches line")


def parse_proc_stat(text: str) -> tuple[float, float, float]:
    """(busy, steal, total) jiffies over all CPUs from the first line of /proc/stat."""
    fields = text.splitlines()[0].split()
    if fields[0] != "cpu":
        raise ValueError("the first line of /proc/stat is not the 'cpu' total")
    values = [float(x) for x in fields[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user and nice)
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)
    steal = values[7] if len(values) > 7 else 0.0
    total = sum(values[:8])
    return total - idle - steal, steal, total


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


@dataclass
class CpuSample:
    wall: float
    on_cpu_s: float | None
    wait_s: float | None
    involuntary: int | None
    host: tuple[float, float, float] | None


def sample() -> CpuSample:
    """The calling thread's scheduler counters and the host's CPU counters, now."""
    sched = _read("/proc/thread-self/schedstat")
    status = _read("/proc/thread-self/status")
    stat = _read("/proc/stat")
    on_cpu, wait = parse_schedstat(sched) if sched else (None, None)
    return CpuSample(
        wall=time.perf_counter(),
        on_cpu_s=on_cpu,
        wait_s=wait,
        involuntary=parse_involuntary_switches(status) if status else None,
        host=parse_proc_stat(stat) if stat else None,
    )


@dataclass
class CpuFigures:
    """What the load's thread and the host did between two samples."""

    wall_s: float
    on_cpu_s: float | None = None
    run_queue_wait_s: float | None = None
    involuntary_switches: int | None = None
    host_cpu_util: float | None = None  # share of all the host's CPUs busy (0..1)
    host_steal: float | None = None  # share taken by the hypervisor (VMs)
    host_cpus: int = os.cpu_count() or 1

    @property
    def run_queue_share(self) -> float | None:
        """Share of the wall time the thread spent runnable but without a CPU."""
        if self.run_queue_wait_s is None or self.wall_s <= 0:
            return None
        return self.run_queue_wait_s / self.wall_s


def between(a: CpuSample, b: CpuSample) -> CpuFigures:
    figures = CpuFigures(wall_s=b.wall - a.wall)
    if a.on_cpu_s is not None and b.on_cpu_s is not None:
        figures.on_cpu_s = b.on_cpu_s - a.on_cpu_s
        figures.run_queue_wait_s = b.wait_s - a.wait_s
    if a.involuntary is not None and b.involuntary is not None:
        figures.involuntary_switches = b.involuntary - a.involuntary
    if a.host and b.host and b.host[2] > a.host[2]:
        total = b.host[2] - a.host[2]
        figures.host_cpu_util = (b.host[0] - a.host[0]) / total
        figures.host_steal = (b.host[1] - a.host[1]) / total
    return figures
