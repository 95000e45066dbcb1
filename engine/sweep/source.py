"""What a frontier is computed over: a sweep folder (sweep.json at its root, one ordinary run folder
per variant) or a plain run folder, which is a sweep of one variant, so a sweep compares with a run.

sweep.json (written by the sweep): {"schema": 1, "kind": "sweep", "created", "profile",
"variants": [{"name", "flags", "env", "recipe", "gpus", "run", "status", "error"}], "frontier"}.
The reader here keeps every key it does not know, so rewriting the file (to fill "frontier")
loses nothing the sweep wrote.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.compare.sources import Run, SourceError, load_run

SWEEP_FILE = "sweep.json"


class VariantRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    flags: dict[str, str] = {}
    env: dict[str, str] = {}
    recipe: str | None = None
    gpus: int = Field(default=1, ge=1)
    run: str
    status: str = "pending"
    error: str | None = None


class SweepRecord(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    schema_version: int = Field(default=1, alias="schema")
    kind: str = "sweep"
    created: str | None = None
    profile: str = ""
    variants: list[VariantRecord] = []
    frontier: dict[str, Any] | None = None


def is_sweep(path: Path) -> bool:
    return (Path(path).expanduser() / SWEEP_FILE).is_file()


def read_sweep(sweep_dir: Path) -> SweepRecord:
    path = sweep_dir / SWEEP_FILE
    try:
        return SweepRecord.model_validate(json.loads(path.read_text()))
    except (OSError, ValueError, ValidationError) as exc:
        raise SourceError(f"{path}: not a sweep.json this version can read: {exc}") from None


def write_sweep(sweep_dir: Path, record: SweepRecord) -> None:
    """Replace sweep.json whole (a temporary file renamed over it: a crash leaves the old one)."""
    path, tmp = sweep_dir / SWEEP_FILE, sweep_dir / f"{SWEEP_FILE}.tmp"
    tmp.write_text(record.model_dump_json(indent=2, by_alias=True))
    os.replace(tmp, path)


@dataclass
class Variant:
    """One server configuration and the cells it measured (run None: no summary.json yet)."""

    name: str
    gpus: int
    flags: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    recipe: str | None = None
    status: str = "done"
    error: str | None = None
    run: Run | None = None


@dataclass
class Source:
    """One side of a frontier comparison: a sweep's variants, or a run as its single variant."""

    name: str
    path: Path
    variants: list[Variant]
    sweep: bool
    hardware: str | None = None
    profile: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def runs(self) -> list[Run]:
        return [v.run for v in self.variants if v.run is not None]


def _variant(sweep_dir: Path, v: VariantRecord, notes: list[str]) -> Variant:
    folder = sweep_dir / v.run
    run = None
    if (folder / "summary.json").is_file():
        try:
            run = load_run(folder, v.name)
        except (SourceError, ValueError, OSError) as exc:
            notes.append(f"variant {v.name}: {folder}: {exc}")
    elif v.status not in ("pending", "failed"):
        notes.append(f"variant {v.name}: {folder} holds no summary.json")
    return Variant(v.name, v.gpus, v.flags, v.env, v.recipe, v.status, v.error, run)


def load_sweep(sweep_dir: Path, name: str | None = None) -> Source:
    record = read_sweep(sweep_dir)
    notes: list[str] = []
    variants = [_variant(sweep_dir, v, notes) for v in record.variants]
    first = next((v.run.summary for v in variants if v.run and v.run.summary), None)
    hardware = first.hardware if first else None
    return Source(name or sweep_dir.name, sweep_dir, variants, True, hardware, record.profile or None, notes)


def load_source(path: Path, name: str | None = None) -> Source:
    """A sweep folder, or anything `compare` reads as a run (a results folder, vLLM bench JSON)."""
    path = Path(path).expanduser()
    if is_sweep(path):
        return load_sweep(path, name)
    run = load_run(path, name)
    summary = run.summary
    gpus = summary.devices if summary else 1
    label = (summary.recipe if summary else None) or path.name
    variant = Variant(label, max(gpus, 1), recipe=summary.recipe if summary else None, status="done", run=run)
    profile = summary.profile if summary else None
    return Source(run.name, path, [variant], False, run.hardware, profile, list(run.notes))


def load_sources(paths: list[Path], names: list[str] | None = None) -> list[Source]:
    """Sources named as `compare` names runs: by the first of hardware, profile, folder that tells them
    apart (the seed's "mi355x vs b200"); names given win."""
    sources = [load_source(p) for p in paths]
    for label in (lambda s: s.hardware or s.name, lambda s: s.profile or s.name, lambda s: s.path.name):
        labels = [label(s) for s in sources]
        if len(set(labels)) == len(labels):
            for s, short in zip(sources, labels):
                s.name = short
            break
    for s, name in zip(sources, names or []):
        s.name = name
    return sources
