"""What a frontier is computed over: a sweep folder (sweep.json at its root, one ordinary run folder
per variant) or a plain run folder, which is a sweep of one variant, so a sweep compares with a run.

sweep.json is read through its model (engine/sweep/model.py); a variant's cells through the loaders
`compare` uses (engine/compare/sources.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.compare.sources import Run, SourceError, load_run, name_apart
from engine.sweep import model
from engine.sweep.model import is_sweep


@dataclass
class Variant:
    """One server configuration (sweep.json's record of it) and the cells it measured (run None: no
    summary.json yet)."""

    spec: model.Variant
    run: Run | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def gpus(self) -> int:
        return self.spec.gpus

    @property
    def flags(self) -> dict[str, str]:
        return self.spec.flags

    @property
    def env(self) -> dict[str, str]:
        return self.spec.env

    @property
    def recipe(self) -> str | None:
        return self.spec.recipe

    @property
    def status(self) -> str:
        return self.spec.status

    @property
    def error(self) -> str | None:
        return self.spec.error


def read_sweep(sweep_dir: Path) -> model.SweepFile:
    """sweep.json, or SourceError naming the file and what is wrong with it."""
    try:
        return model.read_sweep(sweep_dir)
    except (OSError, ValueError) as exc:
        raise SourceError(str(exc)) from None


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


def _variant(sweep_dir: Path, v: model.Variant, notes: list[str]) -> Variant:
    folder = sweep_dir / v.run
    run = None
    if (folder / "summary.json").is_file():
        try:
            run = load_run(folder, v.name)
        except (SourceError, ValueError, OSError) as exc:
            notes.append(f"variant {v.name}: {folder}: {exc}")
    elif v.status not in ("pending", "failed"):
        notes.append(f"variant {v.name}: {folder} holds no summary.json")
    return Variant(v, run)


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
    spec = model.Variant(name=label, gpus=max(gpus, 1), recipe=summary.recipe if summary else None, run=".")
    variant = Variant(spec.model_copy(update={"status": "done"}), run)
    profile = summary.profile if summary else None
    return Source(run.name, path, [variant], False, run.hardware, profile, list(run.notes))


def load_sources(paths: list[Path], names: list[str] | None = None) -> list[Source]:
    """Sources named as `compare` names runs: by the first of hardware, profile, folder that tells them
    apart (the seed's "mi355x vs b200"); names given win."""
    sources = [load_source(p) for p in paths]
    name_apart(sources, names)
    return sources
