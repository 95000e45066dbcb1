"""The results folder of a run: profile.toml, summary.json, requests.jsonl, server.log.

Written as the run goes: each request is appended as it finishes and the summary is rewritten
after each cell (to a temporary file, flushed to disk, then renamed over the old one), so a crash
or an interrupt loses at most what was in flight.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from pydantic import ValidationError

from engine.load.record import RequestRecord
from engine.profiles import ResolvedProfile, load_profile
from engine.report.model import RunSummary


def new_run_dir(root: Path, profile_name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", profile_name).strip("-") or "run"
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1000):
        path = root / (f"{stamp}-{safe}" if n == 0 else f"{stamp}-{safe}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run folder under {root}")


class ResultsWriter:
    def __init__(self, run_dir: Path, profile: ResolvedProfile, summary: RunSummary):
        self.dir = run_dir
        self.summary = summary
        (run_dir / "profile.toml").write_text(profile.to_toml())
        self._requests = open(run_dir / "requests.jsonl", "a", buffering=1)  # noqa: SIM115 (open for the run)

    def add_request(self, record: RequestRecord) -> None:
        self._requests.write(record.to_json() + "\n")

    def write_summary(self) -> None:
        tmp = self.dir / "summary.json.tmp"
        with open(tmp, "w") as f:
            f.write(self.summary.model_dump_json(indent=2))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.dir / "summary.json")
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a power cut
        finally:
            os.close(dir_fd)

    def close(self) -> None:
        self._requests.close()


def read_summary(path: Path) -> RunSummary:
    """summary.json of any schema version (1 and 2), typed."""
    try:
        return RunSummary.model_validate(json.loads(path.read_text()))
    except (ValueError, ValidationError) as exc:
        raise ValueError(f"{path}: not a summary.json this version can read: {exc}") from None


def load_results(run_dir: Path) -> tuple[ResolvedProfile, RunSummary]:
    """A saved run: its profile (replayable) and its summary."""
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        raise FileNotFoundError(f"{run_dir} holds no summary.json: not a results folder")
    return load_profile(str(run_dir / "profile.toml")), read_summary(summary_path)
