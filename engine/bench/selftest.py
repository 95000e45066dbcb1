"""`llmbench-tui selftest`: how much load this host's client can measure truthfully.

A local endpoint (engine.bench.schedule_server, its own process) streams tokens on an exact schedule
and records when each token left. Our load generator, then `vllm bench serve` where vLLM is
installed, drive it at rising concurrency; for every token the client's error on the
inter-token gap is (gap it measured) - (gap the server actually produced). The capacity is the
highest token rate ingested with p99 |ITL error| under the threshold (0.1 ms by default). With
`--workers 1,2,4` our client is measured with each number of load worker processes
(engine.load.workers), so an operator sees how many workers a target load needs; with `--ray
ADDRESS` those workers are Ray actors on that cluster (engine.load.rayworkers), one worker count at
a time, the schedule server on this host (reachable from the cluster's nodes).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from engine import loop
from engine.exits import EXIT_OK
from engine.load.client import CellLoad, HttpTarget, PhaseSend, PreparedRequest, new_session, run_closed_loop
from engine.load.prompts import Endpoint, Prompt, request_body
from engine.load.rayworkers import RayPool, reachable_ip
from engine.load.record import RequestRecord
from engine.load.worker import WorkerConfig
from engine.load.workers import WorkerPool
from engine.plan import Cell
from engine.report.metrics import percentile
from engine.server.launcher_base import free_port


@dataclass
class LevelResult:
    client: str
    concurrency: int
    target_tps: float  # tokens/s the schedule asks for
    ingested_tps: float  # tokens/s the client took in
    p99_itl_error_ms: float
    max_itl_error_ms: float
    tokens: int
    failed: int
    cpu_ms_per_1k: float | None


def itl_errors(receive_gaps: list[float], sent: list[float]) -> list[float]:
    """Per token after the first: measured gap minus the gap the server produced (seconds)."""
    true_gaps = [b - a for a, b in itertools.pairwise(sent)]
    return [m - t for m, t in zip(receive_gaps, true_gaps)]


class ScheduleServer:
    def __init__(self, ttft_ms: float, itl_ms: float, host: str = "127.0.0.1"):
        """`host`: the address to listen on and to give the clients (another node's Ray workers need
        one they can reach)."""
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        cmd = [
            sys.executable,
            "-m",
            "engine.bench.schedule_server",
            "--host",
            host,
            "--port",
            str(self.port),
            "--ttft-ms",
            str(ttft_ms),
            "--itl-ms",
            str(itl_ms),
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(100):
            try:
                httpx.get(f"{self.url}/health", timeout=1)
                return
            except httpx.HTTPError:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"the schedule server exited: {self.proc.stderr.read().decode()[-500:]}"
                    ) from None
                time.sleep(0.1)
        raise RuntimeError("the schedule server did not start")

    def reset(self) -> None:
        httpx.get(f"{self.url}/reset", timeout=10)

    def stats(self) -> dict:
        return httpx.get(f"{self.url}/stats", timeout=60).json()

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def _requests(n: int, osl: int) -> list[PreparedRequest]:
    return [
        PreparedRequest(
            json.dumps(request_body("completions", "selftest", Prompt([1 + i % 1000] * 16, None, 16), osl)).encode(), 16
        )
        for i in range(n)
    ]


async def _drive_ours(
    url: str, conc: int, n: int, osl: int, workers: int = 1, ray_address: str | None = None
) -> tuple[list[RequestRecord], float, float]:
    cell = Cell(
        index=0, concurrency=conc, input_len=16, output_len=osl, num_prompts=n, warmup_requests=0, warmup_output_len=1
    )
    records: list[RequestRecord] = []
    if workers > 1 or ray_address:  # the same pool a run with --workers (--ray) uses; its start is not measured
        config = WorkerConfig(Endpoint(url, "completions", "selftest", False), {}, 1800.0, conc + 4)
        pool = RayPool(workers, config, ray_address) if ray_address else WorkerPool(workers, config)
        try:
            await pool.start()
            duration, health = await pool.run_phase(
                cell, _requests(n, osl), None, PhaseSend(osl, False, records.append, CellLoad(n))
            )
        finally:
            pool.close()
        return records, duration, sum(h.cpu_s for h in health)
    async with new_session(conc) as session:  # the same client a benchmark run uses
        cpu = time.process_time()
        duration = await run_closed_loop(
            HttpTarget(session, url, "completions", "selftest"),
            cell,
            _requests(n, osl),
            PhaseSend(osl, False, records.append, CellLoad(n)),
        )
        cpu = time.process_time() - cpu
    return records, duration, cpu


def _result(client, conc, target, errors, tokens, duration, failed, cpu_s) -> LevelResult:
    abs_ms = sorted(abs(e) * 1000 for e in errors)
    return LevelResult(
        client,
        conc,
        target,
        tokens / duration if duration else 0.0,
        percentile(abs_ms, 99),
        abs_ms[-1] if abs_ms else 0.0,
        tokens,
        failed,
        1e6 * cpu_s / tokens if cpu_s is not None and tokens else None,
    )


def measure_ours(
    server: ScheduleServer, conc: int, n: int, osl: int, target: float, workers: int = 1, ray_address: str | None = None
) -> LevelResult:
    server.reset()
    records, duration, cpu = loop.run(_drive_ours(server.url, conc, n, osl, workers, ray_address))
    stats = server.stats()
    errors: list[float] = []
    tokens = 0
    for r in records:
        if r.ok and r.response_id in stats:
            errors += itl_errors(r.chunk_gaps, stats[r.response_id]["sent"])
            tokens += r.output_tokens
    client = "llmbench-tui" if workers == 1 else f"llmbench-tui x{workers}"
    if ray_address:
        client = f"llmbench-tui ray x{workers}"
    return _result(client, conc, target, errors, tokens, duration, sum(not r.ok for r in records), cpu)


def measure_vllm(
    server: ScheduleServer, conc: int, n: int, osl: int, target: float, tokenizer: str
) -> LevelResult | None:
    server.reset()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "engine.bench.vllm_bench",
            "--base-url",
            server.url,
            "--model",
            "selftest",
            "--tokenizer",
            tokenizer,
            "--dataset-name",
            "random",
            "--random-input-len",
            "16",
            "--random-output-len",
            str(osl),
            "--num-prompts",
            str(n),
            "--max-concurrency",
            str(conc),
            "--ignore-eos",
            "--disable-tqdm",
            "--save-result",
            "--save-detailed",
            "--result-dir",
            tmp,
            "--result-filename",
            "r.json",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        if proc.returncode != 0:
            print(f"vllm bench serve failed: {proc.stderr[-800:]}", file=sys.stderr)
            return None
        result = json.loads((Path(tmp) / "r.json").read_text())
        cpu_s = float((Path(tmp) / "r.json.cpu").read_text())
    stats = server.stats()
    by_text = {v["text"].strip(): v["sent"] for v in stats.values()}
    errors: list[float] = []
    for text, itl in zip(result["generated_texts"], result["itls"]):
        key = (text or "").split(" x", 1)[0].strip()
        if key in by_text:
            errors += itl_errors(itl, by_text[key])
    tokens = result["total_output_tokens"]
    return _result("vllm bench serve", conc, target, errors, tokens, result["duration"], result.get("failed", 0), cpu_s)


class Contenders:
    """N processes burning a CPU each beside the client: the load a server on the same cores puts
    on it. Not isolated they compete with the client as equals; isolated they run under
    SCHED_IDLE, as a launched server does by default, and the client's wake-ups preempt them."""

    def __init__(self, n: int, isolated: bool):
        def lower() -> None:
            if isolated:
                os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))

        burn = "while True: pass"
        self.procs = [subprocess.Popen([sys.executable, "-c", burn], preexec_fn=lower) for _ in range(n)]

    def stop(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


def _measure_level(
    server,
    conc,
    osl,
    itl_ms,
    compare,
    tokenizer,
    contend: int,
    isolated: bool,
    workers: list[int],
    ray_address: str | None = None,
) -> list[LevelResult]:
    n = max(2 * conc, 8)
    target = conc * 1000.0 / itl_ms
    contenders = Contenders(contend, isolated) if contend else None
    suffix = "" if not contend else f" +{contend} busy" + (" idle" if isolated else "")
    try:
        runs = [measure_ours(server, conc, n, osl, target, w, ray_address) for w in workers]
        if compare and tokenizer:
            theirs = measure_vllm(server, conc, n, osl, target, tokenizer)
            if theirs:
                runs.append(theirs)
    finally:
        if contenders:
            contenders.stop()
    for r in runs:
        r.client += suffix
    return runs


def run_selftest(
    levels: list[int],
    itl_ms: float,
    ttft_ms: float,
    osl: int,
    threshold_ms: float,
    compare: bool,
    tokenizer: str | None,
    out=sys.stdout,
    contend: int = 0,
    workers: list[int] | None = None,
    ray_address: str | None = None,
) -> int:
    """With `contend` > 0, every level runs beside that many CPU-burning processes, first as equals
    (no isolation), then under SCHED_IDLE (isolated, as a launched server is by default). Our
    client runs with each number of load worker processes in `workers` (default: one), as Ray actors
    on the cluster at `ray_address` when given."""
    server = ScheduleServer(ttft_ms, itl_ms, reachable_ip(ray_address) if ray_address else "127.0.0.1")
    results: list[LevelResult] = []
    print(f"schedule: TTFT {ttft_ms} ms, one token every {itl_ms} ms, {osl} tokens per request", file=out)
    print(
        f"{'client':>30s} {'conc':>5s} {'target tok/s':>12s} {'ingested':>9s} {'p99 |ITL err| ms':>16s} "
        f"{'max ms':>7s} {'CPU ms/1k tok':>13s}",
        file=out,
        flush=True,
    )
    try:
        for conc in levels:
            runs = []
            for isolated in (False, True) if contend else (False,):
                runs += _measure_level(
                    server, conc, osl, itl_ms, compare, tokenizer, contend, isolated, workers or [1], ray_address
                )
            for r in runs:
                results.append(r)
                cpu = f"{r.cpu_ms_per_1k:13.0f}" if r.cpu_ms_per_1k is not None else f"{'-':>13s}"
                print(
                    f"{r.client:>30s} {r.concurrency:5d} {r.target_tps:12,.0f} {r.ingested_tps:9,.0f} "
                    f"{r.p99_itl_error_ms:16.3f} {r.max_itl_error_ms:7.2f} {cpu}",
                    file=out,
                    flush=True,
                )
    finally:
        server.stop()
    print(file=out)
    _print_sustained(results, threshold_ms, out)
    return EXIT_OK


def _print_sustained(results: list[LevelResult], threshold_ms: float, out) -> None:
    clients = list(dict.fromkeys(r.client for r in results))
    # Sustained: a level counts only if it and every lower level stay under the threshold (past
    # saturation the endpoint itself slows down and a client can look accurate again).
    print("highest token rate ingested with p99 |ITL error| under each threshold, this level and all below:", file=out)
    for limit in sorted({threshold_ms, 0.5, 1.0, 2.0, 5.0}):
        best = {}
        for c in clients:
            best[c] = 0.0
            for r in sorted((r for r in results if r.client == c), key=lambda r: r.concurrency):
                if r.failed or r.p99_itl_error_ms >= limit:
                    break
                best[c] = r.ingested_tps
        cells = "  ".join(f"{c}: {best[c]:8,.0f} tok/s" if best[c] else f"{c}: {'none':>8s}      " for c in clients)
        ratio = ""
        if len(clients) == 2 and best[clients[0]] and best[clients[1]]:
            ratio = f"  ratio {best[clients[0]] / best[clients[1]]:.2f}"
        print(f"  < {limit:4.1f} ms  {cells}{ratio}", file=out)
