"""The load shapes, listed once: what the generic code asks for a grid, a form, a cell or a result.
A new shape is a module of this package and a line in KINDS."""

from __future__ import annotations

from typing import Any, Union

from engine.shapes.base import Column, Section, ShapeKind
from engine.shapes.closed import CLOSED
from engine.shapes.ramp import RAMP
from engine.shapes.rate import RATES
from engine.shapes.search import SEARCH
from engine.shapes.trace import REPLAY

# In the order of the form's rows and the option table's entries.
KINDS: tuple[ShapeKind, ...] = (CLOSED, RATES, RAMP, SEARCH, REPLAY)
DEFAULT: ShapeKind = CLOSED  # what a grid is when no field chooses another shape
_BY_PRECEDENCE = sorted(KINDS, key=lambda k: k.precedence)
_BY_AXIS = {k.axis: k for k in KINDS if k.axis}
_BY_NAME = {k.name: k for k in KINDS}

# A cell's shape: one of the kinds' types (pydantic tells them apart by their fields).
LoadShape = Union[tuple(k.shape for k in KINDS if k.shape)]  # type: ignore[valid-type]  # noqa: UP007
GRID_FIELDS = tuple(k.grid_fields for k in KINDS if k.grid_fields)
RESULT_FIELDS = tuple(k.result_fields for k in KINDS if k.result_fields)
OPTIONS = tuple(o for k in KINDS for o in k.options)
COLUMNS: tuple[Column, ...] = tuple(c for k in KINDS for c in k.columns)
SELECTORS = "/".join(k.selector for k in KINDS if k.selector)  # the flags that choose a shape
FORM_ROWS = tuple(row for k in KINDS for row in k.form_rows)


def kind_of(grid: Any) -> ShapeKind:
    """The shape a grid's fields choose."""
    return next((k for k in _BY_PRECEDENCE if k.chosen(grid)), DEFAULT)


def chosen_fields(grid: Any, but: ShapeKind) -> list[str]:
    """The fields of a grid that choose shapes other than `but` (a grid chooses one at most)."""
    return [k.field for k in KINDS if k is not but and k.chosen(grid)]


def by_name(name: str) -> ShapeKind:
    """The kind a form names ("grid", "rates", "ramp", ...)."""
    return _BY_NAME[name]


def by_axis(axis: str) -> ShapeKind:
    """The kind of a cell's result (its `shape`: "concurrency", "rate", "ramp", "trace")."""
    return _BY_AXIS[axis]


def choices() -> list[tuple[str, str]]:
    """The form's choice of shape: (text, name), in the order the form lists them."""
    return [(k.title, k.name) for k in KINDS]


def recognise(data: dict) -> str:
    """The axis of a result that does not name its shape (schema 2, a vLLM bench file), from its
    fields (a result's as read, or a model's attributes)."""
    return next(k.axis for k in _BY_PRECEDENCE if k.axis and k.recognises(data))


def legacy_shape(dataset: str | None, rate: float | None) -> Any:
    """The shape of a cell written before cells carried one: a trace's dataset, a rate, or a closed loop."""
    return next(s for k in _BY_PRECEDENCE if (s := k.legacy(dataset, rate)) is not None)


def sections(cells: list[Any]) -> list[Section]:
    """The shapes' own tables for the HTML report, where some cell has one."""
    return [s for k in KINDS if (s := k.section(cells)) is not None]
