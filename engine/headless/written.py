"""The exports a headless command was asked for (engine/share/exports), written and listed on
stdout one `wrote ...` line each; a path that cannot be written is bad input, said on stderr."""

from __future__ import annotations

import sys
from typing import TextIO

from engine.exits import EXIT_BAD_INPUT, EXIT_OK
from engine.share.exports import Subject, Wanted, write_exports


def write_wanted(subject: Subject, wanted: list[Wanted], prog: str, out: TextIO, hint: str = "") -> int:
    """Write every export of `wanted` from `subject`; the exit code. `prog`: the command the error
    names (`compare`, `report`); `hint`: what the error adds (e.g. ": choose a writable path")."""
    try:
        written = write_exports(subject, wanted)
    except OSError as exc:
        why = f"cannot write {exc.filename or ''}: {exc.strerror or exc}{hint}"
        print(f"llmbench-tui {prog}: error: {why}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for line in written:
        print(f"wrote {line}", file=out)
    return EXIT_OK
