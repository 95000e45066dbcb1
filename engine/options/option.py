"""One option of a run, as declared: its flag, the profile field it sets, how its text is parsed, its
help, and its field on the TUI's workload form. The option table (engine/options/table.py) and the
load shapes (engine/shapes/) declare theirs with this type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Option:
    """One option. `flag`: as typed on the command line (a form-only entry, `cli` False, names the
    flags that stand for it); `path`: the dotted profile field it sets (None: an option of the
    command itself, such as --detach); `parse`: text -> value for the flag (int, float and Path
    keep argparse's own message); `action`: "store_true" or "switch" (--x / --no-x) for a flag
    without a value. `field`, `label`, `example` and `form_parse`: its field on the TUI's workload
    form (None: not on the form), the label and placeholder shown there, and how the form's text
    is parsed (empty text may mean the profile's default). `form_text` writes the profile's value
    back as the form's text, and `form_default` is the text of a value left unset (None)."""

    flag: str
    path: str | None = None
    help: str = ""
    parse: Callable[[str], Any] | None = None
    choices: tuple[Any, ...] | None = None
    metavar: str | None = None
    action: str | None = None
    field: str | None = None
    label: str = ""
    example: str = ""
    form_parse: Callable[[str], Any] | None = None
    form_text: Callable[[Any], str] = str
    form_default: str = ""
    cli: bool = True

    @property
    def dest(self) -> str:
        """The attribute argparse gives the flag's value."""
        return self.flag.removeprefix("--").replace("-", "_")
