"""What can be compared: our results folders, and `vllm bench serve --save-result` JSON files
(one file per cell, or a folder of them), read into the same typed cells."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from engine.report.model import FAILED_REQUESTS, CellResult, Flag, RunSummary
from engine.report.results import read_summary

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
    for label in (lambda r: r.hardware or r.name, lambda r: r.profile or r.name, lambda r: r.path.name):
        labels = [label(r) for r in runs]
        if len(set(labels)) == len(labels):
            for r, short in zip(runs, labels):
                r.name = short
            break
    for r, name in zip(runs, names or []):
        r.name = name
    return runs


def _from_summary(path: Path, summary: RunSummary, name: str | None) -> Run:
    if any(c.open_loop for c in summary.cells):
        # Cells are matched by ISL/OSL and concurrency; rate cells would be matched wrongly.
        raise SourceError(f"{path}: a request-rate run: compare matches closed-loop (concurrency) runs only, so far")
    if any(c.dataset for c in summary.cells):
        # A dataset cell's lengths vary per request (0/0 in the key): cells of two datasets would match.
        raise SourceError(f"{path}: a dataset or trace run: compare matches the fixed ISL/OSL grid only, so far")
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
    for key in ("median_ttft_ms", "mean_tpot_ms", "mean_e2el_ms", "p99_e2el_ms"):
        if data.get(key) is None:
            lacked.append(key)
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
    try:
        cell = CellResult.model_validate(fields)
    except ValidationError as exc:
        raise SourceError(f"{where}: {exc}") from None
    if cell.mean_tpot_ms:
        cell.interactivity = 1000.0 / cell.mean_tpot_ms
    # The file does not say how many devices served it: per-GPU figures are per server.
    cell.total_token_throughput_per_gpu = cell.total_token_throughput
    cell.output_throughput_per_gpu = cell.output_throughput
    if cell.failed:
        cell.flags.append(Flag(code=FAILED_REQUESTS, reason=f"{cell.failed} of {cell.num_prompts} requests failed"))
    return cell, lacked


def _length(data: dict, kind: str, completed: int) -> int:
    """The cell's ISL or OSL: the file's own setting where it has one, else the mean per request."""
    for key in (f"random_{kind}_len", f"{kind}_len"):
        if isinstance(data.get(key), int):
            return data[key]
    total = data[f"total_{kind}_tokens"]
    return round(total / completed) if completed else 0
