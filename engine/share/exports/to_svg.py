"""SVG: one image per curve into a folder, for slides (our own writer: no dependency)."""

from __future__ import annotations

from pathlib import Path

from engine.share.exports.base import Subject
from engine.share.images import write_svgs


class SvgExport:
    name = "svg"
    flag = "--svg"
    metavar = "DIR"
    help = "also write one SVG per curve into DIR (no dependency)"

    def problem(self, path: Path) -> str | None:
        return None  # the folder is created

    def write(self, subject: Subject, path: Path) -> list[str]:
        return [str(p) for p in write_svgs(subject.runs, path)]


EXPORT = SvgExport()
