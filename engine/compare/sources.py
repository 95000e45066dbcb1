"""What can be compared: our results folders, and `vllm bench serve --save-result` JSON files
(one file per cell, or a folder of them), read into the same typed cells."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from engine.compare.cells import key, order
from engine.report.model import FAILED_REQUESTS, CellResult, Flag, OpenLoop, RunSummary
from engine.report.registry import COMPARED
from engine.report.results import read_summary
from engine.shapes.registry import by_axis

# vLLM bench's keys that our cells need, and what we put when one is missing.
VLLM_REQUIRED = ("completed", "duration", "total_input_tokens", "total_output_tokens", "output_throughput")


class SourceError(Exception):
    """A path that holds nothing we can compare (the message says what and where)."""


@dataclass
class Run:
    """One side of a comparison."""

    name: str  # what tables and summaries call it
    path: Path
    cells: list[CellResult]
    hardware: str | None = None
    model: str | None = None
    profile: str | None = None
    status: str | None = None
    started_at: str | None = None
    notes: list[str] = field(default_factory=list)  # e.g. fields a vLLM bench file lacked
    summary: RunSummary | None = None  # a results folder's metadata (environment, isolation, ...)


def load_run(path: Path, name: str | None = None) -> Run:
    path = Path(path).expanduser()
    if (path / "summary.json").is_file():
        summary = read_summary(path / "summary.json")
        return _from_summary(path, summary, name)
    if path.is_file() and path.suffix == ".json":
        return _from_vllm_files([path], name or path.stem)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.json") if p.name != "summary.json")
        if files:
            return _from_vllm_files(files, name or path.name)
    raise SourceError(f"{path}: neither a results folder (with summary.json) nor `vllm bench serve --save-result` JSON")


def load_runs(paths: list[Path], names: list[str] | None = None) -> list[Run]:
    """Runs to compare, named as given, else by the first thing that tells them apart: their hardware
    (the seed's "MI355X vs B200"), their profile, their folder's name; a vLLM bench file, which
    names neither hardware nor profile, keeps its own name. Else `hardware:folder`."""
    runs = [load_run(p) for p in paths]
    name_apart(runs, names)
    for run in runs[:-1]:  # each is compared with the last one named
        check_comparable(run, runs[-1])
    return runs


class Side(Protocol):
    """One side of a comparison as it is named: a run, or a sweep's frontier (engine/sweep/source.py)."""

    name: str
    path: Path
    hardware: str | None
    profile: str | None


def name_apart(sides: Sequence[Side], names: list[str] | None) -> None:
    """Name the sides by the first of their hardware (the seed's "MI355X vs B200"), their profile or
    their folder's name that tells them all apart (where a side has no hardware or profile, its own
    name stands in); none does: each keeps its own name. Names given win, in order."""
    for label in (lambda s: s.hardware or s.name, lambda s: s.profile or s.name, lambda s: s.path.name):
        labels = [label(s) for s in sides]
        if len(set(labels)) == len(labels):
            for s, short in zip(sides, labels):
                s.name = short
            break
    for s, name in zip(sides, names or []):
        s.name = name


def workloads(run: Run) -> dict[str, str]:
    """The run's workloads (ISL/OSL or a dataset's label) -> the loads it measured them at, in words:
    {"128/32": "rates 2, 4 req/s", "sharegpt": "concurrency 1, 4"}."""
    levels: dict[str, dict[str, list[str]]] = {}
    for k in sorted({key(c) for c in run.cells}, key=order):
        levels.setdefault(k.seq, {}).setdefault(k.axis, []).append(f"{k.level:g}")

    return {
        seq: " and ".join(by_axis(axis).levels_text(values) for axis, values in axes.items())
        for seq, axes in levels.items()
    }


def _sources(run: Run) -> dict[str, str]:
    """A dataset cell's label -> the file its prompts came from (where it had one)."""
    return {c.seq: c.dataset.source for c in run.cells if c.dataset is not None and c.dataset.source}


def check_comparable(a: Run, b: Run) -> None:
    """Refuse only a true mismatch (SourceError naming what differs): no cell measured under the
    same workload at the same load in both, or the same dataset label read from different files."""
    src_a, src_b = _sources(a), _sources(b)
    for seq in src_a.keys() & src_b.keys():
        if Path(src_a[seq]).name != Path(src_b[seq]).name:
            raise SourceError(
                f"{a.name} and {b.name} both ran {seq!r}, but from different files ({src_a[seq]} and {src_b[seq]}): "
                "their requests differ, so their cells do not compare"
            )
    if not a.cells or not b.cells or {key(c) for c in a.cells} & {key(c) for c in b.cells}:
        return
    wa, wb = workloads(a), workloads(b)
    if wa.keys() & wb.keys():
        seq = sorted(wa.keys() & wb.keys())[0]
        what = f"both ran {seq}, but {a.name} at {wa[seq]} and {b.name} at {wb[seq]}"
    else:
        ran_a = "; ".join(f"{seq} at {levels}" for seq, levels in wa.items())
        ran_b = "; ".join(f"{seq} at {levels}" for seq, levels in wb.items())
        what = f"{a.name} ran {ran_a} and {b.name} ran {ran_b}"
    raise SourceError(
        f"no cell of {a.name} matches one of {b.name}: {what}. Cells match by workload (ISL/OSL, or dataset "
        "label) and load (the same concurrency, or the same request rate): compare runs of the same grid"
    )


def _from_summary(path: Path, summary: RunSummary, name: str | None) -> Run:
    default = f"{summary.hardware or '?'}:{path.name}"
    return Run(
        name=name or default,
        path=path,
        cells=summary.cells,
        hardware=summary.hardware,
        model=summary.model_profile,
        profile=summary.profile,
        status=summary.status,
        started_at=summary.started_at,
        summary=summary,
    )


def _from_vllm_files(files: list[Path], name: str) -> Run:
    cells, notes = [], []
    for f in files:
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError) as exc:
            raise SourceError(f"{f}: not JSON: {exc}") from None
        if not isinstance(data, dict) or "output_throughput" not in data:
            raise SourceError(f"{f}: not a `vllm bench serve --save-result` file (no output_throughput)")
        cell, missing = vllm_cell(data, f)
        cells.append(cell)
        if missing:
            notes.append(f"{f.name}: missing {', '.join(missing)}")
    where = files[0].parent if len(files) > 1 else files[0]
    return Run(name=name, path=where, cells=cells, notes=notes)


def vllm_cell(data: dict, where: Path) -> tuple[CellResult, list[str]]:
    """A vLLM bench result as one of our cells; the fields it lacked are listed, never invented."""
    missing = [k for k in VLLM_REQUIRED if k not in data]
    if missing:
        raise SourceError(f"{where}: missing {', '.join(missing)}: cannot compare it")
    completed = int(data["completed"])
    input_len = _length(data, "input", completed)
    output_len = _length(data, "output", completed)
    conc = data.get("max_concurrency")
    lacked = []
    if conc is None:
        lacked.append("max_concurrency (unbounded load: shown as 0)")
    fields = {k: v for k, v in data.items() if k in CellResult.model_fields}
    fields.update(
        max_concurrency=int(conc or 0),
        input_len=input_len,
        output_len=output_len,
        num_prompts=int(data.get("num_prompts", completed + int(data.get("failed", 0)))),
        failed=int(data.get("failed", 0)),
        request_throughput=data.get("request_throughput", completed / max(data["duration"], 1e-9)),
        total_token_throughput=data.get(
            "total_token_throughput", (data["total_input_tokens"] + data["total_output_tokens"]) / data["duration"]
        ),
    )
    fields["flags"] = []
    # The compared figures a vLLM bench file should hold and this one lacks (derived ones are not lacking).
    lacked += [m.vllm_key for m in COMPARED if m.vllm_key and fields.get(m.key) is None]
    try:
        cell = CellResult.model_validate(fields)
    except ValidationError as exc:
        raise SourceError(f"{where}: {exc}") from None
    if cell.mean_tpot_ms:
        cell.interactivity = 1000.0 / cell.mean_tpot_ms
    rate = data.get("request_rate")
    if isinstance(rate, int | float) and not isinstance(rate, bool) and 0 < rate < math.inf:
        # `--request-rate R`: an open-loop cell, matched by its rate ("inf" sends all at once: by concurrency).
        burstiness = data.get("burstiness") or 1.0
        arrival = "poisson" if burstiness == 1.0 else "gamma"
        cell.open_loop = OpenLoop(request_rate=rate, arrival=arrival, burstiness=burstiness, seed=0)
        cell.open_loop.max_in_flight = int(conc) if conc else None
    # The file does not say how many devices served it: per-GPU figures are per server.
    cell.total_token_throughput_per_gpu = cell.total_token_throughput
    cell.output_throughput_per_gpu = cell.output_throughput
    if cell.failed:
        cell.flags.append(Flag(code=FAILED_REQUESTS, reason=f"{cell.failed} of {cell.num_prompts} requests failed"))
    return cell, lacked


def _length(data: dict, kind: str, completed: int) -> int:
    """The cell's ISL or OSL: the file's own setting where it has one, else the mean per request."""
    for name in (f"random_{kind}_len", f"{kind}_len"):
        if isinstance(data.get(name), int):
            return data[name]
    total = data[f"total_{kind}_tokens"]
    return round(total / completed) if completed else 0
