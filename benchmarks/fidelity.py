"""Our numbers beside `vllm bench serve`'s, on the same real vLLM server, in the same run.

Starts one vLLM server on the tiny model, then for each cell alternates the two clients (the
order flips every round, so neither always runs on a warmer server) and prints per cell the
ratios ours / theirs of output throughput, mean TTFT, mean TPOT and client CPU per 1,000 output
tokens (the load alone: imports, tokenizer and prompt preparation excluded).

    python benchmarks/fidelity.py --cells 256/256@4,256/256@16,256/256@64 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

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


def run_ours(url: str, isl: int, osl: int, conc: int, n: int, warmup: int, tmp: Path) -> dict:
    per = max(1, n // conc)
    cmd = [
        CLI,
        "--no-ui",
        "--endpoint",
        url,
        "--concurrency",
        str(conc),
        "--seq",
        f"{isl}/{osl}",
        "--prompts-per-concurrency",
        str(per),
        "--warmup",
        str(warmup),
        "--results",
        str(tmp),
    ]
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


def run_theirs(
    url: str, model: str, tokenizer: str, isl: int, osl: int, conc: int, n: int, warmup: int, tmp: Path
) -> dict:
    per = max(1, n // conc)
    name = f"vllm-{isl}-{osl}-{conc}.json"
    cmd = [
        sys.executable,
        "-m",
        "engine.bench.vllm_bench",
        "--base-url",
        url,
        "--model",
        model,
        "--tokenizer",
        tokenizer,
        "--dataset-name",
        "random",
        "--random-input-len",
        str(isl),
        "--random-output-len",
        str(osl),
        "--num-prompts",
        str(per * conc),
        "--max-concurrency",
        str(conc),
        "--ignore-eos",
        "--num-warmups",
        str(warmup),
        "--disable-tqdm",
        "--save-result",
        "--result-dir",
        str(tmp),
        "--result-filename",
        name,
        "--percentile-metrics",
        "ttft,tpot,itl,e2el",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", default="256/256@4,256/256@16,256/256@64", help="ISL/OSL@concurrency, comma-separated")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--prompts", type=int, default=128, help="requests per cell (rounded to a multiple of concurrency)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--endpoint", help="use this running vLLM server instead of starting one")
    args = ap.parse_args()
    cells = parse_cells(args.cells)
    # A SIGTERM (timeout, kill) must still reach the finally below that stops the server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    launcher = None
    model_dir = str(ensure_tiny_model(lambda m: print(m, file=sys.stderr)))
    if args.endpoint:
        url = args.endpoint.rstrip("/")
    else:
        profile = load_profile("cpu-tiny")
        log = Path(tempfile.mkdtemp(prefix="fidelity-")) / "server.log"
        launcher = ServerLauncher(server_spec(profile, model_dir, free_port()), log, timeout_s=300)
        print(f"starting vLLM on the tiny model (log: {log})...", file=sys.stderr)
        asyncio.run(launcher.start(lambda e: None))
        url = launcher.base_url
    model = json.loads(subprocess.run(["curl", "-s", f"{url}/v1/models"], capture_output=True, text=True).stdout)[
        "data"
    ][0]["id"]

    results: dict[tuple, dict[str, list[dict]]] = {c: {"ours": [], "theirs": []} for c in cells}
    try:
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            for r in range(args.rounds):
                for cell in cells:
                    isl, osl, conc = cell
                    order = ["ours", "theirs"] if r % 2 == 0 else ["theirs", "ours"]
                    for who in order:
                        if who == "ours":
                            res = run_ours(url, isl, osl, conc, args.prompts, args.warmup, tmp)
                        else:
                            res = run_theirs(url, model, model_dir, isl, osl, conc, args.prompts, args.warmup, tmp)
                        results[cell][who].append(res)
                        print(
                            f"round {r + 1} {isl}/{osl} c={conc} {who:6s}: {res['output_throughput']:8.0f} out tok/s, "
                            f"TTFT {res['mean_ttft_ms']:7.1f} ms, TPOT {res['mean_tpot_ms']:6.2f} ms, "
                            f"CPU {res['cpu_ms_per_1k']:6.0f} ms/1k tok",
                            file=sys.stderr,
                            flush=True,
                        )
    finally:
        if launcher:
            launcher.stop_sync()

    keys = [
        ("output_throughput", "out tok/s"),
        ("mean_ttft_ms", "mean TTFT"),
        ("mean_tpot_ms", "mean TPOT"),
        ("cpu_ms_per_1k", "client CPU/1k tok"),
    ]
    print(f"\nours / vllm bench serve, same server, mean of {args.rounds} rounds")
    print(f"{'cell':>16s}  " + "  ".join(f"{label:>22s}" for _, label in keys))
    for cell, by in results.items():
        isl, osl, conc = cell
        row = []
        for key, _ in keys:
            ours = statistics.mean(x[key] for x in by["ours"])
            theirs = statistics.mean(x[key] for x in by["theirs"])
            row.append(f"{ours:8.1f}/{theirs:8.1f}={ours / theirs:4.2f}")
        print(f"{f'{isl}/{osl} c={conc}':>16s}  " + "  ".join(f"{v:>22s}" for v in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
