"""The HTML pieces every section of the report is made of: escaping, tables, missing figures.

Every text that reaches the page goes through `e` (it came from a file, a flag or a server), so a
section builds rows of plain strings and lets `table` escape them.
"""

from __future__ import annotations

from html import escape
from typing import Any

from engine.report.model import CellResult
from engine.report.table import FLAG_HEADER

NA = "n/a"


def e(value: Any) -> str:
    return escape(str(value))


def na(value: float | int | None, fmt: str = "{:,.1f}") -> str:
    """The figure, or "n/a" where it was not measured (never 0: a missing reading is not a zero)."""
    return NA if value is None else fmt.format(value)


def mean_max(mean: float | None, high: float | None, fmt: str = "{:,.1f}") -> str:
    """'0.8 / 1.0' (mean / max), n/a where either is missing."""
    if mean is None and high is None:
        return NA
    return f"{na(mean, fmt)} / {na(high, fmt)}"


def flag_codes(cell: CellResult, codes: tuple[str, ...] | None = None) -> str:
    """'! client_limit' for the cell's flags (those of `codes` only, when given); the reasons are
    in the cells table, whose flag column the report's captions point to."""
    shown = [f.code for f in cell.flags if codes is None or f.code in codes]
    return "! " + ", ".join(shown) if shown else ""


def table(
    header: list[str],
    rows: list[list[str]],
    *,
    text_columns: tuple[int, ...] = (0,),
    wrap_columns: tuple[int, ...] = (),
    row_classes: list[str] | None = None,
) -> str:
    """An HTML table of plain-text values (escaped here). `text_columns` align left (the others
    are figures); `wrap_columns` hold sentences (a check, a reason) and may wrap; a column headed
    "flag" holds flag codes (red, as in the cells table); `row_classes` marks rows ("flagged",
    "marked"). Headers may wrap: these tables sit beside the wide cells table and should fit the page."""
    flag = header.index(FLAG_HEADER) if FLAG_HEADER in header else -1

    def cls(i: int) -> str:
        names = (["text"] if i in text_columns or i == flag else []) + (["wrap"] if i in wrap_columns else [])
        names += ["code"] if i == flag else []
        return f" class='{' '.join(names)}'" if names else ""

    head = "".join(f"<th{cls(i)}>{e(v)}</th>" for i, v in enumerate(header))
    body = []
    for n, row in enumerate(rows):
        rc = row_classes[n] if row_classes else ""
        cells = "".join(f"<td{cls(i)}>{e(v)}</td>" for i, v in enumerate(row))
        body.append(f"<tr class='{rc}'>{cells}</tr>" if rc else f"<tr>{cells}</tr>")
    return (
        f"<div class=scroll><table class=detail><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def caption(text: str) -> str:
    return f"<p class=muted>{e(text)}</p>"
