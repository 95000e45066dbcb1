"""One load worker's health over a cell (`--workers N`): an item of summary.json's
cells[].client_workers, written by engine.report.metrics and shown by engine.report.worker_health.

Its keys keep summary.json's order; where a worker ran, its clock (known only for Ray actors) and
whether it died are absent when unknown, and every field has a default, so any file's items load."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

_ABSENT_WHEN_NONE = Field(default=None, exclude_if=lambda v: v is None)


class ClientWorker(BaseModel):
    """A worker's figures for the cell: its loop's lag, CPU time, run-queue share and late start."""

    # Results files are read by later versions: unknown keys are ignored rather than refused.
    model_config = ConfigDict(frozen=True, extra="ignore")

    worker: int = 0
    pid: int | None = None
    lag_p99_ms: float | None = None
    cpu_s: float | None = None  # the worker process's CPU time over the cell
    run_queue_share: float | None = None  # of its loop thread's time, waiting for a CPU
    start_late_ms: float | None = None  # how long after the shared start its load began
    # Workers that say where they ran (Ray actors) give their host and clock offset (their clock
    # minus the coordinator's: 0 on the coordinator's own host; estimated on another node, and taken
    # off its send times), its uncertainty and drift; local processes have none of them.
    host: str | None = _ABSENT_WHEN_NONE
    clock_offset_s: float | None = _ABSENT_WHEN_NONE
    clock_uncertainty_s: float | None = _ABSENT_WHEN_NONE
    clock_drift_ppm: float | None = _ABSENT_WHEN_NONE
    died: str | None = _ABSENT_WHEN_NONE  # it died mid-cell: these are its figures up to its last report
