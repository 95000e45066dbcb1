"""Service levels: which requests met every SLO given, and goodput, as `vllm bench serve` defines
it (`request_goodput`: requests per second that completed within every SLO)."""

from __future__ import annotations

from engine.load.record import RequestRecord
from engine.report.registry import LATENCIES

# The latencies a service level can be set on, by the name --slo gives them.
SLO_METRICS = {f.name: f.meaning for f in LATENCIES.values() if f.slo}


def parse_slo(text: str) -> dict[str, float]:
    """`ttft:500,tpot:50,e2el:10000` (milliseconds) -> {"ttft": 500.0, ...}; ValueError says what is wrong."""
    slos: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, value = part.partition(":")
        name = name.strip().lower()
        if not sep or name not in SLO_METRICS:
            raise ValueError(f"SLO {part!r}: write METRIC:MS with METRIC one of {', '.join(SLO_METRICS)}")
        try:
            ms = float(value)
        except ValueError:
            raise ValueError(f"SLO {part!r}: {value!r} is not a number of milliseconds") from None
        if ms <= 0:
            raise ValueError(f"SLO {part!r}: the limit must be above 0 ms")
        slos[name] = ms
    if not slos:
        raise ValueError("give at least one SLO, e.g. ttft:500,tpot:50")
    return slos


def request_tpot_ms(r: RequestRecord) -> float | None:
    """This request's time per output token after the first (None with one token or less)."""
    if r.ttft is None or r.e2el is None or r.output_tokens < 2:
        return None
    return (r.e2el - r.ttft) / (r.output_tokens - 1) * 1000


def meets(r: RequestRecord, slos: dict[str, float]) -> bool:
    if not r.ok:
        return False
    values = {"ttft": r.ttft * 1000 if r.ttft is not None else None, "e2el": r.e2el * 1000 if r.e2el else None}
    values["tpot"] = request_tpot_ms(r)
    for name, limit in slos.items():
        value = values[name]
        if value is None and name == "tpot":
            continue  # one token: no time per token to hold against a limit (as vLLM)
        if value is None or value > limit:
            return False
    return True


def goodput(records: list[RequestRecord], duration_s: float, slos: dict[str, float]) -> tuple[float | None, int]:
    """(requests per second meeting every SLO, how many met them) over a cell's measured records."""
    good = sum(1 for r in records if not r.warmup and meets(r, slos))
    return (good / duration_s if duration_s > 0 else None), good
