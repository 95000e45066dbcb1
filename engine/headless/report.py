"""`llmbench-tui report RUN [RUN...] --out F.html [--png DIR] [--svg DIR]`: a self-contained HTML
report of one or more runs (with the comparison when there are several), and one image per curve
for slides."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.compare.sources import SourceError, load_run, load_runs
from engine.exits import EXIT_BAD_INPUT, EXIT_OK
from engine.headless.compare import add_comparison_options
from engine.share.html import render
from engine.share.images import PLOT_EXTRA, MissingExtra, pyplot, write_pngs, write_svgs


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llmbench-tui report",
        description="Write a self-contained HTML report (tables, curves as inline SVG, flags, environment, "
        "profile; with several runs the comparison, each relative to the last one named) and images of the curves.",
    )
    p.add_argument("runs", nargs="+", type=Path, help="results folders or `vllm bench serve --save-result` JSON files")
    p.add_argument("--out", type=Path, help="the HTML file to write, e.g. report.html")
    add_comparison_options(p)
    p.add_argument("--svg", type=Path, metavar="DIR", help="also write one SVG per curve into DIR (no dependency)")
    p.add_argument(
        "--png", type=Path, metavar="DIR", help=f"also write one PNG per curve into DIR (matplotlib: {PLOT_EXTRA})"
    )
    return p


def _err(message: str) -> int:
    print(f"llmbench-tui report: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def report_main(argv: list[str], out=None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    if not (args.out or args.svg or args.png):
        return _err("nothing to write: give --out F.html, --svg DIR or --png DIR")
    if args.out and not args.out.parent.is_dir():
        return _err(f"{args.out}: its folder {args.out.parent} does not exist: create it or write elsewhere")
    try:
        targets = [float(x) for x in args.latency.split(",")] if args.latency else None
    except ValueError:
        return _err(f"--latency {args.latency!r}: give milliseconds separated by commas, e.g. 1000,2000")
    if args.png:
        try:
            pyplot()  # before anything is written: a missing extra is bad input
        except MissingExtra as exc:
            return _err(str(exc))
    try:
        if len(args.runs) > 1:  # named as `compare` names them: by what tells them apart
            runs = load_runs(args.runs, args.name)
        else:
            runs = [load_run(args.runs[0], args.name[0] if args.name else None)]
    except (SourceError, ValueError, OSError) as exc:
        return _err(f"{exc} (give results folders or `vllm bench serve --save-result` JSON files)")
    written = []
    try:
        if args.out:
            text = render(runs, targets, args.count_flagged)
            args.out.write_text(text)
            written.append(f"{args.out} ({len(text.encode()):,} bytes)")
        if args.svg:
            written += [str(p) for p in write_svgs(runs, args.svg)]
        if args.png:
            written += [str(p) for p in write_pngs(runs, args.png)]
    except OSError as exc:
        return _err(f"cannot write {exc.filename or ''}: {exc.strerror or exc}: choose a writable path")
    for line in written:
        print(f"wrote {line}", file=out)
    return EXIT_OK
