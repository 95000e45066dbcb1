"""The plan: a run profile's grid unrolled into the cells the load generator drives, in order.
Each cell carries its load shape (engine/shapes): how its requests are paced; the grid's shape
plans its cells' load, this module their prompts."""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field, replace

from engine.grid import Grid
from engine.shapes.registry import LoadShape, kind_of, legacy_shape
from engine.values import dataset_kind


@dataclass(frozen=True)
class Cell:
    index: int
    concurrency: int  # a closed loop's requests in flight; an open loop's cap on them (0: none)
    input_len: int
    output_len: int
    num_prompts: int
    warmup_requests: int
    warmup_output_len: int
    # Shorthand for a request-rate shape at this many req/s (Poisson): Cell(..., rate=2.0).
    rate: InitVar[float | None] = None
    # A dataset cell: its prompts' kind (random, sharegpt, jsonl, prefix, or a shape's own), and `seq`, the label
    # of its lengths. A length of 0 is then taken per request from the dataset, not from the cell.
    dataset: str | None = None
    seq: str = ""
    # multiturn:T: conversations of `turns` turns, each user turn `turn_len` tokens and each answer
    # output_len; turn k's prompt holds the k-1 turns before it and their answers (input_len 0: per
    # request, k * turn_len + (k - 1) * output_len). num_prompts is a whole number of conversations.
    turns: int = 0
    turn_len: int = 0
    shape: LoadShape = field(default=None)  # type: ignore[assignment]  # set by __post_init__ when not given

    def __post_init__(self, rate: float | None) -> None:
        if self.shape is None:  # the shorthands: rate=R, or the dataset of a shape that brings its prompts
            object.__setattr__(self, "shape", legacy_shape(self.dataset, rate))

    @property
    def label(self) -> str:
        level = self.shape.level_label(self.concurrency)
        seq = self.seq or f"{self.input_len}/{self.output_len}"
        return f"{level} {seq}" if level else seq

    @property
    def open_loop(self) -> bool:
        """Sent on a schedule (its shape's send times), not with C in flight."""
        return self.shape.open_loop

    @property
    def level(self) -> float:
        """Where the cell sits on its load axis (its shape says: a rate, or its concurrency)."""
        return self.shape.level(self.concurrency)

    @property
    def pace(self) -> str:
        """'concurrency 4', 'rate 2 req/s (poisson, at most 8 in flight)', ... (a multi-turn cell's rate
        is of conversation starts)."""
        return self.shape.pace(self.concurrency, "conversations/s" if self.turns else "req/s")

    @property
    def shares_prefixes(self) -> bool:
        """Its prompts share prefixes on purpose (prefix:, a shape that brings its own,
        multi-turn histories): its prefix-cache hit rate is a figure of the workload, not a fault."""
        return self.shape.shares_prefixes or self.dataset in ("prefix", "multiturn")

    @property
    def longest_request(self) -> int:
        """Input + output tokens of the cell's longest request (a conversation's last turn)."""
        if self.turns:
            return self.turns * (self.turn_len + self.output_len)
        return self.input_len + self.output_len

    def to_dict(self) -> dict:
        """summary.json's plan entry (the keys of every earlier version, plus its shape's own)."""
        d = {
            "index": self.index,
            "concurrency": self.concurrency,
            "input_len": self.input_len,
            "output_len": self.output_len,
            "num_prompts": self.num_prompts,
            "warmup_requests": self.warmup_requests,
            "warmup_output_len": self.warmup_output_len,
            **self.shape.plan_keys(),
        }
        if self.dataset:  # the fixed grid's cells stay as they were
            d.update(dataset=self.dataset, seq=self.seq)
        if self.turns:
            d.update(turns=self.turns, turn_len=self.turn_len)
        return d


def per_request(cell: Cell) -> str:
    """' (lengths per request)' where a dataset, not the cell, sets a length; '' otherwise."""
    return " (lengths per request)" if cell.dataset and not (cell.input_len and cell.output_len) else ""


def conversations(cell: Cell) -> str:
    """' (3 conversations of 4 turns)' for a multi-turn cell; '' otherwise."""
    return f" ({cell.num_prompts // cell.turns} conversations of {cell.turns} turns)" if cell.turns else ""


def _pairs(grid: Grid) -> list[tuple[int, int, str]]:
    """The grid's ISL/OSL pairs with their labels; a dataset's own lengths are 0 ("per request")."""
    kind = dataset_kind(grid.dataset)
    if kind is None:
        return [(isl, osl, "") for isl, osl in grid.pairs()]
    out: dict[tuple[int, int], str] = {}
    for isl, osl in grid.pairs():
        if kind == "sharegpt":
            out[0, 0] = "sharegpt"
        elif kind == "jsonl":
            out[0, osl] = f"jsonl */{osl}"
        elif kind == "random":
            i = 0 if grid.input_len_range else isl
            o = 0 if grid.output_len_range else osl
            out[i, o] = f"random {grid.input_len_range or isl}/{grid.output_len_range or osl}"
        elif kind == "multiturn" and grid.multiturn_file():  # a file's conversations: their own lengths
            out[0, 0] = f"multiturn{grid.turns()} sharegpt"
        elif kind == "multiturn":  # the user turn's and the answer's lengths; per request: the history
            out[isl, osl] = f"multiturn{grid.turns()} {isl}/{osl}"
        else:  # prefix:P[:G]
            out[isl, osl] = f"prefix{grid.dataset.split(':')[1]} {isl}/{osl}"
    return [(i, o, label) for (i, o), label in out.items()]


def build_plan(grid: Grid) -> list[Cell]:
    """One series per ISL/OSL pair, its load rising within it (the order the curves are drawn): the
    grid's shape plans each cell's load, a multi-turn dataset makes its requests conversations."""
    turns, cells = grid.turns(), []
    for i, p in enumerate(kind_of(grid).plan(grid, _pairs(grid), dataset_kind(grid.dataset))):
        n = p.num_prompts
        if p.shape.open_loop and grid.num_prompts is None:
            n *= turns or 1  # the default count is about 20 s of arrivals: of conversations, for a multi-turn cell
        cell = Cell(
            index=i,
            concurrency=p.concurrency,
            input_len=p.input_len,
            output_len=p.output_len,
            num_prompts=n,
            warmup_requests=grid.warmup_requests,
            warmup_output_len=p.warmup_output_len,
            dataset=p.dataset,
            seq=p.seq,
            shape=p.shape,
        )
        cells.append(_conversations(cell, turns))
    return cells


def _conversations(cell: Cell, turns: int) -> Cell:
    """A multi-turn cell: lengths per request, and its requests rounded up to whole conversations, at
    least one per slot of a closed loop (else fewer than C conversations could never fill C slots)."""
    if not turns:
        return cell
    conversations = -(-cell.num_prompts // turns)
    if not cell.open_loop:
        conversations = max(conversations, cell.concurrency)
    n = conversations * turns
    return replace(cell, input_len=0, turns=turns, turn_len=cell.input_len, num_prompts=n)
