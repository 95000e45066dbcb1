"""The stall clock of engine/run/watch.py: what counts as the load moving, on a fake clock (the
runs that end on a stall or a lost keeper are in test_faults.py and test_cleanup.py)."""

from __future__ import annotations

from engine.events import ServerState
from engine.headless.cli import build_parser, resolve_args
from engine.load.client import CellLoad
from engine.run.watch import StallClock


def busy(generated: float, kv: float = 0.5) -> ServerState:
    return ServerState(running=2, waiting=0, kv_cache_usage=kv, generation_tokens_total=generated)


def test_in_flight_requests_with_no_token_and_no_server_numbers_are_still():
    clock, load = StallClock(moved_at=0.0), CellLoad(total=4, in_flight=2)
    assert clock.still_for(1.0, load, None) == 1.0
    assert clock.still_for(30.0, load, None) == 30.0


def test_a_token_or_a_request_that_ends_is_movement():
    clock, load = StallClock(moved_at=0.0), CellLoad(total=4, in_flight=2)
    clock.still_for(10.0, load, None)
    load.add_tokens(1)
    assert clock.still_for(12.0, load, None) == 0.0
    load.failed += 1  # a request that fails fast is the failed-share check's business, not a stall
    assert clock.still_for(20.0, load, None) == 0.0
    assert clock.still_for(25.0, load, None) == 5.0


def test_nothing_in_flight_owes_nothing():
    clock, load = StallClock(moved_at=0.0), CellLoad(total=4, in_flight=0)
    assert clock.still_for(100.0, load, None) == 0.0  # an open loop between two arrivals


def test_a_server_whose_numbers_move_is_working_though_no_token_reaches_us():
    # A long prefill: no token streams, but the server's KV cache fills step by step.
    clock, load = StallClock(moved_at=0.0), CellLoad(total=4, in_flight=2)
    for t, kv in ((20.0, 0.1), (40.0, 0.2), (60.0, 0.3)):
        assert clock.still_for(t, load, busy(0, kv)) == 0.0
    assert clock.still_for(70.0, load, busy(0, 0.3)) == 10.0  # the same numbers again: still
    assert clock.server_since == 60.0
    assert clock.still_for(71.0, load, None) == 11.0  # /metrics not answering is no movement


def test_the_stall_timeout_flag_sets_the_profile_and_defaults_to_a_minute():
    assert resolve_args(build_parser().parse_args(["--stall-timeout", "5"])).load.stall_timeout_s == 5
    assert resolve_args(build_parser().parse_args([])).load.stall_timeout_s == 60
