"""The plan: a run profile's grid unrolled into the cells the load generator drives, in order."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from engine.profiles import Grid


@dataclass(frozen=True)
class Cell:
    index: int
    concurrency: int
    input_len: int
    output_len: int
    num_prompts: int
    warmup_requests: int
    warmup_output_len: int
    rate: float | None = None  # open loop: requests per second (concurrency is then the cap, 0 for none)

    @property
    def label(self) -> str:
        level = f"r={self.rate:g}" if self.rate else f"c={self.concurrency}"
        return f"{level} {self.input_len}/{self.output_len}"

    def to_dict(self) -> dict:
        return asdict(self)


def build_plan(grid: Grid) -> list[Cell]:
    """One series per ISL/OSL pair, concurrency (or request rate) rising within it (the order the
    curves are drawn)."""
    if grid.rates:
        return _rate_plan(grid)
    cells = []
    for isl, osl in grid.pairs():
        for conc in sorted(dict.fromkeys(grid.concurrency)):
            cells.append(
                Cell(
                    index=len(cells),
                    concurrency=conc,
                    input_len=isl,
                    output_len=osl,
                    num_prompts=max(conc * grid.prompts_per_concurrency, grid.min_prompts, conc),
                    warmup_requests=grid.warmup_requests,
                    warmup_output_len=min(grid.warmup_output_len, osl),
                )
            )
    return cells


def _rate_plan(grid: Grid) -> list[Cell]:
    cells = []
    for isl, osl in grid.pairs():
        for rate in sorted(dict.fromkeys(grid.rates)):
            cells.append(
                Cell(
                    index=len(cells),
                    concurrency=grid.max_concurrency or 0,
                    input_len=isl,
                    output_len=osl,
                    num_prompts=grid.num_prompts or max(grid.min_prompts, math.ceil(rate * 20), 10),
                    warmup_requests=grid.warmup_requests,
                    warmup_output_len=min(grid.warmup_output_len, osl),
                    rate=rate,
                )
            )
    return cells
