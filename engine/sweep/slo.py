"""The best variant per ISL/OSL under service levels: of the frontier's clean points, the one with
the highest output throughput per GPU whose latencies at the chosen percentile meet every SLO
(`--slo ttft:500,tpot:50 --percentile 99`, held as a search holds them: engine.run.search.misses)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.profiles import ProfileError, load_profile
from engine.run.search import misses
from engine.sweep.compute import Frontier, Point
from engine.sweep.source import Source


@dataclass(frozen=True)
class Slo:
    limits: dict[str, float]  # ms by latency name: ttft, tpot, e2el
    percentile: int = 99
    max_failed_share: float = 0.05

    def describe(self) -> str:
        held = ", ".join(f"{name} <= {ms:g} ms" for name, ms in self.limits.items())
        return f"p{self.percentile} {held}"


@dataclass(frozen=True)
class Best:
    """One ISL/OSL's best point under the SLO (None: no cell met it), and how many cells met it."""

    seq: str
    point: Point | None
    met: int
    of: int


def best_per_slo(f: Frontier, slo: Slo) -> list[Best]:
    out = []
    for seq in f.seqs():
        points = [p for p in f.points if p.seq == seq]
        good = [p for p in points if misses(p.cell, slo.limits, slo.percentile, slo.max_failed_share) is None]
        top = max(good, key=lambda p: p.output_tok_s_per_gpu, default=None)
        out.append(Best(seq, top, len(good), len(points)))
    return out


def recorded_slo(source: Source) -> Slo | None:
    """The SLO the sweep's profile gave (load.slo at grid.search_percentile), from its first variant's
    profile.toml; None where it gave none or no profile can be read."""
    for run in source.runs:
        path = Path(run.path) / "profile.toml"
        if not path.is_file():
            continue
        try:
            profile = load_profile(str(path))
        except ProfileError:
            continue
        if profile.load.slo:
            return Slo(dict(profile.load.slo), profile.grid.search_percentile, profile.load.max_failed_share)
        return None
    return None
