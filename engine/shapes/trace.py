"""Trace replay: one open-loop cell sending a Mooncake-style JSONL trace's rows on their own
timestamps divided by a speedup (engine/load/trace.py reads its prompts); its cell's concurrency
is the cap on requests in flight (0: none)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from engine.options.option import Option
from engine.options.parse import format_number, number, optional, required
from engine.shapes.base import Planned, ShapeKind, cap, mean_rate


@dataclass(frozen=True)
class Trace:
    speedup: float = 1.0
    kind: ClassVar[str] = "trace"
    open_loop: ClassVar[bool] = True
    shares_prefixes: ClassVar[bool] = True  # its rows share prefix blocks on purpose

    def level_label(self, concurrency: int) -> str:
        return ""  # the cell's seq ("trace x2") says it all

    def level(self, concurrency: int) -> float:
        return float(concurrency)  # the trace sets the pace: its cap on requests in flight places it

    def pace(self, concurrency: int, unit: str) -> str:
        return f"trace on its timestamps / {self.speedup:g}{cap(concurrency)}"

    def send_times(self, sends: int, planned: list[float | None], seed: int) -> list[float] | None:
        return [p or 0.0 for p in planned]

    def peak_rate(self) -> float | None:
        return None  # known only per request

    def planned(self, planned: list[float | None]) -> dict | None:
        return dict(request_rate=mean_rate(planned), arrival=f"trace x{self.speedup:g}", burstiness=1.0)

    def plan_keys(self) -> dict:
        return {"rate": None}

    def figures(self, first_miss: int | None, n: int, slo: dict[str, float]) -> dict[str, Any]:
        return {}


class TraceFields(BaseModel):
    # Trace replay (engine/load/trace.py): a Mooncake-style JSONL sent on its own timestamps / speedup.
    trace: str | None = None
    speedup: float | None = Field(default=None, gt=0)  # unset: 1 (real time)


class Replay(ShapeKind):
    name = "trace"
    title = "trace replay"
    axis = "trace"
    shape = Trace
    precedence = 1
    grid_fields = TraceFields
    selector = "--trace"
    field = "trace"
    clears = {"grid.trace": None, "grid.speedup": None}
    form_rows = (("trace", "speedup"),)
    options = (
        Option(
            "--trace",
            "grid.trace",
            "replay a Mooncake-style JSONL trace on its timestamps",
            metavar="PATH",
            field="trace",
            label="Trace",
            example="mooncake_trace.jsonl",
            form_parse=required(str, "the trace file's path (Mooncake-style JSONL)"),
        ),
        Option(
            "--speedup",
            "grid.speedup",
            "--trace: divide its timestamps by this (default 1)",
            parse=float,
            field="speedup",
            label="speedup",
            example="2",
            form_parse=optional(number),
            form_text=format_number,
        ),
    )

    def chosen(self, grid: Any) -> bool:
        return grid.trace is not None

    def check(self, grid: Any, others: list[str]) -> None:
        if grid.speedup is not None and grid.trace is None:
            raise ValueError("speedup applies to a trace: give trace = PATH (--trace) too")
        if grid.trace is None:
            return
        if grid.dataset is not None:
            raise ValueError("give either a trace or a dataset: a trace brings its own prompts and lengths")
        if "rates" in others:
            raise ValueError("a trace brings its own send times: leave out the request rates")
        if "search" in others:
            raise ValueError(
                "a trace brings its own send times, so a search (--search) would replay the same trace "
                "at every probe: leave out one of them"
            )

    def visible(self, form: Any) -> set[str]:
        return {"trace", "speedup", "num_prompts", "max_concurrency"}  # a trace brings its own prompts

    def plan(self, grid: Any, pairs: list[tuple[int, int, str]], dataset: str | None) -> list[Planned]:
        """A trace is one open-loop cell: its rows, sent on their timestamps (lengths per request)."""
        try:
            with Path(grid.trace).expanduser().open("rb") as f:
                rows = sum(1 for line in f if line.strip())
        except OSError:  # named, with what to do, by the dataset check before anything starts
            rows = 0
        speedup = grid.speedup or 1.0
        return [
            Planned(
                concurrency=grid.max_concurrency or 0,
                input_len=0,
                output_len=0,
                seq=f"trace x{speedup:g}",
                dataset="trace",
                num_prompts=min(rows, grid.num_prompts or rows),
                warmup_output_len=grid.warmup_output_len,
                shape=Trace(speedup),
            )
        ]

    def summary(self, grid: Any, cells: int, lengths: str, limits: str) -> str:
        return f"{cells} cells: trace {grid.trace} on its timestamps / {grid.speedup or 1:g}"

    def prompts_source(self, grid: Any) -> str | None:
        return grid.trace

    def legacy(self, dataset: str | None, rate: float | None) -> Any:
        return Trace() if dataset == "trace" else None

    def recognises(self, data: dict) -> bool:
        loop = data.get("open_loop")
        arrival = loop.get("arrival") if isinstance(loop, dict) else getattr(loop, "arrival", None)
        return str(arrival or "").startswith("trace")  # (read from JSON, or a model made in code)

    def plan_level(self, cell: Any) -> float:
        return float(cell.open_loop.max_in_flight or 0)

    def level_text(self, level: float) -> str:
        return f"at most {level:g} in flight" if level else "its own pace"

    def levels_text(self, values: list[str]) -> str:
        caps = ", ".join(v for v in values if v != "0")
        return "its own pace" + (f", at most {caps} in flight" if caps else "")

    def describe(self, seq: str, level: float) -> str:
        return f"{seq}, {self.level_text(level)}"


REPLAY = Replay()
