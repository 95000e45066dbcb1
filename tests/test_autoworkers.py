"""`workers = "auto"` (the default): how many load worker processes the plan's load and the
client's CPUs call for (engine.load.autoworkers)."""

from __future__ import annotations

import pytest

from engine.load.autoworkers import STREAMS_PER_WORKER, TOKENS_PER_WORKER, choose, client_cpu_budget
from engine.options.parse import parse_workers
from engine.plan import Cell


def closed(c: int, index: int = 0) -> Cell:
    return Cell(index, c, 128, 128, 4 * c, 0, 0)


def rate(r: float, osl: int, cap: int = 0) -> Cell:
    return Cell(0, cap, 128, osl, 100, 0, 0, rate=r)


def test_a_grid_one_loop_can_time_gets_one_worker():
    n, why = choose([closed(1), closed(64), closed(STREAMS_PER_WORKER)], "server", None, usable=64)
    assert n == 1 and "one event loop" in why


def test_the_largest_concurrency_asks_one_worker_per_share_of_streams():
    n, why = choose([closed(4), closed(4 * STREAMS_PER_WORKER + 1, 1)], "server", None, usable=64)
    assert n == 5
    assert f"{4 * STREAMS_PER_WORKER + 1} streams" in why


def test_an_open_loop_asks_by_planned_output_tokens_or_its_cap():
    per_s = TOKENS_PER_WORKER / 1000  # requests/s of 1000-token answers one worker carries
    assert choose([rate(3 * per_s, 1000)], "external", None, usable=64)[0] == 3
    # a cap on requests in flight asks as a closed loop of that size would
    assert choose([rate(1.0, 10, cap=3 * STREAMS_PER_WORKER)], "external", None, usable=64)[0] == 3


def test_never_more_workers_than_the_client_has_cpus():
    n, why = choose([closed(100 * STREAMS_PER_WORKER)], "server", {0}, usable=64)
    assert n == 1 and "capped at the client's 1 CPU" in why
    assert choose([closed(100 * STREAMS_PER_WORKER)], "server", None, usable=16)[0] == 8  # half the host


def test_in_process_mode_always_gets_one():
    assert choose([closed(100 * STREAMS_PER_WORKER)], "inprocess", None, usable=64) == (
        1,
        "in-process mode: the engine is reachable from the run process only",
    )


def test_client_cpu_budget_is_at_least_one():
    assert client_cpu_budget(None, usable=1) == 1
    assert client_cpu_budget({2, 3, 5}) == 3


@pytest.mark.parametrize("bad", ["0", "513", "two", ""])
def test_the_flag_takes_a_count_or_auto(bad):
    assert parse_workers("auto") == "auto" and parse_workers("3") == 3
    with pytest.raises(ValueError, match="1 to 512, or auto"):
        parse_workers(bad)


def test_multi_turn_conversations_get_one():
    from dataclasses import replace

    n, why = choose([replace(closed(100 * STREAMS_PER_WORKER), turns=4)], "server", None, usable=64)
    assert n == 1 and "multi-turn" in why


def test_an_open_loop_of_per_request_lengths_says_its_load_is_not_known_ahead():
    trace = Cell(0, 0, 0, 0, 500, 0, 0, dataset="trace", seq="trace x1000")
    n, why = choose([trace], "external", None, usable=64)
    assert n == 1 and "trace x1000: its output tok/s are known only per request" in why
    ranged = Cell(0, 0, 128, 0, 500, 0, 0, rate=200.0, dataset="random", seq="random 100:400/500:1500")
    assert "known only per request" in choose([ranged], "external", None, usable=64)[1]
