"""The metric registry: every figure of a cell that a front end shows, compares or searches on,
declared once (its label, unit, format, direction, vLLM bench key, and where it appears).

The console's and TUI's tables, the HTML report, `compare` and the search read their metrics
from here; a new metric is one entry below (and its computation in engine.report.metrics).
Latencies come in families (TTFT, TPOT, ITL, E2E), each with vLLM bench's statistics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from operator import attrgetter
from typing import Any

from engine.report.model import CellResult
from engine.shapes.base import Column
from engine.shapes.registry import COLUMNS as SHAPE_COLUMNS
from engine.stats.intervals import Interval


class Table(Enum):
    """The cell tables a metric can be a column of."""

    CONSOLE = "console"  # the console's summary, the HTML report, the CSV/Markdown/JSON cell tables
    COMPACT = "compact"  # the TUI's narrower table beside the charts


@dataclass(frozen=True)
class Compared:
    """A metric `compare` takes the ratio of: its column's place and header in the ratio table."""

    order: int
    label: str


@dataclass(frozen=True)
class Metric:
    """How one figure of a cell is named, measured and printed (one definition for every front end)."""

    key: str  # the CellResult attribute holding it
    label: str  # short column header
    unit: str
    fmt: str
    higher_is_better: bool | None = None  # None: not a figure of merit (a count, a setting)
    vllm_key: str | None = None  # its key in `vllm bench serve --save-result` (None: ours only)
    tables: frozenset[Table] = frozenset()
    # A column only where some cell of the table has it (a rate cell's columns); None: always.
    shown_if: Callable[[CellResult], bool] | None = None
    compared: Compared | None = None
    # The text that stands for the value in a cell where the figure does not apply (None: the value).
    placeholder: Callable[[CellResult], str | None] | None = None
    # Where a figure lives in a part of the cell (its steady state, its reasoning): how to read it.
    read: Callable[[CellResult], Any] | None = None
    # Reads the figure from a cell (or anything with the same attribute, such as a turn's figures):
    # built once, from `read` where given, else from `key`.
    value: Callable[[Any], Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", self.read or attrgetter(self.key))

    def text(self, cell: Any) -> str:
        if self.placeholder is not None and (stand_in := self.placeholder(cell)) is not None:
            return stand_in
        value = self.value(cell)
        return "n/a" if value is None else self.fmt.format(value)

    def interval(self, cell: CellResult) -> Interval | None:
        """The 95% interval of the figure's mean over a cell's rounds (None: one round, or not a figure of merit)."""
        return cell.intervals.get(self.key) if cell.intervals else None

    def cell_text(self, cell: CellResult) -> str:
        """A cell's figure as its table shows it: with the half-width of its 95% interval where the
        cell has rounds ("1,234 +-56", engine.report.rounds)."""
        text = self.text(cell)
        interval = self.interval(cell)
        return text if interval is None else f"{text} \u00b1{self.fmt.format(interval.half_width)}"


@dataclass(frozen=True)
class Latency:
    """A latency family: its statistics are CellResult's `<stat>_<name>_ms`, as vLLM bench names them."""

    name: str  # ttft, tpot, itl, e2el: vLLM bench's infix, and the name an --slo gives it
    label: str  # TTFT, TPOT, ITL, E2E
    meaning: str
    fmt: str
    slo: bool  # whether a service level can be set on it (--slo), as vLLM's goodput allows

    def key(self, stat: str) -> str:
        return f"{stat}_{self.name}_ms"

    def stat_label(self, stat: str) -> str:
        return self.label if stat == "mean" else f"{self.label} {STAT_LABELS[stat]}"

    def metric(self, stat: str, **shown: Any) -> Metric:
        key = self.key(stat)
        return Metric(key, self.stat_label(stat), "ms", self.fmt, higher_is_better=False, vllm_key=key, **shown)

    def at(self, percentile: int) -> Metric:
        """The metric of this latency at a percentile (50: the median)."""
        return METRICS[self.key(PERCENTILES[percentile])]


STATS = ("mean", "median", "std", "p90", "p99")  # vLLM bench's statistics of each latency
STAT_LABELS = {"median": "p50", "std": "std", "p90": "p90", "p99": "p99"}
PERCENTILES = {50: "median", 90: "p90", 99: "p99"}
LATENCIES = {
    family.name: family
    for family in (
        Latency("ttft", "TTFT", "time to first token", "{:.1f}", slo=True),
        Latency("tpot", "TPOT", "time per output token", "{:.2f}", slo=True),
        Latency("itl", "ITL", "inter-token latency", "{:.2f}", slo=False),
        Latency("e2el", "E2E", "end-to-end latency", "{:,.0f}", slo=True),
    )
}
TTFT, TPOT, ITL, E2E = (LATENCIES[n] for n in ("ttft", "tpot", "itl", "e2el"))

BOTH = frozenset({Table.CONSOLE, Table.COMPACT})
CONSOLE = frozenset({Table.CONSOLE})


def _open_loop(cell: CellResult) -> bool:
    return cell.open_loop is not None


def _cache(cell: CellResult) -> bool:
    return cell.prefix_cache_hit_rate is not None


def _steady(cell: CellResult) -> bool:
    return cell.steady is not None


def _in_steady(name: str) -> Callable[[CellResult], Any]:
    """A figure of the cell's steady state (None where it has none)."""
    return lambda c: getattr(c.steady, name) if c.steady is not None else None


def _reasoning(cell: CellResult) -> bool:
    return cell.reasoning is not None


def _in_reasoning(name: str) -> Callable[[CellResult], Any]:
    return lambda c: getattr(c.reasoning, name) if c.reasoning is not None else None


def _spec(cell: CellResult) -> bool:
    return cell.spec_decode is not None


def _no_cap(cell: CellResult) -> str | None:
    # An open loop without a cap: no concurrency was set (peak_in_flight says what was seen).
    return "-" if cell.open_loop and not cell.max_concurrency else None


def _shape_metric(column: Column) -> Metric:
    return Metric(
        column.key,
        column.label,
        column.unit,
        column.fmt,
        higher_is_better=column.higher_is_better,
        tables=BOTH,
        shown_if=column.shown_if,
    )


_ENTRIES = (
    Metric("max_concurrency", "conc", "", "{:d}", vllm_key="max_concurrency", tables=BOTH, placeholder=_no_cap),
    Metric("seq", "ISL/OSL", "tokens", "{}", tables=BOTH),
    Metric("request_rate", "rate", "req/s", "{:g}", tables=CONSOLE, shown_if=_open_loop),
    Metric("achieved_rate", "sent/s", "req/s", "{:.2f}", tables=CONSOLE, shown_if=_open_loop),
    Metric("peak_in_flight", "peak", "requests", "{:d}", tables=CONSOLE, shown_if=_open_loop),
    Metric(
        "request_goodput",
        "goodput",
        "req/s",
        "{:.2f}",
        higher_is_better=True,
        vllm_key="request_goodput",
        tables=CONSOLE,
        shown_if=lambda c: c.goodput is not None,
    ),
    *(_shape_metric(c) for c in SHAPE_COLUMNS),  # a load shape's own figures (engine/shapes)
    Metric("completed", "ok", "requests", "{:d}", vllm_key="completed", tables=CONSOLE),
    Metric("failed", "fail", "requests", "{:d}", higher_is_better=False, vllm_key="failed", tables=BOTH),
    Metric("request_throughput", "req/s", "req/s", "{:.2f}", True, "request_throughput", BOTH),
    Metric(
        "output_throughput",
        "out tok/s",
        "tok/s",
        "{:,.0f}",
        True,
        "output_throughput",
        BOTH,
        compared=Compared(2, "output tok/s"),
    ),
    Metric(
        "total_token_throughput",
        "tot tok/s",
        "tok/s",
        "{:,.0f}",
        True,
        "total_token_throughput",
        CONSOLE,
        compared=Compared(1, "total tok/s"),
    ),
    Metric(
        "total_token_throughput_per_gpu", "tok/s/GPU", "tok/s", "{:,.0f}", True, compared=Compared(3, "total tok/s/GPU")
    ),
    # Over the window in which the load held its target (engine.report.steady), where a cell has one.
    Metric("steady_share", "steady", "%", "{:.0%}", tables=CONSOLE, shown_if=_steady, read=_in_steady("share")),
    Metric(
        "steady_output_throughput",
        "steady tok/s",
        "tok/s",
        "{:,.0f}",
        True,
        tables=CONSOLE,
        shown_if=_steady,
        read=_in_steady("output_throughput"),
    ),
    Metric("steady_median_ttft_ms", "steady TTFT p50", "ms", "{:.1f}", False, read=_in_steady("median_ttft_ms")),
    Metric("steady_mean_tpot_ms", "steady TPOT", "ms", "{:.2f}", False, read=_in_steady("mean_tpot_ms")),
    TTFT.metric("median", tables=BOTH, compared=Compared(6, "TTFT p50")),
    # A chat cell whose answers streamed reasoning: the first answer token comes after the thinking.
    Metric(
        "median_answer_ttft_ms",
        "answer TTFT p50",
        "ms",
        "{:.1f}",
        False,
        tables=CONSOLE,
        shown_if=_reasoning,
        read=_in_reasoning("median_answer_ttft_ms"),
    ),
    Metric(
        "mean_reasoning_tokens",
        "reasoning tok",
        "tokens",
        "{:,.0f}",
        tables=CONSOLE,
        shown_if=_reasoning,
        read=_in_reasoning("mean_reasoning_tokens"),
    ),
    TTFT.metric("p99", tables=BOTH),
    TPOT.metric("mean", tables=BOTH, compared=Compared(7, "TPOT")),
    ITL.metric("p99", tables=CONSOLE),
    E2E.metric("mean", tables=BOTH, compared=Compared(4, "mean E2E")),
    E2E.metric("p99", compared=Compared(5, "p99 E2E")),
    Metric("interactivity", "tok/s/user", "tok/s", "{:.1f}", True, tables=CONSOLE),
    Metric("client_loop_lag_p99_ms", "lag p99", "ms", "{:.1f}", tables=CONSOLE),
    Metric("client_run_queue_share", "CPU wait", "%", "{:.0%}", tables=CONSOLE),
    # The server's counters, where some cell has them: a prefix-cache hit rate (caching on), and
    # speculative decoding's acceptance (a server that speculates).
    Metric("prefix_cache_hit_rate", "cache hit", "%", "{:.0%}", tables=BOTH, shown_if=_cache),
    Metric("spec_acceptance_rate", "accepted", "%", "{:.0%}", True, tables=CONSOLE, shown_if=_spec),
    Metric("spec_acceptance_length", "accept len", "tokens", "{:.2f}", True, tables=CONSOLE, shown_if=_spec),
    Metric(
        "cost_per_mtok",
        "cost/1M out",
        "per 1M output tokens",
        "{:,.3f}",
        higher_is_better=False,
        tables=CONSOLE,
        shown_if=lambda c: c.gpu_hour_cost is not None,
    ),
    Metric("energy_j", "energy", "J", "{:,.0f}"),
    Metric("output_tokens_per_joule", "tok/J", "tok/J", "{:.2f}", True),
)

# In the order of the tables' columns; every latency statistic is there, shown or not.
METRICS: dict[str, Metric] = {m.key: m for m in _ENTRIES}
METRICS |= {m.key: m for f in LATENCIES.values() for m in map(f.metric, STATS) if m.key not in METRICS}


def metric(key: str) -> Metric:
    return METRICS[key]


def columns(table: Table, cells: list[CellResult] | None = None) -> list[Metric]:
    """A table's columns: its metrics in order, a conditional one only where some of `cells` has it."""
    return [
        m
        for m in METRICS.values()
        if table in m.tables and (m.shown_if is None or any(m.shown_if(c) for c in cells or []))
    ]


# The figures `compare` takes ratios of, in the order of its table.
COMPARED: list[Metric] = sorted((m for m in METRICS.values() if m.compared), key=lambda m: m.compared.order)
