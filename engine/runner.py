"""One benchmark run: Profile -> Plan -> Launcher -> LoadGenerator -> events -> Results.

Observers (the headless console, the TUI) receive every event; the run owns no presentation.
"""

from __future__ import annotations

import asyncio
import collections
import json
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from engine import __version__
from engine.discovery import DiscoveryError, ServerInfo, discover
from engine.events import (
    CellFinished,
    ServerStateChanged,
    CellStarted,
    LoadProgress,
    Notice,
    Observer,
    PhaseChanged,
    RunFinished,
)
from engine.launcher import LaunchError, ServerLauncher, make_launcher
from engine.client_health import LoopLagMonitor, health
from engine.loadgen import CellLoad, RequestRecord, new_session, run_closed_loop
from engine.metrics import summarize_cell
from engine.plan import Cell, build_plan
from engine.profiles import ResolvedProfile
from engine.prompts import PromptFactory, request_body
from engine.results import ResultsWriter, new_run_dir
from engine.server_metrics import poll

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass
class RunOutcome:
    status: str  # completed, failed, interrupted
    exit_code: int
    results_dir: Path
    cells: list[dict] = field(default_factory=list)
    error: str | None = None


class ProgressReporter:
    """Samples a cell's counters twice a second: live output tok/s over the last 5 s."""

    def __init__(self, cell: Cell, load: CellLoad, observer: Observer, window_s: float = 5.0):
        self.cell, self.load, self.observer, self.window_s = cell, load, observer, window_s
        self.samples: collections.deque[tuple[float, int]] = collections.deque()

    def emit(self) -> None:
        now = time.perf_counter()
        self.samples.append((now, self.load.output_tokens))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window_s:
            self.samples.popleft()
        t0, n0 = self.samples[0]
        rate = (self.load.output_tokens - n0) / (now - t0) if now > t0 else 0.0
        load = self.load
        self.observer(
            LoadProgress(self.cell, load.done, load.failed, load.in_flight, load.total, load.output_tokens, rate, now - load.started)
        )

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self.emit()


class Runner:
    def __init__(self, profile: ResolvedProfile, observer: Observer, results_root: Path):
        self.profile = profile
        self.observer = observer
        self.results_root = results_root
        self.plan = build_plan(profile.grid)

    async def run(self) -> RunOutcome:
        profile, emit = self.profile, self.observer
        run_dir = new_run_dir(self.results_root, profile.name)
        writer = ResultsWriter(run_dir, profile)
        writer.meta = {
            "tool": f"llmbench-tui {__version__}",
            "profile": profile.name,
            "status": "running",
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "host": socket.gethostname(),
            "mode": profile.mode,
            "hardware": profile.hardware.name,
            "accelerator": profile.hardware.accelerator,
            "devices": profile.recipe.tensor_devices(),
            "recipe": profile.recipe.name,
            "model_profile": profile.model.name,
            "plan": [c.to_dict() for c in self.plan],
        }
        writer.write_summary()
        launcher = None
        outcome = RunOutcome("failed", EXIT_FAILED, run_dir)
        try:
            emit(PhaseChanged("launching", f"{profile.mode} mode"))
            launcher = make_launcher(profile, run_dir, lambda m: emit(Notice("info", m)))
            if isinstance(launcher, ServerLauncher):
                writer.meta["launch_command"] = launcher.spec.shell()
                emit(PhaseChanged("waiting", f"waiting for {launcher.base_url}/health"))
            await launcher.start(emit)
            writer.meta["endpoint"] = launcher.base_url
            outcome = await self._drive(launcher, writer)
        except asyncio.CancelledError:
            outcome = RunOutcome("interrupted", EXIT_INTERRUPTED, run_dir, writer.cells, "interrupted by the user")
        except LaunchError as exc:
            outcome = RunOutcome("failed", exc.exit_code, run_dir, writer.cells, str(exc))
        except DiscoveryError as exc:
            outcome = RunOutcome("failed", EXIT_FAILED, run_dir, writer.cells, str(exc))
        finally:
            if launcher is not None and launcher.launched:
                emit(PhaseChanged("stopping", "stopping the server"))
                await asyncio.shield(launcher.stop())
            writer.meta["status"] = outcome.status
            writer.meta["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            writer.meta["error"] = outcome.error
            writer.write_summary()
            writer.close()
        emit(PhaseChanged(outcome.status if outcome.status != "completed" else "done", outcome.error or ""))
        emit(RunFinished(outcome.status, str(run_dir), outcome.cells, outcome.error))
        return outcome

    async def _drive(self, launcher, writer: ResultsWriter) -> RunOutcome:
        profile, emit = self.profile, self.observer
        max_c = max(c.concurrency for c in self.plan)
        timeout = httpx.Timeout(60.0, connect=30.0)  # control plane only; the load goes through aiohttp
        async with httpx.AsyncClient(timeout=timeout) as client, new_session(max_c, profile.load.request_timeout_s) as session:
            emit(PhaseChanged("discovering", "asking the server what it serves"))
            info, factory = await discover(client, session, launcher.base_url, profile, launcher.model_arg)
            writer.meta["server"] = info.to_dict()
            writer.meta["lengths"] = _lengths_note(info)
            writer.write_summary()
            emit(Notice("info", f"model {info.model}; {writer.meta['lengths']}"))
            poller = asyncio.create_task(poll(client, launcher.base_url, lambda s: emit(ServerStateChanged(s))))
            try:
                await self._cells(session, launcher, info, factory, writer)
            finally:
                poller.cancel()
        completed = sum(c["completed"] for c in writer.cells)
        if completed == 0:
            errors = collections.Counter(e for c in writer.cells for e in c["errors"])
            detail = "; ".join(f"{n}x {e}" for e, n in errors.most_common(3))
            return RunOutcome("failed", EXIT_FAILED, writer.dir, writer.cells, f"every request failed: {detail}")
        return RunOutcome("completed", EXIT_OK, writer.dir, writer.cells)

    async def _cells(self, session, launcher, info: ServerInfo, factory: PromptFactory, writer: ResultsWriter) -> None:
        emit = self.observer
        for cell in self.plan:
            if info.max_model_len and cell.input_len + cell.output_len > info.max_model_len:
                why = f"cell {cell.label} skipped: ISL+OSL exceeds the server's max_model_len {info.max_model_len}"
                writer.meta.setdefault("skipped", []).append(why)
                emit(Notice("warning", why))
                continue
            summary = await self._run_cell(session, launcher, cell, info, factory, writer)
            writer.cells.append(summary)
            writer.write_summary()
            emit(CellFinished(cell, summary))
            if not launcher.alive():
                raise LaunchError(f"the server died during cell {cell.label}; see {writer.dir / 'server.log'}")

    async def _run_cell(self, session, launcher, cell: Cell, info: ServerInfo, factory: PromptFactory, writer) -> dict:
        emit = self.observer
        path = "/v1/completions" if info.api == "completions" else "/v1/chat/completions"
        url = launcher.base_url + path
        keep_text = not info.usage_reported
        emit(CellStarted(cell, len(self.plan)))

        def on_record(record: RequestRecord) -> None:
            if keep_text and record.ok:
                record.output_tokens = factory.count(record.text or "")
            records.append(record)
            writer.add_request(record)

        if cell.warmup_requests:
            emit(PhaseChanged("warmup", f"{cell.warmup_requests} requests", cell))
            bodies, lens = await self._bodies(cell, info, factory, cell.warmup_requests, cell.warmup_output_len, salt=10**6)
            records: list[RequestRecord] = []
            load = CellLoad(total=len(bodies))
            await run_closed_loop(session, url, info.api, cell, bodies, lens, cell.concurrency, warmup=True,
                                  keep_text=keep_text, on_record=on_record, load=load)  # fmt: skip
        emit(PhaseChanged("measuring", f"{cell.num_prompts} requests at concurrency {cell.concurrency}", cell))
        bodies, lens = await self._bodies(cell, info, factory, cell.num_prompts, cell.output_len, salt=0)
        records = []
        load = CellLoad(total=len(bodies))
        reporter = ProgressReporter(cell, load, emit)
        task = asyncio.create_task(reporter.run())
        cpu_start = time.process_time()
        lag = LoopLagMonitor()
        try:
            with lag:
                duration = await run_closed_loop(session, url, info.api, cell, bodies, lens, cell.concurrency, warmup=False,
                                                 keep_text=keep_text, on_record=on_record, load=load)  # fmt: skip
        finally:
            task.cancel()
        client_cpu_s = time.process_time() - cpu_start
        reporter.emit()
        summary = summarize_cell(cell, records, duration, self.profile.recipe.tensor_devices())
        # What this client cost: on a shared host every client CPU second is taken from the server.
        summary["client_cpu_s"] = client_cpu_s
        summary["client_cpu_ms_per_1k_tokens"] = 1e6 * client_cpu_s / max(summary["total_output_tokens"], 1)
        figures, warning = health(lag.lags, records, client_cpu_s, duration, summary["mean_itl_ms"])
        summary.update(figures)
        summary["client_warning"] = warning
        if warning:
            emit(Notice("warning", f"cell {cell.label}: {warning}"))
        return summary

    async def _bodies(self, cell: Cell, info: ServerInfo, factory: PromptFactory, n: int, output_len: int, salt: int):
        """Request bodies serialised ahead of the cell, so the timed loop only sends bytes."""

        def build():
            bodies, lens = [], []
            for i in range(n):
                make = factory.token_ids if info.prompt_kind == "token_ids" else factory.text
                prompt = make(cell.input_len, cell.index, salt + i)
                body = request_body(info.api, info.model, prompt, output_len, usage=True)
                bodies.append(json.dumps(body, separators=(",", ":")).encode())
                lens.append(prompt.expected_len)
            return bodies, lens

        return await asyncio.get_running_loop().run_in_executor(None, build)


def _lengths_note(info: ServerInfo) -> str:
    if info.prompt_kind == "token_ids":
        made = "input: token-id prompts (exact by construction)"
    else:
        made = f"input: text made to length with the tokenizer {info.tokenizer} (checked against reported usage)"
    counted = "output: counted from the server's usage" if info.usage_reported else (
        f"output: the server reports no usage; counted with the tokenizer {info.tokenizer}"
    )
    return f"{made}; {counted}; api /v1/{'completions' if info.api == 'completions' else 'chat/completions'}"
