"""HTML: the self-contained report of the subject's runs and comparisons (engine.share.html)."""

from __future__ import annotations

from pathlib import Path

from engine.share.exports.base import Subject, file_problem, write_text


class HtmlExport:
    name = "out"
    flag = "--out"
    metavar = "F.html"
    help = "write a self-contained HTML report (tables, curves as inline SVG, flags, environment, profile)"

    def problem(self, path: Path) -> str | None:
        return file_problem(path)

    def write(self, subject: Subject, path: Path) -> list[str]:
        return write_text(path, subject.html())


EXPORT = HtmlExport()
