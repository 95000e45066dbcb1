"""Which isolation keeps the client's timestamps true, and what it costs the server.

Runs the same grid with a launched vLLM (the tiny model) under each isolation setting, the
settings interleaved over several rounds (the host is noisy: compare within a round), and prints
per setting: the client's run-queue wait (share of each cell's wall time), its event-loop lag
p99, the cells flagged, and the server's output throughput relative to no isolation (geometric
mean over the cells of a round).

    python benchmarks/isolation.py --rounds 2 --seq 128/128 --concurrency 1,4,16,64
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

SETTINGS = {
    "off (nice 0)": ["--server-nice", "0"],
    "nice 15": ["--server-nice", "15"],
    "nice 19": ["--server-nice", "19"],
    "SCHED_IDLE (default)": [],
    "pinned (server CPU 1, client CPU 0)": ["--server-nice", "0", "--server-cpus", "1", "--client-cpus", "0"],
}
CLI = str(Path(sys.executable).parent / "llmbench-tui")


def run(extra: list[str], args, results: Path) -> list[dict]:
    cmd = [
        CLI,
        "--no-ui",
        "--profile",
        "cpu-tiny",
        "--concurrency",
        args.concurrency,
        "--seq",
        args.seq,
        "--results",
        str(results),
        *extra,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("results: ")]
    if proc.returncode != 0 or not line:
        print(f"  failed ({proc.returncode}): {proc.stderr[-500:]}", file=sys.stderr)
        return []
    return json.loads((Path(line[-1].split(": ", 1)[1]) / "summary.json").read_text())["cells"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--concurrency", default="1,4,16,64")
    ap.add_argument("--seq", default="128/128,512/32")
    ap.add_argument("--only", help="comma-separated setting names to run (default: all)")
    args = ap.parse_args()
    names = [n for n in SETTINGS if not args.only or any(o.strip() in n for o in args.only.split(","))]
    rows: dict[str, list[tuple[dict, float]]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            base: dict[str, float] = {}
            for name in names:
                print(f"round {r + 1}/{args.rounds}: {name}...", file=sys.stderr, flush=True)
                cells = run(SETTINGS[name], args, Path(tmp))
                for c in cells:
                    key = f"{c['max_concurrency']}@{c['input_len']}/{c['output_len']}"
                    if name == names[0]:
                        base[key] = c["output_throughput"]
                    ratio = c["output_throughput"] / base[key] if base.get(key) else float("nan")
                    rows[name].append((c, ratio))
    print(
        f"{'setting':38s} {'cells':>5s} {'flagged':>7s} {'CPU wait mean':>13s} {'max':>5s} "
        f"{'lag p99 max ms':>14s} {'out tok/s vs off':>16s}"
    )
    for name, got in rows.items():
        if not got:
            print(f"{name:38s}  no result")
            continue
        waits = [c["client_run_queue_share"] or 0.0 for c, _ in got]
        lags = [c["client_loop_lag_p99_ms"] or 0.0 for c, _ in got]
        ratios = [x for _, x in got if x == x and x > 0]
        geo = math.exp(sum(math.log(x) for x in ratios) / len(ratios)) if ratios else float("nan")
        flagged = sum(1 for c, _ in got if c["flags"])
        print(
            f"{name:38s} {len(got):5d} {flagged:7d} {sum(waits) / len(waits):13.1%} {max(waits):5.0%} "
            f"{max(lags):14.1f} {geo:16.2f}"
        )
    print("\nper cell (CPU wait / lag p99 ms / output tok/s):")
    for name, got in rows.items():
        cells = "  ".join(
            f"c={c['max_concurrency']} {c['input_len']}/{c['output_len']}: {c['client_run_queue_share'] or 0:.0%}/"
            f"{c['client_loop_lag_p99_ms'] or 0:.1f}/{c['output_throughput']:.0f}"
            for c, _ in got
        )
        print(f"  {name}: {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
