"""The run process's memory and time on one large cell against a fast fake server.

Starts benchmarks/fast_openai.py, runs `llmbench-tui --no-ui` against it (one cell, no warm-up)
and samples the run process (engine.run.child) from /proc ten times a second. Prints its RSS
before the first cell (the baseline: everything imported, the tokenizer loaded, the server
discovered), its peak RSS (VmHWM), the ratio of the two, the cell's duration and the run's wall
time, and its CPU time (on a busy host a steadier figure than wall time). The seed's largest
cell is the default:

    python benchmarks/client_memory.py                      # c=128, 10 prompts each, 16/8192
    python benchmarks/client_memory.py --osl 64 --per 2      # a quick one
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from engine.server.tinymodel import ensure_tiny_model

HERE = Path(__file__).resolve().parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of `pid` in bytes ({} once it is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return {k: int(v.split()[0]) * 1024 for k, v in (ln.split(":", 1) for ln in lines) if k in ("VmRSS", "VmHWM")}


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of `pid` so far (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _started(run_dir: Path | None) -> bool:
    """Whether the run's first cell has started (its CellStarted event is written)."""
    if run_dir is None or not (run_dir / "events.jsonl").exists():
        return False
    return b'"event":"CellStarted"' in (run_dir / "events.jsonl").read_bytes()


def measure(concurrency: int, per: int, isl: int, osl: int, workers: str, keep: bool = False) -> dict:
    tokenizer = str(ensure_tiny_model(lambda m: print(m, file=sys.stderr)))
    port = _port()
    server = subprocess.Popen([sys.executable, str(HERE / "fast_openai.py"), str(port)], stdout=subprocess.PIPE)
    assert server.stdout.readline().startswith(b"listening")
    results = Path(tempfile.mkdtemp(prefix="llmbench-mem-"))
    argv = [str(Path(sys.executable).parent / "llmbench-tui"), "--no-ui", "--endpoint", f"http://127.0.0.1:{port}"]
    argv += ["--tokenizer", tokenizer, "--concurrency", str(concurrency), "--seq", f"{isl}/{osl}"]
    argv += ["--prompts-per-concurrency", str(per), "--warmup", "0", "--results", str(results)]
    argv += ["--workers", workers]
    began = time.perf_counter()
    front = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    child, run_dir, baseline, peak, series, last, cpu = None, None, None, 0, [], 0.0, 0.0
    try:
        while front.poll() is None:
            if child is None:
                kids = [p for p in psutil.Process(front.pid).children() if "engine.run.child" in " ".join(p.cmdline())]
                child = kids[0].pid if kids else None
            if child is not None:
                status = _status(child)
                cpu = _cpu_s(child) or cpu  # the last reading before it exits (busy host: CPU, not wall)
                peak = max(peak, status.get("VmHWM", 0))
                if run_dir is None and (dirs := [d for d in results.iterdir() if d.is_dir()]):
                    run_dir = dirs[0]
                if baseline is None and status and _started(run_dir):
                    baseline = status["VmRSS"]
                if status and time.perf_counter() - last >= 5.0:  # the RSS every 5 s: flat, or growing?
                    last = time.perf_counter()
                    series.append(round(status["VmRSS"] / 2**20))
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait()
    wall = time.perf_counter() - began
    if front.returncode != 0:
        sys.exit(f"the run failed (exit {front.returncode}):\n{front.stderr.read().decode()[-3000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    cell = summary["cells"][0]
    jsonl_mb = round((run_dir / "requests.jsonl").stat().st_size / 2**20, 1)
    if not keep:  # the largest cell writes 60 MB of requests.jsonl
        shutil.rmtree(results, ignore_errors=True)
    return {
        "cell": f"c={concurrency} x {per} prompts, {isl}/{osl}",
        "output_tokens": cell["total_output_tokens"],
        "baseline_rss_mb": round(baseline / 2**20, 1) if baseline else None,
        "peak_rss_mb": round(peak / 2**20, 1),
        "peak_over_baseline": round(peak / baseline, 2) if baseline else None,
        "cell_duration_s": round(cell["duration"], 1),
        "wall_s": round(wall, 1),
        "run_process_cpu_s": round(cpu, 1),
        "rss_every_5s_mb": series,
        "requests_jsonl_mb": jsonl_mb,
        "results": str(run_dir) if keep else "removed (--keep keeps it)",
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--concurrency", type=int, default=128)
    p.add_argument("--per", type=int, default=10, help="prompts per concurrency")
    p.add_argument("--isl", type=int, default=16)
    p.add_argument("--osl", type=int, default=8192)
    p.add_argument("--workers", default="1")
    p.add_argument("--keep", action="store_true", help="keep the run's results folder")
    args = p.parse_args()
    print(json.dumps(measure(args.concurrency, args.per, args.isl, args.osl, args.workers, args.keep), indent=2))


if __name__ == "__main__":
    main()
