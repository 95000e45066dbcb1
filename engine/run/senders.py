"""Who sends a run's load: this process, or N worker processes (or Ray actors) chosen by the
profile or by the automatic rule (engine.load.autoworkers), started once for the whole run."""

from __future__ import annotations

import asyncio

from engine.events import Notice, Observer, PhaseChanged
from engine.exits import EXIT_BAD_INPUT
from engine.load import autoworkers
from engine.load.prompts import Endpoint
from engine.load.rayworkers import RayPool, RayUnavailable
from engine.load.worker import WorkerConfig
from engine.load.workers import WorkerPool
from engine.plan import Cell
from engine.profiles import ResolvedProfile
from engine.report.run_notes import WorkersNote
from engine.server.isolation import Isolation
from engine.server.launcher import HttpLauncher, LaunchError
from engine.values import parse_cpus


def choose_workers(profile: ResolvedProfile, plan: list[Cell], iso: Isolation) -> WorkersNote:
    """How many load workers, and why: the profile's number, or the automatic rule's."""
    auto = profile.load.workers == "auto"
    if not auto:
        return WorkersNote(count=profile.load.workers, auto=False, why="set by the profile (load.workers) or --workers")
    if profile.load.ray_address:  # Ray actors: the cluster's CPUs, not this host's, are the cap
        need, why = autoworkers.demand(plan)
        return WorkersNote(
            count=need, auto=True, why=f"{why} (Ray actors, one CPU each: the cluster must have them free)"
        )
    pinned = parse_cpus(iso.client_cpus) if iso.client_cpus else None
    count, why = autoworkers.choose(plan, profile.mode, pinned)
    return WorkersNote(count=count, auto=True, why=why)


async def start_pool(
    profile: ResolvedProfile,
    workers: WorkersNote,
    endpoint: Endpoint,
    headers: dict[str, str],
    max_c: int,
    emit: Observer,
    pool: WorkerPool | None = None,
) -> WorkerPool:
    """The run's worker processes (or Ray actors), ready to take a cell's requests sent to `endpoint`;
    `pool`: the one `probe_ray` made before the server launched (its cluster joined and checked)."""
    n, address = workers.count, profile.load.ray_address
    config = WorkerConfig(endpoint, headers, profile.load.read_timeout_s, max_c + 4)
    if pool is None:
        pool = RayPool(n, config, address) if address else WorkerPool(n, config)
    pool.config = config
    try:  # a pool that fails to start is closed here: its caller never holds it
        if address:
            return await _start_ray(pool, n, address, emit)
        emit(PhaseChanged("discovering", f"starting {n} load worker processes"))
        await pool.start()
    except BaseException:
        pool.close()
        raise
    pids = ", ".join(str(w.pid) for w in pool.workers if w is not None)
    chosen = f" (auto: {workers.why})" if workers.auto else ""
    emit(Notice("info", f"{n} load workers ready (pids {pids}){chosen}"))
    return pool


async def probe_ray(
    profile: ResolvedProfile, workers: WorkersNote, launcher: HttpLauncher, emit: Observer
) -> RayPool | None:
    """With --ray, before the server launches (minutes on a GPU host): the cluster joined, its free
    CPUs counted, and the server's address tried from where the workers will run
    (engine.load.rayreach); LaunchError with exit 2 when any of it fails. None without --ray."""
    address = profile.load.ray_address
    if not address:
        return None
    emit(PhaseChanged("discovering", f"checking the Ray cluster at {address} before the server starts"))
    pool = RayPool(workers.count, None, address)
    try:
        about = await asyncio.get_running_loop().run_in_executor(None, pool.probe, launcher.base_url, launcher.launched)
    except RayUnavailable as exc:
        pool.close()
        raise LaunchError(str(exc), exit_code=EXIT_BAD_INPUT) from None
    except BaseException:
        pool.close()
        raise
    emit(Notice("info", about))
    return pool


async def _start_ray(pool: RayPool, n: int, address: str, emit: Observer) -> RayPool:
    """Ray actors over the cluster's nodes (engine.load.rayworkers)."""
    if pool._about is None:  # not probed before the launch
        emit(PhaseChanged("discovering", f"connecting to the Ray cluster at {address}"))
        try:
            about = await asyncio.get_running_loop().run_in_executor(None, pool.connect)
        except RayUnavailable as exc:
            raise LaunchError(str(exc), exit_code=EXIT_BAD_INPUT) from None
        emit(Notice("info", about))
    emit(PhaseChanged("discovering", f"starting {n} load workers as Ray actors"))
    try:
        await pool.start()
    except RayUnavailable as exc:
        raise LaunchError(str(exc), exit_code=EXIT_BAD_INPUT) from None
    except RuntimeError as exc:  # not ready in time, or died while starting
        raise LaunchError(str(exc)) from None
    for w in pool.workers:
        emit(Notice("info", f"Ray {w.describe()}"))
    return pool
