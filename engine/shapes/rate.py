"""Request rates: each cell's requests on a seeded arrival schedule at a fixed rate (Poisson,
constant or gamma), one cell per rate of the grid and ISL/OSL pair; the rates replace the
concurrency axis (a cell's concurrency is its cap on requests in flight, 0: none)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, field_validator

from engine.options.option import Option
from engine.options.parse import format_number, joined, parse_rates
from engine.shapes.arrivals import schedule
from engine.shapes.base import Planned, ShapeKind, cap


@dataclass(frozen=True)
class Rate:
    rate: float  # req/s (of conversation starts, for a multi-turn cell)
    arrival: str = "poisson"
    burstiness: float = 1.0
    kind: ClassVar[str] = "rate"
    open_loop: ClassVar[bool] = True
    shares_prefixes: ClassVar[bool] = False

    def level_label(self, concurrency: int) -> str:
        return f"r={self.rate:g}"

    def level(self, concurrency: int) -> float:
        return self.rate

    def pace(self, concurrency: int, unit: str) -> str:
        return f"rate {self.rate:g} {unit} ({self.arrival}{cap(concurrency)})"

    def send_times(self, sends: int, planned: list[float | None], seed: int) -> list[float] | None:
        return schedule(sends, self.rate, self.arrival, self.burstiness, seed)

    def peak_rate(self) -> float | None:
        return self.rate

    def planned(self, planned: list[float | None]) -> dict | None:
        return dict(request_rate=self.rate, arrival=self.arrival, burstiness=self.burstiness)

    def plan_keys(self) -> dict:
        return {"rate": self.rate}

    def figures(self, first_miss: int | None, n: int, slo: dict[str, float]) -> dict[str, Any]:
        return {}


class RateFields(BaseModel):
    # Open loop: request rates (req/s) replace the concurrency axis; arrivals drawn from a seed.
    rates: list[float] = []

    @field_validator("rates")
    @classmethod
    def _rates(cls, v: list[float]) -> list[float]:
        if any(r <= 0 for r in v):
            raise ValueError("every request rate must be above 0 req/s")
        return v


def open_cell(grid: Any, isl: int, osl: int, seq: str, dataset: str | None, shape: Any) -> Planned:
    """An open-loop cell of the grid: capped by --max-concurrency, about 20 s of arrivals by default."""
    return Planned(
        concurrency=grid.max_concurrency or 0,
        input_len=isl,
        output_len=osl,
        seq=seq,
        dataset=dataset,
        num_prompts=grid.num_prompts or max(grid.min_prompts, math.ceil(shape.peak_rate() * 20), 10),
        warmup_output_len=min(grid.warmup_output_len, osl or grid.warmup_output_len),
        shape=shape,
    )


class Rates(ShapeKind):
    name = "rates"
    title = "request rates"
    axis = "rate"
    shape = Rate
    precedence = 3
    grid_fields = RateFields
    selector = "--rate"
    field = "rates"
    clears = {"grid.rates": []}
    form_rows = (("rates",),)
    options = (
        Option(
            "--rate",
            "grid.rates",
            "request rates in req/s, e.g. 2,5,10: open-loop cells instead of concurrency",
            parse=parse_rates,
            field="rates",
            label="Rates (req/s)",
            example="2, 5, 10",
            form_parse=parse_rates,
            form_text=joined(format_number),
        ),
    )

    def chosen(self, grid: Any) -> bool:
        return bool(grid.rates)

    def plan(self, grid: Any, pairs: list[tuple[int, int, str]], dataset: str | None) -> list[Planned]:
        shapes = [Rate(rate, grid.arrival, grid.burstiness) for rate in sorted(dict.fromkeys(grid.rates))]
        return [open_cell(grid, isl, osl, seq, dataset, shape) for isl, osl, seq in pairs for shape in shapes]

    def summary(self, grid: Any, cells: int, lengths: str, limits: str) -> str:
        return f"{cells} cells: rates {', '.join(map(format_number, grid.rates))} req/s ({grid.arrival}) x {lengths}"

    def legacy(self, dataset: str | None, rate: float | None) -> Any:
        return Rate(rate) if rate else None

    def recognises(self, data: dict) -> bool:
        return bool(data.get("open_loop"))


RATES = Rates()
