"""`llmbench-tui compare RUN_A RUN_B [RUN_C ...]`: ratios per cell, geomean, "up to", crossovers,
iso-latency, overlaid curves; every export of engine/share/exports (CSV, Markdown and JSON of the
ratios per pair, and the HTML report and images of the runs). Each run is compared with the last
one named (the baseline)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from engine.compare.ratios import Comparison, summary_sentence, table_rows
from engine.compare.render import counted_lines, heading, iso_lines, left_out_lines, stats_lines
from engine.compare.sources import Run, SourceError, load_runs
from engine.exits import EXIT_BAD_INPUT
from engine.headless.frontier import add_slo_options, any_sweep, compare_frontiers_main
from engine.headless.written import write_wanted
from engine.report import curves
from engine.report.model import FLAG_CODES
from engine.share.exports import add_export_options, export_problem, requested
from engine.share.exports.subjects import ComparisonSubject


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llmbench-tui compare",
        description="Compare runs cell by cell: each run relative to the last one named (A vs B: 1.4x means A's "
        "figure is 1.4 times B's). Runs are results folders or `vllm bench serve --save-result` JSON files.",
    )
    p.add_argument("runs", nargs="+", type=Path, help="results folders or vLLM bench JSON files (two or more)")
    add_comparison_options(p)
    p.add_argument(
        "--plot", action="store_true", help="overlay the runs' throughput-latency curves (sweeps: draw each frontier)"
    )
    add_slo_options(p)
    add_export_options(p)
    return p


def add_comparison_options(p: argparse.ArgumentParser) -> None:
    """--name, --latency and --count-flagged: how runs are named and compared (`compare` and `report`)."""
    p.add_argument(
        "--name",
        action="append",
        default=[],
        help="a display name per run, in order (repeatable; default with several runs: hardware, profile or folder, "
        "whichever differs)",
    )
    p.add_argument("--latency", help="iso-latency targets in ms, e.g. 1000,2000 (default: across the common range)")
    p.add_argument(
        "--count-flagged",
        type=flag_codes,
        default=frozenset(),
        metavar="CODES",
        help="flag codes that do not keep a cell out of the comparison's statistics, e.g. client_limit (the cells "
        "stay listed)",
    )


def flag_codes(text: str) -> frozenset[str]:
    """`--count-flagged client_limit,one_read`: codes a cell may carry and still be counted."""
    codes = frozenset(x.strip() for x in text.split(",") if x.strip())
    unknown = codes - set(FLAG_CODES)
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown flag code {', '.join(sorted(unknown))}: one of {', '.join(FLAG_CODES)}"
        )
    return codes


def render_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report(c: Comparison, targets: list[float] | None) -> str:
    out = [heading(c), render_table(table_rows(c)), ""]
    out += ["  " + line for line in (*stats_lines(c), *iso_lines(c, targets), *counted_lines(c), *left_out_lines(c))]
    out += ["", summary_sentence(c)]
    return "\n".join(out)


def overlay_plot(runs: list[Run], width: int = 100, height: int = 24) -> str:
    """Total throughput vs mean E2E latency of several runs: one marker per run, one line per ISL/OSL."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    curves.draw_runs(plt, [(r.name, r.cells) for r in runs])
    return curves.view("latency").title + "\n" + re.sub(r"\x1b\[[0-9;]*m", "", plt.build())


def compare_main(argv: list[str], out=None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    if len(args.runs) < 2:
        print("llmbench-tui compare: error: give two or more runs", file=sys.stderr)
        return EXIT_BAD_INPUT
    wanted = requested(args)
    try:
        if problem := export_problem(wanted):
            raise ValueError(problem)
        targets = [float(x) for x in args.latency.split(",")] if args.latency else None
        if any_sweep(args.runs):  # a sweep on either side: frontier against frontier
            return compare_frontiers_main(args, wanted, out)
        runs = load_runs(args.runs, args.name)
    except (SourceError, ValueError, OSError) as exc:
        print(f"llmbench-tui compare: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    subject = ComparisonSubject(runs, targets, args.count_flagged)
    for c in subject.comparisons:
        print(report(c, targets), file=out)
        print(file=out)
    if args.plot:
        print(overlay_plot(runs), file=out)
    return write_wanted(subject, wanted, "compare", out)
