"""Per-worker client health of a cell (`--workers N`), in words: which worker was worst and each
one's event-loop lag, share of a core and run-queue wait, and the host it ran on where known.

Read from CellResult.client_workers (engine.report.client_worker, written by engine.report.metrics),
so a saved summary.json shows the same as a live run. Where a worker ran and its clock offset (Ray
workers) are shown when known.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.report.model import CellResult

SHOWN_AT_MOST = 8  # workers named on the one line; the rest are counted (all are in summary.json)


@dataclass(frozen=True)
class WorkerFigures:
    worker: int
    pid: int | None
    lag_p99_ms: float | None
    cpu_share: float | None  # of one core, over the cell's measured duration
    run_queue_share: float | None
    start_late_ms: float | None
    host: str | None = None
    clock_offset_ms: float | None = None
    died: str | None = None  # it died mid-cell: these are its figures up to its last report

    @property
    def name(self) -> str:
        return f"w{self.worker}"

    def badness(self) -> tuple[float, float]:
        """Worst first: a late loop makes late timestamps; then waiting for a CPU."""
        return (self.lag_p99_ms or 0.0, self.run_queue_share or 0.0)


def worker_figures(cell: CellResult) -> list[WorkerFigures]:
    """Each worker's figures ([] for a cell run by the one in-process client)."""
    return [
        WorkerFigures(
            worker=w.worker,
            pid=w.pid,
            lag_p99_ms=w.lag_p99_ms,
            cpu_share=w.cpu_s / cell.duration if w.cpu_s is not None and cell.duration > 0 else None,
            run_queue_share=w.run_queue_share,
            start_late_ms=w.start_late_ms,
            host=w.host,
            clock_offset_ms=1000 * w.clock_offset_s if w.clock_offset_s is not None else None,
            died=w.died,
        )
        for w in cell.client_workers or []
    ]


def worst_worker(workers: list[WorkerFigures]) -> WorkerFigures | None:
    return max(workers, key=WorkerFigures.badness) if workers else None


def describe_worker(w: WorkerFigures) -> str:
    """'w1 lag p99 3.1 ms cpu 41% rq 2% on gpu-b (clock +0.4 ms)': n/a where not measured."""
    lag = f"{w.lag_p99_ms:.1f} ms" if w.lag_p99_ms is not None else "n/a"
    cpu = f"{w.cpu_share:.0%}" if w.cpu_share is not None else "n/a"
    rq = f"{w.run_queue_share:.0%}" if w.run_queue_share is not None else "n/a"
    text = f"{w.name} lag p99 {lag} cpu {cpu} rq {rq}"
    if w.host is not None:
        text += f" on {w.host}"
    if w.clock_offset_ms is not None:
        text += f" (clock {w.clock_offset_ms:+.1f} ms)"
    if w.died is not None:
        text += " (died mid-cell: figures to its last report)"
    return text


def workers_line(cell: CellResult) -> str | None:
    """One line for a cell run by several workers: the worst named first, then each worker (the
    worst ones when there are many). None with one worker or none: nothing to compare."""
    workers = worker_figures(cell)
    if len(workers) < 2:
        return None
    worst = worst_worker(workers)
    shown = workers
    if len(workers) > SHOWN_AT_MOST:
        shown = sorted(sorted(workers, key=WorkerFigures.badness, reverse=True)[:SHOWN_AT_MOST], key=lambda w: w.worker)
    more = f" · {len(workers) - len(shown)} more in summary.json" if len(shown) < len(workers) else ""
    hosts = {w.host for w in workers if w.host is not None}
    where = f" on {len(hosts)} hosts" if len(hosts) > 1 else ""
    return f"workers: {len(workers)}{where}, worst {worst.name} · {' · '.join(describe_worker(w) for w in shown)}{more}"
