"""PNG: one image per curve into a folder, drawn by matplotlib (an optional extra, checked before
anything is written)."""

from __future__ import annotations

from pathlib import Path

from engine.share.exports.base import Subject
from engine.share.images import PLOT_EXTRA, MissingExtra, pyplot, write_pngs


class PngExport:
    name = "png"
    flag = "--png"
    metavar = "DIR"
    help = f"also write one PNG per curve into DIR (matplotlib: {PLOT_EXTRA})"

    def problem(self, path: Path) -> str | None:
        try:
            pyplot()
        except MissingExtra as exc:
            return str(exc)
        return None

    def write(self, subject: Subject, path: Path) -> list[str]:
        return [str(p) for p in write_pngs(subject.runs, path)]


EXPORT = PngExport()
