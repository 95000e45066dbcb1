"""Every export format, found here: each module named to_<format>.py holds one EXPORT (the
engine.share.exports.base.Export interface), so a new format is one new file in this folder.
`report` and `compare` offer them all the same way: an option per format, every path checked
before anything is written, then each written."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path

from engine.share.exports.base import Export, Subject


def exports() -> list[Export]:
    """The formats, in the order of their module names."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("to_"))
    return [importlib.import_module(f"{__name__}.{name}").EXPORT for name in names]


@dataclass(frozen=True)
class Wanted:
    """An export the user asked for, and where it goes."""

    export: Export
    path: Path


def add_export_options(p: argparse.ArgumentParser) -> None:
    """One option per export format."""
    for x in exports():
        p.add_argument(x.flag, dest=x.name, type=Path, metavar=x.metavar, help=x.help)


def requested(args: argparse.Namespace) -> list[Wanted]:
    """The formats asked for, each with its path."""
    given = vars(args)
    return [Wanted(x, given[x.name]) for x in exports() if given[x.name] is not None]


def export_problem(wanted: list[Wanted]) -> str | None:
    """Why one of the exports cannot be written, found before anything is (None: all can)."""
    return next((why for w in wanted if (why := w.export.problem(w.path))), None)


def write_exports(subject: Subject, wanted: list[Wanted]) -> list[str]:
    """Every export asked for, written; what was written, one line each (OSError: a path failed)."""
    return [line for w in wanted for line in w.export.write(subject, w.path)]
