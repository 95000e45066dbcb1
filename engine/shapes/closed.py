"""The closed loop, the default shape: a cell's concurrency C in flight, a new request as one
finishes; one cell per concurrency of the grid and ISL/OSL pair (its fields stay in the Grid: a
search probes concurrencies too)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from engine.shapes.base import PROMPTED, Planned, ShapeKind


@dataclass(frozen=True)
class ClosedLoop:
    kind: ClassVar[str] = "concurrency"
    open_loop: ClassVar[bool] = False
    shares_prefixes: ClassVar[bool] = False

    def level_label(self, concurrency: int) -> str:
        return f"c={concurrency}"

    def level(self, concurrency: int) -> float:
        return float(concurrency)

    def pace(self, concurrency: int, unit: str) -> str:
        return f"concurrency {concurrency}"

    def send_times(self, sends: int, planned: list[float | None], seed: int) -> list[float] | None:
        return None  # a closed loop sends as slots free up

    def peak_rate(self) -> float | None:
        return None

    def planned(self, planned: list[float | None]) -> dict | None:
        return None

    def plan_keys(self) -> dict:
        return {"rate": None}

    def figures(self, first_miss: int | None, n: int, slo: dict[str, float]) -> dict[str, Any]:
        """What the shape adds to its cell's result, given the first request that missed the SLOs."""
        return {}


class Closed(ShapeKind):
    name = "grid"
    title = "concurrency grid"
    axis = "concurrency"
    shape = ClosedLoop
    precedence = 9
    form_rows = (("concurrency",),)

    def visible(self, form: Any) -> set[str]:
        return set(PROMPTED) | {"concurrency", "prompts"}

    def plan(self, grid: Any, pairs: list[tuple[int, int, str]], dataset: str | None) -> list[Planned]:
        return [
            Planned(
                concurrency=conc,
                input_len=isl,
                output_len=osl,
                seq=seq,
                dataset=dataset,
                num_prompts=max(conc * grid.prompts_per_concurrency, grid.min_prompts, conc),
                warmup_output_len=min(grid.warmup_output_len, osl or grid.warmup_output_len),
                shape=ClosedLoop(),
            )
            for isl, osl, seq in pairs
            for conc in sorted(dict.fromkeys(grid.concurrency))
        ]

    def summary(self, grid: Any, cells: int, lengths: str, limits: str) -> str:
        return f"{cells} cells: concurrency {', '.join(map(str, grid.concurrency))} x {lengths}"

    def legacy(self, dataset: str | None, rate: float | None) -> Any:
        return ClosedLoop()

    def recognises(self, data: dict) -> bool:
        return True

    def plan_level(self, cell: Any) -> float:
        return float(cell.max_concurrency)

    def level_text(self, level: float) -> str:
        return f"concurrency {level:g}"

    def levels_text(self, values: list[str]) -> str:
        return f"concurrency {', '.join(values)}"


CLOSED = Closed()
