"""What every load shape answers: the base of the kinds in this package, with the defaults most
shapes share (those of a rate cell), and the small frozen types a kind hands the generic code.

A kind is asked at each step a run takes: the profile (its Grid fields and checks, its options),
the form (its fields and when they show), the plan (its cells), the results (its figures, its place
on the load axis, its columns and report section) and compare (its key and its words). The generic
code never names a shape; engine.shapes.registry lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

from engine.options.option import Option

# The form's fields every shape that takes prompts shows (a shape may bring its own prompts).
PROMPTED = frozenset({"seq", "dataset"})


class CellShape(Protocol):
    """What a cell's shape answers (the frozen type a kind plans its cells with; the cell carries it)."""

    kind: ClassVar[str]  # its kind's axis
    open_loop: ClassVar[bool]  # sent on a schedule, not with the cell's concurrency in flight
    shares_prefixes: ClassVar[bool]  # its prompts share prefixes on purpose

    def level_label(self, concurrency: int) -> str: ...  # "c=4", "r=2", ...

    def level(self, concurrency: int) -> float: ...  # its place on the load axis

    def pace(self, concurrency: int, unit: str) -> str: ...  # how it sends, in words

    def send_times(self, sends: int, planned: list[float | None], seed: int) -> list[float] | None: ...

    def peak_rate(self) -> float | None: ...  # its highest planned rate (sockets, load workers)

    def planned(self, planned: list[float | None]) -> dict | None: ...  # a result's open_loop figures

    def plan_keys(self) -> dict: ...  # its keys in summary.json's plan entry

    def figures(self, first_miss: int | None, n: int, slo: dict[str, float]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Planned:
    """One cell as its shape plans it: the load, the lengths and how many requests."""

    concurrency: int  # a closed loop's requests in flight; an open loop's cap on them (0: none)
    input_len: int
    output_len: int
    seq: str  # the label of its lengths ("" for the fixed grid's)
    dataset: str | None  # its prompts' kind (engine.values.dataset_kind), None for the fixed grid
    num_prompts: int
    warmup_output_len: int
    shape: CellShape


@dataclass(frozen=True)
class Column:
    """A figure a shape adds to the cells table (engine.report.registry makes it a Metric)."""

    key: str  # the CellResult attribute holding it
    label: str
    unit: str
    fmt: str
    higher_is_better: bool | None
    shown_if: Callable[[Any], bool]

    def text(self, value: Any) -> str:
        return "n/a" if value is None else self.fmt.format(value)


@dataclass(frozen=True)
class Section:
    """A table a shape adds to the HTML report's Workload section (engine.share renders it)."""

    title: str
    header: list[str]
    rows: list[list[str]]
    text_columns: tuple[int, ...]
    note: str


def open_fields(form: Any) -> set[str]:
    """The form's fields of cells sent on a schedule: arrivals, requests per cell, a cap in flight."""
    return {"arrival", "num_prompts", "max_concurrency"} | ({"burstiness"} if form.arrival == "gamma" else set())


def cap(concurrency: int) -> str:
    return f", at most {concurrency} in flight" if concurrency else ""


def mean_rate(planned: list[float | None]) -> float:
    """Requests per second over the span of their planned send times (0 with fewer than two)."""
    times = [p for p in planned if p is not None]
    span = max(times, default=0.0) - min(times, default=0.0)
    return float(f"{(len(times) - 1) / span:.3g}") if span > 0 else 0.0


class ShapeKind:
    """One load shape, whole. Subclasses set the attributes and override what differs."""

    name: ClassVar[str]  # its key as the form chooses it ("grid" for the closed loop, ...)
    title: ClassVar[str]  # the form's text for it
    axis: ClassVar[str | None]  # the load axis its cells' results sit on (None: it makes no cells of its own)
    shape: ClassVar[type | None] = None  # its cells' shape type
    precedence: ClassVar[int]  # which kind a grid is, when its fields choose more than one (lowest wins)
    grid_fields: ClassVar[type[BaseModel] | None] = None  # its Grid fields and their checks
    result_fields: ClassVar[type[BaseModel] | None] = None  # its CellResult fields (summary.json keys)
    options: ClassVar[tuple[Option, ...]] = ()
    selector: ClassVar[str] = ""  # the flag that chooses it ("": the default shape)
    field: ClassVar[str] = ""  # the Grid field that chooses it, as an error names it
    clears: ClassVar[dict[str, Any]] = {}  # profile fields the form clears when another shape is chosen
    form_rows: ClassVar[tuple[tuple[str, ...], ...]] = ()  # its own rows of form fields
    columns: ClassVar[tuple[Column, ...]] = ()
    plans_ahead: ClassVar[bool] = True  # its cells are known before the run (a search's are not)

    # -- the profile --------------------------------------------------------------------------------
    def chosen(self, grid: Any) -> bool:
        """Whether the grid's fields choose this shape (the default shape: never, it is what is left)."""
        return False

    def check(self, grid: Any, others: list[str]) -> None:
        """Raise ValueError for its fields given wrong (`others`: the fields choosing other shapes)."""

    # -- the form -----------------------------------------------------------------------------------
    def visible(self, form: Any) -> set[str]:
        """The form's fields that mean something for this shape (beyond the shape, SLOs and workers)."""
        return set(PROMPTED) | {n for row in self.form_rows for n in row} | open_fields(form)

    # -- the plan -----------------------------------------------------------------------------------
    def plan(self, grid: Any, pairs: list[tuple[int, int, str]], dataset: str | None) -> list[Planned]:
        raise NotImplementedError

    def summary(self, grid: Any, cells: int, lengths: str, limits: str) -> str:
        """The plan in one line."""
        raise NotImplementedError

    def prompts_source(self, grid: Any) -> str | None:
        """The file its prompts come from, where the shape brings its own (None: the dataset's)."""
        return None

    def legacy(self, dataset: str | None, rate: float | None) -> Any:
        """The shape of a cell written before cells carried one (None: not this shape's)."""
        return None

    # -- the results --------------------------------------------------------------------------------
    def recognises(self, data: dict) -> bool:
        """Whether a result written before results named their shape (schema 2) is of this shape."""
        return False

    def result_level(self, cell: Any) -> float:
        """Where a result sits on its load axis."""
        return cell.request_rate or float(cell.max_concurrency)

    def result_label(self, cell: Any) -> str:
        return f"r={cell.request_rate:g}" if cell.open_loop else f"c={cell.max_concurrency}"

    def result_pace(self, cell: Any, arrival: str) -> str:
        """How its requests were sent, from the arrival process's words."""
        return arrival

    def section(self, cells: list[Any]) -> Section | None:
        """Its table in the HTML report (None: nothing beyond the cells table)."""
        return None

    # -- compare ------------------------------------------------------------------------------------
    def plan_level(self, cell: Any) -> float:
        """A result's place on its load axis as its cell was planned (Cell.level): the load two runs'
        cells must share to be compared, and what a resumed run skips."""
        return float(cell.request_rate)

    def level_text(self, level: float) -> str:
        return f"rate {level:g} req/s"

    def levels_text(self, values: list[str]) -> str:
        return f"rates {', '.join(values)} req/s"

    def describe(self, seq: str, level: float) -> str:
        return f"{self.level_text(level)}, {seq}"
