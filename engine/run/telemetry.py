"""A run's telemetry: what to read for this profile and server, and per cell the counter snapshots
and figures that go into the cell's result (`server`, `telemetry`) and flags.

The cell executor calls, per cell: `begin_cell`, `warmup_done` (when there is a warm-up), then
`finish_cell` with the measured window, which returns what was read (a TelemetryWindow) for
engine.run.assemble to turn into the cell's figures. The counters are read when the server has
gone idle (no request running or waiting), not after a fixed sleep: vLLM counts a step's tokens
just after it streams them. Once idle before a cell, the server's prefix cache is emptied where it
allows it (load.reset_prefix_cache); the window says what that gave.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from engine.events import Observer, ServerState
from engine.plan import Cell
from engine.profiles import ResolvedProfile
from engine.report.diskspace import FaultLatch
from engine.report.run_notes import PromptSeed
from engine.server.launcher import Launcher
from engine.server.launcher_base import profile_env
from engine.telemetry.devices import AmdSmiReader, NvmlReader, ProcessTreeReader, visible_indices
from engine.telemetry.recorder import TelemetryRecorder, open_readers

CPU_NO_POWER = (
    "not available: no power sensor is read on CPU hosts (the server's CPU use and memory are recorded instead)"
)


def candidate_readers(profile: ResolvedProfile, launcher: Launcher) -> tuple[list, dict[str, str]]:
    """The hardware readers to try for this run, and notes for those that do not apply."""
    vendor, notes = profile.hardware.vendor, {}
    env = {**os.environ, **profile_env(profile)}
    pid = launcher.server_pid()
    # The devices the server uses: those the environment makes visible, else the first N (as vLLM
    # picks them); an external server's are unknown: every device is read.
    indices = visible_indices(env.get("HIP_VISIBLE_DEVICES" if vendor == "amd" else "CUDA_VISIBLE_DEVICES"))
    if indices is None and profile.mode != "external":
        indices = list(range(profile.recipe.tensor_devices()))
    readers: list = []
    if vendor == "nvidia":
        readers.append(NvmlReader(indices))
    elif vendor == "amd":
        readers.append(AmdSmiReader(indices))
    else:  # a GPU on a CPU profile's host is not the server's: its power is not this benchmark's
        notes["gpu"] = f"not read: the hardware profile {profile.hardware.name!r} is a CPU host"
    if pid is not None:
        readers.append(ProcessTreeReader(pid))
    elif profile.docker:
        notes["process"] = "not available: the server runs in a container (its processes are docker's)"
    elif profile.mode == "external":
        notes["process"] = "not available: external mode (the server's processes are not ours to read)"
    else:
        notes["process"] = "not available: no server process launched by this run"
    return readers, notes


@dataclass(frozen=True)
class TelemetryWindow:
    """What was read over one cell: the server's samples and the devices' readings, the counter
    snapshots at the cell's start, after its warm-up and once it had settled, and the measured
    window [t0, t1] (epoch seconds)."""

    t0: float
    t1: float
    server_samples: list
    readings: list
    cell_start: ServerState | None
    measure_start: ServerState | None
    end: ServerState | None
    settled: bool  # the server went idle at each snapshot (else its counters may include others' load)
    server_read: bool  # the server's state was read (a /metrics URL or the in-process engine's)
    devices_read: bool
    no_power: str | None
    warmup_output_tokens: int
    prefix_cache_reset: str | None = None  # what emptying the cache before the cell gave (None: not tried)
    seed: PromptSeed | None = None  # what the prompts were drawn from: the cache flag names it
    generation_counter: str | None = None  # the server's counter of generated tokens, by its backend's name


class RunTelemetry:
    def __init__(self, recorder: TelemetryRecorder, found: dict[str, str], emit: Observer, no_power: str | None):
        self.recorder, self.found, self.emit, self.no_power = recorder, found, emit, no_power
        self.scrapes = False  # a /metrics page is read (until it stops answering)
        self._cell_start: ServerState | None = None
        self._measure_start: ServerState | None = None
        self._settled = True
        self._idle_timeout_s = 5.0  # cut to 1 s once the server was found busy (others' load)
        self.launcher: Launcher | None = None  # empties the prefix cache before each cell, when set
        self.seed: PromptSeed | None = None
        self._resets: list[str] = []  # each cell's reset outcome, in order
        self._reset: str | None = None  # the current cell's

    @classmethod
    def open(
        cls,
        profile: ResolvedProfile,
        launcher: Launcher,
        run_dir: Path,
        headers: dict[str, str],
        emit: Observer,
        faults: FaultLatch | None = None,
        seed: PromptSeed | None = None,
    ) -> RunTelemetry:
        """The server's state comes from where the launcher says (its StateSource): a /metrics page
        read with its backend's names, or an in-process engine's stat logger."""
        candidates, notes = candidate_readers(profile, launcher)
        readers, found = open_readers(candidates)
        found.update(notes)
        source = launcher.state_source()
        found["server_metrics"] = source.description
        recorder = TelemetryRecorder(
            run_dir / "timeseries.jsonl",
            source.metrics_url,
            readers,
            headers,
            emit=emit,
            server_state=source.read,
            names=source.names,
        )
        gpus = any(r.kind in ("nvidia", "amd") for r in readers)
        no_power = (
            None if gpus else (CPU_NO_POWER if profile.hardware.vendor == "cpu" else "not available: no GPU read")
        )
        recorder.faults = faults
        recorder.start()
        telemetry = cls(recorder, found, emit, no_power)
        telemetry.seed, telemetry.scrapes = seed, source.metrics_url is not None
        if profile.load.reset_prefix_cache:
            telemetry.launcher = launcher
        else:
            found["prefix_cache_reset"] = "off (load.reset_prefix_cache = false)"
        return telemetry

    def summary(self) -> dict[str, str]:
        """What was detected and read, for summary.json's `telemetry`."""
        out = dict(self.found)
        if self.scrapes and self.recorder.metrics_url is None and self.recorder.metrics_note:
            out["server_metrics"] = f"stopped: {self.recorder.metrics_note}"
        if self._resets:
            out["prefix_cache_reset"] = reset_summary(self._resets)
        cost = self.recorder.cpu_ms_per_sample
        if cost is not None:
            out["sampler_cpu"] = f"{cost:.1f} ms of CPU per sample, {self.recorder.samples_taken} samples"
        return out

    async def _idle(self) -> tuple[ServerState | None, bool]:
        state, idle = await self.recorder.idle_state(self._idle_timeout_s)
        if not idle and state is not None:
            self._idle_timeout_s = 1.0
        return state, idle

    async def begin_cell(self, cell: Cell) -> None:
        self.recorder.set_phase(cell.index, "warmup" if cell.warmup_requests else "measuring")
        self.recorder.forget_before(time.time() - 5)
        self._cell_start, self._settled = await self._idle()
        self._measure_start = self._cell_start
        self._reset = None
        if self.launcher is not None:  # the server is idle now: nothing holds the cache's blocks
            self._reset = (await self.launcher.reset_prefix_cache()).text
            self._resets.append(self._reset)

    async def warmup_done(self, cell: Cell) -> None:
        self._measure_start, settled = await self._idle()
        self._settled = self._settled and settled
        self.recorder.set_phase(cell.index, "measuring")

    async def finish_cell(self, cell: Cell, t0: float, t1: float, warmup_output_tokens: int) -> TelemetryWindow:
        """What was read over the measured window [t0, t1] (epoch seconds), once the server is idle."""
        self.recorder.set_phase(cell.index, "settling")
        end, settled = await self._idle()
        self.recorder.set_phase(None, None)
        server_samples, readings = self.recorder.window()
        return TelemetryWindow(
            t0=t0,
            t1=t1,
            server_samples=server_samples,
            readings=readings,
            cell_start=self._cell_start,
            measure_start=self._measure_start,
            end=end,
            settled=settled and self._settled,
            server_read=bool(self.recorder.metrics_url or self.recorder.server_state or server_samples),
            devices_read=bool(readings or self.recorder.readers),
            no_power=self.no_power,
            warmup_output_tokens=warmup_output_tokens,
            prefix_cache_reset=self._reset,
            seed=self.seed,
            generation_counter=self.recorder.names.generation_tokens,
        )

    def stop(self) -> None:
        self.recorder.stop()


def reset_summary(outcomes: list[str]) -> str:
    """summary.json's telemetry.prefix_cache_reset: what resetting before each cell gave."""
    done = outcomes.count("reset")
    if done == len(outcomes):
        return f"reset before each cell ({done} of {done})"
    failed = sorted({o for o in outcomes if o != "reset"})
    return f"reset before {done} of {len(outcomes)} cells; " + "; ".join(failed)
