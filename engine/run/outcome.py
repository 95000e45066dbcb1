"""How a run ended: its status, exit code and message, judged from its finished cells."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path

from engine.exits import EXIT_FAILED, EXIT_OK
from engine.report.model import CellResult


@dataclass
class RunOutcome:
    status: str  # completed, failed, interrupted
    exit_code: int
    results_dir: Path
    cells: list[CellResult] = field(default_factory=list)
    error: str | None = None


def judge(run_dir: Path, cells: list[CellResult], skipped: list[str], max_failed_share: float) -> RunOutcome:
    """Completed, unless every request failed or a cell failed more than `max_failed_share` of its requests."""
    if sum(c.completed for c in cells) == 0:
        errors: collections.Counter[str] = collections.Counter()
        for c in cells:
            errors.update(c.errors)
        detail = "; ".join(f"{n}x {e}" for e, n in errors.most_common(3)) or "; ".join(skipped)
        return RunOutcome("failed", EXIT_FAILED, run_dir, cells, f"every request failed: {detail}")
    failing = [c for c in cells if c.num_prompts and c.failed / c.num_prompts > max_failed_share]
    if failing:
        which = ", ".join(f"{c.label} ({c.failed} of {c.num_prompts})" for c in failing)
        limit = f"more than {max_failed_share:.0%} failed requests (load.max_failed_share)"
        message = f"{len(failing)} cells had {limit}: {which}"
        return RunOutcome("failed", EXIT_FAILED, run_dir, cells, message)
    return RunOutcome("completed", EXIT_OK, run_dir, cells)
