"""The grid of a run profile: the load to put on the server (concurrency, or the fields of another
load shape: engine/shapes), the lengths and prompts of its requests, and the checks across those fields."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.shapes.registry import GRID_FIELDS, KINDS, chosen_fields
from engine.values import check_dataset, dataset_kind, parse_range, parse_seq


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class GridCore(Strict):
    """The grid's own fields (Grid adds each load shape's)."""

    name: str = ""
    concurrency: list[int] = Field(min_length=1)
    seq: list[str] = Field(min_length=1)
    # Requests per cell = concurrency x prompts_per_concurrency, at least min_prompts.
    prompts_per_concurrency: int = Field(default=10, ge=1)
    min_prompts: int = Field(default=0, ge=0)
    # Unmeasured requests before each cell, with the cell's input length and a short output.
    warmup_requests: int = Field(default=2, ge=0)
    warmup_output_len: int = Field(default=16, ge=1)
    # Open-loop shapes: how requests arrive, how many per cell, the cap in flight.
    arrival: Literal["poisson", "constant", "gamma"] = "poisson"
    burstiness: float = Field(default=1.0, gt=0)  # gamma's shape: below 1 burstier, above 1 more even
    num_prompts: int | None = Field(default=None, ge=1)  # per rate cell (default: about 20 s of arrivals)
    max_concurrency: int | None = Field(default=None, ge=1)  # cap on requests in flight in a rate cell
    # Prompts (engine/load/datasets.py): unset, the fixed grid (exact ISL/OSL per cell); else random
    # (lengths drawn from input_len_range / output_len_range, seeded), sharegpt:PATH, jsonl:PATH,
    # prefix:P[:G] (groups of G requests sharing a P-token prefix), multiturn:T (conversations of T
    # turns, each user turn ISL tokens, each answer OSL; engine/load/conversations.py). Lengths stay
    # exact per request.
    dataset: str | None = None
    input_len_range: str | None = None  # "100:400", both ends included
    output_len_range: str | None = None

    @field_validator("concurrency")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(c < 1 for c in v):
            raise ValueError("every concurrency must be at least 1")
        return v

    @field_validator("seq")
    @classmethod
    def _seq(cls, v: list[str]) -> list[str]:
        for s in v:
            parse_seq(s)
        return v

    @field_validator("input_len_range", "output_len_range")
    @classmethod
    def _range(cls, v: str | None) -> str | None:
        if v is not None:
            parse_range(v)
        return v

    @model_validator(mode="after")
    def _workload(self) -> GridCore:
        kind = dataset_kind(self.dataset)
        if self.dataset is not None:
            check_dataset(self.dataset)
        if (self.input_len_range or self.output_len_range) and kind != "random":
            raise ValueError('input_len_range / output_len_range apply to dataset = "random" only')
        if kind == "random" and not (self.input_len_range or self.output_len_range):
            raise ValueError('dataset "random" needs input_len_range and/or output_len_range (e.g. "100:400")')
        if kind == "prefix":
            prefix = int(self.dataset.split(":")[1])
            short = [s for s in self.seq if parse_seq(s)[0] <= prefix]
            if short:
                raise ValueError(f"prefix:{prefix} needs every ISL above {prefix} (the unique suffix): {short}")
        for kind in KINDS:  # each shape's own fields, and at most one shape chosen
            kind.check(self, chosen_fields(self, but=kind))
        return self

    def turns(self) -> int:
        """multiturn:T[:PATH] -> T, the turns of each conversation; 0 for any other workload."""
        return int(self.dataset.split(":")[1]) if dataset_kind(self.dataset) == "multiturn" else 0

    def multiturn_file(self) -> str | None:
        """multiturn:T:PATH -> PATH, the ShareGPT file its conversations come from (None: synthetic)."""
        if dataset_kind(self.dataset) != "multiturn":
            return None
        return self.dataset.split(":", 2)[2] if self.dataset.count(":") >= 2 else None

    def pairs(self) -> list[tuple[int, int]]:
        return [parse_seq(s) for s in self.seq]


class Grid(*reversed(GRID_FIELDS), GridCore):  # (bases listed last come first in a dump: the grid's own fields)
    """The grid: its own fields, then the fields of each load shape that is not the concurrency grid,
    which come with the shape's module of engine/shapes (GRID_FIELDS), with their checks."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
