"""Resuming a run: which of its cells are finished (kept and skipped), and the summary it goes on
with. The earlier requests of the cells that did not finish stay in requests.jsonl, marked
superseded."""

from __future__ import annotations

import re
import time
from pathlib import Path

from engine.events import Notice, Observer
from engine.plan import Cell
from engine.profiles import ResolvedProfile
from engine.report.model import CellResult, RunSummary
from engine.report.results import mark_superseded, read_summary
from engine.report.rounds import measured_rounds
from engine.report.run_notes import Resumed


def resumed_summary(profile: ResolvedProfile, plan: list[Cell], run_dir: Path, observer: Observer) -> RunSummary:
    """The summary of the run in `run_dir`, ready to go on: a resume recorded, its unfinished cells' requests marked."""
    summary = read_summary(run_dir / "summary.json")
    todo = rounds_left(plan, profile.load.repeats, summary.cells)
    unfinished = {(c.index, r) for c, r in todo}
    if profile.grid.search:  # probes are made as the search goes: the one cut short is the unfinished one
        finished = {c.cell for c in summary.cells}
        unfinished = {(i, 0) for i in _request_cells(run_dir / "requests.jsonl") if i not in finished}
    marked = mark_superseded(run_dir / "requests.jsonl", unfinished)
    at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    summary.resumed.append(
        Resumed(at=at, after=summary.status, cells_left=len(todo), cut_short=summary.interrupted_cell)
    )
    summary.skipped, summary.finished_at, summary.interrupted_cell = [], None, None
    if profile.grid.search:
        progress = (
            f"{len(summary.cells)} probes done, {len(summary.search)} of {len(profile.grid.seq)} "
            "searches finished; the search goes on from its finished probes"
        )
    else:
        progress = f"{len(summary.cells)} of {len(plan)} cells done, {len(todo)} to run"
        if profile.load.repeats > 1:
            measured = len(plan) * profile.load.repeats - len(todo)
            progress = f"{measured} of {len(plan)} cells x {profile.load.repeats} rounds done, {len(todo)} to run"
    observer(
        Notice(
            "info",
            f"resuming {run_dir.name} ({summary.status}): {progress}; {marked} earlier requests of "
            "unfinished cells kept in requests.jsonl, marked superseded",
        )
    )
    return summary


def rounds_left(plan: list[Cell], repeats: int, cells: list[CellResult]) -> list[tuple[Cell, int]]:
    """The (cell, round) pairs of `plan` that the results `cells` do not hold yet: what a resume runs."""
    done = done_rounds(cells)
    return [(c, r) for r in range(repeats) for c in plan if (cell_key(c), r) not in done]


def _request_cells(path: Path) -> set[int]:
    """The cell indices that have requests in requests.jsonl."""
    if not path.exists():
        return set()
    return {int(m) for m in re.findall(r'"cell":(\d+)', path.read_text())}


def _key(level: float, seq: str) -> tuple[float, str]:
    """A cell's place in the grid: its request rate or concurrency, and its lengths or dataset label
    (lengths alone would not tell two multi-turn or random cells with per-request lengths apart)."""
    return float(level), seq


def done_rounds(cells: list[CellResult]) -> set[tuple[tuple[float, str], int]]:
    """The (cell's place, round) pairs a run's results hold (a run of one round: round 0)."""
    return {(result_key(c), r) for c in cells for r in measured_rounds(c)}


def result_key(result: CellResult) -> tuple[float, str]:
    """A finished cell's place, as its cell was planned (its shape says: a result may carry another
    rate than its plan, such as a shape setting its own pace)."""
    return _key(result.load_shape.plan_level(result), result.seq)


def cell_key(cell: Cell) -> tuple[float, str]:
    """The same place for a planned cell, as its result will name it (CellResult.seq)."""
    return _key(cell.level, cell.seq or f"{cell.input_len}/{cell.output_len}")
