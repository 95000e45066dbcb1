"""Writing into a results folder that can fill up: append-only files that report a failed write
instead of dying, the run's first write fault, space held in reserve for the final write, and the
estimate of what a plan will write (checked against the free space before a run).

A full disk must end a run with a final status and a reason, never silently: every file the run
appends to (requests.jsonl, events.jsonl, timeseries.jsonl) is an AppendFile, which cuts a failed
write back to the last whole line (so every line before the fault stays readable), reports the
fault once to the run's FaultLatch and keeps accepting writes (they succeed again once the reserve
is released for the final summary.json and events).
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from engine.load.record import RequestRecord
from engine.plan import Cell

RESERVE_FILE = ".llmbench-reserve"
# Held for the final summary.json (written beside the old one, then renamed over it) and the last
# events: at least this, and at least twice the summary's size as it grows.
RESERVE_MIN_BYTES = 256 * 1024
SUMMARY_PER_CELL_BYTES = 8 * 1024  # a cell's share of summary.json and events.jsonl (measured: 3.5 to 7.8 KB)


class WriteFault(Exception):
    """A write into the results folder failed: the run stops, keeping what was written."""

    def __init__(self, path: Path, error: OSError):
        self.path, self.error = path, error
        super().__init__(f"{self.what} in {path.parent} ({path.name}: {error.strerror or error})")

    @property
    def what(self) -> str:
        if self.error.errno == errno.ENOSPC:
            return "no space left on device"
        if self.error.errno == errno.EDQUOT:
            return "disk quota exceeded"
        return f"cannot write ({self.error.strerror or self.error})"

    def describe(self, after: str) -> str:
        """'no space left on device in FOLDER after N requests of cell X' and what was kept."""
        return (
            f"{self.what} in {self.path.parent} {after} (writing {self.path.name}); the requests written before "
            "the fault are kept in requests.jsonl: free space, then resume the run with --resume"
        )


class FaultLatch:
    """The first write fault of a run, from whichever thread wrote; `listener` hears of it once."""

    def __init__(self) -> None:
        self.fault: WriteFault | None = None
        self.listener: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def set(self, path: Path, error: OSError) -> None:
        with self._lock:
            if self.fault is not None:
                return
            self.fault = WriteFault(path, error)
        if self.listener is not None:
            self.listener()

    def check(self) -> None:
        """Raise the fault, if one happened."""
        if self.fault is not None:
            raise self.fault


class AppendFile:
    """A file appended to in whole lines, unbuffered. A failed write is cut back to the last whole
    line, reported to `faults` and dropped; `write` returns whether it landed."""

    def __init__(self, path: Path, faults: FaultLatch | None = None):
        self.path, self.faults = path, faults
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._good = os.fstat(self._fd).st_size  # the end of the last whole line
        self._lock = threading.Lock()  # lines come from the loop and from threads

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def write(self, text: str, *, sync: bool = False) -> bool:
        data = memoryview(text.encode())
        with self._lock:
            if self._fd < 0:
                return False
            try:
                while data:
                    data = data[os.write(self._fd, data) :]
                if sync:
                    os.fsync(self._fd)
            except OSError as exc:
                self._fail(exc)
                return False
            self._good = os.lseek(self._fd, 0, os.SEEK_END)
        return True

    def _fail(self, exc: OSError) -> None:
        try:
            os.ftruncate(self._fd, self._good)  # no half line left for a reader to trip on
        except OSError:
            pass
        if self.faults is not None:
            self.faults.set(self.path, exc)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


class Reserve:
    """Space held in the results folder (a file of zeros) for the final write, released just before it."""

    def __init__(self, folder: Path):
        self.path = folder / RESERVE_FILE
        # A run killed before its final write left its reserve behind: that space is held already.
        self.size = self.path.stat().st_size if self.path.exists() else 0

    def hold(self, nbytes: int) -> None:
        """Grow the reserve to `nbytes` (never shrinks it); raises OSError when the disk is full."""
        if nbytes <= self.size:
            return
        with open(self.path, "ab") as f:
            f.write(bytes(nbytes - self.size))
            f.flush()
            os.fsync(f.fileno())
        self.size = nbytes

    def release(self) -> None:
        self.path.unlink(missing_ok=True)
        self.size = 0


def request_bytes(output_len: int) -> int:
    """The size of one request's line in requests.jsonl: a record with `output_len` tokens, each in
    its own chunk (the worst case: one gap per token), serialised as the run writes it."""
    record = RequestRecord(
        cell=999,
        index=99999,
        concurrency=1024,
        input_len=99999,
        output_len=output_len,
        ok=True,
        start_time=1.7e9 + 0.123456,
        ttft=0.123456789,
        e2el=12.3456789,
        prompt_tokens=99999,
        output_tokens=output_len,
        expected_prompt_tokens=99999,
        chunk_gaps=[0.0123456789] * max(0, output_len - 1),
        chunk_tokens=[1] * max(0, output_len - 1),
        response_id="cmpl-" + "0" * 32,
        send_delay=0.000123456,
    )
    return len(record.to_json()) + 1


def plan_bytes(cells: list[Cell], default_output_len: int = 0) -> int:
    """What running `cells` writes into the results folder: each request's line (warm-up ones too),
    each cell's share of summary.json and events, and the reserve. A dataset cell (lengths per
    request, 0 in the cell) counts `default_output_len` tokens a request."""
    total = RESERVE_MIN_BYTES
    for c in cells:
        out = c.output_len or default_output_len
        total += c.num_prompts * request_bytes(out) + c.warmup_requests * request_bytes(c.warmup_output_len or out)
        total += SUMMARY_PER_CELL_BYTES
    return total


def free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def human(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} TiB"
