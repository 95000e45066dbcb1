"""Per-cell figures from per-second samples: gauges over the measured window, counter deltas, and
energy (power integrated over the window by trapezoids, per device, summed: InferenceX's method).

A sample is (epoch seconds, value). Pure functions, no I/O: tested on hand-made series.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from enum import Enum
from typing import NamedTuple

from engine.events import DeviceReading, ServerState
from engine.report.model import DeviceCellStats, ServerCellStats, SpecDecodeStats, TelemetryCellStats
from engine.server.backends import DEFAULT_BACKEND

Series = Sequence[tuple[float, float]]


def _at(series: Series, t: float) -> float | None:
    """The value at time t, linear between the samples around it (None outside the series)."""
    for (ta, va), (tb, vb) in itertools.pairwise(series):
        if ta <= t <= tb:
            return va if tb == ta else va + (vb - va) * (t - ta) / (tb - ta)
    if series and series[-1][0] == t:
        return series[-1][1]
    return None


def integrate(series: Series, t0: float, t1: float) -> float | None:
    """The integral of a sampled series over [t0, t1] by trapezoids, the series linear between
    samples and cut at the window's edges. None when the samples do not cover the whole window (a
    sample at or before t0 and one at or after t1): an energy that misses part of the window is not
    the window's energy."""
    series = sorted(series)
    if t1 < t0 or len(series) < 1 or series[0][0] > t0 or series[-1][0] < t1:
        return None
    if t1 == t0:
        return 0.0
    points = [(t0, _at(series, t0)), *((t, v) for t, v in series if t0 < t < t1), (t1, _at(series, t1))]
    return sum((tb - ta) * (va + vb) / 2 for (ta, va), (tb, vb) in itertools.pairwise(points))


def _inside(series: Series, t0: float, t1: float) -> list[float]:
    return [v for t, v in series if t0 <= t <= t1]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _max(values: list[float]) -> float | None:
    return max(values) if values else None


def _series(samples: Sequence[tuple[float, object]], attr: str) -> list[tuple[float, float]]:
    out = []
    for t, reading in samples:
        value = getattr(reading, attr)
        if value is not None:
            out.append((t, float(value)))
    return out


def _delta(before: ServerState | None, after: ServerState | None, attr: str) -> int | None:
    a = getattr(before, attr, None) if before is not None else None
    b = getattr(after, attr, None) if after is not None else None
    return None if a is None or b is None else round(b - a)


def server_cell_stats(
    samples: Sequence[tuple[float, ServerState]],
    t0: float,
    t1: float,
    cell_start: ServerState | None,
    measure_start: ServerState | None,
    measure_end: ServerState | None,
) -> ServerCellStats:
    """Gauges over the samples in [t0, t1]; counter deltas between the three snapshots (before the
    warm-up, after it, after the cell: each read once the server had gone idle)."""
    inside = [(t, s) for t, s in samples if t0 <= t <= t1]
    stats = ServerCellStats(samples=len(inside))
    if not inside:
        stats.gauges_note = f"no /metrics sample fell inside the measured window ({t1 - t0:.2f} s)"
    for attr, name in (("running", "running"), ("waiting", "waiting"), ("kv_cache_usage", "kv_cache_usage")):
        values = [v for _, v in _series(inside, attr)]
        setattr(stats, f"{name}_mean", _mean(values))
        setattr(stats, f"{name}_max", _max(values))
    stats.preemptions = _delta(measure_start, measure_end, "preemptions_total")
    stats.prompt_tokens = _delta(measure_start, measure_end, "prompt_tokens_total")
    stats.generation_tokens = _delta(measure_start, measure_end, "generation_tokens_total")
    stats.cell_prompt_tokens = _delta(cell_start, measure_end, "prompt_tokens_total")
    stats.cell_generation_tokens = _delta(cell_start, measure_end, "generation_tokens_total")
    stats.prefix_cache_queries = _delta(measure_start, measure_end, "prefix_cache_queries_total")
    stats.prefix_cache_hits = _delta(measure_start, measure_end, "prefix_cache_hits_total")
    if stats.prefix_cache_queries and stats.prefix_cache_hits is not None:
        stats.prefix_cache_hit_rate = stats.prefix_cache_hits / stats.prefix_cache_queries
    stats.spec_decode = spec_decode_stats(measure_start, measure_end)
    return stats


def spec_decode_stats(before: ServerState | None, after: ServerState | None) -> SpecDecodeStats | None:
    """Speculative decoding between two snapshots (None: the server exports no such counters)."""
    drafts = _delta(before, after, "spec_drafts_total")
    tokens = _delta(before, after, "spec_draft_tokens_total")
    accepted = _delta(before, after, "spec_accepted_tokens_total")
    if drafts is None or tokens is None or accepted is None:
        return None
    out = SpecDecodeStats(drafts=drafts, draft_tokens=tokens, accepted_tokens=accepted)
    out.acceptance_rate = accepted / tokens if tokens else None
    out.mean_acceptance_length = 1 + accepted / drafts if drafts else None
    a = before.spec_accepted_per_pos_total if before is not None else None
    b = after.spec_accepted_per_pos_total if after is not None else None
    if a is not None and b is not None and len(a) == len(b) and drafts:
        out.acceptance_per_position = [(vb - va) / drafts for va, vb in zip(a, b, strict=True)]
    return out


class TokenVerdict(Enum):
    """What the server's token counters say against our counts."""

    MATCH = "match"
    UNCHECKED = "not checked"  # no counter, or the server busy when read: a difference is only noted
    DISAGREE = "disagree"  # a flag on the cell


class TokenCheck(NamedTuple):
    text: str  # the cell's `server.token_check`
    verdict: TokenVerdict


def token_check(
    stats: ServerCellStats,
    input_tokens: int,
    output_tokens: int,
    warmup_output_tokens: int,
    settled: bool,
    counter: str | None = None,
) -> TokenCheck:
    """What the server's counters say against our counts. `settled`: the server went idle before
    each counter was read; if not, the counters may hold others' requests or tokens still in
    flight, and a difference is noted, not taken as a disagreement. `counter`: the generated-token
    counter's name in the server's backend (None: the default backend's)."""
    if stats.generation_tokens is None:
        name = counter or DEFAULT_BACKEND.metrics.generation_tokens
        return TokenCheck(f"not checked: the server exports no {name} counter", TokenVerdict.UNCHECKED)
    differs = []
    if stats.generation_tokens != output_tokens:
        differs.append(f"generation tokens {stats.generation_tokens} by the server, {output_tokens} received")
    if (
        stats.cell_generation_tokens is not None
        and stats.cell_generation_tokens != output_tokens + warmup_output_tokens
    ):
        differs.append(
            f"with the warm-up {stats.cell_generation_tokens} by the server, "
            f"{output_tokens + warmup_output_tokens} received"
        )
    # Prompt tokens are recounted when a preempted request is prefilled again.
    if stats.prompt_tokens is not None and stats.prompt_tokens != input_tokens and not stats.preemptions:
        differs.append(f"prompt tokens {stats.prompt_tokens} by the server, {input_tokens} sent")
    if not differs:
        return TokenCheck(
            "match: the server's prompt and generation token counters equal our counts", TokenVerdict.MATCH
        )
    text = "; ".join(differs)
    if not settled:
        busy = f"not checked: the server was still busy when its counters were read (another client?): {text}"
        return TokenCheck(busy, TokenVerdict.UNCHECKED)
    return TokenCheck(f"the server's counters disagree with ours: {text}", TokenVerdict.DISAGREE)


def device_cell_stats(source: str, samples: Sequence[tuple[float, DeviceReading]], t0: float, t1: float):
    """One device over [t0, t1]; its energy from its power samples (trapezoids), None without them."""
    name = next((r.name for _, r in reversed(samples) if r.name), "")
    inside = [(t, r) for t, r in samples if t0 <= t <= t1]
    power = _series(samples, "power_w")
    energy = integrate(power, t0, t1) if power else None

    def over(attr: str) -> list[float]:
        return [v for _, v in _series(inside, attr)]

    return DeviceCellStats(
        source=source,
        name=name,
        samples=len(inside),
        utilization_mean=_mean(over("utilization")),
        utilization_max=_max(over("utilization")),
        memory_used_max_mib=_max(over("memory_used_mib")),
        power_mean_w=None if energy is None or t1 <= t0 else energy / (t1 - t0),
        power_max_w=_max(over("power_w")),
        energy_j=energy,
        temperature_max_c=_max(over("temperature_c")),
        clock_mean_mhz=_mean(over("clock_mhz")),
        cpu_percent_mean=_mean(over("cpu_percent")),
        cpu_percent_max=_max(over("cpu_percent")),
        rss_max_mib=_max(over("rss_mib")),
    )


def telemetry_cell_stats(
    readings: Sequence[tuple[float, DeviceReading]], t0: float, t1: float, output_tokens: int, no_power: str | None
) -> TelemetryCellStats:
    """Every source over [t0, t1]. Energy is the sum over the devices that measure power, and only
    when every GPU read does (a partial sum is not the run's energy); `no_power` says why there is
    no power figure at all (a CPU host)."""
    by_source: dict[str, list[tuple[float, DeviceReading]]] = {}
    for t, r in readings:
        by_source.setdefault(r.source, []).append((t, r))
    devices = [device_cell_stats(s, samples, t0, t1) for s, samples in sorted(by_source.items())]
    gpus = [d for d in devices if d.source != "process"]
    out = TelemetryCellStats(devices=devices)
    if not gpus:
        out.energy_note = no_power or "not available: no device that measures power was read"
        return out
    missing = [d.source for d in gpus if d.energy_j is None]
    if missing:
        out.energy_note = (
            f"not available: no power samples covering the whole window from {', '.join(missing)} "
            "(the device reports no power, or the cell was shorter than the sampling)"
        )
        return out
    out.energy_j = sum(d.energy_j or 0.0 for d in gpus)
    out.power_mean_w = out.energy_j / (t1 - t0) if t1 > t0 else None
    out.output_tokens_per_joule = output_tokens / out.energy_j if out.energy_j > 0 else None
    return out
