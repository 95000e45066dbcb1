"""Messages that travel up from screens and from the engine's thread to the app."""

from __future__ import annotations

from pathlib import Path

from textual.message import Message

from engine.events import Event
from engine.profiles import ResolvedProfile
from engine.report.model import CellResult


class EngineEvent(Message):
    """An engine event, posted from the run's thread (post_message is thread-safe)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class StartRun(Message):
    def __init__(self, profile: ResolvedProfile) -> None:
        super().__init__()
        self.profile = profile


class ShowResults(Message):
    def __init__(self, cells: list[CellResult], title: str, results_dir: str | None) -> None:
        super().__init__()
        self.cells, self.title, self.results_dir = cells, title, results_dir


class OpenRun(Message):
    """Open a saved results folder on the results screen."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
