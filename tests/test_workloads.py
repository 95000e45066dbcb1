"""Workloads beyond the closed loop: arrival schedules, the open loop's pacing, SLO goodput."""

from __future__ import annotations

import itertools
import json
import statistics

import pytest

from engine.load.arrivals import schedule
from engine.load.client import CellLoad, HttpTarget, PreparedRequest, new_session
from engine.load.openloop import achieved_rate, run_open_loop
from engine.load.prompts import Prompt, request_body
from engine.load.record import RequestRecord
from engine.plan import Cell
from engine.report.goodput import goodput, meets, parse_slo
from tests.fake_openai import FakeConfig, FakeServer


def gaps(offsets: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(offsets)]


@pytest.mark.parametrize(
    ("arrival", "burstiness", "cv"),
    [("poisson", 1.0, 1.0), ("gamma", 0.5, 2**0.5), ("gamma", 4.0, 0.5), ("constant", 1.0, 0.0)],
)
def test_schedules_have_the_right_mean_and_spread(arrival, burstiness, cv):
    g = gaps(schedule(20001, 10.0, arrival, burstiness, seed=7))
    mean = statistics.fmean(g)
    assert mean == pytest.approx(0.1, rel=0.02)
    assert statistics.pstdev(g) / mean == pytest.approx(cv, abs=0.05)


def test_a_schedule_is_replayable_from_its_seed_and_starts_at_once():
    a = schedule(50, 5.0, "poisson", seed=3)
    assert a == schedule(50, 5.0, "poisson", seed=3) and a != schedule(50, 5.0, "poisson", seed=4)
    assert a[0] == 0.0 and a == sorted(a)
    with pytest.raises(ValueError, match="rate must be above 0"):
        schedule(3, 0, "poisson")
    with pytest.raises(ValueError, match="unknown arrival 'burst'"):
        schedule(3, 1, "burst")


def prepared(n: int, output_len: int = 4) -> list[PreparedRequest]:
    prompt = Prompt(list(range(1, 9)), None, 8)
    body = json.dumps(request_body("completions", "fake-model", prompt, output_len)).encode()
    return [PreparedRequest(body, 8) for _ in range(n)]


async def open_loop(server, offsets, max_in_flight=None) -> tuple[list[RequestRecord], float]:
    cell = Cell(0, 0, 8, 4, len(offsets), 0, 0)
    records: list[RequestRecord] = []
    async with new_session(64) as session:
        duration = await run_open_loop(
            HttpTarget(session, server.url, "completions", "fake-model"),
            cell,
            prepared(len(offsets)),
            offsets,
            output_len=4,
            warmup=False,
            on_record=records.append,
            load=CellLoad(total=len(offsets)),
            max_in_flight=max_in_flight,
        )
    return records, duration


async def test_the_open_loop_holds_20_requests_per_second():
    async with FakeServer(FakeConfig(token_delay_s=0.05)) as server:
        records, _ = await open_loop(server, schedule(100, 20.0, "constant"))
    assert all(r.ok for r in records) and len(records) == 100
    assert achieved_rate(records) == pytest.approx(20.0, rel=0.05)
    # Each request keeps its planned and its actual send time; none went out early.
    assert all(r.sent_s >= r.planned_s for r in records)


async def test_a_poisson_cell_follows_its_own_schedule():
    offsets = schedule(80, 20.0, "poisson", seed=1)
    async with FakeServer(FakeConfig(token_delay_s=0.02)) as server:
        records, _ = await open_loop(server, offsets)
    planned = (len(offsets) - 1) / offsets[-1]
    assert achieved_rate(records) == pytest.approx(planned, rel=0.05)


async def test_a_cap_on_requests_in_flight_shows_as_lateness():
    # Each request takes ~0.4 s; at 20 req/s one slot can send only ~2.5 a second.
    async with FakeServer(FakeConfig(token_delay_s=0.1)) as server:
        records, _ = await open_loop(server, schedule(10, 20.0, "constant"), max_in_flight=1)
    late = sorted(r.send_delay for r in records)
    assert late[-1] > 2.0 and achieved_rate(records) < 5.0


def record(ttft_ms: float, e2el_ms: float, tokens: int, ok: bool = True) -> RequestRecord:
    return RequestRecord(0, 0, 1, 8, tokens, ok=ok, ttft=ttft_ms / 1000, e2el=e2el_ms / 1000, output_tokens=tokens)


def test_goodput_counts_requests_meeting_every_slo():
    records = [
        record(100, 1100, 11),  # TPOT 100 ms
        record(600, 1000, 11),  # TTFT over 500
        record(100, 600, 11),  # TPOT 50 ms
        record(100, 100, 1),  # one token: no TPOT to hold against the limit
        record(100, 600, 11, ok=False),  # failed: never good
    ]
    slos = parse_slo("ttft:500,tpot:50")
    assert [meets(r, slos) for r in records] == [False, False, True, True, False]
    rate, good = goodput(records, 2.0, slos)
    assert good == 2 and rate == 1.0
    assert goodput(records, 2.0, parse_slo("e2el:1000"))[1] == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ttft", "METRIC:MS"),
        ("itl:5", "METRIC:MS"),
        ("ttft:fast", "not a number"),
        ("tpot:-1", "above 0"),
        ("", "at least one"),
    ],
)
def test_bad_slos_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_slo(text)
