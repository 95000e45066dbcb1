"""Keep a CPU for the client when the server under test runs on the same host.

A launched vLLM server (API server, engine core and its OpenMP threads) takes every core it can;
the client then waits on the run queue and timestamps tokens late (DESIGN.md, measured on a
2-core host: 240 to 2,800 ms of waiting per cell). Levers, all profile settings:
- SCHED_IDLE for the launched server's whole process tree (`server_idle`): the kernel preempts
  it the moment the client wakes up, and it still gets every cycle nothing else wants;
- a lower priority (`server_nice`): the same idea, weaker (a nice task keeps its time slice);
- CPU affinity: the server on some cores (`server_cpus`), the load on others (`client_cpus`).
The automatic default, chosen by measurement (benchmarks/isolation.py, docs/measuring.md, "Isolation"), is
SCHED_IDLE: the fewest flagged cells and the lowest client CPU wait of the priority settings on a
2-core host, at no measurable cost to the server's throughput. A server on vLLM's CPU backend is
CPU-bound for the whole run, and there SCHED_IDLE alone still left the client waiting in some
cells: it also gets the host's CPUs but the first, which is the client's (a GPU server's few busy
threads do not need that, and it would cost them a core).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

from engine.profiles import IsolationSettings
from engine.values import format_cpus, parse_cpus


@dataclass
class Isolation:
    """What a run actually applies (recorded in summary.json)."""

    server_nice: int = 0
    server_idle: bool = False
    server_cpus: str | None = None
    client_cpus: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        cpus = f"server CPUs {self.server_cpus or 'any'}, client CPUs {self.client_cpus or 'any'}"
        policy = "SCHED_IDLE, " if self.server_idle else ""
        return f"isolation: server {policy}nice {self.server_nice}, {cpus}" + "".join(f"\n  {n}" for n in self.notes)


def resolve(settings: IsolationSettings, mode: str, docker: bool, vendor: str) -> Isolation:
    """The isolation a run applies: `settings` is the profile's [isolation] table."""
    iso = Isolation(server_cpus=settings.server_cpus, client_cpus=settings.client_cpus)
    if mode == "external":
        iso.server_nice, iso.server_idle, iso.server_cpus = 0, False, None
        iso.notes.append("external server: not ours to isolate; the client's CPU wait is still measured")
    elif docker:
        iso.server_nice, iso.server_idle = 0, False
        if settings.server_nice or settings.server_idle:
            iso.notes.append("server_nice is not applied in docker (the daemon starts the container): use server_cpus")
        else:
            iso.notes.append("docker: no priority change; server_cpus becomes --cpuset-cpus")
    elif settings.server_idle is None and settings.server_nice is None:
        iso.server_idle = True
        iso.notes.append("SCHED_IDLE (automatic): the client's wake-ups preempt the server at once")
        usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if vendor == "cpu" and len(usable) >= 2 and not (settings.server_cpus or settings.client_cpus):
            # A CPU-backend server is CPU-bound for the whole run: SCHED_IDLE alone still left the
            # client waiting in some cells (docs/measuring.md, "Isolation"); one core of its own ends that.
            iso.client_cpus, iso.server_cpus = str(usable[0]), format_cpus(set(usable[1:]))
            iso.notes.append(
                f"CPU server (automatic): client on CPU {iso.client_cpus}, server on CPUs {iso.server_cpus}"
            )
    else:
        iso.server_idle = bool(settings.server_idle)
        iso.server_nice = settings.server_nice or 0
    if iso.server_cpus and vendor == "cpu" and mode in ("server", "inprocess"):
        iso.notes.append("vLLM's CPU backend binds its OpenMP threads to server_cpus (VLLM_CPU_OMP_THREADS_BIND)")
    if mode == "inprocess" and (iso.server_idle or iso.server_nice or iso.server_cpus):
        iso.notes.append(
            "in-process: the engine core (a child process) takes the server's settings; the engine's "
            "front end (AsyncLLM: output processing) runs in the load's thread and event loop"
        )
    return iso


def server_preexec(iso: Isolation):
    """What the launched server's first process does before exec: its children inherit both."""

    def apply() -> None:
        if iso.server_idle:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        if iso.server_nice:
            os.nice(iso.server_nice)
        if iso.server_cpus:
            os.sched_setaffinity(0, parse_cpus(iso.server_cpus))

    return apply


def server_env(iso: Isolation, vendor: str) -> dict[str, str]:
    """Environment for the server's own thread binding (vLLM's CPU backend pins OpenMP threads)."""
    if iso.server_cpus and vendor == "cpu":
        return {"VLLM_CPU_OMP_THREADS_BIND": format_cpus(parse_cpus(iso.server_cpus))}
    return {}


def shell_prefix(iso: Isolation) -> list[str]:
    """The same isolation as a command prefix, for a launch command a user can copy."""
    prefix = []
    if iso.server_idle:
        prefix += ["chrt", "--idle", "0"]
    if iso.server_nice:
        prefix += ["nice", "-n", str(iso.server_nice)]
    if iso.server_cpus:
        prefix += ["taskset", "-c", iso.server_cpus]
    return prefix


def pin_client(iso: Isolation) -> None:
    """Pin the calling thread (the load's) to client_cpus, where set."""
    if iso.client_cpus:
        os.sched_setaffinity(0, parse_cpus(iso.client_cpus))
