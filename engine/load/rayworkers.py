"""Load workers as Ray actors (`--ray ADDRESS`): the same workers, spread over a Ray cluster's nodes.

The coordinator (engine.load.workers.WorkerPool, in the run process) and the worker's protocol
(engine.load.worker.Serving) are the ones `--workers N` uses; only the transport differs. Each
worker is a threaded Ray actor (`_Relay`, engine.load.rayactor) that runs Serving on its own event
loop (uvloop) in a thread of its own, and relays the protocol's messages:

- coordinator -> worker: `deliver(seq, msg)` calls, fire and forget. A threaded actor does not
  keep the order of calls, so each carries a sequence number and the actor hands them to the loop
  in order. A job's request bodies go through Ray's object store (`ray.put` once per phase, shared
  by every worker of a closed loop) instead of inside the call.
- worker -> coordinator: one `recv()` call at a time per worker (a long poll in a reader thread of
  the coordinator, as the pipe's reader): it returns every message the worker queued, in order.
- a worker (or its node) that dies: `recv()` raises Ray's RayActorError; the requests it held
  become failed records naming it, its host and Ray's reason, as for a local process.

Clocks: latencies are measured inside each worker with its own perf_counter and never mix clocks.
What crosses machines is absolute time: the shared start of a phase (open loops send at offsets
from it) and each record's send time. Each worker's clock offset (its time.time() minus the
coordinator's) is estimated when it starts and again before every phase, from round trips of a
clock reading (the one with the shortest round trip; the offset is the reading minus the round
trip's midpoint, uncertain by half the round trip); its drift is the offset's change since the
first estimate. A worker on the coordinator's own kernel (same /proc boot_id, hence the same
CLOCK_REALTIME) uses 0, exactly. The offset converts the shared start into the worker's clock and
the worker's send times back into the coordinator's; WorkerHealth records host, offset,
uncertainty and drift. The boot id says nothing of the network: whether the server's address
reaches a worker is asked of the worker itself (engine.load.rayreach), before the server launches
and again before the first cell.

Actors belong to the run's Ray job: `close` kills them, and Ray kills them itself if the run
process dies (they are not detached). Ray is an optional extra: `pip install 'llmbench-tui[ray]'`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import math
import re
import socket
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from engine.load.rayactor import _Relay, boot_id, probe
from engine.load.rayreach import Reach, refusal, server_address, stand_in
from engine.load.worker import WorkerConfig, WorkerHealth
from engine.load.workerproc import _Worker
from engine.load.workers import START_TIMEOUT_S, WorkerPool

INSTALL = "pip install 'llmbench-tui[ray]'"
CLOCK_SAMPLES = 8
CONNECT_CHECK_S = 3.0
READERS_GONE_S = 15.0  # after the actors are killed, how long their reader threads may take to end
ENGINE_DIR = str(Path(__file__).resolve().parents[1])  # shipped to the cluster's nodes (runtime_env py_modules)


class RayUnavailable(Exception):
    """`--ray` cannot work: Ray is not installed, or the cluster cannot be reached (bad input, exit 2)."""


def ray_installed() -> bool:
    return importlib.util.find_spec("ray") is not None


def _host_port(address: str) -> tuple[str, int] | None:
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def check_address(address: str) -> str:
    """The address to connect to, checked now (a Ray that cannot be reached makes ray.init wait for
    minutes): `auto` is the cluster running on this host (RAY_ADDRESS, or Ray's own lookup)."""
    if not ray_installed():
        raise RayUnavailable(f"--ray {address}: Ray is not installed here; {INSTALL}")
    resolved = address
    if address == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address_or_die

            resolved = canonicalize_bootstrap_address_or_die("auto")
        except (ConnectionError, ValueError) as exc:
            raise RayUnavailable(
                f"--ray auto: no Ray cluster found on this host ({exc}); start one with "
                "`ray start --head`, or give the head's address: --ray HOST:6379"
            ) from None
        except ImportError:  # Ray's own lookup moved: let ray.init find the cluster
            return address
    where = _host_port(resolved)
    if where is None:
        raise RayUnavailable(
            f"--ray {address}: not an address; give the head node's HOST:PORT (as `ray start --head` "
            "prints it, port 6379 by default), ray://HOST:10001, or auto for a cluster on this host"
        )
    try:
        socket.create_connection(where, timeout=CONNECT_CHECK_S).close()
    except OSError as exc:
        raise RayUnavailable(
            f"--ray {address}: nothing answers at {where[0]}:{where[1]} ({exc.strerror or exc}); start the "
            "cluster's head there (`ray start --head --port PORT`), or give its address as `ray start` printed it"
        ) from None
    return resolved


def reachable_ip(address: str) -> str:
    """This host's address as the cluster's nodes reach it: the one it uses toward the head node."""
    where = _host_port(check_address(address) if address == "auto" else address)
    if where is None:
        return "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((socket.gethostbyname(where[0]), where[1]))  # UDP: nothing is sent
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def estimate_offset(samples: list[tuple[float, float, float]]) -> tuple[float, float]:
    """(offset, uncertainty) in seconds from (sent, remote reading, answered) triples, the first and
    last read from our clock: the remote clock was read somewhere within the round trip, so the
    sample with the shortest round trip bounds it best; its midpoint is the estimate, half its
    round trip the bound on the error."""
    if not samples:
        raise ValueError("no clock samples")
    t0, remote, t1 = min(samples, key=lambda s: s[2] - s[0])
    return remote - (t0 + t1) / 2, (t1 - t0) / 2


def drift_ppm(first: tuple[float, float, float], now: tuple[float, float, float]) -> float:
    """A clock's drift from two (when, offset, uncertainty) estimates, in parts per million: only the
    change beyond what the two uncertainties allow counts (0: none seen), since over a short span
    two estimates' noise alone would read as thousands of ppm."""
    (t0, offset0, err0), (t1, offset1, err1) = first, now
    change = offset1 - offset0
    beyond = max(0.0, abs(change) - err0 - err1)
    return math.copysign(1e6 * beyond / (t1 - t0), change) if beyond else 0.0


def ray_death(text: str) -> str:
    """Ray's long account of an actor's death, in one line: why the actor died, and the exit detail."""
    why = re.search(r"The actor is dead because ([^.]*)", text)
    detail = re.search(r"exit detail: ([^.]*)", text)
    parts = [m.group(1).strip() for m in (why, detail) if m]
    if parts:
        return ": ".join(parts)
    return text.strip().splitlines()[0] if text.strip() else "its actor ended"


@dataclass
class _RayWorker(_Worker):
    actor: Any = None
    pool: RayPool | None = None
    ip: str = ""
    seq: int = 0
    died: str | None = None
    measured: tuple[float, float] | None = None  # the clock offset as estimated, (offset, uncertainty)
    same_kernel: bool = False  # on the coordinator's own kernel (same boot id): one clock (not one network)
    reach: Reach | None = None  # its own attempt at the server's address
    first_clock: tuple[float, float, float] | None = None  # its first estimate (when, offset, uncertainty)
    drift_ppm: float | None = None

    def name(self) -> str:
        return f"Ray worker {self.index} (pid {self.pid}) on host {self.where() if self.host else '?'}"

    def where(self) -> str:
        """Its host and address: hosts may share a name (containers, network namespaces)."""
        return f"{self.host} ({self.ip})" if self.ip else str(self.host)

    def open(self) -> None:
        ray = self.pool.ray
        try:
            info = ray.get(self.actor.info.remote())
            self.pid, self.host, self.ip = info["pid"], info["host"], info["ip"]
            host, port = server_address(self.pool.config.endpoint.base_url)
            self.reach = Reach(self.host, self.ip, ray.get(self.actor.reach.remote(host, port)))
            self.same_kernel = bool(info["boot_id"]) and info["boot_id"] == self.pool.boot_id
            self.measure_clock()
            ray.get(self.actor.start.remote(self.index, self.pool.config))
        except Exception as exc:
            self._gone(exc)

    def measure_clock(self) -> None:
        """Estimate its clock's offset now (blocking): when it starts, and again before each phase,
        so a clock that drifts over a long run is followed; its drift is measured from the first."""
        samples = []
        for _ in range(CLOCK_SAMPLES):
            t0 = time.time()
            remote = self.pool.ray.get(self.actor.clock.remote())
            samples.append((t0, remote, time.time()))
        self.measured = offset, uncertainty = estimate_offset(samples)
        at = samples[-1][2]
        if self.first_clock is None:
            self.first_clock = (at, offset, uncertainty)
        elif at > self.first_clock[0] and not self.same_kernel:
            self.drift_ppm = drift_ppm(self.first_clock, (at, offset, uncertainty))
        if not self.same_kernel:  # else one kernel clock: 0 exactly, the estimate only shown
            self.clock_offset_s, self.clock_uncertainty_s = self.measured

    def annotate(self, health: WorkerHealth) -> None:
        health.host, health.clock_offset_s = self.where(), self.clock_offset_s
        health.clock_uncertainty_s, health.clock_drift_ppm = self.clock_uncertainty_s, self.drift_ppm

    def send(self, msg: tuple) -> None:
        if not self.alive:
            raise OSError("the actor is gone")
        if msg[0] == "job":
            job = msg[1]  # its bodies as a top-level argument: Ray resolves it in the actor
            self.actor.deliver.remote(self.seq, (msg[0], replace(job, bodies=None)), job.bodies)
        else:
            self.actor.deliver.remote(self.seq, msg)
        self.seq += 1

    def receive(self) -> list[tuple]:
        try:
            return self.pool.ray.get(self.actor.recv.remote())
        except Exception as exc:
            self._gone(exc)

    def _gone(self, exc: Exception) -> None:
        from ray.exceptions import RayActorError

        self.died = ray_death(str(exc)) if isinstance(exc, RayActorError) else f"{type(exc).__name__}: {exc}"
        self.error = self.died  # what "died while starting" and the failed records say
        if not isinstance(exc, RayActorError):
            # Only lost touch with: make it dead, or it would go on sending load nobody records. (An
            # actor Ray reports dead is not killed again: ray.kill from this reader thread on a dead
            # actor is suspected of taking the driver down with it, seen twice in the kill test.)
            with contextlib.suppress(Exception):
                self.pool.ray.kill(self.actor, no_restart=True)
        raise EOFError(self.died)

    def death(self) -> str:
        return self.died or "its actor ended"

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.send(("stop",))

    def reap(self, deadline: float) -> None:
        with contextlib.suppress(Exception):
            self.pool.ray.kill(self.actor, no_restart=True)

    def describe(self) -> str:
        """One line for the operator: where it runs and how its clock relates to ours."""
        where = f"pid {self.pid} on {self.host}" + (f" ({self.ip})" if self.ip else "")
        offset, err = self.measured or (0.0, 0.0)
        measured = f"measured {offset * 1000:+.3f} ms ± {err * 1000:.3f} ms"
        if self.clock_offset_s == 0.0 and self.clock_uncertainty_s == 0.0:
            return f"worker {self.index}: {where}; clock: the coordinator's own (same kernel), {measured}"
        return f"worker {self.index}: {where}; clock offset {measured}, applied to its send times"


class RayPool(WorkerPool):
    """WorkerPool over Ray actors: `connect` (blocking) joins the cluster, then the pool works as
    with processes. `close` kills the actors and leaves the cluster."""

    def __init__(self, n: int, config: WorkerConfig, address: str):
        super().__init__(n, config)
        self.address = address
        self.ray: Any = None
        self.boot_id = boot_id()
        self.start_margin_s = 0.25  # the jobs go out as Ray calls: a few ms each, more on a busy host
        self._actor_class: Any = None
        self._joined = False
        self._about: str | None = None  # what connect() found

    def connect(self) -> str:
        """Join the cluster (blocking: call it off the event loop), once; say what it holds."""
        if self._about is not None:
            return self._about
        if not ray_installed():
            raise RayUnavailable(f"--ray {self.address}: Ray is not installed here; {INSTALL}")
        import ray

        self.ray = ray
        self._joined = not ray.is_initialized()  # leave only a connection this pool made
        if self._joined:
            try:
                ray.init(
                    address=self.address,
                    runtime_env={"py_modules": [ENGINE_DIR]},  # the engine, on every node that runs a worker
                    log_to_driver=False,
                    logging_level=logging.ERROR,
                )
            except ConnectionError as exc:  # e.g. a cluster with token authentication and no token here
                cause = f": {exc.__cause__}" if exc.__cause__ else ""
                raise RayUnavailable(
                    f"--ray {self.address}: could not join the cluster ({exc}{cause}); a cluster started with "
                    "token authentication needs its token here (RAY_AUTH_MODE=token and ~/.ray/auth_token or "
                    "RAY_AUTH_TOKEN)"
                ) from None
        self._actor_class = ray.remote(_Relay).options(
            num_cpus=1,  # a worker's event loop wants a core of its own
            max_concurrency=8,  # recv() waits while deliver() and clock() come in
            scheduling_strategy="SPREAD",
        )
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        free = ray.available_resources().get("CPU", 0.0)
        total = ray.cluster_resources().get("CPU", 0.0)
        if free < self.n:
            raise RayUnavailable(
                f"--ray {self.address}: the cluster has {free:g} of its {total:g} CPUs free and each of the "
                f"{self.n} load workers takes one; use fewer --workers, or add nodes (ray start --address ...)"
            )
        hosts = ", ".join(sorted({n.get("NodeManagerHostname") or n.get("NodeManagerAddress", "?") for n in nodes}))
        self._about = f"Ray cluster at {self.address}: {len(nodes)} nodes ({hosts}), {free:g} of {total:g} CPUs free"
        return self._about

    async def start(self) -> None:
        if self._about is None:
            await asyncio.get_running_loop().run_in_executor(None, self.connect)
        try:
            await super().start()
        except RuntimeError as exc:
            raise RuntimeError(
                f"{exc} (Ray: `ray status` shows whether the cluster has the CPUs; a node without this "
                "tool's dependencies fails the actor: see its logs under the Ray temp dir, session_latest/logs)"
            ) from None
        self._check_reach()

    def _check_reach(self) -> None:
        """Every worker connected to the server's address from where it runs (a loopback address
        reaches only a worker in the coordinator's own network namespace): refuse it otherwise."""
        workers = [w for w in self.workers if isinstance(w, _RayWorker) and w.reach is not None]
        if failed := [w.reach for w in workers if w.reach.error is not None]:
            raise RayUnavailable(
                refusal(self.address, self.config.endpoint.base_url, failed, self.n, reachable_ip(self.address))
            )

    def probe(self, base_url: str, launched: bool) -> str:
        """Before the server launches (blocking): join the cluster (enough free CPUs), and ask N tasks
        placed as the workers will be whether the server's address reaches; RayUnavailable if not."""
        about = self.connect()
        host, port = server_address(base_url)
        with stand_in(host) if launched else contextlib.nullcontext(port) as target:
            if target is None:
                return about  # this host cannot listen there: the launch will say so
            task = self.ray.remote(probe).options(num_cpus=1, scheduling_strategy="SPREAD")
            answers = self.ray.get([task.remote(host, target) for _ in range(self.n)], timeout=START_TIMEOUT_S)
        reached = [Reach(a["host"], a["ip"], a["error"]) for a in answers]
        if failed := [r for r in reached if r.error is not None]:
            raise RayUnavailable(refusal(self.address, base_url, failed, self.n, reachable_ip(self.address)))
        where = ", ".join(sorted({r.where() for r in reached}))
        return f"{about}; the server's address {host}:{port} reached from {where}"

    def _spawn(self, i: int) -> _Worker:
        actor = self._actor_class.remote()
        w = _RayWorker(i, None, None, actor=actor, pool=self, ready=self._loop.create_future())
        self._watch(w)
        return w

    async def _clocks(self, indices: list[int]) -> None:
        """Every worker's clock offset estimated again, all at once, before a phase's shared start."""
        loop = asyncio.get_running_loop()
        workers = [w for i in indices if isinstance(w := self.workers[i], _RayWorker) and w.alive]
        await asyncio.gather(*(loop.run_in_executor(None, w.measure_clock) for w in workers), return_exceptions=True)

    def _ship(self, requests: list) -> Any:
        """The object-store copy of a phase's request bodies: put once, shared by every worker."""
        return self.ray.put(requests)

    def _unship(self, bodies: Any) -> None:
        """The object store frees it once no job refers to it."""

    def close(self) -> None:
        super().close()  # the actors killed: each reader thread's pending recv fails, and it ends
        # Ray's connection goes only once no reader thread is inside a Ray call: shut down under a
        # thread still in ray.get, the driver's core worker took the whole process down (exit 1,
        # no traceback: seen in CI's Ray kill test).
        deadline = time.monotonic() + READERS_GONE_S
        for w in self.workers:
            if w is not None and w.reader is not None:
                w.reader.join(max(0.0, deadline - time.monotonic()))
        if any(w is not None and w.reader is not None and w.reader.is_alive() for w in self.workers):
            return  # left connected: the process's exit closes it
        if self.ray is not None and self._joined and self.ray.is_initialized():
            with contextlib.suppress(Exception):
                self.ray.shutdown()
