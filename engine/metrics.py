"""Per-cell metrics, named and defined as `vllm bench serve --save-result` names and defines them.

TTFT = first streamed token; TPOT = (E2E - TTFT) / (output tokens - 1); ITL = gaps between
streamed chunks, a chunk of k tokens counted as k tokens; E2E = request sent to last token.
Failed requests are counted, never averaged into latencies.
"""

from __future__ import annotations

import math
from typing import Iterable

from engine.loadgen import RequestRecord
from engine.plan import Cell

PERCENTILES = (50, 90, 99)
LATENCIES = ("ttft", "tpot", "itl", "e2el")


def percentile(sorted_values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on sorted input."""
    if not sorted_values:
        return 0.0
    k = (len(sorted_values) - 1) * p / 100.0
    lo = math.floor(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def _stats(name: str, values_s: Iterable[float]) -> dict[str, float]:
    ms = sorted(v * 1000.0 for v in values_s)
    n = len(ms)
    mean = sum(ms) / n if n else 0.0
    std = math.sqrt(sum((v - mean) ** 2 for v in ms) / n) if n else 0.0
    out = {f"mean_{name}_ms": mean, f"median_{name}_ms": percentile(ms, 50), f"std_{name}_ms": std}
    for p in PERCENTILES:
        out[f"p{p}_{name}_ms"] = percentile(ms, p)
    return out


def tpot(record: RequestRecord) -> float | None:
    if record.output_tokens > 1 and record.ttft is not None and record.e2el is not None:
        return (record.e2el - record.ttft) / (record.output_tokens - 1)
    return None


def summarize_cell(cell: Cell, records: list[RequestRecord], duration: float, devices: int) -> dict:
    """One entry of summary.json for a cell: vLLM's keys, then input_len/output_len and extras."""
    ok = [r for r in records if r.ok]
    failed = [r for r in records if not r.ok]
    in_tokens = sum(r.prompt_tokens if r.prompt_tokens is not None else (r.expected_prompt_tokens or 0) for r in ok)
    out_tokens = sum(r.output_tokens for r in ok)
    duration = max(duration, 1e-9)
    summary: dict = {
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
    }
    summary.update(_stats("ttft", (r.ttft for r in ok if r.ttft is not None)))
    summary.update(_stats("tpot", (t for r in ok if (t := tpot(r)) is not None)))
    summary.update(_stats("itl", (g for r in ok for g in r.itl())))
    summary.update(_stats("e2el", (r.e2el for r in ok if r.e2el is not None)))
    mean_tpot = summary["mean_tpot_ms"]
    summary.update(
        {
            "input_len": cell.input_len,
            "output_len": cell.output_len,
            "cell": cell.index,
            # Tokens per second one user sees while decoding.
            "interactivity": 1000.0 / mean_tpot if mean_tpot > 0 else 0.0,
            "devices": devices,
            "total_token_throughput_per_gpu": summary["total_token_throughput"] / devices,
            "output_throughput_per_gpu": summary["output_throughput"] / devices,
            # Against the cell's lengths, as the server counted them (a chat template adds tokens).
            "input_len_mismatches": sum(1 for r in ok if r.prompt_tokens is not None and r.prompt_tokens != cell.input_len),
            "mean_input_tokens": in_tokens / len(ok) if ok else 0.0,
            "output_len_mismatches": sum(1 for r in ok if r.output_tokens != cell.output_len),
            "errors": _error_counts(failed),
        }
    )
    return summary


def _error_counts(failed: list[RequestRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in failed:
        key = (r.error or "unknown")[:200]
        counts[key] = counts.get(key, 0) + 1
    return counts
