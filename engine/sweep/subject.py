"""The subject of `report SWEEP` and `compare SWEEP_A SWEEP_B` (a sweep or run on either side): the
frontiers of the sources and, with several, each compared with the last one named. Its text exports
carry the variants, the frontier points, the best per SLO and the frontier ratios; its HTML is
engine.sweep.html; its images are those of the variants' runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.compare.ratios import Comparison
from engine.compare.sources import Run
from engine.share.exports.base import Block
from engine.sweep.compare import FrontierComparison, compare_frontiers
from engine.sweep.compute import AXES, Frontier, frontier
from engine.sweep.frontier import frontier_data
from engine.sweep.html import render_frontiers
from engine.sweep.render import frontier_rows, left_off_lines, slo_rows, variant_rows
from engine.sweep.slo import Slo, best_per_slo
from engine.sweep.source import Source
from engine.sweep.words import coverage, headline, lead_words, sentence, table_rows


def comparison_data(fc: FrontierComparison) -> dict[str, Any]:
    axes = []
    for c in fc.axes:
        axes.append(
            {
                "axis": c.axis.name,
                "seq": c.seq,
                "sentence": sentence(c, fc.name_a, fc.name_b),
                "range_a": c.range_a,
                "range_b": c.range_b,
                "geomean": c.geomean,
                "cost_geomean": c.cost_geomean,
                "samples": [
                    {"at": s.at, "a": s.a, "b": s.b, "ratio": s.ratio, "cost_ratio": s.cost_ratio} for s in c.samples
                ],
                "leads": [{"from": x, "leader": who} for x, who in c.leads],
                "forming_a": [vars(s) for s in c.forming_a],
                "forming_b": [vars(s) for s in c.forming_b],
                "coverage": coverage(c, fc.name_a, fc.name_b),
            }
        )
    return {"a": fc.name_a, "b": fc.name_b, "summary": headline(fc), "axes": axes, "only_a": fc.only_a}


@dataclass(frozen=True)
class FrontierSubject:
    sources: list[Source]
    slo: Slo | None = None
    count_flagged: frozenset[str] = frozenset()
    targets: list[float] | None = None
    frontiers: list[Frontier] = field(init=False)
    frontier_comparisons: list[FrontierComparison] = field(init=False)
    runs: list[Run] = field(init=False)  # every variant's run (the images draw them)
    comparisons: list[Comparison] = field(init=False)  # no cell-by-cell comparison: frontiers instead

    def __post_init__(self) -> None:
        fronts = [frontier(s, self.count_flagged) for s in self.sources]
        object.__setattr__(self, "frontiers", fronts)
        object.__setattr__(self, "frontier_comparisons", [compare_frontiers(f, fronts[-1]) for f in fronts[:-1]])
        object.__setattr__(self, "runs", [r for s in self.sources for r in s.runs])
        object.__setattr__(self, "comparisons", [])

    def html(self) -> str:
        return render_frontiers(self.frontiers, self.frontier_comparisons, self.slo)

    def blocks(self) -> list[Block]:
        out = []
        for fc in self.frontier_comparisons:
            for c in fc.axes:
                if c.samples:
                    notes = [sentence(c, fc.name_a, fc.name_b), f"lead: {lead_words(c)}"]
                    out.append(
                        Block(
                            f"{fc.name_a} vs {fc.name_b}: {c.axis.title}, {c.seq}",
                            table_rows(c, fc.name_a, fc.name_b),
                            notes,
                        )
                    )
        for f in self.frontiers:
            priced = f.gpu_hour_cost is not None
            out.append(Block(f"{f.source.name}: variants", variant_rows(f), left_off_lines(f)))
            for axis in AXES:
                for seq, front in f.axes[axis].items():
                    if front.frontier:
                        out.append(Block(f"{f.source.name}: {axis.title}, {seq}", frontier_rows(front, priced), []))
            if self.slo is not None:
                rows = slo_rows(best_per_slo(f, self.slo), self.slo, priced)
                out.append(Block(f"{f.source.name}: best variant per ISL/OSL meeting {self.slo.describe()}", rows, []))
        return out

    def records(self) -> list[list[str]]:
        rows = [["source", "axis", "seq", "variant", "load", "gpus", "tok_s_per_user", "output_tok_s_per_gpu"]]
        rows[0] += ["mean_e2e_ms", "cost_per_mtok"]
        for f in self.frontiers:
            for axis in AXES:
                for seq, front in f.axes[axis].items():
                    for p in front.frontier:
                        figures = (p.tok_s_per_user, p.output_tok_s_per_gpu, p.mean_e2e_ms, p.cost_per_mtok)
                        plain = ["" if v is None else f"{v:.4f}" for v in figures]
                        rows.append([f.source.name, axis.name, seq, p.variant, p.load, str(p.gpus), *plain])
        return rows

    def data(self) -> dict[str, Any]:
        fronts = [
            {"name": f.source.name, "source": str(f.source.path)} | frontier_data(f, self.slo) for f in self.frontiers
        ]
        return {"frontiers": fronts, "comparisons": [comparison_data(fc) for fc in self.frontier_comparisons]}
