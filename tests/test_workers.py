"""The load in several worker processes (engine.load.workers): the exact split of a closed loop's
slots, records from N workers merging into one worker's totals, open-loop schedules dealt out, a
worker killed mid-cell, and --workers on the real vLLM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import pytest

from engine.headless.cli import main
from engine.load.client import CellLoad, HttpTarget, PhaseSend, PreparedRequest, new_session, run_closed_loop
from engine.load.prompts import Endpoint, Prompt, request_body
from engine.load.record import RequestRecord
from engine.load.worker import Job, WorkerConfig, _Dealer
from engine.load.workers import WorkerPool, _Phase, _Worker, split
from engine.plan import Cell
from engine.profiles import apply_overrides, load_profile
from engine.report.metrics import merge_workers, summarize_cell
from engine.run.session import RunSession
from engine.shapes.arrivals import schedule
from tests.fake_openai import FakeConfig, FakeServer

SAFETY_S = 120  # only a hang reaches this: every wait below is on state


def test_split_sums_to_c_and_never_exceeds_it():
    for c in range(0, 300):
        for n in range(1, 41):
            shares = split(c, n)
            assert len(shares) == n and sum(shares) == c
            assert all(s >= 0 for s in shares) and max(shares) - min(shares) <= 1
            assert shares == sorted(shares, reverse=True)
    with pytest.raises(ValueError):
        split(4, 0)


def prepared(n: int, output_len: int, input_len: int = 8) -> list[PreparedRequest]:
    prompt = Prompt(list(range(1, input_len + 1)), None, input_len)
    body = json.dumps(request_body("completions", "fake-model", prompt, output_len)).encode()
    return [PreparedRequest(body, input_len) for _ in range(n)]


def config(server: FakeServer, limit: int = 68) -> WorkerConfig:
    return WorkerConfig(Endpoint(server.url, "completions", "fake-model", False), {}, 60.0, limit)


async def one_process(server: FakeServer, cell: Cell, requests: list[PreparedRequest]) -> list[RequestRecord]:
    records: list[RequestRecord] = []
    async with new_session(cell.concurrency) as session:
        await run_closed_loop(
            HttpTarget(session, server.url, "completions", "fake-model"),
            cell,
            requests,
            PhaseSend(
                output_len=cell.output_len, warmup=False, on_record=records.append, load=CellLoad(total=len(requests))
            ),
        )
    return records


async def test_three_workers_merge_into_one_workers_totals():
    c, n, osl, isl = 10, 60, 12, 4096
    cell = Cell(0, c, isl, osl, n, 0, 0)
    requests = prepared(n, osl, isl)
    assert sum(len(r.body) for r in requests) > 2**20  # a job larger than a pipe's buffer
    async with FakeServer(FakeConfig(token_delay_s=0.002, tokens_per_chunk=2)) as server:
        alone = await one_process(server, cell, requests)
        assert server.config.max_streams <= c
        server.config.max_streams = 0
        pool = WorkerPool(3, config(server))
        try:
            records: list[RequestRecord] = []
            load = CellLoad(total=n)
            duration, health = await asyncio.wait_for(
                pool.run_phase(
                    cell, requests, None, PhaseSend(output_len=osl, warmup=False, on_record=records.append, load=load)
                ),
                SAFETY_S,
            )
            # A second phase on the same workers (a cell's warm-up, then its measurement).
            again: list[RequestRecord] = []
            await asyncio.wait_for(
                pool.run_phase(
                    cell,
                    requests,
                    None,
                    PhaseSend(output_len=osl, warmup=False, on_record=again.append, load=CellLoad(total=n)),
                ),
                SAFETY_S,
            )
        finally:
            pool.close()
        assert 0 < server.config.max_streams <= c  # never more than C in flight over all workers
    assert sorted(r.index for r in records) == list(range(n)) == sorted(r.index for r in again)
    assert load.done == n and load.failed == 0 and load.in_flight == 0
    assert load.output_tokens == n * osl
    assert [h.worker for h in health] == [0, 1, 2] and len({h.pid for h in health}) == 3
    merged = summarize_cell(cell, records, duration, 1, merge_workers(health))
    single = summarize_cell(cell, alone, 1.0, 1)
    for key in ("completed", "failed", "num_prompts", "total_input_tokens", "total_output_tokens"):
        assert getattr(merged, key) == getattr(single, key), key
    assert merged.total_output_tokens == n * osl and merged.output_len_mismatches == 0
    # Percentiles computed once over every record, whichever worker sent it.
    assert merged.p99_itl_ms is not None and merged.p99_ttft_ms is not None
    assert [w.worker for w in merged.client_workers] == [0, 1, 2]
    assert merged.client_cpu_s == pytest.approx(sum(h.cpu_s for h in health))
    assert all(w.lag_p99_ms >= 0 and w.cpu_s > 0 for w in merged.client_workers)


async def test_more_workers_than_slots_uses_only_as_many_as_slots():
    cell = Cell(0, 2, 8, 4, 6, 0, 0)
    async with FakeServer(FakeConfig()) as server:
        pool = WorkerPool(3, config(server))
        try:
            records: list[RequestRecord] = []
            _, health = await asyncio.wait_for(
                pool.run_phase(
                    cell,
                    prepared(6, 4),
                    None,
                    PhaseSend(output_len=4, warmup=False, on_record=records.append, load=CellLoad(6)),
                ),
                SAFETY_S,
            )
        finally:
            pool.close()
        assert server.config.max_streams <= 2
    assert sorted(r.index for r in records) == list(range(6)) and all(r.ok for r in records)
    assert [h.worker for h in health] == [0, 1]


async def test_an_open_loop_schedule_dealt_over_workers_keeps_its_plan():
    n = 40
    offsets = schedule(n, 40.0, "constant")
    cell = Cell(0, 0, 8, 4, n, 0, 0, rate=40.0)
    load = CellLoad(n)
    async with FakeServer(FakeConfig(token_delay_s=0.01)) as server:
        pool = WorkerPool(2, config(server))
        try:
            records: list[RequestRecord] = []
            duration, health = await asyncio.wait_for(
                pool.run_phase(
                    cell,
                    prepared(n, 4),
                    offsets,
                    PhaseSend(output_len=4, warmup=False, on_record=records.append, load=load),
                ),
                SAFETY_S,
            )
        finally:
            pool.close()
    assert sorted(r.index for r in records) == list(range(n)) and all(r.ok for r in records)
    for r in records:  # each request kept its own planned time, and went out no earlier
        assert r.planned_s == offsets[r.index] and r.sent_s >= r.planned_s
    assert duration >= offsets[-1]
    assert all(h.start_late_s >= 0 for h in health)


async def test_an_open_loops_cap_is_one_over_every_worker():
    """--max-concurrency 4 over 3 workers: the server never sees more than 4 streams and does see 4
    (a cap split 2/1/1 would leave a worker's slot idle while another's requests wait); every send
    waits for a permit, and the permits out never exceed the cap."""
    n, cap = 36, 4
    offsets = [0.001 * i for i in range(n)]  # all due within 36 ms: the cap, not the schedule, sets the pace
    cell = Cell(0, cap, 8, 4, n, 0, 0, rate=1000.0)
    pools: list = []
    async with FakeServer(FakeConfig(token_delay_s=0.01)) as server:
        pool = WorkerPool(3, config(server))
        run_phase = pool.run_phase

        async def watched(*args, **kwargs):
            phase = asyncio.ensure_future(run_phase(*args, **kwargs))
            while pool._phase is None or pool._phase.permits is None:
                await asyncio.sleep(0.001)
            pools.append(pool._phase.permits)
            return await phase

        try:
            records: list[RequestRecord] = []
            _, health = await asyncio.wait_for(
                watched(
                    cell, prepared(n, 4), offsets, PhaseSend(output_len=4, warmup=False, on_record=records.append,
                    load=CellLoad(n)), max_in_flight=cap,
                ),
                SAFETY_S,
            )  # fmt: skip
        finally:
            pool.close()
    assert sorted(r.index for r in records) == list(range(n)) and all(r.ok for r in records)
    assert server.config.max_streams == cap  # held, and reached
    assert pools[0].most_held == cap and pools[0].free == cap  # every permit given back
    assert len(health) == 3


async def test_a_late_start_shows_as_late_sends_not_as_a_shifted_schedule():
    """A worker's share of the schedule is timed from the cell's shared start (`origin`): starting
    late, its first sends are late by that much, where a start of its own would hide it."""
    from engine.load.openloop import run_open_loop

    class Instant:
        async def send(self, request, record, on_tokens, deadline_s):
            record.ok = True

    offsets = [0.0, 0.05, 0.1]
    records: list[RequestRecord] = []
    origin = time.perf_counter() - 0.3  # the shared start was 0.3 s ago
    await run_open_loop(
        Instant(),
        Cell(0, 0, 8, 4, 3, 0, 0, rate=20.0),
        prepared(3, 4),
        offsets,
        PhaseSend(output_len=4, warmup=False, on_record=records.append, load=CellLoad(3)),
        origin=origin,
    )
    assert [r.planned_s for r in records] == offsets
    assert all(r.sent_s >= 0.3 and r.send_delay >= 0.3 - r.planned_s for r in records)


async def test_an_interrupt_stops_the_workers_at_once_and_keeps_what_they_finished():
    """An open loop's workers hold their whole schedule: cut short, they must stop sending at once."""
    n, osl = 60, 10
    cell = Cell(0, 0, 8, osl, n, 0, 0, rate=20.0)
    async with FakeServer(FakeConfig(token_delay_s=0.02)) as server:
        pool = WorkerPool(2, config(server))
        records: list[RequestRecord] = []
        some_done = asyncio.Event()

        def on_record(record: RequestRecord) -> None:
            records.append(record)
            if len(records) >= 3:
                some_done.set()

        load = CellLoad(n)
        try:
            phase = asyncio.create_task(
                pool.run_phase(
                    cell,
                    prepared(n, osl),
                    schedule(n, 20.0, "constant"),
                    PhaseSend(output_len=osl, warmup=False, on_record=on_record, load=load),
                )
            )
            await asyncio.wait_for(some_done.wait(), SAFETY_S)
            phase.cancel()
            with pytest.raises(asyncio.CancelledError):
                await phase
            # Stopped, not left sending until close(): the server's streams end with the workers'.
            deadline = time.monotonic() + SAFETY_S
            while server.config.streams:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            sent = len(server.config.requests)
        finally:
            pool.close()
    assert sent < n  # the rest of the cell was never sent
    assert all(r.ok for r in records)  # requests cut short are lost, as in one process, not failed
    assert len({r.index for r in records}) == len(records) >= 3


async def test_a_worker_killed_mid_cell_fails_what_it_held_and_the_cell_ends():
    c, n, osl = 6, 60, 40
    cell = Cell(0, c, 8, osl, n, 0, 0)
    async with FakeServer(FakeConfig(token_delay_s=0.01)) as server:
        pool = WorkerPool(2, config(server))
        await pool.start()
        victim = pool.workers[1].pid
        records: list[RequestRecord] = []
        first_done = asyncio.Event()

        def on_record(record: RequestRecord) -> None:
            records.append(record)
            if record.ok and len(records) >= 3:
                first_done.set()

        load = CellLoad(n)
        try:
            requests = prepared(n, osl)
            phase = asyncio.create_task(
                pool.run_phase(
                    cell, requests, None, PhaseSend(output_len=osl, warmup=False, on_record=on_record, load=load)
                )
            )
            await asyncio.wait_for(first_done.wait(), SAFETY_S)
            deadline = time.monotonic() + SAFETY_S
            while 1 not in pool._phase.last_health:  # its first health report (after about a second)
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            kept = list(records)
            os.kill(victim, signal.SIGKILL)
            _, health = await asyncio.wait_for(phase, SAFETY_S)
            # The next phase starts the dead worker again.
            again: list[RequestRecord] = []
            await asyncio.wait_for(
                pool.run_phase(
                    cell,
                    prepared(n, osl),
                    None,
                    PhaseSend(output_len=osl, warmup=False, on_record=again.append, load=CellLoad(n)),
                ),
                SAFETY_S,
            )
            assert pool.workers[1].pid != victim
        finally:
            pool.close()
    assert records[: len(kept)] == kept  # nothing already recorded was lost
    assert sorted(r.index for r in records) == list(range(n))  # every request accounted for, once
    failed = [r for r in records if not r.ok]
    assert failed, "the killed worker held requests in flight"
    assert all(f"load worker 1 (pid {victim}) died (killed by SIGKILL)" in r.error for r in failed)
    assert load.failed == len(failed) and load.done == n - len(failed) and load.in_flight == 0
    result = summarize_cell(cell, records, 1.0, 1)
    assert result.failed == len(failed) and any(f.code == "failed_requests" for f in result.flags)
    assert len(again) == n and all(r.ok for r in again)
    # The dead worker's last health stays in its cell, saying it died.
    assert [h.worker for h in health] == [0, 1] and health[0].died is None
    assert health[1].died == f"load worker 1 (pid {victim}) died (killed by SIGKILL)"
    assert health[1].pid == victim and health[1].lags_s and health[1].cpu_s > 0
    kept_in_cell = summarize_cell(cell, records, 1.0, 1, merge_workers(health)).client_workers
    assert kept_in_cell[0].died is None and kept_in_cell[1].died == health[1].died  # summary.json keeps it


def test_inprocess_mode_refuses_several_workers(capsys, tmp_path):
    argv = ["--no-ui", "--mode", "inprocess", "--workers", "2", "--results", str(tmp_path / "runs")]
    assert main(argv) == 2
    assert "load.workers = 2: in-process mode" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.integration
async def test_two_workers_on_vllm_give_exact_counts(vllm_server, tmp_path):
    profile = apply_overrides(
        load_profile("cpu-tiny"),
        **{
            "mode": "external",
            "endpoint": vllm_server.base_url,
            "grid.concurrency": [4],
            "grid.seq": ["64/32"],
            "grid.prompts_per_concurrency": 3,
            "grid.min_prompts": 4,
            "load.workers": 2,
        },
    )
    outcome = await RunSession(profile, lambda e: None, tmp_path).run()
    assert outcome.exit_code == 0, outcome.error
    (cell,) = outcome.cells
    assert cell.failed == 0 and cell.completed == cell.num_prompts == 12
    assert cell.total_output_tokens == 12 * 32 and cell.total_input_tokens == 12 * 64
    assert cell.output_len_mismatches == 0 and cell.input_len_mismatches == 0
    assert [w.worker for w in cell.client_workers] == [0, 1]
    lines = (outcome.results_dir / "requests.jsonl").read_text().splitlines()
    measured = [json.loads(x) for x in lines if not json.loads(x)["warmup"]]
    assert sorted(r["index"] for r in measured) == list(range(12))


class FakeConn:
    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def send(self, message: tuple) -> None:
        self.sent.append(message)


async def test_indices_go_ahead_while_plenty_are_left_then_only_to_waiting_slots():
    """The coordinator's side of the pull: asking ahead at the end of a cell would leave indices
    queued in one worker while another's slots idle (a cell of 2 x C then takes three rounds)."""
    n, c = 24, 8
    pool = WorkerPool(2, WorkerConfig(Endpoint("http://127.0.0.1:1", "completions", "m", False), {}, 60.0, 12))
    pool._loop = asyncio.get_running_loop()
    phase = _Phase(1, Cell(0, c, 8, 4, n, 0, 0), prepared(n, 4), None, 4, False, lambda r: None, CellLoad(n))
    phase.slots, phase.next = c, c  # the jobs dealt the first C
    pool._phase = phase
    conn = FakeConn()
    worker = _Worker(0, None, conn)
    pool._on_message(worker, ("ask", 1, 2, 0))  # 16 left, more than the 8 slots: a batch ahead
    assert conn.sent[-1] == ("deal", 1, [8, 9], False)
    pool._on_message(worker, ("ask", 1, 8, 0))
    assert conn.sent[-1] == ("deal", 1, [10, 11, 12, 13, 14, 15], False)  # 8 left now: no more ahead
    pool._on_message(worker, ("ask", 1, 2, 0))
    assert conn.sent[-1] == ("deal", 1, [], False)
    pool._on_message(worker, ("ask", 1, 2, 3))  # three slots wait: three indices
    assert conn.sent[-1] == ("deal", 1, [16, 17, 18], False)
    pool._on_message(worker, ("ask", 1, 9, 9))
    assert conn.sent[-1] == ("deal", 1, [19, 20, 21, 22, 23], True)  # the last ones, and none left
    assert phase.held[0] == set(range(8, 24))


async def test_a_worker_asks_ahead_once_then_for_its_waiting_slots():
    conn = FakeConn()
    job = Job(7, Cell(0, 2, 8, 4, 10, 0, 0), [], 4, False, None, 0.0, slots=2, first=[0, 1], batch=1)
    dealer = _Dealer(conn, job)
    assert await dealer.take() == 0 and conn.sent == []  # one still queued: no ask yet
    assert await dealer.take() == 1 and conn.sent == [("ask", 7, 1, 0)]  # ahead of need
    dealer.feed([], False)  # refused: the cell is near its end
    assert conn.sent == [("ask", 7, 1, 0)]  # no ping-pong of refused asks
    waiting = asyncio.ensure_future(dealer.take())
    await asyncio.sleep(0)
    assert conn.sent[-1] == ("ask", 7, 1, 1)  # a slot waits: ask for it
    dealer.feed([5], False)
    assert await waiting == 5
    last = asyncio.ensure_future(dealer.take())
    await asyncio.sleep(0)
    dealer.feed([], True)
    assert await last is None and await dealer.take() is None


def test_a_worker_that_started_late_flags_the_cell():
    from engine.load.worker import WorkerHealth

    records = []
    for i in range(4):
        r = RequestRecord(0, i, 2, 8, 4, ok=True, ttft=0.05, e2el=0.2, prompt_tokens=8, output_tokens=4)
        r.chunk_gaps, r.chunk_tokens = [0.05, 0.05, 0.05], [1, 1, 1]
        records.append(r)

    def health(late_s: float, worker: int) -> WorkerHealth:
        return WorkerHealth(worker, 100 + worker, 0.01, [0.0001] * 10, None, late_s, 0.0)

    cell = Cell(0, 2, 8, 4, 4, 0, 0)
    on_time = summarize_cell(cell, records, 1.0, 1, merge_workers([health(0.001, 0), health(0.002, 1)]))
    assert "client_limit" not in on_time.flag_codes()
    late = summarize_cell(cell, records, 1.0, 1, merge_workers([health(0.001, 0), health(0.5, 1)]))
    (flag,) = [f for f in late.flags if f.code == "client_limit"]
    assert "load worker 1 started 500.0 ms after the others' start" in flag.reason
