"""`llmbench-tui compare RUN_A RUN_B [RUN_C ...]`: ratios per cell, geomean, "up to", crossovers,
iso-latency, overlaid curves; CSV, Markdown and JSON exports. Each run is compared with the last
one named (the baseline)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from dataclasses import asdict
from pathlib import Path

from engine.compare.ratios import Comparison, against_last, iso, summary_sentence, table_rows
from engine.compare.render import counted_lines, heading, iso_lines, left_out_lines, stats_lines
from engine.compare.sources import Run, SourceError, load_runs
from engine.report import curves
from engine.report.model import FLAG_CODES
from engine.report.registry import COMPARED

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llmbench-tui compare",
        description="Compare runs cell by cell: each run relative to the last one named (A vs B: 1.4x means A's "
        "figure is 1.4 times B's). Runs are results folders or `vllm bench serve --save-result` JSON files.",
    )
    p.add_argument("runs", nargs="+", type=Path, help="results folders or vLLM bench JSON files (two or more)")
    add_comparison_options(p)
    p.add_argument("--plot", action="store_true", help="overlay the runs' throughput-latency curves")
    p.add_argument("--csv", type=Path, help="write the per-cell table as CSV")
    p.add_argument("--md", type=Path, help="write the per-cell table and the summary as Markdown")
    p.add_argument("--json", type=Path, help="write everything computed as JSON")
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


def to_json(comparisons: list[Comparison]) -> dict:
    def one(c: Comparison) -> dict:
        return {
            "a": c.a.name,
            "b": c.b.name,
            "summary": summary_sentence(c),
            "cells": [{"cell": list(r.key), "ratios": r.ratios} for r in c.cells],
            "overall": {f: asdict(s) for f, s in c.overall.items()},
            "by_seq": {seq: {f: asdict(s) for f, s in figs.items()} for seq, figs in c.by_seq.items()},
            "crossovers": c.crossovers,
            "excluded": [{"cell": list(k), "why": why} for k, why in c.excluded],
            "counted_flagged": [{"cell": list(k), "why": why} for k, why in c.counted],
            "only_a": [list(k) for k in c.only_a],
            "only_b": [list(k) for k in c.only_b],
            "iso_latency": [
                asdict(p) | {"ratio": p.ratio}
                for p in iso(c.a, c.b, "mean_e2el_ms", "total_token_throughput", count_flagged=c.count_flagged)
            ],
        }

    return {"comparisons": [one(c) for c in comparisons]}


def to_csv(comparisons: list[Comparison]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        ["a", "b", "workload", "axis", "level", *(m.key for m in COMPARED)]
    )  # the cell's key: engine/compare/ratios.py
    for c in comparisons:
        for r in c.cells:
            w.writerow(
                [
                    *(c.a.name, c.b.name, r.key.seq, r.key.axis, f"{r.key.level:g}"),
                    *("" if r.ratios[m.key] is None else f"{r.ratios[m.key]:.4f}" for m in COMPARED),
                ]
            )
    return buf.getvalue()


def to_markdown(comparisons: list[Comparison]) -> str:
    out = []
    for c in comparisons:
        rows = table_rows(c)
        out.append(f"## {c.a.name} vs {c.b.name}\n")
        out.append("| " + " | ".join(rows[0]) + " |")
        out.append("|" + "|".join("---" for _ in rows[0]) + "|")
        out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        out.append(f"\n{summary_sentence(c)}\n")
    return "\n".join(out)


def compare_main(argv: list[str], out=None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    if len(args.runs) < 2:
        print("llmbench-tui compare: error: give two or more runs", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        targets = [float(x) for x in args.latency.split(",")] if args.latency else None
        runs = load_runs(args.runs, args.name)
    except (SourceError, ValueError, OSError) as exc:
        print(f"llmbench-tui compare: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    comparisons = against_last(runs, args.count_flagged)
    for c in comparisons:
        print(report(c, targets), file=out)
        print(file=out)
    if args.plot:
        print(overlay_plot(runs), file=out)
    writes = ((args.csv, to_csv), (args.md, to_markdown), (args.json, lambda cs: json.dumps(to_json(cs), indent=2)))
    for path, render in writes:
        if path:
            path.write_text(render(comparisons))
            print(f"wrote {path}", file=out)
    return EXIT_OK
