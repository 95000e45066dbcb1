"""events.jsonl: the single record of what a run did, written by the run process, followed by
whoever watches (the console, the TUI, `attach`), live or after the fact.

Each event is one line, flushed as it happens; the lines that matter after a crash (a finished
cell, the end) are also fsynced. A reader never sees half a line as an event: it keeps a partial
last line until its newline arrives.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from engine.events import CellFinished, Event, Notice, PhaseChanged, RunFinished, from_record, to_record
from engine.jsontext import dumps
from engine.redact import Redactor
from engine.report.diskspace import AppendFile, FaultLatch

EVENTS_FILE = "events.jsonl"


class EventLog:
    """An observer that appends every event to events.jsonl, secrets masked. A failed write (a full
    disk) drops the event and goes to `faults`; the run then stops and writes its end into the
    space it held in reserve."""

    def __init__(self, path: Path, redact: Redactor | None = None, faults: FaultLatch | None = None):
        self.redact = redact or Redactor()
        self._file = AppendFile(path, faults)

    def __call__(self, event: Event) -> None:
        if self.redact:
            _mask(event, self.redact)
        line = dumps(to_record(event), separators=(",", ":")) + "\n"
        self._file.write(line, sync=isinstance(event, CellFinished | RunFinished))

    def close(self) -> None:
        self._file.close()


def _mask(event: Event, redact: Redactor) -> None:
    match event:
        case Notice():
            event.message = redact(event.message)
        case PhaseChanged():
            event.detail = redact(event.detail)
        case RunFinished() if event.error:
            event.error = redact(event.error)


def read_events(path: Path) -> list[Event]:
    """Every complete event in a (finished or running) run's events.jsonl."""
    return list(follow(path, alive=lambda: False))


def follow(
    path: Path, alive: Callable[[], bool], stop: threading.Event | None = None, poll_s: float = 0.1, offset: int = 0
) -> Iterator[Event]:
    """The events of `path` from `offset`, then each new one as it is written, until the run's
    final event, until the writer is no longer `alive()` and nothing is left to read, or until
    `stop` is set (the follower leaves; the run goes on). The final event of an earlier attempt
    that was resumed (more events follow it) is not final, and not passed on."""
    stop = stop or threading.Event()
    while not path.exists():
        if not alive() or stop.wait(poll_s):
            return
    with open(path, encoding="utf-8") as f:
        f.seek(offset)
        partial = ""
        while not stop.is_set():
            chunk = f.readline()
            if not chunk:
                if alive():
                    stop.wait(poll_s)
                    continue
                chunk = f.readline()  # written between the last read and the check
                if not chunk:
                    return
            partial += chunk
            if not partial.endswith("\n"):
                continue
            line, partial = partial, ""
            try:
                event = from_record(json.loads(line))
            except (ValueError, TypeError):
                continue  # a line this version cannot read: the rest still can be
            if isinstance(event, RunFinished):
                resumed_at = f.tell()
                if f.readline():
                    f.seek(resumed_at)
                    continue
                yield event
                return
            if event is not None:
                yield event
