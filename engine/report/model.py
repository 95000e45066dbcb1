"""Typed results: a cell's figures and a run's summary (how each figure is shown: engine.report.registry).

summary.json keeps the names of `vllm bench serve --save-result` (`output_throughput`,
`mean_ttft_ms`, ...), so files compare with vLLM's own. A figure that cannot be computed
truthfully is None (shown as "n/a"), never 0, and the cell carries a flag saying why. Files of
schema 1 (before cells had flags) load: their client warning becomes a flag and a TPOT of 0
(every token of every request in one read) becomes n/a.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.report.cell_workload import (
    DatasetLengths,
    Goodput,
    OpenLoop,
    ReasoningFigures,
    SteadyState,
    TurnFigures,
)
from engine.report.client_worker import ClientWorker
from engine.report.cost import cost_per_million
from engine.report.run_notes import (
    InterruptedCell,
    IsolationNote,
    PromptSeed,
    Resumed,
    RoundsNote,
    SearchFound,
    ServerNote,
    WorkersNote,
)
from engine.shapes.base import ShapeKind
from engine.shapes.registry import RESULT_FIELDS, by_axis, recognise
from engine.stats.intervals import Interval

SCHEMA_VERSION = 2

# Flag codes: tools filter cells on these (summary.json: cells[].flags[].code).
FAILED_REQUESTS = "failed_requests"
ONE_READ = "one_read"  # every token of a request arrived in one read: TPOT/ITL unmeasurable
CLIENT_LIMIT = "client_limit"  # the client, not the server, may have set the figures
CLOCK_UNCERTAIN = "clock_uncertain"  # a worker's clock is known less well than the send lateness measured
CLIENT_STARVED = "client_starved"  # the client waited for a CPU a sizeable share of the cell
LENGTH_MISMATCH = "length_mismatch"
# The server's token counters disagree with ours over the cell (another client on the server?).
SERVER_MISMATCH = "server_mismatch"
# Prompts that share nothing by design hit the server's prefix cache (engine.telemetry.cache).
PREFIX_CACHE_HITS = "prefix_cache_hits"
# The load held its target for under half the cell (engine.report.steady).
SHORT_STEADY_STATE = "short_steady_state"
FLAG_CODES = (
    FAILED_REQUESTS,
    ONE_READ,
    CLIENT_LIMIT,
    CLIENT_STARVED,
    LENGTH_MISMATCH,
    SERVER_MISMATCH,
    PREFIX_CACHE_HITS,
    SHORT_STEADY_STATE,
    CLOCK_UNCERTAIN,
)


OMIT_NONE = Field(default=None, exclude_if=lambda v: v is None)  # a field added later: absent when None


class Flag(BaseModel):
    """Why a cell's figures are not to be taken at face value."""

    code: str
    reason: str


class Reading(BaseModel):
    # Results files are read by later versions (and other tools write more): unknown keys are kept
    # out of the model rather than refused.
    model_config = ConfigDict(extra="ignore", defer_build=True)


class SpecDecodeStats(Reading):
    """Speculative decoding over the measured window, from the server's counters, with vLLM's own
    definitions (vllm/v1/spec_decode/metrics.py): acceptance rate = accepted / drafted tokens;
    mean acceptance length = 1 + accepted tokens / drafts (the bonus token counted); per position
    = tokens accepted at that draft position / drafts."""

    drafts: int
    draft_tokens: int
    accepted_tokens: int
    acceptance_rate: float | None = None  # 0..1; None: no draft token
    mean_acceptance_length: float | None = None  # None: no draft
    acceptance_per_position: list[float] | None = None  # None: not exported


class ServerCellStats(Reading):
    """What the server said about itself over a cell, from its Prometheus /metrics (sampled about
    once a second). Gauges over the measured window; counters as deltas. None: not exported."""

    samples: int = 0  # scrapes inside the measured window
    gauges_note: str | None = None  # why the gauges are n/a, when no scrape fell inside the window
    running_mean: float | None = None
    running_max: float | None = None
    waiting_mean: float | None = None
    waiting_max: float | None = None
    kv_cache_usage_mean: float | None = None  # 0..1
    kv_cache_usage_max: float | None = None
    # Counter deltas over the measured window (read once the server had finished the warm-up, and
    # again once it had finished the cell), and over the whole cell, warm-up included.
    preemptions: int | None = None
    prompt_tokens: int | None = None
    generation_tokens: int | None = None
    cell_prompt_tokens: int | None = None
    cell_generation_tokens: int | None = None
    # How the server's counters compare with ours ("match", or what differs and by how much).
    token_check: str | None = None
    # Prompt tokens the prefix cache was asked for and found over the measured window, and their
    # ratio (None: not exported, or no lookup: caching off); what was done to the cache before the
    # cell ("reset", or why not). Left out of the file when None, as versions before them wrote it.
    prefix_cache_queries: int | None = OMIT_NONE
    prefix_cache_hits: int | None = OMIT_NONE
    prefix_cache_hit_rate: float | None = OMIT_NONE
    prefix_cache_reset: str | None = OMIT_NONE
    spec_decode: SpecDecodeStats | None = OMIT_NONE  # None: the server did not speculate


class DeviceCellStats(Reading):
    """One device (a GPU) or the launched server's process tree (CPU hosts), over the measured
    window. None: the device does not report it."""

    source: str  # nvidia:0, amd:1, process
    name: str = ""
    samples: int = 0
    utilization_mean: float | None = None  # %
    utilization_max: float | None = None
    memory_used_max_mib: float | None = None
    power_mean_w: float | None = None
    power_max_w: float | None = None
    energy_j: float | None = None  # power integrated over the window (trapezoids)
    temperature_max_c: float | None = None
    clock_mean_mhz: float | None = None
    # The server's process tree: CPU use in % of one core (200 = two cores busy), resident memory.
    cpu_percent_mean: float | None = None
    cpu_percent_max: float | None = None
    rss_max_mib: float | None = None


class TelemetryCellStats(Reading):
    """Hardware over the measured window. Energy is summed over devices that measure power; where
    none does it is None and `energy_note` says why (absent is never 0)."""

    devices: list[DeviceCellStats] = []
    power_mean_w: float | None = None
    energy_j: float | None = None
    output_tokens_per_joule: float | None = None
    energy_note: str | None = None


class CellFigures(Reading):
    """One cell of the grid: vLLM bench's keys first, then input_len/output_len and our extras
    (CellResult adds each load shape's own figures)."""

    duration: float
    completed: int
    failed: int
    num_prompts: int
    max_concurrency: int
    total_input_tokens: int
    total_output_tokens: int
    request_throughput: float
    output_throughput: float
    total_token_throughput: float
    # Latencies in ms over completed requests; None where no request allows a true value.
    mean_ttft_ms: float | None = None
    median_ttft_ms: float | None = None
    std_ttft_ms: float | None = None
    p90_ttft_ms: float | None = None
    p99_ttft_ms: float | None = None
    mean_tpot_ms: float | None = None
    median_tpot_ms: float | None = None
    std_tpot_ms: float | None = None
    p90_tpot_ms: float | None = None
    p99_tpot_ms: float | None = None
    mean_itl_ms: float | None = None
    median_itl_ms: float | None = None
    std_itl_ms: float | None = None
    p90_itl_ms: float | None = None
    p99_itl_ms: float | None = None
    mean_e2el_ms: float | None = None
    median_e2el_ms: float | None = None
    std_e2el_ms: float | None = None
    p90_e2el_ms: float | None = None
    p99_e2el_ms: float | None = None
    input_len: int
    output_len: int
    cell: int = 0
    # Tokens per second one user sees while decoding (1000 / mean TPOT).
    interactivity: float | None = None
    devices: int = 1
    total_token_throughput_per_gpu: float = 0.0
    output_throughput_per_gpu: float = 0.0
    # Against the cell's lengths, as the server counted them (a chat template adds tokens).
    input_len_mismatches: int = 0
    mean_input_tokens: float = 0.0
    output_len_mismatches: int = 0
    # Completed requests whose every token came in one read (their TPOT and ITL are left out).
    one_read_requests: int = 0
    errors: dict[str, int] = {}
    # The price of a GPU-hour the run was given (hardware.gpu_hour_cost, any currency); None: unpriced.
    gpu_hour_cost: float | None = OMIT_NONE
    # Failed requests the server turned away as overloaded (HTTP 429 or 503), counted apart.
    rejected: int = 0
    # A rate cell (open loop): how its requests were sent; goodput where SLOs were given.
    open_loop: OpenLoop | None = None
    goodput: Goodput | None = None
    # Its load shape's axis (engine.shapes.registry: "concurrency", "rate", ...): what compare
    # matches and how the cell is named. None (results of schema 2, a vLLM bench file): see load_shape.
    shape: str | None = None
    # A dataset or trace cell (input_len / output_len 0: per request): its realised lengths.
    dataset: DatasetLengths | None = None
    # A multi-turn cell: figures per turn (TTFT grows with the history each turn carries).
    turns: list[TurnFigures] | None = None
    # The window in which the load held its target, and its figures (engine.report.steady); None:
    # the shape has none (a climbing rate, a trace) or results written before it was measured.
    steady: SteadyState | None = OMIT_NONE
    reasoning: ReasoningFigures | None = OMIT_NONE  # a chat cell whose answers streamed reasoning
    # The client's own health while the cell ran (engine.report.metrics.client_health).
    client_cpu_s: float | None = None
    client_cpu_ms_per_1k_tokens: float | None = None
    client_cpu_util: float | None = None
    client_loop_lag_p99_ms: float | None = None
    client_loop_lag_max_ms: float | None = None
    client_send_delay_p99_ms: float | None = None
    # With several load workers (--workers): each one's health (engine.report.client_worker). client_cpu_s
    # is then their sum, client_cpu_util the busiest one's share of a core, the lag and run-queue
    # figures the worst one's (engine.report.worker_health shows them).
    client_workers: list[ClientWorker] | None = None
    # The load thread's scheduling (Linux schedstat) and the host's CPU while the cell ran; None
    # where the kernel does not tell.
    client_on_cpu_s: float | None = None
    client_run_queue_wait_s: float | None = None
    client_run_queue_share: float | None = None
    client_involuntary_switches: int | None = None
    host_cpu_util: float | None = None
    host_steal: float | None = None
    flags: list[Flag] = []
    # The server's own metrics and the hardware's telemetry over the cell (None: not recorded).
    server: ServerCellStats | None = None
    telemetry: TelemetryCellStats | None = None
    # --repeat N (engine.report.rounds): a round's result has its `round`; a cell's keeps its `rounds` and
    # per figure of merit the 95% interval of their mean (the cell's figure). Absent for one round.
    round: int | None = OMIT_NONE
    rounds: list[CellResult] | None = OMIT_NONE
    intervals: dict[str, Interval] | None = OMIT_NONE

    @model_validator(mode="before")
    @classmethod
    def _from_schema_1(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "client_warning" not in data:
            return data
        data = dict(data)
        flags = list(data.get("flags") or [])
        if warning := data.pop("client_warning"):
            flags.append({"code": CLIENT_LIMIT, "reason": warning})
        if data.get("completed") and not data.get("mean_tpot_ms"):
            # Schema 1 wrote 0 where every token of every request came in one read.
            for stat in ("mean", "median", "std", "p90", "p99"):
                data[f"{stat}_tpot_ms"] = None
                if not data.get(f"{stat}_itl_ms"):
                    data[f"{stat}_itl_ms"] = None
            data["interactivity"] = None
            flags.append({"code": ONE_READ, "reason": "TPOT recorded as 0 by an older version: n/a"})
        data["flags"] = flags
        return data

    @property
    def seq(self) -> str:
        return self.dataset.name if self.dataset else f"{self.input_len}/{self.output_len}"

    @property
    def label(self) -> str:
        return f"{self.load_label} {self.seq}"

    @property
    def request_rate(self) -> float | None:
        return self.open_loop.request_rate if self.open_loop else None

    @property
    def achieved_rate(self) -> float | None:
        return self.open_loop.achieved_rate if self.open_loop else None

    @property
    def peak_in_flight(self) -> int | None:
        return self.open_loop.peak_in_flight if self.open_loop else None

    @property
    def request_goodput(self) -> float | None:
        return self.goodput.request_goodput if self.goodput else None

    @property
    def load_shape(self) -> ShapeKind:
        """Its load shape: the one it names, else the one its figures show (each shape recognises its own)."""
        return by_axis(self.shape) if self.shape else by_axis(recognise(vars(self)))

    @property
    def load_level(self) -> float:
        """Where the cell sits on the load axis: its request rate (as its shape names it), else its concurrency."""
        return self.load_shape.result_level(self)

    @property
    def load_label(self) -> str:
        return self.load_shape.result_label(self)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    def flag_codes(self) -> list[str]:
        return [f.code for f in self.flags]

    @property
    def cost_per_mtok(self) -> float | None:
        """Cost of a million output tokens on the cell's devices, in the price's currency (None: unpriced)."""
        return cost_per_million(self.gpu_hour_cost, self.devices, self.output_throughput)

    @property
    def energy_j(self) -> float | None:
        """Energy of the measured window, summed over the devices (None: not measured here)."""
        return self.telemetry.energy_j if self.telemetry is not None else None

    @property
    def output_tokens_per_joule(self) -> float | None:
        return self.telemetry.output_tokens_per_joule if self.telemetry is not None else None

    @property
    def prefix_cache_hit_rate(self) -> float | None:
        """The share of prompt tokens the server found in its prefix cache (None: not known)."""
        return self.server.prefix_cache_hit_rate if self.server is not None else None

    @property
    def spec_decode(self) -> SpecDecodeStats | None:
        return self.server.spec_decode if self.server is not None else None

    @property
    def spec_acceptance_rate(self) -> float | None:
        return self.spec_decode.acceptance_rate if self.spec_decode is not None else None

    @property
    def spec_acceptance_length(self) -> float | None:
        return self.spec_decode.mean_acceptance_length if self.spec_decode is not None else None


class CellResult(*reversed(RESULT_FIELDS), CellFigures):  # (the shapes' keys after the cell's own in a dump)
    """One cell of the grid: its figures, then each load shape's own (engine/shapes: RESULT_FIELDS)
    under their own keys, as summary.json has them."""

    model_config = ConfigDict(extra="ignore", defer_build=True)


class RunSummary(Reading):
    """summary.json: the run's metadata and its cells, rewritten after each cell."""

    schema_version: int = SCHEMA_VERSION
    tool: str = ""
    profile: str = ""
    status: str = "running"  # running, completed, failed, interrupted
    started_at: str | None = None
    finished_at: str | None = None
    host: str | None = None
    mode: str = "server"
    hardware: str | None = None
    accelerator: str | None = None
    devices: int = 1
    recipe: str | None = None
    model_profile: str | None = None
    plan: list[dict[str, Any]] = []
    launch_command: str | None = None
    endpoint: str | None = None
    server: ServerNote | None = None
    lengths: str | None = None
    isolation: IsolationNote | None = None
    skipped: list[str] = []
    error: str | None = None
    pid: int | None = None  # of the run process, while it runs (`ls` and `attach` check it is alive)
    resumed: list[Resumed] = []  # one entry per --resume
    search: list[SearchFound] = []  # per ISL/OSL, what a --search found and why it stopped
    interrupted_cell: InterruptedCell | None = None
    stall_timeout_s: float | None = None  # load.stall_timeout_s: the stall bound this run held to (engine/run/watch.py)
    # What telemetry was found: per source ("nvidia", "amd", "process", "server_metrics"), what it
    # reads or "not available: why".
    telemetry: dict[str, str] | None = None
    workers: WorkersNote | None = None  # the load's worker processes
    seed: PromptSeed | None = None  # None: a run from before seeds were recorded (it used load.seed, 0 by default)
    rounds: RoundsNote | None = OMIT_NONE  # --repeat N: the rounds, their cell orders, the interval's method
    cells: list[CellResult] = Field(default_factory=list)
