"""The results folder of a run: profile.toml, summary.json, requests.jsonl, server.log.

Written as the run goes: each request is appended as it finishes and the summary is rewritten
after each cell, so a crash or an interrupt loses at most what was in flight.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from engine.loadgen import RequestRecord
from engine.profiles import ResolvedProfile, load_profile

SCHEMA_VERSION = 1


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
    def __init__(self, run_dir: Path, profile: ResolvedProfile):
        self.dir = run_dir
        (run_dir / "profile.toml").write_text(profile.to_toml())
        self._requests = open(run_dir / "requests.jsonl", "a", buffering=1)
        self.meta: dict = {}
        self.cells: list[dict] = []

    def add_request(self, record: RequestRecord) -> None:
        self._requests.write(record.to_json() + "\n")

    def write_summary(self) -> None:
        data = {"schema_version": SCHEMA_VERSION, **self.meta, "cells": self.cells}
        tmp = self.dir / "summary.json.tmp"
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, self.dir / "summary.json")

    def close(self) -> None:
        self._requests.close()


def load_results(run_dir: Path) -> tuple[ResolvedProfile, dict]:
    """A saved run: its profile (replayable) and its summary."""
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        raise FileNotFoundError(f"{run_dir} holds no summary.json: not a results folder")
    return load_profile(str(run_dir / "profile.toml")), json.loads(summary_path.read_text())
