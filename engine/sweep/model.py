"""sweep.json: the record at the root of a sweep folder, read and written only through here.

A sweep folder holds one ordinary run folder per variant (`Variant.run`, relative to the sweep
folder) and this file, which says what each variant changed (vLLM flags without their dashes, values
as strings, "" for a flag without a value; environment variables; a recipe), how many GPUs it uses,
and how far it got. `frontier` is written by engine/sweep/frontier.py once the sweep is done.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.jsontext import dumps

SWEEP_FILE = "sweep.json"
SCHEMA = 1

Status = Literal["pending", "running", "done", "failed"]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Variant(Frozen):
    name: str
    # vLLM flag names without leading dashes -> value as a string ("" for a flag without one).
    flags: dict[str, str] = {}
    env: dict[str, str] = {}
    recipe: str | None = None
    # tensor x pipeline x data parallel size from the flags, else the hardware profile's count, else 1.
    gpus: int = Field(default=1, ge=1)
    run: str  # the variant's run folder, relative to the sweep folder
    status: Status = "pending"
    error: str | None = None

    @property
    def reason(self) -> str:
        """Why it failed, on one line: the error's first line and, from a server log's tail, its last."""
        lines = [ln.strip() for ln in (self.error or "").splitlines() if ln.strip()]
        if len(lines) < 2:
            return "".join(lines) or self.status
        return f"{lines[0]} ... {lines[-1]}"

    @property
    def finished(self) -> bool:
        """Done or failed: a resume does not run it again."""
        return self.status in ("done", "failed")


class SweepFile(Frozen):
    schema_version: int = Field(default=SCHEMA, alias="schema")
    kind: Literal["sweep"] = "sweep"
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    profile: str
    variants: list[Variant]
    # The sweep as a whole, and its process while it runs (engine/sweep/process.py): `ls`, `attach`
    # and `stop` find it here, as they find a run's in summary.json.
    status: Literal["running", "completed", "failed", "interrupted"] = "running"
    pid: int | None = None
    # Written by engine/sweep/frontier.py (its own model reads it); null until the sweep is done.
    frontier: Any = None

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(f"sweep has no variant {name!r}")

    def with_variant(self, name: str, **changes: Any) -> SweepFile:
        """This sweep with one variant's fields changed (status, error)."""
        variants = [v.model_copy(update=changes) if v.name == name else v for v in self.variants]
        return self.model_copy(update={"variants": variants})

    def failed(self) -> list[Variant]:
        return [v for v in self.variants if v.status == "failed"]


def is_sweep(path: Path) -> bool:
    return (Path(path) / SWEEP_FILE).is_file()


def read_sweep(sweep_dir: Path) -> SweepFile:
    path = Path(sweep_dir) / SWEEP_FILE
    try:
        return SweepFile.model_validate_json(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{sweep_dir} holds no {SWEEP_FILE}: not a sweep folder") from None
    except ValidationError as exc:
        raise ValueError(f"{path}: not a {SWEEP_FILE} this version can read: {exc}") from None


def write_sweep(sweep_dir: Path, sweep: SweepFile) -> None:
    """Written to a temporary file and renamed, so a reader never sees half of it."""
    path = Path(sweep_dir) / SWEEP_FILE
    tmp = path.with_suffix(f".json.{os.getpid()}.tmp")  # the front end and the sweep may both write
    tmp.write_text(dumps(sweep.model_dump(mode="json", by_alias=True), indent=2) + "\n")
    os.replace(tmp, path)
