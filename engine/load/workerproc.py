"""The coordinator's handle on one load worker (engine.load.workers): a local process and its pipe,
how messages go and come, how its death is told and how it is stopped. A transport that carries
the same protocol otherwise (engine.load.rayworkers: a Ray actor) subclasses it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from engine.load.worker import WorkerHealth


def _death(exitcode: int | None) -> str:
    if exitcode is None:
        return "its pipe closed, its process still there"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"killed by {name}"
    return f"exit code {exitcode}"


@dataclass
class _Worker:
    """The coordinator's handle on one worker: here a local process and its pipe. A transport
    (engine.load.rayworkers: a Ray actor) overrides how messages go and come, how it is named, how
    its death is told and how it is stopped; the protocol and the pool's logic stay the same."""

    index: int
    process: subprocess.Popen | None
    conn: multiprocessing.connection.Connection | None
    pid: int = 0
    alive: bool = True
    ready: asyncio.Future | None = None
    error: str | None = None  # what the worker said before it went
    host: str | None = None  # where it runs, for workers that may run elsewhere (Ray); None: this host
    clock_offset_s: float = 0.0  # its time.time() minus the coordinator's (0: one clock)
    clock_uncertainty_s: float = 0.0
    stopped: bool = False  # it said it stopped (after a "stop"), its finished records sent before
    reader: threading.Thread | None = None  # the thread that receives its messages

    def name(self) -> str:
        return f"load worker {self.index} (pid {self.pid})"

    def annotate(self, health: WorkerHealth) -> None:
        """Add to its health what the coordinator knows of it (where it ran, its clock): nothing for a
        process on this host."""

    def open(self) -> None:
        """In the worker's reader thread, before its first message: whatever the transport needs."""

    def send(self, msg: tuple) -> None:
        """One message to the worker; OSError when it is gone (its reader thread says so)."""
        self.conn.send(msg)

    def receive(self) -> list[tuple]:
        """The next messages from the worker, in order; EOFError or OSError once it is gone."""
        return [self.conn.recv()]

    def death(self) -> str:
        """How it died (blocking: it may wait for the exit status)."""
        try:
            self.process.wait(5.0)
        except subprocess.TimeoutExpired:
            pass
        return _death(self.process.returncode)

    def stop(self) -> None:
        """Ask it to stop (a phase cut short loses its requests in flight, as one process would)."""
        try:
            self.conn.send(("stop",))
        except OSError:
            pass

    def reap(self, deadline: float) -> None:
        """Make sure it is gone: wait until `deadline` (time.monotonic()), then terminate, then kill."""
        for stop in (None, self.process.terminate, self.process.kill):
            if stop is not None:
                stop()
            try:
                self.process.wait(max(0.0, deadline - time.monotonic()) if stop is None else 2.0)
                break
            except subprocess.TimeoutExpired:
                continue
        self.conn.close()
