"""Small modal screens: ask for a path, confirm a question, choose among a few answers."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class PathPrompt(ModalScreen[str | None]):
    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str = "") -> None:
        super().__init__()
        self.title_text, self.value = title, value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text)
            yield Input(value=self.value, id="path")
            yield Label("enter: confirm   escape: cancel", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Confirm(ModalScreen[bool]):
    BINDINGS = [("y", "answer(True)", "Yes"), ("n", "answer(False)", "No"), ("escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question)
            yield Label("y: yes   n: no", classes="hint")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class Choice(ModalScreen[str | None]):
    """A question with a few answers, one key each; escape answers None (go back)."""

    BINDINGS = [("escape", "answer(None)", "Back")]

    def __init__(self, question: str, answers: list[tuple[str, str]]) -> None:
        super().__init__()
        self.question, self.answers = question, answers  # (key, what it does)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question)
            hints = [f"{key}: {what}" for key, what in self.answers] + ["escape: back"]
            yield Label("   ".join(hints), classes="hint")

    def on_key(self, event) -> None:
        if any(event.key == key for key, _ in self.answers):
            event.stop()
            self.dismiss(event.key)

    def action_answer(self, value: str | None) -> None:
        self.dismiss(value)
