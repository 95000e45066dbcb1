"""A run on its own thread and event loop, for front ends that own the main loop (the TUI).

The load generator's timestamps never wait in the UI's event loop: the UI only receives events,
through the observer, which it must hand over to its own thread. Both threads share the GIL,
so a long redraw can still delay a timestamp by its length; a run in its own process would not
(tried: multiprocessing's spawn fails under Textual's test harness, "bad value(s) in
fds_to_keep"; a plain subprocess with events over a pipe is the way to go).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from engine.events import Observer
from engine.loop import new_event_loop
from engine.profiles import ResolvedProfile
from engine.run.runner import Runner, RunOutcome


class BackgroundRun:
    def __init__(self, profile: ResolvedProfile, observer: Observer, results_root: Path):
        self.runner = Runner(profile, observer, results_root)
        self.outcome: RunOutcome | None = None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._ready = threading.Event()
        # Not a daemon: the server it launched must be stopped before the process exits.
        self._thread = threading.Thread(target=self._main, name="llmbench-run")

    def _main(self) -> None:
        loop = new_event_loop()
        self._loop = loop
        try:
            self._task = loop.create_task(self.runner.run())
            self._ready.set()
            self.outcome = loop.run_until_complete(self._task)
        except BaseException as exc:  # reported to the front end, never lost with the thread
            self.error = exc
        finally:
            self._ready.set()
            loop.close()

    def start(self) -> BackgroundRun:
        self._thread.start()
        self._ready.wait()
        return self

    def cancel(self) -> None:
        """Stop the load, save partial results, stop the server (the run ends as 'interrupted')."""
        if self._loop is not None and self._task is not None and not self._task.done():
            self._loop.call_soon_threadsafe(self._task.cancel)

    def join(self, timeout: float | None = None) -> RunOutcome | None:
        self._thread.join(timeout)
        return self.outcome

    @property
    def running(self) -> bool:
        return self._thread.is_alive()
