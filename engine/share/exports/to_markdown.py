"""Markdown: each table of the subject under its own heading, its notes (summary, flags) beneath."""

from __future__ import annotations

from pathlib import Path

from engine.share.exports.base import Block, Subject, file_problem, write_text


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def block_lines(b: Block) -> list[str]:
    out = [
        f"## {b.title}\n",
        "| " + " | ".join(map(_cell, b.rows[0])) + " |",
        "|" + "|".join("---" for _ in b.rows[0]) + "|",
    ]
    out += ["| " + " | ".join(map(_cell, r)) + " |" for r in b.rows[1:]]
    return [*out, "", *b.notes, ""] if b.notes else out


class MarkdownExport:
    name = "md"
    flag = "--md"
    metavar = "FILE"
    help = "write the tables and the summary as Markdown (report: a cell table per run; compare: the ratios)"

    def problem(self, path: Path) -> str | None:
        return file_problem(path)

    def write(self, subject: Subject, path: Path) -> list[str]:
        return write_text(path, "\n".join(line for b in subject.blocks() for line in block_lines(b)))


EXPORT = MarkdownExport()
