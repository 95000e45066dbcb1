"""`compare` and `report` when a sweep is named (a folder with sweep.json): frontiers instead of
cells. `compare SWEEP_A SWEEP_B` compares the frontiers at equal interactivity and at equal mean E2E
latency (a plain run on either side is a one-variant frontier); `report SWEEP` prints the terminal
frontier and writes the exports asked for (the HTML: variants, frontier charts, best per SLO, cost).
Each source is compared with the last one named, as `compare` does with runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.compare.sources import SourceError
from engine.exits import EXIT_BAD_INPUT
from engine.headless.written import write_wanted
from engine.options.argv import add_options
from engine.options.table import OPTIONS
from engine.share.exports import Wanted
from engine.sweep.compare import FrontierComparison
from engine.sweep.render import render_table, report_text
from engine.sweep.slo import Slo, best_per_slo, recorded_slo
from engine.sweep.source import Source, is_sweep, load_sources
from engine.sweep.subject import FrontierSubject
from engine.sweep.words import headline, lines, table_rows

SLO_FLAGS = ("--slo", "--percentile")


def add_slo_options(p: argparse.ArgumentParser) -> None:
    """--slo and --percentile as the run declares them: the best variant per ISL/OSL of a sweep."""
    add_options(p, tuple(o for o in OPTIONS if o.flag in SLO_FLAGS))


def any_sweep(paths: list[Path]) -> bool:
    return any(is_sweep(p) for p in paths)


def chosen_slo(args: argparse.Namespace, sources: list[Source]) -> Slo | None:
    """The SLO typed (--slo, at --percentile, default 99), else the first sweep's profile's own."""
    if args.slo:
        return Slo(args.slo, args.percentile or 99)
    return next((s for s in map(recorded_slo, sources) if s is not None), None)


def comparison_text(fc: FrontierComparison) -> str:
    out = [
        f"{fc.name_a} vs {fc.name_b}: frontiers (ratio {fc.name_a} / {fc.name_b} of output tok/s per GPU at equal x)"
    ]
    for c in fc.axes:
        if c.samples:
            out += [f"{c.axis.title}, {c.seq}:", render_table(table_rows(c, fc.name_a, fc.name_b)), ""]
    out += [*lines(fc), "", *headline(fc)]
    return "\n".join(out)


def _subject(args: argparse.Namespace, prog: str) -> FrontierSubject | None:
    try:
        sources = load_sources(args.runs, args.name)
    except (SourceError, ValueError, OSError) as exc:
        print(f"llmbench-tui {prog}: error: {exc}", file=sys.stderr)
        return None
    return FrontierSubject(sources, chosen_slo(args, sources), args.count_flagged)


def compare_frontiers_main(args: argparse.Namespace, wanted: list[Wanted], out) -> int:
    subject = _subject(args, "compare")
    if subject is None:
        return EXIT_BAD_INPUT
    for fc in subject.frontier_comparisons:
        print(comparison_text(fc), file=out)
        print(file=out)
    if args.plot:
        for f in subject.frontiers:
            print(report_text(f, None, [], plots=True), file=out)
    return write_wanted(subject, wanted, "compare", out)


def report_frontiers_main(args: argparse.Namespace, wanted: list[Wanted], out) -> int:
    subject = _subject(args, "report")
    if subject is None:
        return EXIT_BAD_INPUT
    for f in subject.frontiers:
        bests = best_per_slo(f, subject.slo) if subject.slo else []
        print(report_text(f, subject.slo, bests), file=out)
        print(file=out)
    for fc in subject.frontier_comparisons:
        print(comparison_text(fc), file=out)
        print(file=out)
    return write_wanted(subject, wanted, "report", out)
