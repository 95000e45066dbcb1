"""The export interface: what a command exports (a Subject) and a format that writes it (an Export).

`report` and `compare` build a Subject (the runs, their comparisons, and which tables their text
exports carry) and hand it to each export the user asked for; every format reads the same Subject.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from engine.compare.ratios import Comparison
from engine.compare.sources import Run


@dataclass(frozen=True)
class Block:
    """One table of a text export (Markdown): a title, rows of display text (header first), notes beneath."""

    title: str
    rows: list[list[str]]
    notes: list[str]


class Subject(Protocol):
    """What a command exports. The pictures (HTML, SVG, PNG) draw its runs and comparisons; the text
    exports carry its tables: a cell table per run (`report`), or the ratios per pair (`compare`)."""

    runs: list[Run]
    comparisons: list[Comparison]  # each run relative to the last one (none with one run)
    targets: list[float] | None  # iso-latency targets in ms (None: across the common range)
    count_flagged: frozenset[str]

    def blocks(self) -> list[Block]:
        """Its tables for people (Markdown)."""
        ...

    def records(self) -> list[list[str]]:
        """Its table as one flat sheet for tools (CSV): the header, then one row per cell."""
        ...

    def data(self) -> dict[str, Any]:
        """Everything computed, as plain JSON-able data."""
        ...

    def html(self) -> str:
        """The self-contained HTML report."""
        ...


class Export(Protocol):
    """A format: the option that asks for it, a check before anything is written, and the writer."""

    name: str  # also the option's destination
    flag: str  # --csv
    metavar: str  # FILE or DIR
    help: str

    def problem(self, path: Path) -> str | None:
        """Why `path` cannot be written (a missing folder, a missing optional dependency), else None."""
        ...

    def write(self, subject: Subject, path: Path) -> list[str]:
        """Write the subject; what was written, one line each ("r.html (12,345 bytes)")."""
        ...


def file_problem(path: Path) -> str | None:
    """A single-file export's check: the folder it goes into exists."""
    if not path.parent.is_dir():
        return f"{path}: its folder {path.parent} does not exist: create it or write elsewhere"
    return None


def write_text(path: Path, text: str) -> list[str]:
    path.write_text(text)
    return [f"{path} ({len(text.encode()):,} bytes)"]
