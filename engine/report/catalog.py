"""The runs under a results root, for `llmbench-tui ls`, `attach` and the TUI's run browser.

A summary that says "running" is believed only while its run process is alive: a run whose process
was killed outright (SIGKILL, a power cut) could not write its final status, and is shown as lost.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine.report.model import RunSummary
from engine.report.results import read_summary

LOST = "lost"  # summary says running, but no run process is alive for it


def run_process_alive(pid: int | None, run_dir: Path) -> bool:
    """Whether `pid` is alive and is the run process of `run_dir` (not a recycled pid)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)  # no /proc (not Linux): alive is the best we can tell
        except (ProcessLookupError, PermissionError):
            return False
        return True
    return run_dir.name.encode() in cmdline


@dataclass
class RunEntry:
    path: Path
    summary: RunSummary | None
    problem: str | None = None  # why the summary could not be read

    @property
    def status(self) -> str:
        if self.summary is None:
            return "unreadable"
        s = self.summary.status
        if s == "running" and not run_process_alive(self.summary.pid, self.path):
            return LOST
        return s

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def cells_done(self) -> int:
        return len(self.summary.cells) if self.summary else 0

    @property
    def cells_planned(self) -> int:
        return len(self.summary.plan) if self.summary else 0


def scan_runs(root: Path) -> list[RunEntry]:
    """Every results folder directly under `root` (a folder holding summary.json), newest first."""
    if not root.is_dir():
        return []
    entries = []
    for path in root.iterdir():
        summary_path = path / "summary.json"
        if not summary_path.is_file():
            continue
        try:
            entries.append(RunEntry(path, read_summary(summary_path)))
        except (OSError, ValueError) as exc:
            entries.append(RunEntry(path, None, str(exc)))
    entries.sort(key=lambda e: ((e.summary.started_at or "") if e.summary else "", e.path.name), reverse=True)
    return entries


def find_run(root: Path, name: str | None) -> RunEntry | None:
    """A run by folder path or name under `root`; without a name the newest running one, else the newest."""
    if name:
        path = Path(name)
        candidates = [path, root / name]
        for p in candidates:
            if (p / "summary.json").is_file():
                try:
                    return RunEntry(p, read_summary(p / "summary.json"))
                except (OSError, ValueError) as exc:
                    return RunEntry(p, None, str(exc))
        return None
    runs = scan_runs(root)
    return next((r for r in runs if r.running), runs[0] if runs else None)
