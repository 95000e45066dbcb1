"""Per-cell metrics, named and defined as `vllm bench serve --save-result` names and defines them.

TTFT = first streamed token; TPOT = (E2E - TTFT) / (output tokens - 1); ITL = gaps between
streamed chunks, a chunk of k tokens counted as k tokens; E2E = request sent to last token.
Failed requests are counted, never averaged into latencies. One departure, because a figure we
print is a claim: a request whose every token came in one read has no measurable TPOT or ITL
(vLLM bench would average in a 0); it is left out of those two and the cell is flagged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from engine.load.record import RequestRecord
from engine.load.schedstat import CpuFigures
from engine.load.worker import WorkerHealth
from engine.plan import Cell
from engine.report.client_worker import ClientWorker
from engine.report.itl import Itls, interpolate
from engine.report.model import (
    CLIENT_LIMIT,
    CLIENT_STARVED,
    CLOCK_UNCERTAIN,
    FAILED_REQUESTS,
    LENGTH_MISMATCH,
    ONE_READ,
    CellResult,
    DatasetLengths,
    Flag,
    TurnFigures,
)
from engine.report.registry import E2E, PERCENTILES, STATS, TPOT, TTFT, Latency

# Client health: lag or send delay above this p99 (or a share of the ITL), CPU above this share.
LAG_WARN_MS = 2.0
CPU_WARN = 0.85
# The load's thread runnable but without a CPU for more than this share of the cell's wall time.
RUN_QUEUE_WARN = 0.10


def percentile(sorted_values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on sorted input."""
    return interpolate(len(sorted_values), p, sorted_values.__getitem__) if sorted_values else 0.0


def latency_stats(family: Latency, values_s: Iterable[float]) -> dict[str, float | None]:
    """A latency's statistics over a cell, by CellResult field (None for all where no value)."""
    ms = sorted(v * 1000.0 for v in values_s)
    n = len(ms)
    if not n:
        return {family.key(s): None for s in STATS}
    mean = sum(ms) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in ms) / n)
    by_stat = {"mean": mean, "median": percentile(ms, 50), "std": std}
    by_stat |= {stat: percentile(ms, p) for p, stat in PERCENTILES.items() if stat != "median"}
    return {family.key(s): by_stat[s] for s in STATS}


def tpot(record: RequestRecord) -> float | None:
    """(E2E - TTFT) / (n - 1); None when it cannot be measured (one token, or all in one read)."""
    if record.output_tokens > 1 and record.ttft is not None and record.e2el is not None and not record.one_read:
        return (record.e2el - record.ttft) / (record.output_tokens - 1)
    return None


LAUNCHED_ADVICE = (
    "give the server fewer cores or a lower priority (profile [isolation]: server_cpus, server_nice, "
    "server_idle), or run the client on another host"
)
EXTERNAL_ADVICE = (
    "the server is not ours to isolate: pin the client away from its cores (--client-cpus), lower the "
    "server's priority where it runs, or run the client on another host"
)


@dataclass
class ClientFigures:
    """What the client itself did while a cell ran (measured by the runner)."""

    cpu_s: float
    loop_lags_s: list[float]
    sched: CpuFigures | None = None
    # What the operator can do when the client was starved (depends on who launched the server).
    advice: str = LAUNCHED_ADVICE
    # With several load workers (engine.load.workers), each one's figures; the fields above are then
    # the merge (merge_workers): CPU summed, lag and run-queue wait of the worst worker.
    workers: list[WorkerHealth] | None = None


def merge_workers(health: list[WorkerHealth], advice: str = LAUNCHED_ADVICE) -> ClientFigures:
    """One cell's client figures from its workers'. A timestamp is as late as its own worker's loop,
    so the flags judge the worst worker: its loop lags, its run-queue share, its share of a core."""

    def lag_p99(h: WorkerHealth) -> float:
        return percentile(sorted(h.lags_s), 99)

    def queue_share(h: WorkerHealth) -> float:
        return (h.sched.run_queue_share or 0.0) if h.sched is not None else 0.0

    if not health:
        return ClientFigures(0.0, [], None, advice, workers=[])
    worst_lag = max(health, key=lag_p99)
    worst_queue = max(health, key=queue_share)
    return ClientFigures(
        sum(h.cpu_s for h in health), worst_lag.lags_s, worst_queue.sched, advice, workers=list(health)
    )


def summarize_cell(
    cell: Cell,
    records: list[RequestRecord],
    duration: float,
    devices: int,
    client: ClientFigures | None = None,
    itls: Itls | None = None,
) -> CellResult:
    """The cell's figures from its records; its ITLs from `itls` where the load handed them there
    as it went (the records then hold no gaps), else from the records."""
    ok = [r for r in records if r.ok]
    failed = [r for r in records if not r.ok]
    in_tokens = sum(r.prompt_tokens if r.prompt_tokens is not None else (r.expected_prompt_tokens or 0) for r in ok)
    out_tokens = sum(r.output_tokens for r in ok)
    duration = max(duration, 1e-9)
    timed = [r for r in ok if not r.one_read]
    one_read = len(ok) - len(timed)
    figures = {
        "duration": duration,
        "completed": len(ok),
        "failed": len(failed),
        "num_prompts": len(records),
        "max_concurrency": cell.concurrency,
        "total_input_tokens": in_tokens,
        "total_output_tokens": out_tokens,
        "request_throughput": len(ok) / duration,
        "output_throughput": out_tokens / duration,
        "total_token_throughput": (in_tokens + out_tokens) / duration,
        **latency_stats(TTFT, (r.ttft for r in ok if r.ttft is not None)),
        **latency_stats(TPOT, (t for r in timed if (t := tpot(r)) is not None)),
        **_itl_stats(timed, itls),
        **latency_stats(E2E, (r.e2el for r in ok if r.e2el is not None)),
    }
    mean_tpot = figures["mean_tpot_ms"]
    result = CellResult(
        **figures,
        input_len=cell.input_len,
        output_len=cell.output_len,
        cell=cell.index,
        shape=cell.shape.kind,
        interactivity=1000.0 / mean_tpot if mean_tpot else None,
        devices=devices,
        total_token_throughput_per_gpu=figures["total_token_throughput"] / devices,
        output_throughput_per_gpu=figures["output_throughput"] / devices,
        # Each request against its own lengths (the cell's, or a dataset request's own).
        input_len_mismatches=sum(1 for r in ok if r.prompt_tokens is not None and r.prompt_tokens != r.input_len),
        mean_input_tokens=in_tokens / len(ok) if ok else 0.0,
        output_len_mismatches=sum(1 for r in ok if r.output_tokens != r.output_len),
        one_read_requests=one_read,
        errors=_error_counts(failed),
        rejected=sum(1 for r in failed if r.http_status in (429, 503)),
    )
    if cell.dataset:
        result.dataset = dataset_lengths(cell, records)
    if cell.turns:
        result.turns = turn_figures(records)
    if client is not None:
        client_health(result, client, records)
    result.flags = _flags(result) + result.flags
    return result


def _itl_stats(timed: list[RequestRecord], itls: Itls | None) -> dict[str, float | None]:
    if itls is not None:
        return itls.stats()
    with Itls() as own:
        for r in timed:
            own.add(r)
        return own.stats()


def _flags(c: CellResult) -> list[Flag]:
    flags = []
    if c.failed:
        top = max(c.errors, key=c.errors.get) if c.errors else "unknown"
        turned = f", {c.rejected} turned away as overloaded (HTTP 429/503)" if c.rejected else ""
        reason = f"{c.failed} of {c.num_prompts} requests failed{turned} (most: {top})"
        flags.append(Flag(code=FAILED_REQUESTS, reason=reason))
    if c.one_read_requests:
        flags.append(
            Flag(
                code=ONE_READ,
                reason=f"{c.one_read_requests} of {c.completed} requests had every token in one read: "
                "their TPOT and ITL cannot be measured"
                + (" (TPOT n/a)" if c.mean_tpot_ms is None else " and are left out")
                + "; the client read late or the server sent everything at once",
            )
        )
    if c.output_len_mismatches:
        wanted = "their own output length" if c.dataset else f"exactly {c.output_len} output tokens"
        flags.append(Flag(code=LENGTH_MISMATCH, reason=f"{c.output_len_mismatches} requests did not get {wanted}"))
    return flags


def dataset_lengths(cell: Cell, records: list[RequestRecord]) -> DatasetLengths | None:
    """A dataset or trace cell's realised lengths per request: mean, min and max (never only the mean)."""
    if not records:
        return None
    ins, outs = [r.input_len for r in records], [r.output_len for r in records]
    return DatasetLengths(
        name=cell.seq,
        input_len_mean=sum(ins) / len(ins),
        input_len_min=min(ins),
        input_len_max=max(ins),
        output_len_mean=sum(outs) / len(outs),
        output_len_min=min(outs),
        output_len_max=max(outs),
    )


def turn_figures(records: list[RequestRecord]) -> list[TurnFigures]:
    """A multi-turn cell's latency per turn, over the turns that completed."""
    out = []
    for turn in sorted({r.turn for r in records if r.turn is not None}):
        of_turn = [r for r in records if r.turn == turn]
        ok = [r for r in of_turn if r.ok]
        ttft, e2el = latency_stats(TTFT, (r.ttft for r in ok if r.ttft is not None)), [r.e2el for r in ok]
        out.append(
            TurnFigures(
                turn=turn,
                completed=len(ok),
                failed=len(of_turn) - len(ok),
                input_len=round(sum(r.input_len for r in of_turn) / len(of_turn)),
                mean_ttft_ms=ttft["mean_ttft_ms"],
                median_ttft_ms=ttft["median_ttft_ms"],
                p99_ttft_ms=ttft["p99_ttft_ms"],
                mean_e2el_ms=1000 * sum(e2el) / len(e2el) if e2el else None,
            )
        )
    return out


def client_health(result: CellResult, client: ClientFigures, records: list[RequestRecord]) -> None:
    """Fill the client's figures into the cell and flag it when the client may be the limit."""
    lag_ms = sorted(x * 1000 for x in client.loop_lags_s)
    delay_ms = sorted(r.send_delay * 1000 for r in records)
    result.client_cpu_s = client.cpu_s
    result.client_cpu_ms_per_1k_tokens = 1e6 * client.cpu_s / max(result.total_output_tokens, 1)
    result.client_cpu_util = client.cpu_s / result.duration
    if client.workers:  # the busiest worker's share of its core; every worker's own figures
        result.client_cpu_util = max(h.cpu_s for h in client.workers) / result.duration
        result.client_workers = [_worker_figures(h) for h in client.workers]
    result.client_loop_lag_p99_ms = percentile(lag_ms, 99)
    every = [lag for h in client.workers for lag in h.lags_s] if client.workers else client.loop_lags_s
    result.client_loop_lag_max_ms = 1000 * max(every, default=0.0)  # over every worker, not the worst p99's
    result.client_send_delay_p99_ms = percentile(delay_ms, 99)
    if client.sched is not None:
        _scheduler_figures(result, client.sched, client.advice)
    _flag_client_limit(result, client)
    _flag_clocks(result, client.workers or [], records)


def _worker_figures(h: WorkerHealth) -> ClientWorker:
    """One load worker's health in the cell (summary.json's client_workers)."""
    return ClientWorker(
        worker=h.worker,
        pid=h.pid,
        lag_p99_ms=percentile(sorted(x * 1000 for x in h.lags_s), 99),
        cpu_s=h.cpu_s,
        run_queue_share=h.sched.run_queue_share if h.sched is not None else None,
        start_late_ms=1000 * h.start_late_s,
        # Workers that say where they ran (Ray actors) give their host and clock offset (their
        # clock minus the coordinator's, and its uncertainty); local processes have neither.
        host=h.host,
        clock_offset_s=h.clock_offset_s,
        clock_uncertainty_s=h.clock_uncertainty_s,
        clock_drift_ppm=h.clock_drift_ppm,
        died=h.died,
    )


def _scheduler_figures(result: CellResult, sched: CpuFigures, advice: str) -> None:
    """What Linux's scheduler says of the load's thread and the host; client_starved when it waited."""
    result.client_on_cpu_s = sched.on_cpu_s
    result.client_run_queue_wait_s = sched.run_queue_wait_s
    result.client_run_queue_share = sched.run_queue_share
    result.client_involuntary_switches = sched.involuntary_switches
    result.host_cpu_util = sched.host_cpu_util
    result.host_steal = sched.host_steal
    if sched.run_queue_share is not None and sched.run_queue_share > RUN_QUEUE_WARN:
        host = f", the host's CPUs {sched.host_cpu_util:.0%} busy" if sched.host_cpu_util is not None else ""
        steal = f", {sched.host_steal:.0%} stolen by the hypervisor" if sched.host_steal else ""
        reason = (
            f"the client waited for a CPU {sched.run_queue_share:.0%} of the cell ({sched.run_queue_wait_s:.2f} s"
            f"{host}{steal}): other processes took the cores, so its timestamps are late; {advice}"
        )
        result.flags.append(Flag(code=CLIENT_STARVED, reason=reason))


def _flag_client_limit(result: CellResult, client: ClientFigures) -> None:
    reasons = []
    # Late by a sizeable share of the gap between tokens, timestamps distort ITL and TPOT. The
    # lag is the whole process's: its own work, or CPU taken by others (a server on the same cores).
    limit = max(LAG_WARN_MS, 0.25 * (result.mean_itl_ms or 0.0))
    if result.client_loop_lag_p99_ms > limit:
        reasons.append(
            f"event-loop lag p99 {result.client_loop_lag_p99_ms:.1f} ms (timestamps may be late by that much)"
        )
    if result.client_send_delay_p99_ms > limit:
        reasons.append(f"requests sent {result.client_send_delay_p99_ms:.1f} ms late (p99)")
    if client.workers and (late := max(client.workers, key=lambda h: h.start_late_s)).start_late_s * 1000 > limit:
        # A closed loop's first sends count from their own slot, not from the shared start: say it here.
        reasons.append(f"load worker {late.worker} started {1000 * late.start_late_s:.1f} ms after the others' start")
    if result.client_cpu_util > CPU_WARN:
        reasons.append(f"client at {100 * result.client_cpu_util:.0f}% of a CPU core")
    if reasons:
        reason = "the client, not the server, may be the limit: " + ", ".join(reasons)
        result.flags.append(Flag(code=CLIENT_LIMIT, reason=reason))


def _flag_clocks(result: CellResult, workers: list[WorkerHealth], records: list[RequestRecord]) -> None:
    """An open loop's send lateness is measured from the shared start, which each worker on another
    host reads through its clock offset: wrong by the offset's uncertainty, plus what the clock drifts
    over the cell. Flag the cell when that exceeds its send lateness p99 (below the clocks' noise)."""
    if not any(r.planned_s is not None for r in records):
        return  # a closed loop: no planned send times, nothing measured against the shared start
    worse = []
    for h in workers:
        drift_ms = abs(h.clock_drift_ppm or 0.0) * 1e-3 * result.duration
        bound_ms = 1000 * (h.clock_uncertainty_s or 0.0) + drift_ms
        if bound_ms > result.client_send_delay_p99_ms:
            drift = f", drift {h.clock_drift_ppm:+.1f} ppm over {result.duration:.1f} s" if drift_ms else ""
            offset_ms = 1000 * (h.clock_uncertainty_s or 0.0)
            worse.append(f"worker {h.worker} on {h.host} to ±{bound_ms:.3f} ms (offset ±{offset_ms:.3f} ms{drift})")
    if worse:
        reason = (
            f"send lateness p99 {result.client_send_delay_p99_ms:.3f} ms is below what the workers' clocks are "
            "known to: "
            + "; ".join(worse)
            + ": the lateness and start skew of those workers are not measured to better than that"
        )
        result.flags.append(Flag(code=CLOCK_UNCERTAIN, reason=reason))


def _error_counts(failed: list[RequestRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in failed:
        key = (r.error or "unknown")[:200]
        counts[key] = counts.get(key, 0) + 1
    return counts
