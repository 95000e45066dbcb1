"""One benchmark run: Profile -> Plan -> Launcher -> cells (engine.run.cell) -> Results.

The session owns the run's lifecycle: its summary (new or resumed), the server's launch and
discovery, the telemetry and load workers, the cell loop, and the final status. Observers (the
headless console, the TUI) receive every event; the run owns no presentation.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import traceback
from pathlib import Path

import httpx

from engine import __version__
from engine.events import CellFinished, Notice, Observer, PhaseChanged, RunFinished
from engine.exits import EXIT_FAILED, EXIT_INTERRUPTED
from engine.load.client import new_session
from engine.load.prompts import api_path
from engine.load.workers import WorkerPool
from engine.plan import Cell, build_plan
from engine.profiles import ResolvedProfile
from engine.redact import Redactor, secret_values
from engine.report.diskspace import FaultLatch, WriteFault
from engine.report.model import CellResult, RunSummary
from engine.report.results import ResultsWriter, new_run_dir
from engine.report.rounds import add_round, round_orders
from engine.report.run_notes import InterruptedCell, IsolationNote, RoundsNote, ServerNote
from engine.run.cell import CellContext, CellExecutor
from engine.run.outcome import RunOutcome, judge
from engine.run.resume import cell_key, done_rounds, resumed_summary
from engine.run.search_run import run_searches
from engine.run.seed import run_seed, seeded
from engine.run.senders import choose_workers, probe_ray, start_pool
from engine.run.telemetry import RunTelemetry
from engine.run.watch import LoadFault
from engine.server import isolation
from engine.server.discovery import DiscoveryError
from engine.server.launcher import LaunchError, make_launcher, run_isolation
from engine.server.launcher_base import ServerInfo, profile_env
from engine.stats.intervals import MEAN_METHOD


class RunSession:
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
        self.executor: CellExecutor | None = None
        self.telemetry: RunTelemetry | None = None
        # A failed write into the results folder (a full disk), from any writer: stops the load.
        self.faults = FaultLatch()
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

    async def run(self) -> RunOutcome:
        profile, emit = self.profile, self.observer
        run_dir = self.run_dir or new_run_dir(self.results_root, profile.name)
        summary = resumed_summary(profile, self.plan, run_dir, emit) if self.resume else self._new_summary()
        summary.seed = run_seed(profile, summary.seed, self.resume)
        self.profile = seeded(profile, summary.seed)  # profile.toml keeps the profile as given
        emit(Notice("info", f"prompts: {summary.seed.describe()}"))
        summary.status, summary.error, summary.pid = "running", None, os.getpid()
        iso = run_isolation(profile)
        summary.isolation = IsolationNote.model_validate(iso.to_dict())
        summary.stall_timeout_s = profile.load.stall_timeout_s
        summary.workers = choose_workers(profile, self.plan, iso)
        loop = asyncio.get_running_loop()
        self.faults.listener = lambda: loop.call_soon_threadsafe(self._stop_load)
        writer = ResultsWriter(run_dir, None if self.resume else self.redact(profile.to_toml()), summary, self.faults)
        launcher = None
        outcome = RunOutcome("failed", EXIT_FAILED, run_dir)
        try:
            writer.write_summary()
            launcher = self._launcher(summary, run_dir)
            # Whatever the Ray cluster can refuse is found before a server launch (minutes on a GPU host).
            self.pool = await probe_ray(profile, summary.workers, launcher, emit)
            await launcher.start(emit)
            summary.endpoint = launcher.base_url
            isolation.pin_client(iso)  # only now: a server launched from a pinned thread would inherit it
            outcome = await self._drive(launcher, writer)
        except asyncio.CancelledError:
            message = self._with_cut(summary, self.stop_reason)
            outcome = RunOutcome("interrupted", EXIT_INTERRUPTED, run_dir, summary.cells, message)
        except WriteFault as exc:
            self._cut_short(summary)
            outcome = RunOutcome("failed", EXIT_FAILED, run_dir, summary.cells, self._fault_message(exc))
        except LoadFault as exc:  # the server went away or stalled under load (engine/run/watch.py)
            message = self._with_cut(summary, exc.what) + (f"; {exc.diagnosis}" if exc.diagnosis else "")
            outcome = RunOutcome("failed", EXIT_FAILED, run_dir, summary.cells, message)
        except (LaunchError, DiscoveryError) as exc:  # each says its exit code
            outcome = RunOutcome("failed", exc.exit_code, run_dir, summary.cells, str(exc))
        except Exception as exc:  # a bug or an unforeseen fault: still a final status, a message, a trace
            try:
                (run_dir / "error.log").write_text(traceback.format_exc())
            except OSError:
                traceback.print_exc()  # to run.log, if that can still be written
            message = f"unexpected {exc.__class__.__name__}: {exc} (traceback in {run_dir / 'error.log'})"
            outcome = RunOutcome("failed", EXIT_FAILED, run_dir, summary.cells, message)
        finally:
            if self.pool is not None:
                self.pool.close()
            if launcher is not None and launcher.launched:
                emit(PhaseChanged("stopping", "stopping the server"))
                await _stop_server(launcher)
            summary.status, summary.pid = outcome.status, None
            summary.finished_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            summary.error = outcome.error = self.redact(outcome.error) if outcome.error else None
            writer.write_final()
            writer.close()
        emit(PhaseChanged(outcome.status if outcome.status != "completed" else "done", outcome.error or ""))
        emit(RunFinished(outcome.status, str(run_dir), outcome.cells, outcome.error, outcome.exit_code))
        return outcome

    def _launcher(self, summary: RunSummary, run_dir: Path):
        """The profile's launcher, not yet started; its command recorded in the summary."""
        emit = self.observer
        emit(PhaseChanged("launching", f"{self.profile.mode} mode"))
        launcher = make_launcher(self.profile, run_dir, lambda m: emit(Notice("info", m)))
        launcher.headers = self.headers
        launch = launcher.describe()
        if launch.command:
            summary.launch_command = self.redact(launch.command)
        if launch.waiting:
            emit(PhaseChanged("waiting", launch.waiting))
        return launcher

    def _cut_short(self, summary: RunSummary) -> tuple[Cell, list] | None:
        """The cell being measured when the run stopped, noted in the summary (a resume runs it again)."""
        if self.executor is None or self.executor.measuring is None:
            return None
        cell, records = self.executor.measuring
        summary.interrupted_cell = InterruptedCell(cell=cell.label, index=cell.index, recorded=len(records))
        return cell, records

    def _stop_load(self) -> None:
        """A write fault: stop the load phase running now (it raises the fault); between phases the
        run raises it at its next check."""
        if self.executor is not None:
            self.executor.stop_load()

    def _fault_message(self, fault: WriteFault) -> str:
        cell = self.executor.cell if self.executor is not None else None
        if cell is None:
            return fault.describe("before the first request")
        writer = self.executor.ctx.writer
        warm = writer.warmups_written[cell.index]
        also = f" (and {warm} warm-up requests)" if warm else ""
        return fault.describe(f"after {writer.written[cell.index]} requests of cell {cell.label}{also}")

    def _with_cut(self, summary: RunSummary, message: str) -> str:
        """Why the run stopped, and how far the cell being measured got (recorded in the summary)."""
        if (cut := self._cut_short(summary)) is not None:
            cell, records = cut
            message += (
                f", during cell {cell.label} after {len(records)} of its {cell.num_prompts} requests "
                "(kept in requests.jsonl, not summarised: a part of a cell is not a measurement of it)"
            )
        return message

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
            if profile.grid.turns() and info.prompt_kind != "token_ids":
                raise DiscoveryError(
                    f"dataset {profile.grid.dataset}: the server at {launcher.base_url} takes text prompts only; "
                    "multi-turn prompts are token ids (the answers' own tokens, exact lengths): use vLLM"
                )
            writer.summary.server = ServerNote.model_validate(info.to_dict())
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
                workers = writer.summary.workers
                # Load workers send to an endpoint; an engine inside this process has none.
                if (workers.count > 1 or profile.load.ray_address) and target.endpoint is not None:
                    self.pool = await start_pool(
                        profile, workers, target.endpoint, self.headers, max_c, emit, self.pool
                    )
                ctx = CellContext(
                    profile, target, launcher, info, factory, writer, emit, self.faults, self.telemetry, self.pool
                )
                self.executor = CellExecutor(ctx, len(self.plan))
                await self._cells(info, writer)
            finally:
                if self.pool is not None:
                    self.pool.close()
                    self.pool = None
                self.telemetry.stop()
                writer.summary.telemetry = self.telemetry.summary()
        return judge(writer.dir, writer.summary.cells, writer.summary.skipped, profile.load.max_failed_share)

    async def _cells(self, info: ServerInfo, writer: ResultsWriter) -> None:
        if self.profile.grid.search:
            await run_searches(self.profile, info, writer, self._measure, self.observer)
            return
        summary, repeats = writer.summary, self.profile.load.repeats
        orders = round_orders([c.index for c in self.plan], repeats, summary.seed.value)
        if repeats > 1:  # a resume keeps the orders its run recorded
            summary.rounds = summary.rounds or RoundsNote(repeats=repeats, orders=orders, method=MEAN_METHOD)
            orders = summary.rounds.orders
        by_index = {c.index: c for c in self.plan}
        done = done_rounds(summary.cells)
        todo: list[tuple[Cell, int]] = []  # in the order measured; what a resume has left, no more
        for r, order in enumerate(orders):
            for cell in map(by_index.__getitem__, order):
                if (cell_key(cell), r) in done:
                    continue  # finished before a resume
                if (why := too_long(cell, info)) is not None:
                    if r == 0:  # said once, not once a round
                        summary.skipped.append(why)
                        self.observer(Notice("warning", why))
                    continue
                todo.append((cell, r))
        for n, (cell, r) in enumerate(todo):
            await self._measure(cell, r, left=len(todo) - n)

    async def _measure(self, cell: Cell, round: int = 0, left: int | None = None) -> CellResult:
        """One cell (one round of it), recorded; then a check that the server is still there.
        `left`: the (cell, round)s the run has left, this one included (None: not known, a search)."""
        ctx = self.executor.ctx
        result = await self.executor.run_cell(cell, round, left)
        if (why := ctx.launcher.gone()) is not None:
            # Gone before the watch's next look (its requests all failed at once): as for a cut cell,
            # its requests stay in requests.jsonl unsummarised, and a resume measures it again.
            recorded = result.completed + result.failed
            ctx.writer.summary.interrupted_cell = InterruptedCell(cell=cell.label, index=cell.index, recorded=recorded)
            raise LoadFault(f"{why}, during cell {cell.label}", "see server.log in the results folder")
        result.gpu_hour_cost = self.profile.hardware.gpu_hour_cost
        repeats = self.profile.load.repeats
        if repeats > 1:
            result = result.model_copy(update={"round": round})
        whole = add_round(ctx.writer.summary.cells, result, repeats)
        ctx.writer.write_summary()
        self.observer(CellFinished(cell, whole))
        if result.failed and (why := await ctx.launcher.unreachable()):
            raise LaunchError(
                f"the server at {ctx.launcher.base_url} stopped answering during cell {cell.label}: {why}"
            )
        return result


def too_long(cell: Cell, info: ServerInfo) -> str | None:
    """Why a cell cannot be sent to this server (its longest request over max_model_len), or None."""
    if not info.max_model_len or cell.longest_request <= info.max_model_len:
        return None
    longest = f"a conversation's last turn ({cell.turns} x (ISL+OSL))" if cell.turns else "ISL+OSL"
    return f"cell {cell.label} skipped: {longest} exceeds the server's max_model_len {info.max_model_len}"


async def _stop_server(launcher) -> None:
    """Stop the server to the end, even when the run is cancelled meanwhile (a stop asked for as the
    last cell ended): the final summary is written after this, and must be."""
    stopping = asyncio.ensure_future(launcher.stop())
    while not stopping.done():
        try:
            await asyncio.shield(stopping)
        except asyncio.CancelledError:
            continue  # the run is ending already: its outcome says how
    stopping.result()


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
