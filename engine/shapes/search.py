"""A search: the highest load whose percentile meets the SLOs, probing concurrencies or rates from
search_start (engine/run/search.py runs it, cell by cell, so its cells are not planned ahead). Its
probes are closed-loop or rate cells; it has no cells of its own."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from engine.options.option import Option
from engine.options.parse import format_number, number, required
from engine.shapes.base import PROMPTED, Planned, ShapeKind, open_fields
from engine.shapes.closed import CLOSED
from engine.shapes.rate import RATES


class SearchFields(BaseModel):
    # Search for the highest load meeting load.slo at a percentile, probing from search_start.
    search: Literal["concurrency", "rate"] | None = None
    search_percentile: Literal[50, 90, 99] = 99
    search_start: float = Field(default=1.0, gt=0)
    search_max_probes: int = Field(default=12, ge=2)


class Search(ShapeKind):
    name = "search"
    title = "search (SLOs)"
    axis = None
    precedence = 2
    grid_fields = SearchFields
    selector = "--search"
    field = "search"
    clears = {"grid.search": None}
    form_rows = (("search", "percentile", "search_start"),)
    plans_ahead = False
    options = (
        Option(
            "--search",
            "grid.search",
            "find the highest concurrency or rate whose --percentile meets every --slo (probes double, then bisect)",
            choices=("concurrency", "rate"),
            field="search",
            label="Search",
            form_parse=str,
            form_default="concurrency",
        ),
        Option(
            "--percentile",
            "grid.search_percentile",
            "the percentile a search holds to the SLOs",
            parse=int,
            choices=(50, 90, 99),
            field="percentile",
            label="percentile",
            form_parse=int,
            form_default="99",
        ),
        Option(
            "--search-start",
            "grid.search_start",
            "the first probe's concurrency or rate (default 1)",
            parse=float,
            field="search_start",
            label="from",
            example="1",
            form_parse=required(number, "the first probe's load, e.g. 1"),
            form_text=format_number,
        ),
    )

    def chosen(self, grid: Any) -> bool:
        return grid.search is not None

    def visible(self, form: Any) -> set[str]:
        probes = open_fields(form) if form.search == "rate" else {"prompts"}
        return set(PROMPTED) | {"search", "percentile", "search_start"} | probes

    def plan(self, grid: Any, pairs: list[tuple[int, int, str]], dataset: str | None) -> list[Planned]:
        """The grid's cells as if it searched nothing (the search itself makes its probes as it goes)."""
        return (RATES if RATES.chosen(grid) else CLOSED).plan(grid, pairs, dataset)

    def summary(self, grid: Any, cells: int, lengths: str, limits: str) -> str:
        return (
            f"a search over {grid.search} per ISL/OSL ({', '.join(grid.seq)}) for the highest load whose "
            f"p{grid.search_percentile} meets {limits or '(no --slo given)'}, from {grid.search_start:g}, "
            f"at most {grid.search_max_probes} probes each"
        )


SEARCH = Search()
