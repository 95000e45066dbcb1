"""Our numbers beside `vllm bench serve`'s, on the same real vLLM server, in the same run.

Starts one vLLM server on the tiny model, then runs interleaved rounds: each round measures every
cell (the cells' order rotated each round), and per cell the two clients back to back (the order
flipped every round, so neither always runs on a warmer server). Per cell and figure (output
throughput, mean TTFT, mean TPOT, client CPU per 1,000 output tokens, the load alone: imports,
tokenizer and prompt preparation excluded) it prints the ratio ours / theirs with its 95% interval
(engine/bench/ratios.py: the geometric mean of the per-round ratios, Student's t on their
logarithms), and marks the ratios whose interval leaves 1.00.

    python benchmarks/fidelity.py --cells 256/256@4,256/256@16,256/256@64 --rounds 3

Requests per cell: --prompts-per-concurrency x concurrency, at least --min-prompts (both clients
send the same number).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from engine.bench.ratios import METHOD, ratio_interval
from engine.profiles import load_profile
from engine.server.launcher import ServerLauncher, server_spec
from engine.server.launcher_base import free_port
from engine.server.tinymodel import ensure_tiny_model

CLI = str(Path(sys.executable).parent / "llmbench-tui")


def parse_cells(text: str) -> list[tuple[int, int, int]]:
    cells = []
    for item in text.split(","):
        seq, conc = item.split("@")
        isl, osl = seq.split("/")
        cells.append((int(isl), int(osl), int(conc)))
    return cells


@dataclass(frozen=True)
class Load:
    """What both clients are asked for in one cell."""

    isl: int
    osl: int
    conc: int
    per: int  # prompts per concurrency: both send per * conc requests
    warmup: int

    @property
    def label(self) -> str:
        return f"{self.isl}/{self.osl} c={self.conc}"


def run_ours(url: str, load: Load, tmp: Path) -> dict:
    cmd = [CLI, "--no-ui", "--endpoint", url, "--concurrency", str(load.conc), "--seq", f"{load.isl}/{load.osl}"]
    cmd += ["--prompts-per-concurrency", str(load.per), "--warmup", str(load.warmup), "--results", str(tmp)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"llmbench-tui failed:\n{proc.stderr[-2000:]}")
    run_dir = Path([ln for ln in proc.stdout.splitlines() if ln.startswith("results: ")][-1].split(": ", 1)[1])
    cell = json.loads((run_dir / "summary.json").read_text())["cells"][0]
    return {
        "output_throughput": cell["output_throughput"],
        "mean_ttft_ms": cell["mean_ttft_ms"],
        "mean_tpot_ms": cell["mean_tpot_ms"],
        "cpu_ms_per_1k": cell["client_cpu_ms_per_1k_tokens"],
        "completed": cell["completed"],
    }


def run_theirs(url: str, model: str, tokenizer: str, load: Load, tmp: Path) -> dict:
    name = f"vllm-{load.isl}-{load.osl}-{load.conc}.json"
    cmd = [sys.executable, "-m", "engine.bench.vllm_bench", "--base-url", url, "--model", model]
    cmd += ["--tokenizer", tokenizer, "--dataset-name", "random", "--random-input-len", str(load.isl)]
    cmd += ["--random-output-len", str(load.osl), "--num-prompts", str(load.per * load.conc)]
    cmd += ["--max-concurrency", str(load.conc), "--ignore-eos", "--num-warmups", str(load.warmup)]
    cmd += ["--disable-tqdm", "--save-result", "--result-dir", str(tmp), "--result-filename", name]
    cmd += ["--percentile-metrics", "ttft,tpot,itl,e2el"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if proc.returncode != 0:
        raise RuntimeError(f"vllm bench serve failed:\n{proc.stdout[-1500:]}\n{proc.stderr[-2000:]}")
    result = json.loads((tmp / name).read_text())
    cpu_s = float((tmp / f"{name}.cpu").read_text())
    return {
        "output_throughput": result["output_throughput"],
        "mean_ttft_ms": result["mean_ttft_ms"],
        "mean_tpot_ms": result["mean_tpot_ms"],
        "cpu_ms_per_1k": 1e6 * cpu_s / max(result["total_output_tokens"], 1),
        "completed": result["completed"],
    }


KEYS = [
    ("output_throughput", "out tok/s"),
    ("mean_ttft_ms", "mean TTFT"),
    ("mean_tpot_ms", "mean TPOT"),
    ("cpu_ms_per_1k", "client CPU/1k tok"),
]


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", default="256/256@4,256/256@16,256/256@64", help="ISL/OSL@concurrency, comma-separated")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (at least 2 for an interval)")
    ap.add_argument("--prompts-per-concurrency", type=int, default=8)
    ap.add_argument("--min-prompts", type=int, default=32, help="requests per cell at the least")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--endpoint", help="use this running vLLM server instead of starting one")
    ap.add_argument("--json", type=Path, help="also write every round's figures and the ratios here")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds: at least 1")
    return args


def measure_rounds(url: str, model: str, model_dir: str, loads: list[Load], rounds: int) -> dict[Load, dict]:
    """Every round runs every cell (the order rotated each round), both clients per cell back to back."""
    results: dict[Load, dict[str, list[dict]]] = {load: {"ours": [], "theirs": []} for load in loads}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for r in range(rounds):
            started = time.monotonic()
            for load in loads[r % len(loads) :] + loads[: r % len(loads)]:
                for who in ("ours", "theirs") if r % 2 == 0 else ("theirs", "ours"):
                    res = run_ours(url, load, tmp) if who == "ours" else run_theirs(url, model, model_dir, load, tmp)
                    results[load][who].append(res)
                    print(
                        f"round {r + 1} {load.label} {who:6s}: {res['output_throughput']:8.0f} out tok/s, "
                        f"TTFT {res['mean_ttft_ms']:7.1f} ms, TPOT {res['mean_tpot_ms']:6.2f} ms, "
                        f"CPU {res['cpu_ms_per_1k']:6.0f} ms/1k tok",
                        file=sys.stderr,
                        flush=True,
                    )
            print(f"round {r + 1} took {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return results


def report(results: dict[Load, dict], rounds: int, out: Path | None) -> None:
    print(f"\nours / vllm bench serve, same server, {rounds} interleaved rounds per cell; {METHOD}")
    print("(* : the interval leaves 1.00, a measurable difference)")
    print(f"{'cell':>16s} {'requests':>8s}  " + "  ".join(f"{label:>20s}" for _, label in KEYS))
    saved = []
    for load, by in results.items():
        row, entry = [], {"cell": load.label, "requests": load.per * load.conc, "rounds": by, "ratios": {}}
        for key, _ in KEYS:
            ri = ratio_interval([x[key] for x in by["ours"]], [x[key] for x in by["theirs"]])
            row.append(ri.text() + ("*" if ri.spans_one is False else " "))
            entry["ratios"][key] = {"per_round": ri.ratios, "mean": ri.mean, "low": ri.low, "high": ri.high}
        saved.append(entry)
        print(f"{load.label:>16s} {load.per * load.conc:8d}  " + "  ".join(f"{v:>20s}" for v in row))
    if out is not None:
        out.write_text(json.dumps({"method": METHOD, "cells": saved}, indent=1))


def main() -> int:
    args = parse_args()
    loads = [
        Load(isl, osl, conc, max(args.prompts_per_concurrency, -(-args.min_prompts // conc)), args.warmup)
        for isl, osl, conc in parse_cells(args.cells)
    ]
    # A SIGTERM (timeout, kill) must still reach the finally below that stops the server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    launcher = None
    model_dir = str(ensure_tiny_model(lambda m: print(m, file=sys.stderr)))
    try:
        if args.endpoint:
            url = args.endpoint.rstrip("/")
        else:
            profile = load_profile("cpu-tiny")
            log = Path(tempfile.mkdtemp(prefix="fidelity-")) / "server.log"
            launcher = ServerLauncher(server_spec(profile, model_dir, free_port()), log, timeout_s=300)
            print(f"starting vLLM on the tiny model (log: {log})...", file=sys.stderr)
            asyncio.run(launcher.start(lambda e: None))
            url = launcher.base_url
        models = subprocess.run(["curl", "-s", f"{url}/v1/models"], capture_output=True, text=True).stdout
        model = json.loads(models)["data"][0]["id"]
        results = measure_rounds(url, model, model_dir, loads, args.rounds)
    finally:
        if launcher:
            launcher.stop_sync()
    report(results, args.rounds, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
