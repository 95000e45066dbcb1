"""The plan: a run profile's grid unrolled into the cells the load generator drives, in order."""

from __future__ import annotations

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

    @property
    def label(self) -> str:
        return f"c={self.concurrency} {self.input_len}/{self.output_len}"

    def to_dict(self) -> dict:
        return asdict(self)


def build_plan(grid: Grid) -> list[Cell]:
    """One series per ISL/OSL pair, concurrency rising within it (the order the curves are drawn)."""
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
