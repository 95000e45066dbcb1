"""CSV: the subject's table as one flat sheet (a row per cell; raw figures, empty where n/a)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from engine.share.exports.base import Subject, file_problem, write_text


class CsvExport:
    name = "csv"
    flag = "--csv"
    metavar = "FILE"
    help = "write the table as CSV: a row per cell (report: its figures; compare: its ratios)"

    def problem(self, path: Path) -> str | None:
        return file_problem(path)

    def write(self, subject: Subject, path: Path) -> list[str]:
        buf = io.StringIO()
        csv.writer(buf).writerows(subject.records())
        return write_text(path, buf.getvalue())


EXPORT = CsvExport()
