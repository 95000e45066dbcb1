"""The results folder of a run: profile.toml, summary.json, requests.jsonl, server.log.

Written as the run goes: each request is appended as it finishes and the summary is rewritten
after each cell (to a temporary file, flushed to disk, then renamed over the old one), so a crash
or an interrupt loses at most what was in flight. A full disk is a fault the run reports and ends
on, with space held in reserve for the final summary (engine/report/diskspace.py).
"""

from __future__ import annotations

import collections
import json
import os
import re
import time
from pathlib import Path

from pydantic import ValidationError

from engine.jsontext import dumps
from engine.load.record import RequestRecord
from engine.profiles import ResolvedProfile, load_profile
from engine.report.diskspace import RESERVE_MIN_BYTES, AppendFile, FaultLatch, Reserve, WriteFault
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


class SummaryFile:
    """A run folder's summary.json: every write of it goes through here."""

    def __init__(self, run_dir: Path):
        self.dir = run_dir
        self.path = run_dir / "summary.json"

    def write(self, summary: RunSummary) -> int:
        """Replace it whole: a temporary file, flushed to disk, renamed over the old one (a failed
        write removes the temporary file and leaves the old summary). Returns its size."""
        tmp = self.dir / "summary.json.tmp"
        text = summary.model_dump_json(indent=2).encode()
        try:
            with open(tmp, "wb") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, self.path)
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a power cut
        finally:
            os.close(dir_fd)
        return len(text)

    def create(self, summary: RunSummary) -> None:
        """Write it only if absent: never over the run's own (os.link fails on an existing name)."""
        tmp = self.dir / "summary.json.first"
        tmp.write_text(summary.model_dump_json(indent=2))
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()

    def read(self) -> RunSummary:
        return read_summary(self.path)


class ResultsWriter:
    """`profile_toml`: the resolved profile as written (secrets masked); None keeps the folder's own
    (a resumed run). A failed write (a full disk) goes to `faults`: add_request drops the line and
    the run stops at its next check; write_summary raises WriteFault."""

    def __init__(self, run_dir: Path, profile_toml: str | None, summary: RunSummary, faults: FaultLatch | None = None):
        self.dir = run_dir
        self.summary = summary
        self.file = SummaryFile(run_dir)
        self.faults = faults or FaultLatch()
        # Requests written, by cell index: measured ones, and warm-up ones apart.
        self.written: collections.Counter[int] = collections.Counter()
        self.warmups_written: collections.Counter[int] = collections.Counter()
        self.reserve = Reserve(run_dir)
        try:
            self.reserve.hold(RESERVE_MIN_BYTES)
        except OSError as exc:
            self.faults.set(self.reserve.path, exc)
        try:
            if profile_toml is not None:
                (run_dir / "profile.toml").write_text(profile_toml)
        except OSError as exc:
            self.faults.set(run_dir / "profile.toml", exc)
        self._requests = AppendFile(run_dir / "requests.jsonl", self.faults)

    def add_request(self, record: RequestRecord) -> None:
        if self._requests.write(record.to_json() + "\n"):
            (self.warmups_written if record.warmup else self.written)[record.cell] += 1

    def write_summary(self) -> None:
        """Rewrite summary.json, then grow the reserve to hold the next one; raises WriteFault."""
        path = self.dir / "summary.json"
        try:
            size = self.file.write(self.summary)
            self.reserve.hold(max(RESERVE_MIN_BYTES, 2 * size + 64 * 1024))
        except OSError as exc:
            self.faults.set(path, exc)
            raise WriteFault(path, exc) from None
        self.faults.check()

    def write_final(self) -> None:
        """The last summary.json, into the space held in reserve (the load and the server have
        stopped); the events that follow use what is left of it."""
        self.reserve.release()
        try:
            self.file.write(self.summary)
        except OSError as exc:
            self.faults.set(self.dir / "summary.json", exc)

    def close(self) -> None:
        self._requests.close()
        self.reserve.release()


def mark_superseded(requests_path: Path, cells: set[tuple[int, int]]) -> int:
    """Mark the requests of `cells` ((index in the plan, round) pairs; a record without a round is
    of round 0) as superseded: a resumed run measures those cells again, and keeps the earlier
    attempt's records for the record. Returns how many."""
    if not requests_path.exists():
        return 0
    lines, marked = [], 0
    for line in requests_path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a partial last line from a crash: nothing of it can be trusted
        if (record.get("cell"), record.get("round") or 0) in cells and not record.get("superseded"):
            record["superseded"] = True
            marked += 1
        lines.append(dumps(record, separators=(",", ":")))
    tmp = requests_path.with_suffix(".jsonl.tmp")
    try:
        with open(tmp, "w") as f:
            f.write("".join(ln + "\n" for ln in lines))
            f.flush()
            os.fsync(f.fileno())
    except OSError:
        tmp.unlink(missing_ok=True)  # requests.jsonl itself is untouched
        raise
    os.replace(tmp, requests_path)
    return marked


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
