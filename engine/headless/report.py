"""`llmbench-tui report RUN [RUN...] --out F.html [--svg DIR] [--png DIR] [--csv F] [--md F] [--json F]`:
a self-contained HTML report of one or more runs (with the comparison when there are several), one
image per curve for slides, and each run's cell table as CSV, Markdown or JSON (engine/share/exports)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.compare.sources import SourceError, load_run, load_runs
from engine.exits import EXIT_BAD_INPUT
from engine.headless.compare import add_comparison_options
from engine.headless.frontier import add_slo_options, any_sweep, report_frontiers_main
from engine.headless.written import write_wanted
from engine.share.exports import add_export_options, export_problem, exports, requested
from engine.share.exports.subjects import RunsSubject


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llmbench-tui report",
        description="Write a self-contained HTML report (tables, curves as inline SVG, flags, environment, "
        "profile; with several runs the comparison, each relative to the last one named), images of the curves, "
        "and the cell tables as CSV, Markdown or JSON.",
    )
    p.add_argument(
        "runs",
        nargs="+",
        type=Path,
        help="results folders, sweep folders (with sweep.json) or `vllm bench serve --save-result` JSON files",
    )
    add_comparison_options(p)
    add_slo_options(p)
    add_export_options(p)
    return p


def _err(message: str) -> int:
    print(f"llmbench-tui report: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def report_main(argv: list[str], out=None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    wanted = requested(args)
    if any_sweep(args.runs):  # sweeps: the frontier in the terminal, and the exports asked for
        if problem := export_problem(wanted):
            return _err(problem)
        return report_frontiers_main(args, wanted, out)
    if not wanted:
        return _err("nothing to write: give " + ", ".join(f"{x.flag} {x.metavar}" for x in exports()))
    if problem := export_problem(wanted):  # before anything is written: a missing folder or extra is bad input
        return _err(problem)
    try:
        targets = [float(x) for x in args.latency.split(",")] if args.latency else None
    except ValueError:
        return _err(f"--latency {args.latency!r}: give milliseconds separated by commas, e.g. 1000,2000")
    try:
        if len(args.runs) > 1:  # named as `compare` names them: by what tells them apart
            runs = load_runs(args.runs, args.name)
        else:
            runs = [load_run(args.runs[0], args.name[0] if args.name else None)]
    except (SourceError, ValueError, OSError) as exc:
        return _err(f"{exc} (give results folders or `vllm bench serve --save-result` JSON files)")
    subject = RunsSubject(runs, targets, args.count_flagged)
    return write_wanted(subject, wanted, "report", out, hint=": choose a writable path")
