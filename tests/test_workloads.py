"""Workloads beyond the closed loop: arrival schedules, the open loop's pacing, SLO goodput."""

from __future__ import annotations

import itertools
import json
import statistics

import pytest

from engine.load.client import CellLoad, HttpTarget, PhaseSend, PreparedRequest, new_session
from engine.load.openloop import achieved_rate, run_open_loop
from engine.load.prompts import Prompt, request_body
from engine.load.record import RequestRecord
from engine.plan import Cell
from engine.report.goodput import goodput, meets, parse_slo
from engine.report.model import CellResult
from engine.run.search import Search
from engine.shapes.arrivals import schedule
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
            PhaseSend(output_len=4, warmup=False, on_record=records.append, load=CellLoad(total=len(offsets))),
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


def test_a_rate_cell_without_num_prompts_sends_about_20_s_of_arrivals():
    from engine.plan import build_plan
    from engine.profiles import apply_overrides, load_profile

    grid = apply_overrides(load_profile("cpu-tiny"), **{"grid.rates": [0.1, 2.0], "grid.seq": ["64/8"]}).grid
    assert [c.num_prompts for c in build_plan(grid)] == [max(grid.min_prompts, 10), 40]
    turns = apply_overrides(load_profile("cpu-tiny"), **{"grid.rates": [2.0], "grid.dataset": "multiturn:3"}).grid
    assert {c.num_prompts for c in build_plan(turns)} == {120}  # 40 conversations of 3 turns


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


def cell_result(conc: int, p99_tpot_ms: float | None, out_tps: float, failed: int = 0) -> CellResult:
    return CellResult(
        duration=1.0,
        completed=10 - failed,
        failed=failed,
        num_prompts=10,
        max_concurrency=conc,
        total_input_tokens=0,
        total_output_tokens=0,
        request_throughput=1.0,
        output_throughput=out_tps,
        total_token_throughput=out_tps,
        p99_tpot_ms=p99_tpot_ms,
        input_len=8,
        output_len=8,
    )


def drive(search: Search, tpot_of, tps_of=lambda c: 100.0 * c) -> list[float]:
    levels = []
    while (level := search.next_level()) is not None:
        levels.append(level)
        search.record(level, cell_result(int(level), tpot_of(level), tps_of(level)))
    return levels


def test_a_search_brackets_then_bisects_to_the_knee():
    # TPOT p99 = 10 ms + 2 ms per concurrent stream: the SLO of 50 ms holds up to concurrency 20.
    search = Search("concurrency", {"tpot": 50.0})
    levels = drive(search, lambda c: 10 + 2 * c)
    assert levels[:6] == [1, 2, 4, 8, 16, 32] and search.good == 20 and search.bad == 21
    assert search.stopped == "bracket closed" and len(levels) <= 12
    assert "highest concurrency meeting p99_tpot_ms <= 50 ms: concurrency 20" in search.summary("16/40").sentence


def test_a_search_stops_when_the_server_saturates_or_fails_or_nothing_meets():
    flat = Search("concurrency", {"tpot": 50.0})
    drive(flat, lambda c: 10.0, tps_of=lambda c: min(100.0 * c, 400.0))
    assert flat.good == 8 and flat.stopped.startswith("saturated: concurrency 8")
    failing = Search("concurrency", {"tpot": 50.0})
    while (level := failing.next_level()) is not None:
        failing.record(level, cell_result(int(level), 10.0, 100.0 * level, failed=5 if level >= 4 else 0))
    assert failing.good == 2 and "failed requests at concurrency 4" in failing.stopped
    hopeless = Search("rate", {"ttft": 1.0}, start=0.5)
    assert drive(hopeless, lambda c: None) == [0.5] and hopeless.good is None
    assert hopeless.stopped == "even 0.5 req/s misses the service levels"


def test_a_rate_search_narrows_to_ten_percent():
    search = Search("rate", {"tpot": 50.0})
    drive(search, lambda r: 10 + 4 * r)  # meets up to 10 req/s
    assert 9.0 <= search.good <= 10.0 and (search.bad - search.good) / search.good <= 0.10


def search_profile(server: FakeServer, tiny_model):
    """A concurrency search with SLO tpot 150 ms against the fake server, no warm-up."""
    from engine.profiles import apply_overrides, load_profile

    return apply_overrides(
        load_profile("cpu-tiny"),
        **{
            "mode": "external",
            "endpoint": server.url,
            "model.tokenizer": str(tiny_model),
            "grid.seq": ["16/12"],
            "grid.prompts_per_concurrency": 3,
            "grid.min_prompts": 0,
            "grid.warmup_requests": 0,
            "grid.search": "concurrency",
            "load.slo": {"tpot": 150.0},
        },
    )


async def test_the_search_finds_the_knee_of_a_server_whose_latency_grows_with_load(tiny_model, tmp_path):
    from engine.run.session import RunSession

    # Each token waits 40 ms + 20 ms per stream in flight: TPOT about 40 + 20 x concurrency ms, so
    # 150 ms holds up to concurrency 5 (140 ms; 6 gives 160), and throughput still rises with load.
    async with FakeServer(FakeConfig(token_delay_s=0.04, delay_per_stream_s=0.02)) as server:
        profile = search_profile(server, tiny_model)
        outcome = await RunSession(profile, lambda e: None, tmp_path).run()
    assert outcome.exit_code == 0, outcome.error
    (found,) = json.loads((outcome.results_dir / "summary.json").read_text())["search"]
    assert found["best"] == 5, found
    assert [p["level"] for p in found["probes"]] == [1, 2, 4, 8, 6, 5] and found["stopped"] == "bracket closed"
    assert len(outcome.cells) == len(found["probes"])  # every probe is a recorded cell


async def test_a_resumed_search_keeps_its_probes_and_goes_on_where_it_stopped(tiny_model, tmp_path):
    import asyncio

    from engine.events import LoadProgress, Notice
    from engine.run.session import RunSession

    async with FakeServer(FakeConfig(token_delay_s=0.04, delay_per_stream_s=0.02)) as server:
        profile = search_profile(server, tiny_model)
        task = None

        def stop_in_the_fourth_probe(event) -> None:  # concurrency 8, once some of its requests are done
            if isinstance(event, LoadProgress) and event.cell.index == 3 and event.done >= 1 and not task.done():
                task.cancel()

        task = asyncio.ensure_future(RunSession(profile, stop_in_the_fourth_probe, tmp_path).run())
        cut = await task
        assert cut.exit_code == 130 and [c.max_concurrency for c in cut.cells] == [1, 2, 4]
        notices: list[str] = []

        def note(event) -> None:
            if isinstance(event, Notice):
                notices.append(event.message)

        outcome = await RunSession(profile, note, tmp_path, run_dir=cut.results_dir, resume=True).run()
    assert outcome.exit_code == 0, outcome.error
    (found,) = json.loads((outcome.results_dir / "summary.json").read_text())["search"]
    # The same probes as a search never interrupted, each measured once: none of 1, 2, 4 again.
    assert [p["level"] for p in found["probes"]] == [1, 2, 4, 8, 6, 5] and found["best"] == 5
    assert [c.max_concurrency for c in outcome.cells] == [1, 2, 4, 8, 6, 5]
    assert any("search 16/12: 3 probes kept (1, 2, 4), going on" in n for n in notices), notices
    records = [json.loads(line) for line in (outcome.results_dir / "requests.jsonl").read_text().splitlines()]
    assert {r["cell"] for r in records if r.get("superseded")} == {3}  # the probe cut short, measured again
    assert sum(1 for r in records if r["cell"] == 3 and not r.get("superseded")) == 24


# --- in flight: what the table shows, what the open-file check bounds -----------------------------


def test_the_peak_in_flight_counts_overlapping_requests_only():
    from engine.load.openloop import peak_in_flight

    def rec(start: float, e2el: float) -> RequestRecord:
        r = RequestRecord(0, 0, 0, 8, 4, start_time=start)
        r.e2el = e2el
        return r

    # [0, 2) [1, 3) [2, 4) [5, 6): at most two at once (one ends as the third starts).
    assert peak_in_flight([rec(100, 2), rec(101, 2), rec(102, 2), rec(105, 1)]) == 2
    assert peak_in_flight([]) == 0


def test_an_uncapped_rate_cell_shows_no_concurrency_and_its_peak_in_flight():
    from engine.report.model import OpenLoop
    from engine.report.table import summary_table

    fields = dict(duration=1, completed=4, failed=0, num_prompts=4, total_input_tokens=32, total_output_tokens=16)
    fields |= dict(request_throughput=4, output_throughput=16, total_token_throughput=48, input_len=8, output_len=4)
    loop = OpenLoop(request_rate=4, arrival="poisson", burstiness=1, seed=0, achieved_rate=4.1, peak_in_flight=3)
    uncapped = CellResult(max_concurrency=0, open_loop=loop, **fields)
    capped = CellResult(max_concurrency=2, open_loop=loop.model_copy(update={"max_in_flight": 2}), **fields)
    header, _, row_uncapped, row_capped, legend, *_ = summary_table([uncapped, capped]).splitlines()
    assert header.split()[:5] == ["conc", "ISL/OSL", "rate", "sent/s", "peak"]
    assert row_uncapped.split()[:5] == ["-", "8/4", "4", "4.10", "3"]
    assert row_capped.split()[0] == "2"
    assert "conc is the cap on requests in flight, - for none; peak the most seen in flight" in legend


def test_the_open_file_check_bounds_an_uncapped_rate_cell(monkeypatch):
    import resource

    from engine.plan import build_plan
    from engine.profiles import apply_overrides, load_profile
    from engine.run.preflight import PreflightError, _open_file_limit, worst_in_flight

    profile = apply_overrides(
        load_profile("cpu-tiny"), **{"grid.rates": [50.0], "grid.num_prompts": 5000, "grid.seq": ["128/32"]}
    )
    (cell,) = build_plan(profile.grid)
    # 50 req/s x (300 + 32) s deadline x 1.25 is above 5000: every request could be in flight.
    assert worst_in_flight(cell, profile) == (
        5000,
        "cell r=50 128/32 (no cap on requests in flight: up to all its 5000 requests)",
    )
    slow = apply_overrides(profile, **{"grid.rates": [2.0]})
    n, why = worst_in_flight(build_plan(slow.grid)[0], slow)
    assert n == 830 and "about rate x request deadline 332 s = 830" in why  # 2 x 332 x 1.25
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 4096))
    with pytest.raises(PreflightError, match=r"--max-concurrency 4032 or lower"):
        _open_file_limit(cell, profile)
    capped = apply_overrides(profile, **{"grid.max_concurrency": 256})
    assert worst_in_flight(build_plan(capped.grid)[0], capped)[0] == 256
    # Per-request lengths: the deadline of the range's longest answer (1000 tokens: 1300 s), not the warm-up's.
    ranged = apply_overrides(
        slow, **{"grid.dataset": "random", "grid.input_len_range": "100:200", "grid.output_len_range": "10:1000"}
    )
    assert worst_in_flight(build_plan(ranged.grid)[0], ranged)[0] == 3250  # 2 x 1300 x 1.25
    # Multi-turn: a conversation started per 1/rate holds a request through its 4 turns.
    turns = apply_overrides(slow, **{"grid.dataset": "multiturn:4"})
    assert worst_in_flight(build_plan(turns.grid)[0], turns)[0] == min(3320, build_plan(turns.grid)[0].num_prompts)


async def test_a_search_stops_at_the_clients_open_file_limit_not_blaming_the_server(tiny_model, tmp_path, monkeypatch):
    from engine.run import search_run as search_module
    from engine.run.session import RunSession

    monkeypatch.setattr(search_module, "open_files_left", lambda: 5)  # sockets for 5 requests in flight
    async with FakeServer(FakeConfig(token_delay_s=0.01)) as server:
        outcome = await RunSession(search_profile(server, tiny_model), lambda e: None, tmp_path).run()
    assert outcome.exit_code == 0, outcome.error
    (found,) = json.loads((outcome.results_dir / "summary.json").read_text())["search"]
    assert [p["level"] for p in found["probes"]] == [1, 2, 4]  # 8 would need more sockets than allowed
    assert found["stopped"] == "the client's open-file limit allows about 5 in flight (ulimit -n)"
