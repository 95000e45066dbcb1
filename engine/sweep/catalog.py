"""The sweeps under a results root, for `llmbench-tui ls`, `attach` and `stop`: a sweep that says
"running" is believed only while its process is alive (as a run's summary is, engine/report/catalog.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.report.catalog import LOST, run_process_alive
from engine.sweep.model import SweepFile, is_sweep, read_sweep


@dataclass
class SweepEntry:
    path: Path
    sweep: SweepFile | None
    problem: str | None = None  # why sweep.json could not be read

    @property
    def status(self) -> str:
        if self.sweep is None:
            return "unreadable"
        if self.sweep.status == "running" and not run_process_alive(self.sweep.pid, self.path):
            return LOST
        return self.sweep.status

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def progress(self) -> str:
        """'2/3 variants (1 failed)'."""
        if self.sweep is None:
            return "?"
        done = sum(v.finished for v in self.sweep.variants)
        failed = len(self.sweep.failed())
        return f"{done}/{len(self.sweep.variants)} variants" + (f" ({failed} failed)" if failed else "")


def _entry(path: Path) -> SweepEntry:
    try:
        return SweepEntry(path, read_sweep(path))
    except (OSError, ValueError) as exc:
        return SweepEntry(path, None, str(exc))


def scan_sweeps(root: Path) -> list[SweepEntry]:
    """Every sweep folder directly under `root`, newest first."""
    if not root.is_dir():
        return []
    entries = [_entry(p) for p in root.iterdir() if is_sweep(p)]
    entries.sort(key=lambda e: ((e.sweep.created if e.sweep else ""), e.path.name), reverse=True)
    return entries


def find_sweep(root: Path, name: str | None) -> SweepEntry | None:
    """A sweep by folder path or name under `root` (None: `name` is not a sweep)."""
    if not name:
        return None
    for path in (Path(name), root / name):
        if is_sweep(path):
            return _entry(path)
    return None
