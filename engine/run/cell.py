"""One cell, measured: an optional warm-up, the measured load, then its result assembled
(engine.run.assemble) with the server's telemetry over the measured window.

The executor works in a frozen context the run session sets up once (target, launcher, server
info, prompt factory, writer); it keeps only the cell being measured, so an interrupt can say
how far that cell got."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from engine.events import CellStarted, LoadProgress, Notice, Observer, PhaseChanged
from engine.load import schedstat
from engine.load.client import CellLoad, PhaseSend, PreparedRequest, Target, run_closed_loop
from engine.load.conversations import run_conversations
from engine.load.monitor import LoopLagMonitor
from engine.load.openloop import run_open_loop
from engine.load.prompts import PromptFactory
from engine.load.record import RequestRecord
from engine.load.workers import WorkerPool
from engine.plan import Cell
from engine.profiles import ResolvedProfile
from engine.report.diskspace import FaultLatch
from engine.report.itl import Itls
from engine.report.metrics import EXTERNAL_ADVICE, LAUNCHED_ADVICE, ClientFigures, merge_workers
from engine.report.model import CellResult
from engine.report.results import ResultsWriter
from engine.run.assemble import assemble_cell
from engine.run.requests import Phase, prepare_requests
from engine.run.telemetry import RunTelemetry
from engine.run.watch import LoadWatch
from engine.server.launcher import Launcher
from engine.server.launcher_base import ServerInfo

# Round r's seed is the run's + r * this: far from the run's other draws (seed + cell index).
ROUND_SEED_STEP = 1_000_003


@dataclass(frozen=True)
class CellContext:
    """What every cell of a run is measured with, set up once by the run session."""

    profile: ResolvedProfile
    target: Target
    launcher: Launcher
    info: ServerInfo
    factory: PromptFactory
    writer: ResultsWriter
    observer: Observer
    faults: FaultLatch  # a failed write into the results folder (a full disk) stops the load
    telemetry: RunTelemetry | None = None
    pool: WorkerPool | None = None  # the load's worker processes or Ray actors, with --workers N > 1


class ProgressReporter:
    """Samples a cell's counters twice a second: live output tok/s over the last 5 s, and the
    share of the time since the last sample the load's thread waited for a CPU."""

    def __init__(self, cell: Cell, load: CellLoad, observer: Observer, window_s: float = 5.0):
        self.cell, self.load, self.observer, self.window_s = cell, load, observer, window_s
        self.samples: collections.deque[tuple[float, int]] = collections.deque()
        self.sched = schedstat.sample()

    def emit(self) -> None:
        sched, self.sched = self.sched, schedstat.sample()
        now, load = time.perf_counter(), self.load
        self.samples.append((now, load.output_tokens))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window_s:
            self.samples.popleft()
        t0, n0 = self.samples[0]
        rate = (load.output_tokens - n0) / (now - t0) if now > t0 else 0.0
        share = schedstat.between(sched, self.sched).run_queue_share
        self.observer(
            LoadProgress(
                self.cell, load.done, load.failed, load.in_flight, load.total, load.output_tokens, rate,
                now - load.started, share,
            )
        )  # fmt: skip

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self.emit()


class CellExecutor:
    def __init__(self, ctx: CellContext, total_cells: int):
        self.ctx, self.total_cells = ctx, total_cells
        self.measuring: tuple[Cell, list[RequestRecord]] | None = None  # the cell being measured, its records
        self.cell: Cell | None = None  # the cell started last
        self._load_task: asyncio.Future | None = None  # the load phase running now
        self.round = 0  # of the cell being measured (--repeat N)
        self.profile = ctx.profile  # the run's profile, its seed that of the round being measured

    def _round(self, round: int) -> None:
        """Round r > 0 of a cell draws its prompts and arrivals from the run's seed + r * ROUND_SEED_STEP,
        so no round resends another's prompts (a prefix cache would serve them)."""
        self.round, load = round, self.ctx.profile.load
        seed = load.seed + round * ROUND_SEED_STEP
        self.profile = self.ctx.profile.model_copy(update={"load": load.model_copy(update={"seed": seed})})

    def stop_load(self) -> None:
        """Cancel the load phase running now (a write fault: it raises the fault)."""
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()

    async def run_cell(self, cell: Cell, round: int = 0, left: int | None = None) -> CellResult:
        """One round of `cell`; `left`: the (cell, round)s the run has left, this one included."""
        ctx, emit = self.ctx, self.ctx.observer
        self.cell = cell
        self._round(round)
        repeats = ctx.profile.load.repeats
        emit(CellStarted(cell, self.total_cells, *((round, repeats) if repeats > 1 else (None, None)), left=left))
        telemetry, warmup_tokens = ctx.telemetry, 0
        if telemetry:
            await telemetry.begin_cell(cell)
        if cell.warmup_requests:
            emit(PhaseChanged("warmup", f"{cell.warmup_requests} requests", cell))
            warm, _, _ = await self._load_phase(cell, warmup=True)
            warmup_tokens = sum(r.output_tokens for r in warm)
            if telemetry:
                await telemetry.warmup_done(cell)
        emit(PhaseChanged("measuring", f"{cell.num_prompts} requests at {cell.pace}", cell))
        with Itls() as itls:  # the cell's ITLs, on disk as its requests finish (engine/report/itl.py)
            records, duration, client = await self._load_phase(cell, warmup=False, itls=itls)
            ended = time.time()
            window = await telemetry.finish_cell(cell, ended - duration, ended, warmup_tokens) if telemetry else None
            result = assemble_cell(cell, records, duration, client, self.profile, window, itls, self._note_for(cell))
        for flag in result.flags:
            emit(Notice("warning", f"cell {cell.label}: {flag.reason}"))
        return result

    def _note_for(self, cell: Cell) -> Callable[[str], None]:
        """What a cell's figures could not check, told to the user (not a warning)."""
        return lambda text: self.ctx.observer(Notice("info", f"cell {cell.label}: {text}"))

    async def _load_phase(
        self, cell: Cell, *, warmup: bool, itls: Itls | None = None
    ) -> tuple[list[RequestRecord], float, ClientFigures]:
        """One pass over prepared requests: the warm-up (unmeasured) or the measurement."""
        ctx, phase = self.ctx, Phase.of(cell, warmup)
        ctx.faults.check()  # a write fault since the last phase (events, telemetry): no load on a full disk
        requests, notes = await prepare_requests(replace(ctx, profile=self.profile), cell, phase)  # the round's seed
        ctx.faults.check()
        for note in notes:
            ctx.observer(Notice("warning", str(note)))
        ctx.writer.summary.skipped.extend(str(note) for note in notes if note.skips)
        records: list[RequestRecord] = []
        on_record = self._recorder(requests, records, itls)
        load = CellLoad(total=len(requests))
        if ctx.telemetry and not warmup:
            load.on_first_token = ctx.telemetry.recorder.wake
        reporter = None if warmup else asyncio.create_task(ProgressReporter(cell, load, ctx.observer).run())
        if not warmup:
            self.measuring = (cell, records)
        cpu_start, sched_start, lag = time.process_time(), schedstat.sample(), LoopLagMonitor()
        # A task of its own, so a write fault (a full disk) can stop the load alone (stop_load).
        self._load_task = asyncio.ensure_future(self._send(cell, requests, phase, on_record, load))
        # A server gone or stalled cancels the load task too (engine/run/watch.py).
        recorder = ctx.telemetry.recorder if ctx.telemetry else None
        watch = LoadWatch(cell, load, ctx.launcher, recorder, ctx.profile.load.stall_timeout_s, warmup)
        watch.start(self._load_task)
        try:
            with lag:
                duration, workers = await self._load_task
        except asyncio.CancelledError:
            fault = watch.fault or ctx.faults.fault
            if fault is None or asyncio.current_task().cancelling():
                raise  # the run itself was stopped (a signal)
            raise fault from None
        finally:
            self._load_task = None
            watch.close()
            if reporter is not None:
                reporter.cancel()
        ctx.faults.check()
        sched = schedstat.between(sched_start, schedstat.sample())
        self.measuring = None
        if not warmup:
            ProgressReporter(cell, load, ctx.observer).emit()
        advice = EXTERNAL_ADVICE if ctx.profile.mode == "external" else LAUNCHED_ADVICE
        if workers is not None:  # the load ran in the workers: theirs are the client's figures
            return records, duration, merge_workers(workers, advice)
        return records, duration, ClientFigures(time.process_time() - cpu_start, lag.lags, sched, advice)

    def _recorder(self, requests: list[PreparedRequest], records: list[RequestRecord], itls: Itls | None):
        """The callback each finished request goes through: its own lengths, its tokens counted
        where the server reports no usage, then kept and appended to requests.jsonl; its gaps then
        go to the cell's `itls` (memory flat in tokens)."""
        ctx = self.ctx
        keep_text = not ctx.info.usage_reported
        round = self.round if ctx.profile.load.repeats > 1 else None

        def on_record(record: RequestRecord) -> None:
            if (own := requests[record.index]).input_len is not None:  # a dataset request: its own lengths
                record.input_len, record.output_len = own.input_len, own.output_len
            if keep_text and record.ok:  # the answer's tokens and the reasoning's (OSL counts both)
                record.output_tokens = ctx.factory.count(record.text or "")
                if record.reasoning_text is not None:
                    record.reasoning_tokens = ctx.factory.count(record.reasoning_text)
                    record.output_tokens += record.reasoning_tokens
            record.round = round
            records.append(record)
            ctx.writer.add_request(record)
            if itls is not None:
                itls.take(record)

        return on_record

    async def _send(self, cell: Cell, requests: list[PreparedRequest], phase: Phase, on_record, load):
        """Send the phase's requests as the cell's workload says; returns (duration, workers' health or None)."""
        ctx, pool = self.ctx, self.ctx.pool
        output_len, warmup = phase.output_len, phase.warmup
        longest = max((r.output_len or output_len for r in requests), default=output_len)
        send = PhaseSend(output_len, warmup, on_record, load, self.profile.load.deadline_s(longest))
        offsets = None
        if not warmup:  # the shape's send times (None: a closed loop); multi-turn: of conversation starts
            sends = len(requests) // cell.turns if cell.turns else len(requests)
            planned = [r.planned_s for r in requests]
            offsets = cell.shape.send_times(sends, planned, self.profile.load.seed + cell.index)
        max_in_flight = cell.concurrency or None
        if cell.turns and not warmup:
            return await run_conversations(
                ctx.target, cell, requests, send, starts=offsets, max_in_flight=max_in_flight
            ), None
        if offsets is not None:
            if pool is not None:
                return await pool.run_phase(cell, requests, offsets, send, max_in_flight=max_in_flight)
            return await run_open_loop(ctx.target, cell, requests, offsets, send, max_in_flight=max_in_flight), None
        # A rate cell's warm-up goes closed-loop, all its requests at once.
        slots = cell if not cell.open_loop else replace(cell, concurrency=max(1, len(requests)))
        if pool is not None:
            return await pool.run_phase(slots, requests, None, send)
        return await run_closed_loop(ctx.target, slots, requests, send), None
