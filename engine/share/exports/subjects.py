"""The two subjects of the exports: a report's runs (a cell table per run, after the comparisons
when there are several runs) and a comparison (the ratios per pair of runs). The metrics, their
keys and labels come from engine.report.registry, the ratios and sentences from engine.compare."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from engine.compare.ratios import CellRatio, Comparison, Stats, against_last, iso, summary_sentence, table_rows
from engine.compare.sources import Run
from engine.report.model import CellResult
from engine.report.registry import COMPARED, Metric, Table, columns
from engine.report.table import FLAG_HEADER, flag_mark, flag_notes
from engine.share.exports.base import Block
from engine.share.html import render


def _plain(value: Any) -> str:
    """A figure as a CSV cell: empty where it cannot be measured."""
    return "" if value is None else str(value)


def comparison_block(c: Comparison) -> Block:
    return Block(f"{c.a.name} vs {c.b.name}", table_rows(c), [summary_sentence(c)])


def _intervals(r: CellRatio) -> dict[str, list[float] | None]:
    """Each ratio's 95% interval as [low, high] (None: one round in either run)."""
    return {k: None if i is None else [i.low, i.high] for k, i in r.intervals.items()}


def _ends(r: CellRatio) -> list[str]:
    """Each compared ratio's 95% interval as two CSV fields (empty without one)."""
    out: list[str] = []
    for m in COMPARED:
        i = r.intervals.get(m.key)
        out += ["", ""] if i is None else [f"{i.low:.4f}", f"{i.high:.4f}"]
    return out


def _stats_data(s: Stats) -> dict[str, Any]:
    """A figure's statistics, its interval as RatioInterval.record writes it (no inf in JSON)."""
    return asdict(s) | {"interval": None if s.interval is None else s.interval.record()}


def comparison_data(c: Comparison) -> dict[str, Any]:
    """A comparison as `compare --json` writes it: the ratios per cell, their statistics, what was left out."""
    return {
        "a": c.a.name,
        "b": c.b.name,
        "summary": summary_sentence(c),
        "cells": [{"cell": list(r.key), "ratios": r.ratios, "intervals": _intervals(r)} for r in c.cells],
        "overall": {f: _stats_data(s) for f, s in c.overall.items()},
        "by_seq": {seq: {f: _stats_data(s) for f, s in figs.items()} for seq, figs in c.by_seq.items()},
        "crossovers": c.crossovers,
        "excluded": [{"cell": list(k), "why": why} for k, why in c.excluded],
        "counted_flagged": [{"cell": list(k), "why": why} for k, why in c.counted],
        "only_a": [list(k) for k in c.only_a],
        "only_b": [list(k) for k in c.only_b],
        "iso_latency": [
            asdict(p) | {"ratio": p.ratio}
            for p in iso(c.a, c.b, "mean_e2el_ms", "total_token_throughput", count_flagged=c.count_flagged)
        ],
    }


@dataclass(frozen=True)
class ComparisonSubject:
    """`compare`: each run relative to the last; its text exports hold the ratios per pair."""

    runs: list[Run]
    targets: list[float] | None = None
    count_flagged: frozenset[str] = frozenset()
    comparisons: list[Comparison] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "comparisons", against_last(self.runs, self.count_flagged))

    def blocks(self) -> list[Block]:
        return [comparison_block(c) for c in self.comparisons]

    def records(self) -> list[list[str]]:
        """One row per compared cell: its key (compare.cells), each ratio, then each ratio's 95%
        interval (empty without rounds on both sides)."""
        bounds = [f"{m.key}_{end}" for m in COMPARED for end in ("low", "high")]
        rows = [["a", "b", "workload", "axis", "level", *(m.key for m in COMPARED), *bounds]]
        for c in self.comparisons:
            for r in c.cells:
                ratios = ("" if r.ratios[m.key] is None else f"{r.ratios[m.key]:.4f}" for m in COMPARED)
                rows.append([c.a.name, c.b.name, r.key.seq, r.key.axis, f"{r.key.level:g}", *ratios, *_ends(r)])
        return rows

    def data(self) -> dict[str, Any]:
        return {"comparisons": [comparison_data(c) for c in self.comparisons]}

    def html(self) -> str:
        return render(self.runs, self.targets, self.count_flagged)


def _cell_data(cell: CellResult, shown: list[Metric]) -> dict[str, Any]:
    return {m.key: m.value(cell) for m in shown} | {"flags": [f.model_dump() for f in cell.flags]}


@dataclass(frozen=True)
class RunsSubject:
    """`report`: the runs (with several, their comparisons first); its text exports hold a cell
    table per run, the console's columns (a rate cell's where a cell has them) and the flags."""

    runs: list[Run]
    targets: list[float] | None = None
    count_flagged: frozenset[str] = frozenset()
    comparisons: list[Comparison] = field(init=False)

    def __post_init__(self) -> None:
        compared = against_last(self.runs, self.count_flagged) if len(self.runs) > 1 else []
        object.__setattr__(self, "comparisons", compared)

    def blocks(self) -> list[Block]:
        out = [comparison_block(c) for c in self.comparisons]
        for run in self.runs:
            shown = columns(Table.CONSOLE, run.cells)
            rows = [[m.label for m in shown] + [FLAG_HEADER]]
            rows += [[m.cell_text(c) for m in shown] + [flag_mark(c)] for c in run.cells]
            notes = flag_notes(run.cells) if run.cells else ["no cell finished: nothing to tabulate"]
            out.append(Block(run.name, rows, notes))
        return out

    def records(self) -> list[list[str]]:
        shown = columns(Table.CONSOLE, [c for run in self.runs for c in run.cells])
        rows = [["run", *(m.key for m in shown), "flags"]]
        for run in self.runs:
            for c in run.cells:
                rows.append([run.name, *(_plain(m.value(c)) for m in shown), ";".join(c.flag_codes())])
        return rows

    def data(self) -> dict[str, Any]:
        runs = []
        for run in self.runs:
            shown = columns(Table.CONSOLE, run.cells)
            runs.append(
                {
                    "name": run.name,
                    "source": str(run.path),
                    "hardware": run.hardware,
                    "profile": run.profile,
                    "status": run.status,
                    "metrics": [_metric_data(m) for m in shown],
                    "cells": [_cell_data(c, shown) for c in run.cells],
                }
            )
        return {"comparisons": [comparison_data(c) for c in self.comparisons], "runs": runs}

    def html(self) -> str:
        return render(self.runs, self.targets, self.count_flagged)


def _metric_data(m: Metric) -> dict[str, Any]:
    return {
        "key": m.key,
        "label": m.label,
        "unit": m.unit,
        "higher_is_better": m.higher_is_better,
        "vllm_key": m.vllm_key,
    }
