"""Per-worker client health in words (engine.report.worker_health) and on the console: the worst
worker named, each worker's lag, CPU and run-queue wait, the host where a worker reports one."""

from __future__ import annotations

import io
import json

from engine.events import CellFinished
from engine.headless.console import ConsoleObserver
from engine.load.worker import WorkerHealth
from engine.plan import Cell
from engine.report.metrics import ClientFigures, client_health
from engine.report.model import CellResult
from engine.report.worker_health import worker_figures, workers_line
from tests.test_tui import CELLS


def worker(i: int, lag: float, cpu_s: float, rq: float | None, **extra) -> dict:
    return {"worker": i, "pid": 100 + i, "lag_p99_ms": lag, "cpu_s": cpu_s, "run_queue_share": rq,
            "start_late_ms": 0.4, **extra}  # fmt: skip


def with_workers(cell: CellResult, workers: list[dict]) -> CellResult:
    return CellResult.model_validate({**cell.model_dump(), "client_workers": workers})


TWO = [worker(0, 1.2, 1.64, 0.02), worker(1, 3.1, 1.6, 0.05)]  # duration 4 s: 41% and 40% of a core


def test_the_worst_worker_is_named_then_each_one():
    line = workers_line(with_workers(CELLS[1], TWO))
    assert line == ("workers: 2, worst w1 · w0 lag p99 1.2 ms cpu 41% rq 2% · w1 lag p99 3.1 ms cpu 40% rq 5%")
    assert workers_line(CELLS[1]) is None  # the one in-process client: nothing to compare
    assert workers_line(with_workers(CELLS[1], TWO[:1])) is None


def test_hosts_and_clock_offsets_show_where_workers_report_them():
    remote = [worker(0, 1.0, 1.0, None, host="gpu-a"), worker(1, 1.0, 1.0, 0.3, host="gpu-b", clock_offset_s=-0.0004)]
    line = workers_line(with_workers(CELLS[1], remote))
    assert line.startswith("workers: 2 on 2 hosts, worst w1")  # equal lag: the longer run-queue wait
    assert "w0 lag p99 1.0 ms cpu 25% rq n/a on gpu-a" in line and "on gpu-b (clock -0.4 ms)" in line
    # A summary.json written before hosts existed, or with host null, reads as before.
    assert worker_figures(with_workers(CELLS[1], [worker(0, 1, 1, 0, host=None)]))[0].host is None


def test_many_workers_name_the_worst_ones_and_count_the_rest():
    many = [worker(i, float(i % 5), 1.0, 0.0) for i in range(12)]
    line = workers_line(with_workers(CELLS[1], many))
    assert line.count(" lag p99 ") == 8 and line.endswith("4 more in summary.json")
    assert "worst w4" in line and "w0 lag" not in line  # w4 and w9 lag most; w0 and w5 least


def test_client_health_keeps_a_workers_host_only_when_it_has_one():
    def health(i: int) -> WorkerHealth:
        return WorkerHealth(
            worker=i, pid=10 + i, cpu_s=0.5, lags_s=[0.001], sched=None, start_late_s=0.0, end_epoch=0.0
        )

    local, remote = health(0), health(1)
    remote.host, remote.clock_offset_s = "gpu-b", 0.002  # the fields Ray workers will carry
    result = CELLS[0].model_copy(deep=True)
    client_health(result, ClientFigures(1.0, [0.001], workers=[local, remote]), [])
    assert result.client_workers[0].host is None and result.client_workers[1].host == "gpu-b"
    again = CellResult.model_validate_json(result.model_dump_json())  # summary.json keeps it, typed
    assert again.client_workers[1].host == "gpu-b" and again.client_workers[1].clock_offset_s == 0.002
    assert "w1 lag p99 1.0 ms cpu 12% rq n/a on gpu-b (clock +2.0 ms)" in workers_line(again)


def test_summary_json_keeps_each_workers_keys_in_their_order():
    """client_workers as every version wrote them (a local process: six keys; a Ray worker: its
    host and clock too; one that died) load, and are written back key for key, in the same order."""
    ray = worker(1, 2.0, 1.5, None, host="gpu-b (10.0.0.2)", clock_offset_s=0.001, clock_uncertainty_s=0.0002,
                 clock_drift_ppm=0.0, died="load worker 1 (pid 101) died (killed by SIGKILL)")  # fmt: skip
    written = [worker(0, 1.0, 1.0, None), ray]
    cell = with_workers(CELLS[1], written)
    assert cell.client_workers[0].host is None and cell.client_workers[1].clock_drift_ppm == 0.0
    dumped = json.loads(cell.model_dump_json())["client_workers"]
    assert [list(w) for w in dumped] == [list(w) for w in written] and dumped == written


def test_the_console_prints_a_workers_line_after_each_cell_with_several():
    out = io.StringIO()
    observe = ConsoleObserver(out)
    cell = Cell(index=0, concurrency=4, input_len=128, output_len=128, num_prompts=8, warmup_requests=0,
                warmup_output_len=16)  # fmt: skip
    observe(CellFinished(cell, with_workers(CELLS[1], TWO)))
    observe(CellFinished(cell, CELLS[1]))
    lines = out.getvalue().splitlines()
    assert sum("workers:" in line for line in lines) == 1
    expected = "  workers: 2, worst w1 · w0 lag p99 1.2 ms cpu 41% rq 2% · w1 lag p99 3.1 ms cpu 40% rq 5%"
    assert lines[1].endswith(expected)


def test_an_open_loop_cell_is_flagged_when_a_workers_clock_is_known_less_well_than_its_send_lateness():
    from engine.load.record import RequestRecord

    def health(i: int, uncertainty_s: float, drift_ppm: float | None) -> WorkerHealth:
        h = WorkerHealth(worker=i, pid=10 + i, cpu_s=0.5, lags_s=[0.001], sched=None, start_late_s=0.0, end_epoch=0.0)
        h.host, h.clock_offset_s, h.clock_uncertainty_s, h.clock_drift_ppm = (
            f"n{i} (10.0.0.{i})",
            3.0,
            uncertainty_s,
            drift_ppm,
        )
        return h

    def judged(workers: list[WorkerHealth], delay_s: float, planned: bool) -> CellResult:
        plan = dict(concurrency=4, input_len=8, output_len=8)
        records = [RequestRecord(0, k, **plan, planned_s=0.1 * k if planned else None) for k in range(10)]
        for r in records:
            r.send_delay = delay_s
        result = CELLS[0].model_copy(deep=True)  # duration 4 s
        client_health(result, ClientFigures(1.0, [0.0], workers=workers), records)
        return result

    tight = [health(0, 0.0002, None), health(1, 0.0003, 1.0)]  # ±0.2 ms; ±0.3 ms + 1 ppm x 4 s = ±0.304 ms
    assert not [f for f in judged(tight, 0.001, True).flags if f.code == "clock_uncertain"]  # 1 ms late: above
    (flag,) = [f for f in judged(tight, 0.0001, True).flags if f.code == "clock_uncertain"]  # 0.1 ms: below
    assert "send lateness p99 0.100 ms" in flag.reason and "worker 1 on n1 (10.0.0.1) to ±0.304 ms" in flag.reason
    assert "drift +1.0 ppm over 4.0 s" in flag.reason and "worker 0 on n0 (10.0.0.0) to ±0.200 ms" in flag.reason
    # A closed loop sends on no schedule: its send lateness is not measured against the clocks.
    assert not [f for f in judged(tight, 0.0001, False).flags if f.code == "clock_uncertain"]
    # One kernel clock (uncertainty 0, no drift): nothing to flag, however punctual the sends.
    assert not [f for f in judged([health(0, 0.0, None)], 0.0, True).flags if f.code == "clock_uncertain"]


def test_a_worker_that_died_mid_cell_is_shown_with_its_last_figures():
    died = worker(1, 2.0, 1.0, 0.1, died="load worker 1 (pid 101) died (killed by SIGKILL)")
    line = workers_line(with_workers(CELLS[1], [worker(0, 1.0, 1.0, 0.1), died]))
    assert "w1 lag p99 2.0 ms cpu 25% rq 10% (died mid-cell: figures to its last report)" in line
    assert "w0 lag p99 1.0 ms cpu 25% rq 10% ·" in line and line.count("died") == 1
