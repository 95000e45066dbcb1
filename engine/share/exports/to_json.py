"""JSON: everything the subject computed (report: each run's cells by metric key; compare: the
ratios, their statistics and what was left out)."""

from __future__ import annotations

from pathlib import Path

from engine.jsontext import dumps
from engine.share.exports.base import Subject, file_problem, write_text


class JsonExport:
    name = "json"
    flag = "--json"
    metavar = "FILE"
    help = "write everything computed as JSON"

    def problem(self, path: Path) -> str | None:
        return file_problem(path)

    def write(self, subject: Subject, path: Path) -> list[str]:
        return write_text(path, dumps(subject.data(), indent=2))


EXPORT = JsonExport()
