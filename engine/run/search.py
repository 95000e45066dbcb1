"""Search for the highest load that meets the service levels (`--search concurrency|rate --slo`).

Each probe is a normal recorded cell. The load doubles from a start until a probe misses an SLO
at the chosen percentile (the bracket), then the bracket is bisected: to one concurrency, or to
10% of a rate. The search stops early when the server saturates (a probe that meets the SLOs
but delivers under 5% more output throughput than the one before: more load only queues) or
fails (a probe with more failed requests than load.max_failed_share).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.report.model import CellResult
from engine.report.registry import LATENCIES
from engine.report.run_notes import SearchFound, SearchProbe

RATE_PRECISION = 0.10  # a rate bracket narrower than this (relative) is found
SATURATION_GAIN = 1.05  # a probe must deliver this much more than the last good one, else saturated


def misses(result: CellResult, slo: dict[str, float], percentile: int, max_failed_share: float) -> str | None:
    """Why a probe does not meet the service levels (None when it does)."""
    if result.num_prompts and result.failed / result.num_prompts > max_failed_share:
        return f"{result.failed} of {result.num_prompts} requests failed"
    for name, limit in slo.items():
        held = LATENCIES[name].at(percentile)
        value = held.value(result)
        if value is None:
            return f"{held.key} cannot be measured (n/a)"
        if value > limit:
            return f"{held.key} {value:,.1f} ms > {limit:g} ms"
    return None


@dataclass
class Probe:
    level: float
    cell: str
    miss: str | None
    output_throughput: float


@dataclass
class Search:
    kind: str  # concurrency or rate
    slo: dict[str, float]
    percentile: int = 99
    start: float = 1.0
    max_probes: int = 12
    max_failed_share: float = 0.05
    probes: list[Probe] = field(default_factory=list)
    good: float | None = None  # highest level that met the SLOs
    bad: float | None = None  # lowest level that missed them
    stopped: str = ""

    def next_level(self) -> float | None:
        if self.stopped:
            return None
        if len(self.probes) >= self.max_probes:
            self.stopped = f"{self.max_probes} probes done"
            return None
        if not self.probes:
            return self.start
        if self.bad is None:
            return self.good * 2  # still bracketing
        if self.good is None:
            self.stopped = f"even {self._fmt(self.bad)} misses the service levels"
            return None
        if self.kind == "concurrency":
            if self.bad - self.good <= 1:
                self.stopped = "bracket closed"
                return None
            return float((int(self.good) + int(self.bad)) // 2)
        if (self.bad - self.good) / self.good <= RATE_PRECISION:
            self.stopped = f"bracket within {RATE_PRECISION:.0%}"
            return None
        return (self.good + self.bad) / 2

    def record(self, level: float, result: CellResult) -> None:
        miss = misses(result, self.slo, self.percentile, self.max_failed_share)
        before = max((p.output_throughput for p in self.probes if p.miss is None), default=None)
        self.probes.append(Probe(level, result.label, miss, result.output_throughput))
        if miss is None:
            self.good = max(self.good or level, level)
            if self.bad is None and before is not None and result.output_throughput < before * SATURATION_GAIN:
                self.stopped = f"saturated: {self._fmt(level)} gave under {SATURATION_GAIN - 1:.0%} more output tok/s"
        else:
            self.bad = min(self.bad or level, level)
            if result.failed and result.num_prompts and result.failed / result.num_prompts > self.max_failed_share:
                self.stopped = f"the server failed requests at {self._fmt(level)}"

    def _fmt(self, level: float) -> str:
        return f"concurrency {int(level)}" if self.kind == "concurrency" else f"{level:g} req/s"

    def summary(self, seq: str) -> SearchFound:
        slo = ", ".join(f"{LATENCIES[k].at(self.percentile).key} <= {v:g} ms" for k, v in self.slo.items())
        best = self._fmt(self.good) if self.good is not None else "none"
        return SearchFound(
            seq=seq,
            kind=self.kind,
            slo=self.slo,
            percentile=self.percentile,
            best=self.good,
            sentence=f"{seq}: highest {self.kind} meeting {slo}: {best} ({self.stopped})",
            stopped=self.stopped,
            probes=[SearchProbe(level=p.level, cell=p.cell, miss=p.miss) for p in self.probes],
        )
