"""One load worker: a process of its own with its own event loop (uvloop where installed), its own
HTTP session and its own health figures, driving the share of a cell that the coordinator
(engine.load.workers) hands it and streaming finished request records back.

The protocol (class Serving) is the same whatever carries it: a pipe to a local process here, or a
Ray actor on any node of a cluster (engine.load.rayworkers), which relays the same messages.

Started with engine.spawn (`main`, argv: the pipe's fd and the worker's index): a fresh interpreter
that imports the engine from the coordinator's root, inherits no threads or event loop, and holds
only its end of one duplex pipe (a multiprocessing Connection: pickled messages, whole). Messages,
both ways, are tuples whose first item names them:

  coordinator -> worker: ("config", WorkerConfig) first, then ("job", Job), ("go", phase,
      start_epoch), ("deal", phase, [indices], none_left), ("grant", phase, k), ("stop",)
  worker -> coordinator: ("ready", pid), ("staged", phase), ("ask", phase, k, slots waiting),
      ("want", phase, planned_s), ("free", phase, k), ("records", phase, [records], in_flight,
      output_tokens), ("health", phase, WorkerHealth so far: lag samples since the last one),
      ("done", phase, WorkerHealth), ("error", phase, text),
      ("stopped",) last, after a "stop"

A job is staged first, and starts at the "go"'s shared start: the start is fixed once every worker
holds its job, however long the jobs took to arrive.

The worker exits when the coordinator's end closes (the run process died): nothing is left behind.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.load import schedstat, wallclock
from engine.load.client import CellLoad, HttpTarget, PhaseSend, PreparedRequest, new_session, run_closed_loop
from engine.load.monitor import LoopLagMonitor
from engine.load.openloop import run_open_loop
from engine.load.permits import RemotePermits
from engine.load.prompts import Endpoint
from engine.load.record import RequestRecord
from engine.plan import Cell

FLUSH_S = 0.05  # finished records and live counters go back at least this often
FLUSH_RECORDS = 64  # or as soon as this many records are waiting
HEALTH_TICKS = 20  # its health so far every this many flushes (1 s): what is left of a worker that dies


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker needs to reach the server: the same for all cells of a run."""

    endpoint: Endpoint
    headers: dict[str, str]
    read_timeout_s: float
    session_limit: int


@dataclass
class Job:
    """One worker's share of one load phase (a cell's warm-up or its measurement)."""

    phase: int
    cell: Cell
    requests: list[PreparedRequest]  # closed loop: all of the cell's (indices are dealt); open: this worker's
    output_len: int
    warmup: bool
    deadline_s: float | None
    start_epoch: float  # the shared start, time.time() in this worker's clock (set by the "go")
    slots: int = 0  # closed loop: how many of the cell's slots this worker runs
    first: list[int] = field(default_factory=list)  # closed loop: the indices dealt with the job
    batch: int = 1  # closed loop: ask for more indices when fewer than this are left
    offsets: list[float] | None = None  # open loop: this worker's planned send times
    indices: list[int] | None = None  # open loop: their requests' indices in the cell
    max_in_flight: int | None = None  # open loop: the cap over every worker (permits from the coordinator)
    # The phase's request bodies as the transport shipped them once for every worker (a file in shared
    # memory for processes): `take` fills `requests` from them. None: `requests` came with the job.
    bodies: Any = None

    def take(self, every: list[PreparedRequest]) -> None:
        """This job's requests from the phase's: all of them (closed loop), or its own indices (open)."""
        self.requests = every if self.indices is None else [every[k] for k in self.indices]
        self.bodies = None


@dataclass
class WorkerHealth:
    """How one worker's process fared during a phase (merged by engine.report.metrics)."""

    worker: int
    pid: int
    cpu_s: float  # the whole worker process's CPU time
    lags_s: list[float]  # its event loop's lag samples
    sched: schedstat.CpuFigures | None  # its loop thread's time on a CPU and waiting for one
    start_late_s: float  # how long after the shared start its load began (the clock offset estimate)
    end_epoch: float  # when its last answer arrived, time.time() (the coordinator's clock once it is back)
    # Set by the coordinator for workers that may run elsewhere (Ray actors), None for local processes:
    # where it ran, and its clock's offset from the coordinator's (its time.time() minus ours): 0 on
    # the coordinator's own host (one kernel clock), estimated on another node.
    host: str | None = None
    clock_offset_s: float | None = None
    clock_uncertainty_s: float | None = None  # half the round trip of the estimate; 0 for the same clock
    # Its offset's change per second since the first estimate beyond both estimates' uncertainty, in
    # parts per million (0: none seen; None: one kernel clock).
    clock_drift_ppm: float | None = None
    died: str | None = None  # set by the coordinator: the worker died mid-phase, these are its last figures

    def then(self, later: WorkerHealth) -> WorkerHealth:
        """This health followed by a later report of the same job (its lag samples since this one)."""
        later.lags_s = self.lags_s + later.lags_s
        return later


class _Dealer:
    """The closed loop's source of request indices in a worker: the indices dealt to it, so every
    index is sent by exactly one worker. While the cell has plenty left it asks ahead (a batch
    before its queue runs dry, no round trip before a send); near the end the coordinator deals
    only to slots that wait, so no worker holds indices that another worker's idle slot could send."""

    def __init__(self, conn, job: Job):
        self.conn, self.phase, self.batch = conn, job.phase, job.batch
        self.queue: collections.deque[int] = collections.deque(job.first)
        self.asked = False  # an ask is on its way
        self.refused = False  # the last ask ahead got nothing: ask again only for a waiting slot
        self.exhausted = False
        self.waiters: collections.deque[asyncio.Future] = collections.deque()

    def feed(self, indices: list[int], exhausted: bool) -> None:
        self.asked = False
        self.exhausted = exhausted
        self.refused = not indices and not exhausted
        self.queue.extend(indices)
        while self.waiters and (self.queue or self.exhausted):
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(self.queue.popleft() if self.queue else None)
        self._ask()

    def _ask(self) -> None:
        if self.asked or self.exhausted:
            return
        waiting = len(self.waiters)
        if not waiting and (self.refused or len(self.queue) >= self.batch):
            return
        self.asked = True
        self.conn.send(("ask", self.phase, max(self.batch, waiting), waiting))

    async def take(self) -> int | None:
        if self.queue:
            i = self.queue.popleft()
            self.refused = False
            self._ask()
            return i
        if self.exhausted:
            return None
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        self._ask()
        return await waiter


def main(argv: list[str] | None = None) -> None:
    """The worker process's entry point: `engine.spawn.python_argv("engine.load.worker", fd, index)`."""
    from multiprocessing.connection import Connection

    from engine.loop import run

    fd, index = (int(x) for x in (argv if argv is not None else sys.argv[1:]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator stops us; a terminal's Ctrl-C does not
    conn = Connection(fd)
    try:
        kind, config = conn.recv()
    except (EOFError, ConnectionError):
        return  # the coordinator went before we started
    assert kind == "config", kind
    run(_serve_pipe(conn, index, config))


class PipeOut:
    """The worker's way back to the coordinator over its pipe: messages, and a last word before it goes."""

    def __init__(self, conn):
        self.conn = conn

    def send(self, msg: tuple) -> None:
        self.conn.send(msg)

    def last_word(self, text: str, phase: int = 0) -> None:
        """Tell the coordinator what went wrong, then exit: it fails the requests this worker held."""
        try:
            self.conn.send(("error", phase, text))
        finally:
            os._exit(1)


class Serving:
    """One worker's side of the protocol, whatever carries it (a pipe here, a Ray actor in
    engine.load.rayworkers): `dispatch` takes each message from the coordinator, on the worker's
    loop; `serve` runs the jobs and sends records back through `out` (send, last_word)."""

    def __init__(self, out, index: int, config: WorkerConfig):
        self.out, self.index, self.config = out, index, config
        self.inbox: asyncio.Queue[Job | None] = asyncio.Queue()
        self.dealer: _Dealer | None = None
        self.permits: RemotePermits | None = None  # an open loop's cap: permits from the coordinator
        self.go: tuple[int, asyncio.Future] | None = None  # the staged job's phase, and its start to come
        self.running: asyncio.Task | None = None
        self.stopping = False  # a "stop" came: a job still in the inbox is not begun

    def dispatch(self, msg: tuple) -> None:
        if msg[0] == "job":
            self.inbox.put_nowait(msg[1])
        elif msg[0] == "go":
            if self.go is not None and self.go[0] == msg[1] and not self.go[1].done():
                self.go[1].set_result(msg[2])
        elif msg[0] == "grant":
            if self.permits is not None and self.permits.phase == msg[1]:
                self.permits.grant(msg[2])
        elif msg[0] == "deal":
            if self.dealer is not None and self.dealer.phase == msg[1]:
                self.dealer.feed(msg[2], msg[3])
        elif msg[0] == "stop":
            # The run is ending (an interrupt): stop sending now, records already finished go back.
            self.stopping = True
            self.inbox.put_nowait(None)
            if self.go is not None and not self.go[1].done():
                self.go[1].set_result(None)
            if self.running is not None:
                self.running.cancel()

    async def serve(self) -> None:
        out, config = self.out, self.config
        out.send(("ready", os.getpid()))
        async with new_session(config.session_limit, config.read_timeout_s, config.headers) as session:
            e = config.endpoint
            target = HttpTarget(session, e.base_url, e.api, e.model, keep_text=e.keep_text)
            while (job := await self.inbox.get()) is not None and not self.stopping:
                if job.bodies is not None:
                    job.take(job.bodies.load())  # before "staged": the shared start waits for it
                self.go = (job.phase, asyncio.get_running_loop().create_future())
                out.send(("staged", job.phase))
                if (start := await self.go[1]) is None:
                    break  # stopped before it began
                job.start_epoch = start
                try:
                    if job.offsets is None:
                        self.dealer = _Dealer(out, job)
                    elif job.max_in_flight:
                        self.permits = RemotePermits(out, job.phase)
                    job_run = _run_job(out, self.index, target, job, self.dealer, self.permits)
                    self.running = asyncio.create_task(job_run)
                    health = await self.running
                    out.send(("done", job.phase, health))
                except asyncio.CancelledError:
                    break  # stopped mid-job: its finished records went back (_run_job's last flush)
                except Exception:  # a bug here: say so, and go (the coordinator fails what this worker held)
                    out.last_word(traceback.format_exc(limit=8), job.phase)
                finally:
                    self.dealer, self.permits, self.running = None, None, None
            with contextlib.suppress(OSError):  # the coordinator may be gone already
                out.send(("stopped",))  # after every record it finished


async def _serve_pipe(conn, index: int, config: WorkerConfig) -> None:
    loop = asyncio.get_running_loop()
    out = PipeOut(conn)
    serving = Serving(out, index, config)

    def readable() -> None:
        try:
            while conn.poll():
                serving.dispatch(conn.recv())
        except (EOFError, ConnectionError):
            os._exit(0)  # the coordinator is gone: so is its run
        except Exception:
            out.last_word(traceback.format_exc(limit=8))

    loop.add_reader(conn.fileno(), readable)
    # uvloop (libuv) makes a watched fd non-blocking; the pipe's messages are read and written whole
    # (a job of many request bodies is larger than the pipe's buffer), so it stays blocking.
    os.set_blocking(conn.fileno(), True)
    await serving.serve()


class _Outbox:
    """A job's finished records on their way back: in batches of FLUSH_RECORDS, and every FLUSH_S
    with the live counters (in flight, output tokens)."""

    def __init__(self, out, phase: int, load: CellLoad):
        self.out, self.phase, self.load = out, phase, load
        self.pending: list[RequestRecord] = []

    def flush(self) -> None:
        self.out.send(("records", self.phase, self.pending[:], self.load.in_flight, self.load.output_tokens))
        self.pending.clear()

    def on_record(self, record: RequestRecord) -> None:
        self.pending.append(record)
        if len(self.pending) >= FLUSH_RECORDS:
            self.flush()

    async def ticker(self, gauges: _Gauges) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(FLUSH_S)
            self.flush()
            if (ticks := ticks + 1) % HEALTH_TICKS == 0:
                self.out.send(("health", self.phase, gauges.health(since_last=True)))


async def _run_job(
    out, index: int, target: HttpTarget, job: Job, dealer: _Dealer | None, permits: RemotePermits | None
) -> WorkerHealth:
    load = CellLoad(total=len(job.requests))
    outbox = _Outbox(out, job.phase, load)
    while (wait := job.start_epoch - wallclock.now()) > 0:  # uvloop may wake a little early
        await asyncio.sleep(wait)
    start_late = wallclock.now() - job.start_epoch
    # The shared start on this process's monotonic clock: planned and sent times are measured from
    # it, so every worker's share of the schedule sits on one timeline and a late start shows as
    # late sends (send_delay), not as a schedule shifted by this worker's own lateness.
    origin = time.perf_counter() - start_late
    gauges = _Gauges(index, start_late)
    ticker = asyncio.create_task(outbox.ticker(gauges))
    try:
        with gauges.lag:
            await _send_share(target, job, dealer, permits, load, outbox.on_record, origin)
    finally:
        ticker.cancel()
        outbox.flush()  # also when stopped mid-job: what finished goes back
    return gauges.health()


class _Gauges:
    """A job's health figures as they stand: the whole job's at its end, and every HEALTH_S on the way
    (the lag samples since the last time only), so a worker that dies leaves its last health behind."""

    def __init__(self, index: int, start_late_s: float):
        self.index, self.start_late_s = index, start_late_s
        self.cpu_start, self.sched_start = time.process_time(), schedstat.sample()
        self.lag = LoopLagMonitor()
        self.sent_lags = 0

    def health(self, since_last: bool = False) -> WorkerHealth:
        lags = self.lag.lags[self.sent_lags :] if since_last else self.lag.lags
        self.sent_lags = len(self.lag.lags)
        return WorkerHealth(
            worker=self.index,
            pid=os.getpid(),
            cpu_s=time.process_time() - self.cpu_start,
            lags_s=lags,
            sched=schedstat.between(self.sched_start, schedstat.sample()),
            start_late_s=self.start_late_s,
            end_epoch=wallclock.now(),
        )


async def _send_share(
    target: HttpTarget,
    job: Job,
    dealer: _Dealer | None,
    permits: RemotePermits | None,
    load: CellLoad,
    on_record: Callable[[RequestRecord], None],
    origin: float,
) -> None:
    """This worker's share of the phase: its part of the open loop's schedule, or its closed-loop slots."""
    send = PhaseSend(job.output_len, job.warmup, on_record, load, job.deadline_s)
    if job.offsets is not None:
        await run_open_loop(
            target, job.cell, job.requests, job.offsets, send, permits=permits, indices=job.indices, origin=origin
        )
    else:
        assert dealer is not None
        await run_closed_loop(target, job.cell, job.requests, send, slots=job.slots, take=dealer.take)


if __name__ == "__main__":
    main()
