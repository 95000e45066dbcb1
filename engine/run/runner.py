"""One benchmark run: Profile -> Plan -> Launcher -> LoadGenerator -> events -> Results.

Observers (the headless console, the TUI) receive every event; the run owns no presentation.
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
import socket
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from engine import __version__
from engine.events import (
    CellFinished,
    CellStarted,
    LoadProgress,
    Notice,
    Observer,
    PhaseChanged,
    RunFinished,
)
from engine.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from engine.load import autoworkers, schedstat
from engine.load.arrivals import schedule
from engine.load.client import CellLoad, HttpTarget, PreparedRequest, Target, new_session, run_closed_loop
from engine.load.conversations import run_conversations
from engine.load.datasets import build_items
from engine.load.monitor import LoopLagMonitor
from engine.load.openloop import run_open_loop
from engine.load.prompts import PromptFactory, api_path
from engine.load.rayworkers import RayPool, RayUnavailable
from engine.load.record import RequestRecord
from engine.load.worker import WorkerConfig
from engine.load.workers import WorkerPool
from engine.plan import Cell, build_plan
from engine.profiles import ResolvedProfile, parse_cpus
from engine.redact import Redactor, secret_values
from engine.report.diskspace import FaultLatch, WriteFault
from engine.report.metrics import EXTERNAL_ADVICE, LAUNCHED_ADVICE, ClientFigures, merge_workers, summarize_cell
from engine.report.model import CellResult, RunSummary
from engine.report.results import ResultsWriter, mark_superseded, new_run_dir, read_summary
from engine.run.preflight import open_files_left, worst_in_flight
from engine.run.search import Search
from engine.run.seed import run_seed, seeded
from engine.run.telemetry import RunTelemetry
from engine.run.workloads import probe_cell, workload_figures
from engine.server import isolation
from engine.server.discovery import DiscoveryError, ServerInfo
from engine.server.launcher import LaunchError, make_launcher, profile_env, run_isolation


@dataclass
class RunOutcome:
    status: str  # completed, failed, interrupted
    exit_code: int
    results_dir: Path
    cells: list[CellResult] = field(default_factory=list)
    error: str | None = None


class ProgressReporter:
    """Samples a cell's counters twice a second: live output tok/s over the last 5 s, and the
    share of the time since the last sample the load's thread waited for a CPU."""

    def __init__(self, cell: Cell, load: CellLoad, observer: Observer, window_s: float = 5.0):
        self.cell, self.load, self.observer, self.window_s = cell, load, observer, window_s
        self.samples: collections.deque[tuple[float, int]] = collections.deque()
        self.sched = schedstat.sample()

    def emit(self) -> None:
        sched, self.sched = self.sched, schedstat.sample()
        now = time.perf_counter()
        self.samples.append((now, self.load.output_tokens))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window_s:
            self.samples.popleft()
        t0, n0 = self.samples[0]
        rate = (self.load.output_tokens - n0) / (now - t0) if now > t0 else 0.0
        load = self.load
        self.observer(
            LoadProgress(
                self.cell,
                load.done,
                load.failed,
                load.in_flight,
                load.total,
                load.output_tokens,
                rate,
                now - load.started,
                schedstat.between(sched, self.sched).run_queue_share,
            )
        )

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self.emit()


class Runner:
    """Runs `profile` into `run_dir` (a new folder under `results_root` when None). With `resume`,
    `run_dir` holds an interrupted or failed run of the same profile: its finished cells are kept
    and skipped, the rest run, and the earlier requests of the cells that did not finish stay in
    requests.jsonl, marked superseded."""

    def __init__(
        self,
        profile: ResolvedProfile,
        observer: Observer,
        results_root: Path,
        run_dir: Path | None = None,
        resume: bool = False,
    ):
        self.profile = profile
        self.results_root = results_root
        self.run_dir, self.resume = run_dir, resume
        # A search makes its cells as it goes: no plan ahead (cell i of an unknown number).
        self.plan = [] if profile.grid.search else build_plan(profile.grid)
        self.redact = Redactor(secret_values(profile.recipe.args, {**profile_env(profile), **client_env()}))
        self.observer = observer
        self.stop_reason = "interrupted by the user"  # the run process says why when it knows
        self._measuring: tuple[Cell, list[RequestRecord]] | None = None  # the cell being measured, its records
        self._skipped_notes: list[str] = []  # dataset requests skipped or cycled (engine/load/datasets.py)
        self.telemetry: RunTelemetry | None = None
        # A failed write into the results folder (a full disk), from any writer: stops the load.
        self.faults = FaultLatch()
        self._load_task: asyncio.Future | None = None  # the load phase running now
        self._cell: Cell | None = None  # the cell started last
        self.pool: WorkerPool | None = None  # the load's worker processes, with --workers N > 1
        key = recipe_api_key(profile.recipe.args) if profile.mode == "server" else None
        key = key or os.environ.get("OPENAI_API_KEY")
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def _new_summary(self) -> RunSummary:
        profile = self.profile
        return RunSummary(
            tool=f"llmbench-tui {__version__}",
            profile=profile.name,
            started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            host=socket.gethostname(),
            mode=profile.mode,
            hardware=profile.hardware.name,
            accelerator=profile.hardware.accelerator,
            devices=profile.recipe.tensor_devices(),
            recipe=profile.recipe.name,
            model_profile=profile.model.name,
            plan=[c.to_dict() for c in self.plan],
        )

    def _resumed_summary(self, run_dir: Path) -> RunSummary:
        summary = read_summary(run_dir / "summary.json")
        done = {_result_key(c) for c in summary.cells}
        todo = [c for c in self.plan if _cell_key(c) not in done]
        unfinished = {c.index for c in todo}
        if self.profile.grid.search:  # probes are made as the search goes: the one cut short is the unfinished one
            finished = {c.cell for c in summary.cells}
            unfinished = {i for i in _request_cells(run_dir / "requests.jsonl") if i not in finished}
        marked = mark_superseded(run_dir / "requests.jsonl", unfinished)
        summary.resumed.append(
            {
                "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "after": summary.status,
                "cells_left": len(todo),
                "cut_short": summary.interrupted_cell,
            }
        )
        summary.skipped, summary.finished_at, summary.interrupted_cell = [], None, None
        if self.profile.grid.search:
            progress = (
                f"{len(summary.cells)} probes done, {len(summary.search)} of {len(self.profile.grid.seq)} "
                "searches finished; the search goes on from its finished probes"
            )
        else:
            progress = f"{len(summary.cells)} of {len(self.plan)} cells done, {len(todo)} to run"
        self.observer(
            Notice(
                "info",
                f"resuming {run_dir.name} ({summary.status}): {progress}; {marked} earlier requests of "
                "unfinished cells kept in requests.jsonl, marked superseded",
            )
        )
        return summary

    async def run(self) -> RunOutcome:
        profile, emit = self.profile, self.observer
        run_dir = self.run_dir or new_run_dir(self.results_root, profile.name)
        summary = self._resumed_summary(run_dir) if self.resume else self._new_summary()
        summary.seed = run_seed(profile, summary.seed, self.resume)
        self.profile = seeded(profile, summary.seed)  # profile.toml keeps the profile as given
        emit(Notice("info", f"prompts: {summary.seed.describe()}"))
        summary.status, summary.error, summary.pid = "running", None, os.getpid()
        iso = run_isolation(profile)
        summary.isolation = iso.to_dict()
        self.workers, self.workers_why = self._workers(iso)
        summary.workers = {"count": self.workers, "auto": profile.load.workers == "auto", "why": self.workers_why}
        loop = asyncio.get_running_loop()
        self.faults.listener = lambda: loop.call_soon_threadsafe(self._stop_load)
        writer = ResultsWriter(run_dir, None if self.resume else self.redact(profile.to_toml()), summary, self.faults)
        launcher = None
        outcome = RunOutcome("failed", EXIT_FAILED, run_dir)
        try:
            writer.write_summary()
            emit(PhaseChanged("launching", f"{profile.mode} mode"))
            launcher = make_launcher(profile, run_dir, lambda m: emit(Notice("info", m)))
            launcher.headers = self.headers
            launch = launcher.describe()
            if launch.command:
                summary.launch_command = self.redact(launch.command)
            if launch.waiting:
                emit(PhaseChanged("waiting", launch.waiting))
            await launcher.start(emit)
            # Only now: a server launched from a pinned thread would inherit the client's CPUs.
            isolation.pin_client(iso)  # this thread runs the load
            summary.endpoint = launcher.base_url
            outcome = await self._drive(launcher, writer)
        except asyncio.CancelledError:
            message = self.stop_reason
            if (cut := self._cut_short(summary)) is not None:
                cell, records = cut
                message += (
                    f", during cell {cell.label} after {len(records)} of its {cell.num_prompts} requests "
                    "(kept in requests.jsonl, not summarised: a part of a cell is not a measurement of it)"
                )
            outcome = RunOutcome("interrupted", EXIT_INTERRUPTED, run_dir, summary.cells, message)
        except WriteFault as exc:
            self._cut_short(summary)
            outcome = RunOutcome("failed", EXIT_FAILED, run_dir, summary.cells, self._fault_message(exc, writer))
        except LaunchError as exc:
            outcome = RunOutcome("failed", exc.exit_code, run_dir, summary.cells, str(exc))
        except DiscoveryError as exc:
            outcome = RunOutcome("failed", EXIT_FAILED, run_dir, summary.cells, str(exc))
        except Exception as exc:  # a bug or an unforeseen fault: still a final status, a message, a trace
            try:
                (run_dir / "error.log").write_text(traceback.format_exc())
            except OSError:
                traceback.print_exc()  # to run.log, if that can still be written
            message = f"unexpected {exc.__class__.__name__}: {exc} (traceback in {run_dir / 'error.log'})"
            outcome = RunOutcome("failed", EXIT_FAILED, run_dir, summary.cells, message)
        finally:
            if launcher is not None and launcher.launched:
                emit(PhaseChanged("stopping", "stopping the server"))
                await asyncio.shield(launcher.stop())
            summary.status, summary.pid = outcome.status, None
            summary.finished_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            summary.error = outcome.error = self.redact(outcome.error) if outcome.error else None
            writer.write_final()
            writer.close()
        emit(PhaseChanged(outcome.status if outcome.status != "completed" else "done", outcome.error or ""))
        emit(RunFinished(outcome.status, str(run_dir), outcome.cells, outcome.error, outcome.exit_code))
        return outcome

    def _cut_short(self, summary: RunSummary) -> tuple[Cell, list[RequestRecord]] | None:
        """The cell being measured when the run stopped, noted in the summary (a resume runs it again)."""
        if self._measuring is not None:
            cell, records = self._measuring
            summary.interrupted_cell = {"cell": cell.label, "index": cell.index, "recorded": len(records)}
        return self._measuring

    def _stop_load(self) -> None:
        """A write fault: cancel the load phase running now (it raises the fault); between phases
        the run raises it at its next check."""
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()

    def _fault_message(self, fault: WriteFault, writer: ResultsWriter) -> str:
        cell = self._cell
        if cell is None:
            return fault.describe("before the first request")
        return fault.describe(f"after {writer.written[cell.index]} requests of cell {cell.label}")

    async def _drive(self, launcher, writer: ResultsWriter) -> RunOutcome:
        profile, emit = self.profile, self.observer
        max_c = max((c.concurrency for c in self.plan), default=1)
        timeout = httpx.Timeout(60.0, connect=30.0)  # control plane only; the load has its own client
        async with (
            httpx.AsyncClient(timeout=timeout, headers=self.headers) as client,
            new_session(max_c, profile.load.read_timeout_s, self.headers) as session,
        ):
            emit(PhaseChanged("discovering", "asking the server what it serves"))
            info, factory, target = await launcher.discover(client, session, profile)
            if self.profile.grid.turns() and info.prompt_kind != "token_ids":
                raise DiscoveryError(
                    f"dataset {self.profile.grid.dataset}: the server at {launcher.base_url} takes text prompts only; "
                    "multi-turn prompts are token ids (the answers' own tokens, exact lengths): use vLLM"
                )
            writer.summary.server = info.to_dict()
            writer.summary.lengths = _lengths_note(info)
            writer.write_summary()
            emit(Notice("info", f"model {info.model}; {writer.summary.lengths}"))
            # Server metrics and hardware, about once a second, in a thread (engine/run/telemetry.py),
            # from where the launcher says the server's state is (/metrics, or an engine's stat logger).
            self.telemetry = RunTelemetry.open(
                profile, launcher, writer.dir, self.headers, emit, faults=self.faults, seed=writer.summary.seed
            )
            writer.summary.telemetry = self.telemetry.summary()
            try:
                if (self.workers > 1 or profile.load.ray_address) and isinstance(target, HttpTarget):
                    await self._start_workers(target, max_c)
                await self._cells(target, launcher, info, factory, writer)
            finally:
                if self.pool is not None:
                    self.pool.close()
                self.telemetry.stop()
                writer.summary.telemetry = self.telemetry.summary()
        cells = writer.summary.cells
        if sum(c.completed for c in cells) == 0:
            errors: collections.Counter[str] = collections.Counter()
            for c in cells:
                errors.update(c.errors)
            detail = "; ".join(f"{n}x {e}" for e, n in errors.most_common(3)) or "; ".join(writer.summary.skipped)
            return RunOutcome("failed", EXIT_FAILED, writer.dir, cells, f"every request failed: {detail}")
        limit = profile.load.max_failed_share
        failing = [c for c in cells if c.num_prompts and c.failed / c.num_prompts > limit]
        if failing:
            which = ", ".join(f"{c.label} ({c.failed} of {c.num_prompts})" for c in failing)
            message = f"{len(failing)} cells had more than {limit:.0%} failed requests (load.max_failed_share): {which}"
            return RunOutcome("failed", EXIT_FAILED, writer.dir, cells, message)
        return RunOutcome("completed", EXIT_OK, writer.dir, cells)

    def _workers(self, iso: isolation.Isolation) -> tuple[int, str]:
        """How many load workers, and why: the profile's number, or the automatic rule's."""
        if self.profile.load.workers != "auto":
            return self.profile.load.workers, "set by the profile (load.workers) or --workers"
        if self.profile.load.ray_address:  # Ray actors: the cluster's CPUs, not this host's, are the cap
            need, why = autoworkers.demand(self.plan)
            return need, f"{why} (Ray actors, one CPU each: the cluster must have them free)"
        pinned = parse_cpus(iso.client_cpus) if iso.client_cpus else None
        return autoworkers.choose(self.plan, self.profile.mode, pinned)

    async def _start_workers(self, target: HttpTarget, max_c: int) -> None:
        n, address = self.workers, self.profile.load.ray_address
        config = WorkerConfig(
            target.url.removesuffix(api_path(target.api)),
            target.api,
            target.model,
            target.keep_text,
            self.headers,
            self.profile.load.read_timeout_s,
            max_c + 4,
        )
        if address:  # Ray actors over the cluster's nodes (engine.load.rayworkers)
            self.pool = RayPool(n, config, address)
            self.observer(PhaseChanged("discovering", f"connecting to the Ray cluster at {address}"))
            try:
                about = await asyncio.get_running_loop().run_in_executor(None, self.pool.connect)
            except RayUnavailable as exc:
                raise LaunchError(str(exc), exit_code=EXIT_BAD_INPUT) from None
            self.observer(Notice("info", about))
            self.observer(PhaseChanged("discovering", f"starting {n} load workers as Ray actors"))
            try:
                await self.pool.start()
            except RayUnavailable as exc:
                raise LaunchError(str(exc), exit_code=EXIT_BAD_INPUT) from None
            except RuntimeError as exc:  # not ready in time, or died while starting
                raise LaunchError(str(exc)) from None
            for w in self.pool.workers:
                self.observer(Notice("info", f"Ray {w.describe()}"))
            return
        self.observer(PhaseChanged("discovering", f"starting {n} load worker processes"))
        self.pool = WorkerPool(n, config)
        await self.pool.start()
        pids = ", ".join(str(w.pid) for w in self.pool.workers if w is not None)
        chosen = f" (auto: {self.workers_why})" if self.profile.load.workers == "auto" else ""
        self.observer(Notice("info", f"{n} load workers ready (pids {pids}){chosen}"))

    async def _cells(
        self, target: Target, launcher, info: ServerInfo, factory: PromptFactory, writer: ResultsWriter
    ) -> None:
        if self.profile.grid.search:
            await self._search(target, launcher, info, factory, writer)
            return
        emit = self.observer
        done = {_result_key(c) for c in writer.summary.cells}
        for cell in self.plan:
            if _cell_key(cell) in done:
                continue  # finished before a resume
            if info.max_model_len and cell.longest_request > info.max_model_len:
                longest = f"a conversation's last turn ({cell.turns} x (ISL+OSL))" if cell.turns else "ISL+OSL"
                why = f"cell {cell.label} skipped: {longest} exceeds the server's max_model_len {info.max_model_len}"
                writer.summary.skipped.append(why)
                emit(Notice("warning", why))
                continue
            await self._measure(target, launcher, cell, info, factory, writer)

    async def _measure(
        self, target: Target, launcher, cell: Cell, info: ServerInfo, factory: PromptFactory, writer: ResultsWriter
    ) -> CellResult:
        """One cell, recorded; then a check that the server is still there."""
        result = await self._run_cell(target, launcher, cell, info, factory, writer)
        writer.summary.cells.append(result)
        writer.write_summary()
        self.observer(CellFinished(cell, result))
        if not launcher.alive():
            raise LaunchError(f"the server died during cell {cell.label}; see {writer.dir / 'server.log'}")
        if result.failed and (why := await launcher.unreachable()):
            raise LaunchError(f"the server at {launcher.base_url} stopped answering during cell {cell.label}: {why}")
        return result

    async def _search(
        self, target: Target, launcher, info: ServerInfo, factory: PromptFactory, writer: ResultsWriter
    ) -> None:
        """Per ISL/OSL, probe loads until the highest one meeting the SLOs is found (engine/run/search.py)."""
        grid, load = self.profile.grid, self.profile.load
        labels: set[str] = set()
        for seq in grid.seq:
            if any(found["seq"] == seq for found in writer.summary.search):
                continue  # searched to the end before a resume
            search = Search(grid.search, load.slo, grid.search_percentile, grid.search_start, grid.search_max_probes)
            search.max_failed_share = load.max_failed_share
            # After a resume: this search's finished probes, replayed in order, put it back where it stopped.
            label = probe_cell(grid, seq, grid.search_start, 0)
            label = label.seq or f"{label.input_len}/{label.output_len}"
            if label in labels:  # a dataset's lengths are per request: two seqs can be one workload
                continue
            labels.add(label)
            for probe in [c for c in writer.summary.cells if c.seq == label]:
                search.record(probe.load_level, probe)
            if search.probes:
                kept = ", ".join(f"{p.level:g}" for p in search.probes)
                self.observer(Notice("info", f"search {seq}: {len(search.probes)} probes kept ({kept}), going on"))
            while (level := search.next_level()) is not None:
                cell = probe_cell(grid, seq, level, index=len(writer.summary.cells))
                if (sockets := open_files_left()) is not None and worst_in_flight(cell, self.profile)[0] > sockets:
                    # Past the open-file limit its requests would fail for want of sockets, which
                    # the search would read as the server failing: the client's limit, said as such.
                    search.stopped = f"the client's open-file limit allows about {sockets} in flight (ulimit -n)"
                    break
                if info.max_model_len and cell.longest_request > info.max_model_len:
                    search.stopped = f"ISL+OSL exceeds the server's max_model_len {info.max_model_len}"
                    break
                search.record(level, await self._measure(target, launcher, cell, info, factory, writer))
            found = search.summary(seq)
            writer.summary.search.append(found)
            writer.write_summary()
            self.observer(Notice("info", f"search: {found['sentence']}"))

    async def _run_cell(
        self, target: Target, launcher, cell: Cell, info: ServerInfo, factory: PromptFactory, writer
    ) -> CellResult:
        emit = self.observer
        self._cell = cell
        emit(CellStarted(cell, len(self.plan)))
        telemetry, warmup_tokens = self.telemetry, 0
        if telemetry:
            await telemetry.begin_cell(cell)
        if cell.warmup_requests:
            emit(PhaseChanged("warmup", f"{cell.warmup_requests} requests", cell))
            warm, _, _ = await self._load_phase(target, launcher, cell, info, factory, writer, warmup=True)
            warmup_tokens = sum(r.output_tokens for r in warm)
            if telemetry:
                await telemetry.warmup_done(cell)
        pace = f"{cell.rate:g} req/s ({self.profile.grid.arrival})" if cell.rate else f"concurrency {cell.concurrency}"
        emit(PhaseChanged("measuring", f"{cell.num_prompts} requests at {pace}", cell))
        records, duration, client = await self._load_phase(target, launcher, cell, info, factory, writer, warmup=False)
        ended = time.time()
        result = summarize_cell(cell, records, duration, self.profile.recipe.tensor_devices(), client)
        workload_figures(result, cell, records, self.profile)
        writer.summary.skipped.extend(note for note in self._skipped_notes if "skipped" in note)
        self._skipped_notes.clear()
        if telemetry:  # the measured window: the load's own duration, ending now
            await telemetry.finish_cell(cell, result, ended - duration, ended, warmup_tokens)
        for flag in result.flags:
            emit(Notice("warning", f"cell {cell.label}: {flag.reason}"))
        return result

    async def _load_phase(
        self, target: Target, launcher, cell: Cell, info: ServerInfo, factory: PromptFactory, writer, *, warmup: bool
    ) -> tuple[list[RequestRecord], float, ClientFigures]:
        """One closed-loop pass over prepared requests: the warm-up (unmeasured) or the measurement."""
        n, output_len = (
            (cell.warmup_requests, cell.warmup_output_len) if warmup else (cell.num_prompts, cell.output_len)
        )
        requests = await self._prepare(target, cell, info, factory, n, output_len, salt=10**6 if warmup else 0)
        keep_text = not info.usage_reported
        records: list[RequestRecord] = []

        def on_record(record: RequestRecord) -> None:
            if (own := requests[record.index]).input_len is not None:  # a dataset request: its own lengths
                record.input_len, record.output_len = own.input_len, own.output_len
            if keep_text and record.ok:
                record.output_tokens = factory.count(record.text or "")
            records.append(record)
            writer.add_request(record)

        load = CellLoad(total=len(requests))
        if self.telemetry and not warmup:
            load.on_first_token = self.telemetry.recorder.wake
        reporter = None if warmup else asyncio.create_task(ProgressReporter(cell, load, self.observer).run())
        if not warmup:
            self._measuring = (cell, records)
        cpu_start = time.process_time()
        sched_start = schedstat.sample()
        lag = LoopLagMonitor()
        common = dict(output_len=output_len, warmup=warmup, on_record=on_record, load=load)
        longest = max((r.output_len or output_len for r in requests), default=output_len)
        common["deadline_s"] = self.profile.load.deadline_s(longest)
        # A task of its own, so a write fault (a full disk) can stop the load alone (_stop_load).
        self._load_task = asyncio.ensure_future(self._send(target, cell, requests, n, warmup, common))
        try:
            with lag:
                duration, workers = await self._load_task
        except asyncio.CancelledError:
            if self.faults.fault is None or asyncio.current_task().cancelling():
                raise  # the run itself was stopped (a signal)
            raise self.faults.fault from None
        finally:
            self._load_task = None
            if reporter is not None:
                reporter.cancel()
        self.faults.check()
        sched = schedstat.between(sched_start, schedstat.sample())
        self._measuring = None
        if not warmup:
            ProgressReporter(cell, load, self.observer).emit()
        advice = EXTERNAL_ADVICE if self.profile.mode == "external" else LAUNCHED_ADVICE
        if workers is not None:  # the load ran in the workers: theirs are the client's figures
            return records, duration, merge_workers(workers, advice)
        return records, duration, ClientFigures(time.process_time() - cpu_start, lag.lags, sched, advice)

    async def _send(
        self, target: Target, cell: Cell, requests: list[PreparedRequest], n: int, warmup: bool, common: dict
    ) -> tuple[float, list | None]:
        """Send a phase's requests in the cell's way; returns the duration, and the workers' figures
        when the load ran in worker processes (else None)."""
        grid, workers = self.profile.grid, None
        if cell.dataset == "trace" and not warmup:  # the trace's own send times
            offsets = [r.planned_s or 0.0 for r in requests]
        elif cell.rate and not warmup:
            # Multi-turn: the rate is of conversation starts (engine/load/conversations.py).
            sends = len(requests) // cell.turns if cell.turns else n
            seed = self.profile.load.seed + cell.index
            offsets = schedule(sends, cell.rate, grid.arrival, grid.burstiness, seed)
        else:
            offsets = None
        if cell.turns and not warmup:
            duration = await run_conversations(
                target, cell, requests, starts=offsets, max_in_flight=cell.concurrency or None, **common
            )
        elif offsets is not None:
            max_in_flight = cell.concurrency or None
            if self.pool is not None:
                duration, workers = await self.pool.run_phase(
                    cell, requests, offsets, max_in_flight=max_in_flight, **common
                )
            else:
                duration = await run_open_loop(target, cell, requests, offsets, max_in_flight=max_in_flight, **common)
        else:  # a rate cell's warm-up goes closed-loop, all its requests at once
            slots = cell if not cell.open_loop else replace(cell, concurrency=max(1, len(requests)))
            if self.pool is not None:
                duration, workers = await self.pool.run_phase(slots, requests, None, **common)
            else:
                duration = await run_closed_loop(target, slots, requests, **common)
        return duration, workers

    async def _prepare(
        self, target: Target, cell: Cell, info: ServerInfo, factory: PromptFactory, n: int, output_len: int, salt: int
    ) -> list[PreparedRequest]:
        """Requests made ahead of the cell (off the loop), so the timed loop only sends them."""

        if cell.dataset:
            return await self._prepare_dataset(target, cell, info, factory, n, salt)

        def build() -> list[PreparedRequest]:
            make = factory.token_ids if info.prompt_kind == "token_ids" else factory.text
            out = []
            for i in range(n):
                out.append(target.prepare(make(cell.input_len, cell.index, salt + i), output_len))
            return out

        return await asyncio.get_running_loop().run_in_executor(None, build)

    async def _prepare_dataset(
        self, target: Target, cell: Cell, info: ServerInfo, factory: PromptFactory, n: int, salt: int
    ) -> list[PreparedRequest]:
        """A dataset or trace cell's requests, each with its own lengths (engine/load/datasets.py)."""
        warmup = salt != 0
        items, notes = await asyncio.get_running_loop().run_in_executor(
            None,
            lambda: build_items(
                self.profile.grid,
                cell,
                factory,
                info.prompt_kind,
                n,
                seed=self.profile.load.seed,
                salt=salt,
                max_model_len=info.max_model_len,
                warmup_output_len=cell.warmup_output_len if warmup else None,
            ),
        )
        if not warmup:
            for note in notes:
                self.observer(Notice("warning", note))
            self._skipped_notes.extend(notes)
        out = []
        for it in items:
            if it.conversation is not None:  # a turn: made into a request once the turns before it are answered
                request = PreparedRequest(it.prompt.token_ids, it.input_len, conversation=it.conversation, turn=it.turn)
            else:
                request = target.prepare(it.prompt, it.output_len)
            out.append(replace(request, input_len=it.input_len, output_len=it.output_len, planned_s=it.planned_s))
        return out


def _request_cells(path: Path) -> set[int]:
    """The cell indices that have requests in requests.jsonl."""
    if not path.exists():
        return set()
    return {int(m) for m in re.findall(r'"cell":(\d+)', path.read_text())}


def _key(level: float, seq: str) -> tuple[float, str]:
    """A cell's place in the grid: its request rate or concurrency, and its lengths or dataset label
    (lengths alone would not tell two multi-turn or random cells with per-request lengths apart)."""
    return float(level), seq


def _result_key(result: CellResult) -> tuple[float, str]:
    """A finished cell's place: a trace cell's result carries the trace's mean rate, but its plan
    cell has none (the trace sets the pace): key it by its cap on requests in flight, as planned."""
    if result.open_loop and result.open_loop.arrival.startswith("trace"):
        return _key(result.open_loop.max_in_flight or 0, result.seq)
    return _key(result.load_level, result.seq)


def _cell_key(cell: Cell) -> tuple[float, str]:
    """The same place for a planned cell, as its result will name it (CellResult.seq)."""
    return _key(cell.rate or cell.concurrency, cell.seq or f"{cell.input_len}/{cell.output_len}")


def recipe_api_key(args: list[str]) -> str | None:
    """The key a launched server was given (`--api-key K`): the client must send it."""
    for i, tok in enumerate(args):
        if tok == "--api-key" and i + 1 < len(args):
            return args[i + 1]
        if tok.startswith("--api-key="):
            return tok.split("=", 1)[1]
    return None


def client_env() -> dict[str, str]:
    """The client's credentials: OPENAI_API_KEY (set by --api-key), sent as a bearer token."""
    key = os.environ.get("OPENAI_API_KEY")
    return {"OPENAI_API_KEY": key} if key else {}


def _lengths_note(info: ServerInfo) -> str:
    if info.prompt_kind == "token_ids":
        made = "input: token-id prompts (exact by construction)"
    else:
        made = f"input: text made to length with the tokenizer {info.tokenizer} (checked against reported usage)"
    counted = (
        "output: counted from the engine's token ids"
        if info.api == "engine"
        else "output: counted from the server's usage"
        if info.usage_reported
        else (f"output: the server reports no usage; counted with the tokenizer {info.tokenizer}")
    )
    return f"{made}; {counted}; api {api_path(info.api)}"
