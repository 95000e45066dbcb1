"""Render an HTML report in headless Chromium: its DOM after parsing, and a screenshot to look at.

The unit tests check the HTML with Python's parsers; this checks what a browser makes of it: the
tables and SVG charts survive the browser's own parser, every chart has drawn points, and the page
looks right (open the PNG). Writes the report first when given runs instead of an .html file.

    python benchmarks/check_report.py RUN [RUN...] --out /tmp/report.html --png /tmp/report.png
    python benchmarks/check_report.py --html /tmp/report.html --png /tmp/report.png
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from engine.headless.report import report_main

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


def browser() -> str:
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    sys.exit(f"no headless browser found ({', '.join(BROWSERS)}): e.g. apt-get install -y chromium")


def chromium(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    # A fresh profile each time: a leftover lock from another Chromium must not block this one.
    with tempfile.TemporaryDirectory() as profile:
        base = [browser(), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}"]
        return subprocess.run(base + args, capture_output=True, text=True, timeout=timeout)


def check_dom(dom: str, runs: int) -> list[str]:
    """What the browser's DOM must hold; an empty list when it does."""
    problems = []
    tables = len(re.findall(r"<table\b", dom))
    charts = re.findall(r"<svg\b.*?</svg>", dom, flags=re.S)
    if tables < runs:
        problems.append(f"{tables} tables for {runs} runs")
    if len(charts) < runs:
        problems.append(f"{len(charts)} <svg> charts for {runs} runs")
    for i, svg in enumerate(charts):
        if not re.search(r"<(circle|rect|polygon|path)\b[^>]*(fill|stroke)=\"#(?!ffffff)", svg):
            problems.append(f"chart {i + 1} has no marker drawn")
    if runs > 1 and "delivers" not in dom:
        problems.append("no comparison sentence")
    return problems


def compared(page: str) -> int:
    """How many sources the report compares: its sweeps where it is a sweep report (a sweep's
    variants are runs of one source, not compared with each other), else its runs."""
    sweeps = len(re.findall(r"<section id='sweep-", page))
    return max(1, sweeps or len(re.findall(r"<section id='run-", page)))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="*", help="results folders or vllm bench JSON files to report on")
    p.add_argument("--html", type=Path, help="an existing report to check instead")
    p.add_argument("--out", type=Path, default=Path("/tmp/llmbench-report.html"), help="where to write the report")
    p.add_argument("--png", type=Path, default=Path("/tmp/llmbench-report.png"), help="the screenshot")
    p.add_argument("--window-size", default="1400,3200", help="browser window, width,height in pixels")
    args = p.parse_args()
    if args.html:
        html, runs = args.html, compared(args.html.read_text())
    elif args.runs:
        if report_main([*args.runs, "--out", str(args.out)]) != 0:
            return 2
        html, runs = args.out, len(args.runs)
    else:
        p.error("give runs to report on, or --html FILE")
    url = html.resolve().as_uri()
    dom = chromium(["--dump-dom", url])
    if dom.returncode != 0 or "<html" not in dom.stdout:
        print(f"chromium --dump-dom failed ({dom.returncode}): {dom.stderr[-2000:]}", file=sys.stderr)
        return 1
    shot = chromium([f"--screenshot={args.png.resolve()}", f"--window-size={args.window_size}", url])
    if shot.returncode != 0 or not args.png.is_file():
        print(f"chromium --screenshot failed ({shot.returncode}): {shot.stderr[-2000:]}", file=sys.stderr)
        return 1
    problems = check_dom(dom.stdout, runs)
    size = html.stat().st_size
    tables, charts = len(re.findall(r"<table\b", dom.stdout)), len(re.findall(r"<svg\b", dom.stdout))
    print(f"{html}: {size:,} bytes; DOM: {tables} tables, {charts} svg charts; screenshot {args.png}")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
