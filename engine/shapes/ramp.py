"""The ramp-up: an open-loop cell per ISL/OSL whose request rate climbs from a start to an end rate
over its requests, linearly or exponentially (vLLM bench serve's --ramp-up-strategy, same formula);
its result names the rate it had reached when a request first missed the SLOs.

Everything about the ramp is here: its profile fields (grid.ramp_up_*), flags, form fields, cells,
figures (a result's "ramp"), column, report section and compare words.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.options.option import Option
from engine.options.parse import format_number, number, required
from engine.shapes.base import Column, Planned, Section, ShapeKind, cap, mean_rate
from engine.shapes.rate import open_cell


@dataclass(frozen=True)
class Ramp:
    strategy: Literal["linear", "exponential"]
    start_rps: float
    end_rps: float
    arrival: str = "poisson"
    burstiness: float = 1.0
    kind: ClassVar[str] = "ramp"
    open_loop: ClassVar[bool] = True
    shares_prefixes: ClassVar[bool] = False

    def level_label(self, concurrency: int) -> str:
        return f"ramp {self.start_rps:g}-{self.end_rps:g}"

    def level(self, concurrency: int) -> float:
        return max(self.start_rps, self.end_rps)  # as its result names it (OpenLoop.request_rate)

    def pace(self, concurrency: int, unit: str) -> str:
        climb = f"{self.start_rps:g} -> {self.end_rps:g} {unit}"
        return f"{self.strategy} ramp {climb} ({self.arrival}{cap(concurrency)})"

    def rate_at(self, i: int, n: int) -> float:
        """The planned rate at request i of n: vLLM bench serve's _get_current_request_rate."""
        progress = i / max(n - 1, 1)
        if self.strategy == "linear":
            return self.start_rps + (self.end_rps - self.start_rps) * progress
        return self.start_rps * (self.end_rps / self.start_rps) ** progress

    def send_times(self, sends: int, planned: list[float | None], seed: int) -> list[float] | None:
        """The first at 0; each next one a gap drawn at the rate the ramp has reached (seeded)."""
        rng, out, t = random.Random(seed), [], 0.0
        for i in range(sends):
            out.append(t)
            rate = self.rate_at(i, sends)
            if self.arrival == "constant":
                t += 1.0 / rate
            elif self.arrival == "poisson":
                t += rng.expovariate(rate)
            else:
                t += rng.gammavariate(self.burstiness, 1.0 / (rate * self.burstiness))
        return out

    def peak_rate(self) -> float | None:
        return max(self.start_rps, self.end_rps)

    def planned(self, planned: list[float | None]) -> dict | None:
        """Its mean planned rate over the span of its sends (its climb: `figures`)."""
        return dict(request_rate=mean_rate(planned), arrival=self.arrival, burstiness=self.burstiness)

    def plan_keys(self) -> dict:
        return {"rate": None, "ramp": {"strategy": self.strategy, "start_rps": self.start_rps, "end_rps": self.end_rps}}

    def figures(self, first_miss: int | None, n: int, slo: dict[str, float]) -> dict[str, Any]:
        """The climb, and the rate it had reached at the first request that missed (None: none did)."""
        at = None if first_miss is None else float(f"{self.rate_at(first_miss, n):.4g}")
        ends = dict(strategy=self.strategy, start_rps=self.start_rps, end_rps=self.end_rps)
        return {"ramp": RampFigures(**ends, slo_ms=slo, first_miss=first_miss, slo_failed_at_rps=at)}


class RampFields(BaseModel):
    # A ramp (vLLM bench serve's --ramp-up-*): one open-loop cell per ISL/OSL whose rate climbs from
    # the start to the end rate over its num_prompts requests, linearly or exponentially.
    ramp_up_strategy: Literal["linear", "exponential"] | None = None
    ramp_up_start_rps: float | None = Field(default=None, gt=0)
    ramp_up_end_rps: float | None = Field(default=None, gt=0)


class RampFigures(BaseModel):
    """A ramp cell: its rate climbed from start_rps to end_rps over its requests; the rate it had
    reached at the first request (in send order) that missed an SLO (without SLOs: that failed).
    None: none missed."""

    model_config = ConfigDict(extra="ignore")  # results are read by later versions

    strategy: str
    start_rps: float
    end_rps: float
    slo_ms: dict[str, float] = {}
    first_miss: int | None = None  # that request's index in the cell
    slo_failed_at_rps: float | None = None


class RampResult(BaseModel):
    ramp: RampFigures | None = None  # a ramp cell: the rate at which the SLOs first failed

    @property
    def slo_failed_at_rps(self) -> float | None:
        return self.ramp.slo_failed_at_rps if self.ramp else None


FAILED_AT = Column("slo_failed_at_rps", "SLO fail at", "req/s", "{:.2f}", True, lambda c: c.ramp is not None)


class RampUp(ShapeKind):
    name = "ramp"
    title = "ramp-up"
    axis = "ramp"
    shape = Ramp
    precedence = 0
    grid_fields = RampFields
    result_fields = RampResult
    selector = "--ramp-up-strategy"
    field = "ramp_up_strategy"
    clears = {"grid.ramp_up_strategy": None, "grid.ramp_up_start_rps": None, "grid.ramp_up_end_rps": None}
    form_rows = (("ramp", "ramp_start", "ramp_end"),)
    columns = (FAILED_AT,)
    options = (
        Option(
            "--ramp-up-strategy",
            "grid.ramp_up_strategy",
            "one open-loop cell per ISL/OSL whose request rate climbs from --ramp-up-start-rps to "
            "--ramp-up-end-rps over its --num-prompts requests (as vllm bench serve); its table shows the rate "
            "at which the --slo first failed",
            choices=("linear", "exponential"),
            field="ramp",
            label="Ramp",
            form_parse=str,
            form_default="linear",
        ),
        Option(
            "--ramp-up-start-rps",
            "grid.ramp_up_start_rps",
            "the ramp's first request rate (req/s)",
            parse=float,
            field="ramp_start",
            label="from req/s",
            example="1",
            form_parse=required(number, "the ramp's first rate in req/s, e.g. 1"),
            form_text=format_number,
        ),
        Option(
            "--ramp-up-end-rps",
            "grid.ramp_up_end_rps",
            "the ramp's last request rate (req/s)",
            parse=float,
            field="ramp_end",
            label="to req/s",
            example="20",
            form_parse=required(number, "the ramp's last rate in req/s, e.g. 20"),
            form_text=format_number,
        ),
    )

    def chosen(self, grid: Any) -> bool:
        return grid.ramp_up_strategy is not None

    def check(self, grid: Any, others: list[str]) -> None:
        ends = (grid.ramp_up_start_rps, grid.ramp_up_end_rps)
        if grid.ramp_up_strategy is None:
            if ends != (None, None):
                raise ValueError("ramp_up_start_rps / ramp_up_end_rps need ramp_up_strategy (--ramp-up-strategy)")
            return
        if None in ends:
            raise ValueError(
                "a ramp (--ramp-up-strategy) needs both ramp_up_start_rps and ramp_up_end_rps "
                "(--ramp-up-start-rps, --ramp-up-end-rps)"
            )
        if others:
            raise ValueError(f"a ramp (--ramp-up-strategy) sets the request rate itself: leave out {', '.join(others)}")

    def plan(self, grid: Any, pairs: list[tuple[int, int, str]], dataset: str | None) -> list[Planned]:
        start, end = grid.ramp_up_start_rps, grid.ramp_up_end_rps
        shape = Ramp(grid.ramp_up_strategy, start, end, grid.arrival, grid.burstiness)
        return [open_cell(grid, isl, osl, seq, dataset, shape) for isl, osl, seq in pairs]

    def summary(self, grid: Any, cells: int, lengths: str, limits: str) -> str:
        start, end = grid.ramp_up_start_rps, grid.ramp_up_end_rps
        return f"{cells} cells: {grid.ramp_up_strategy} ramp {start:g} -> {end:g} req/s ({grid.arrival}) x {lengths}"

    def recognises(self, data: dict) -> bool:
        return bool(data.get("ramp"))

    def result_level(self, cell: Any) -> float:
        return max(cell.ramp.start_rps, cell.ramp.end_rps)

    def result_label(self, cell: Any) -> str:
        return f"ramp {cell.ramp.start_rps:g}-{cell.ramp.end_rps:g}"

    def result_pace(self, cell: Any, arrival: str) -> str:
        return f"{cell.ramp.strategy} ramp from {cell.ramp.start_rps:g} req/s, {arrival}"

    def section(self, cells: list[Any]) -> Section | None:
        """Per ramp cell: the climb, and the rate it had reached when a request first missed the SLOs."""
        ramped = [c for c in cells if c.ramp is not None]
        if not ramped:
            return None
        rows = []
        for c in ramped:
            r = c.ramp
            slos = ", ".join(f"{k} {v:g}" for k, v in r.slo_ms.items()) or "none: the first failed request"
            at = FAILED_AT.text(r.slo_failed_at_rps) if r.first_miss is not None else "never (held to the end)"
            rows.append([c.label, r.strategy, f"{r.start_rps:g}", f"{r.end_rps:g}", slos, at])
        note = (
            "A ramp's rate climbs from its first to its last rate over the cell's requests, each sent at a time "
            "planned before the cell (as vllm bench serve --ramp-up-strategy). The last column is the planned rate "
            "at the first request, in send order, that missed an SLO (without SLOs: that failed)."
        )
        header = ["cell", "strategy", "from req/s", "to req/s", "SLOs (ms)", FAILED_AT.label]
        return Section("Ramp-up", header, rows, (0, 1, 4, 5), note)

    def plan_level(self, cell: Any) -> float:
        return self.result_level(cell)

    def level_text(self, level: float) -> str:
        return f"ramp up to {level:g} req/s"

    def levels_text(self, values: list[str]) -> str:
        return f"ramps up to {', '.join(values)} req/s"


RAMP = RampUp()
