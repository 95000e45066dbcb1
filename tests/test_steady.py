"""Steady-state windows on hand-made records whose windows are known (engine/report/steady.py)."""

import pytest

from engine.load.record import RequestRecord
from engine.plan import Cell
from engine.report.metrics import summarize_cell
from engine.report.model import SHORT_STEADY_STATE, CellResult, RunSummary
from engine.report.registry import METRICS, Table, columns
from engine.report.steady import steady_state, tokens_within, with_steady_state
from engine.report.table import summary_table
from engine.shapes.ramp import Ramp
from engine.share.steady_html import steady_section

T0 = 1000.0  # epoch seconds of the cells' first send


def rec(i, start, e2el, ttft, tokens, *, concurrency=2, delay=0.0, ok=True):
    return RequestRecord(
        cell=0,
        index=i,
        concurrency=concurrency,
        input_len=10,
        output_len=tokens,
        ok=ok,
        start_time=T0 + start,
        ttft=ttft,
        e2el=e2el,
        output_tokens=tokens,
        send_delay=delay,
    )


def closed(concurrency, n):
    return Cell(0, concurrency, 10, 11, n, 0, 1)


def test_closed_loop_window_runs_from_all_slots_busy_to_the_first_slot_left_idle():
    # C=2: r0 and r1 fill the slots (full at 0.2); r2 and r3 take them over as r0 and r1 end; r2's
    # end at 2.0 leaves a slot with no request: the window is [0.2, 2.0].
    records = [
        rec(0, 0.0, 1.0, 0.1, 11),
        rec(1, 0.2, 1.0, 0.2, 11),
        rec(2, 1.0, 1.0, 0.1, 11),
        rec(3, 1.2, 1.0, 0.1, 11),
    ]
    s = steady_state(closed(2, 4), records, duration=2.2)
    assert s.target == "2 in flight"
    assert s.start_s == pytest.approx(0.2) and s.end_s == pytest.approx(2.0)
    assert s.duration_s == pytest.approx(1.8) and s.share == pytest.approx(1.8 / 2.2)
    # Wholly inside: r1 (0.2-1.2) and r2 (1.0-2.0); TTFT 200 and 100 ms, TPOT 80 and 90 ms.
    assert s.requests == 2
    assert s.mean_ttft_ms == pytest.approx(150.0) and s.mean_tpot_ms == pytest.approx(85.0)
    # Tokens evenly from TTFT to the end: r0 9 of its 11 fall inside, r1 and r2 all, r3 8.
    assert s.output_throughput == pytest.approx((9 + 11 + 11 + 8) / 1.8)


def test_a_short_window_is_flagged_with_the_advice():
    records = [rec(0, 0.0, 1.0, 0.1, 11), rec(1, 0.5, 1.0, 0.1, 11)]
    cell = closed(2, 2)
    result = with_steady_state(summarize_cell(cell, records, 1.5, 1), cell, records)
    assert result.steady.start_s == pytest.approx(0.5) and result.steady.end_s == pytest.approx(1.0)
    assert result.steady.requests == 0 and result.steady.mean_ttft_ms is None
    assert result.flag_codes() == [SHORT_STEADY_STATE]
    reason = result.flags[0].reason
    assert "(2 in flight) for 0.5 s of the cell's 1.5 s (33%)" in reason and "--prompts-per-concurrency" in reason


def test_a_load_that_never_reached_its_target_has_an_empty_window_and_is_flagged():
    records = [rec(0, 0.0, 1.0, 0.1, 11, concurrency=4)]
    cell = closed(4, 1)
    result = with_steady_state(summarize_cell(cell, records, 1.0, 1), cell, records)
    assert result.steady.start_s is None and result.steady.share == 0.0 and result.steady.output_throughput is None
    assert "at no moment of the cell" in result.flags[0].reason


def test_a_long_window_is_not_flagged():
    # C=1, five requests back to back: full from the first send to the last end.
    records = [rec(i, i * 1.0, 1.0, 0.1, 11, concurrency=1) for i in range(5)]
    cell = closed(1, 5)
    result = with_steady_state(summarize_cell(cell, records, 5.0, 1), cell, records)
    assert result.steady.share == pytest.approx(1.0) and result.steady.requests == 5
    assert result.flags == []
    assert result.steady.output_throughput == pytest.approx(55 / 5.0)


def test_open_loop_window_from_the_in_flight_median_to_the_last_send_on_schedule():
    # 2 req/s, a send every 0.5 s, each request 1.25 s: the count runs 1, then 2 and 3 by turns
    # (time-weighted median 2, first reached at 0.5). Sends 8 and 9 went 0.2 s late: the last send
    # on schedule is at 3.5. Window [0.5, 3.5].
    starts = [0.5 * i for i in range(8)] + [4.2, 4.7]
    late = [0.0] * 8 + [0.2, 0.2]
    records = [rec(i, s, 1.25, 0.25, 11, concurrency=0, delay=d) for i, (s, d) in enumerate(zip(starts, late))]
    cell = Cell(0, 0, 10, 11, 10, 0, 1, rate=2.0)
    s = steady_state(cell, records, duration=5.95)
    assert s.target == "2 req/s on schedule, in flight past its climb"
    assert s.start_s == pytest.approx(0.5) and s.end_s == pytest.approx(3.5)
    assert s.share == pytest.approx(3.0 / 5.95)
    assert s.requests == 4  # r1..r4; r5 ends at 3.75
    # Tokens at start + 0.25 + 0.1 k: r0 8 inside, r1-r4 11 each, r5 8, r6 3.
    assert s.output_throughput == pytest.approx((8 + 44 + 8 + 3) / 3.0)


def test_a_ramp_has_no_steady_state():
    cell = Cell(0, 0, 10, 11, 2, 0, 1, shape=Ramp("linear", 1.0, 4.0))
    records = [rec(0, 0.0, 1.0, 0.1, 11), rec(1, 0.5, 1.0, 0.1, 11)]
    result = with_steady_state(summarize_cell(cell, records, 1.5, 1), cell, records)
    assert result.steady is None and result.flags == []


def test_tokens_within_counts_the_first_token_and_the_evenly_spaced_rest():
    r = rec(0, 0.0, 1.1, 0.1, 11)  # tokens at 0.1, 0.2, ... 1.1
    assert tokens_within(r, T0 + 0.15, T0 + 0.55) == 4
    assert tokens_within(r, T0, T0 + 2.0) == 11
    assert tokens_within(rec(0, 0.0, 1.0, 1.0, 5), T0 + 0.5, T0 + 1.5) == 5  # all in one read, at 1.0
    assert tokens_within(rec(0, 0.0, 1.0, 0.1, 11, ok=False), T0, T0 + 2.0) == 0


def test_steady_state_travels_in_summary_json_and_shows_in_table_and_report():
    records = [rec(0, 0.0, 1.0, 0.1, 11), rec(1, 0.5, 1.0, 0.1, 11)]
    cell = closed(2, 2)
    result = with_steady_state(summarize_cell(cell, records, 1.5, 1), cell, records)
    back = RunSummary.model_validate_json(RunSummary(cells=[result]).model_dump_json()).cells[0]
    assert back.steady == result.steady and METRICS["steady_share"].value(back) == pytest.approx(1 / 3)
    labels = [m.label for m in columns(Table.CONSOLE, [back])]
    assert "steady" in labels and "steady tok/s" in labels
    table = summary_table([back])
    assert "steady tok/s" in table.splitlines()[0] and "steady: the share of the cell" in table
    html = steady_section([back])
    assert "<h3>Steady state</h3>" in html and "0.5 - 1.0" in html and SHORT_STEADY_STATE in html
    # A cell without one (an older file, a ramp): no column, no section, no key in the file.
    plain = CellResult.model_validate(result.model_dump(exclude={"steady"}))
    assert "steady" not in [m.label for m in columns(Table.CONSOLE, [plain])]
    assert steady_section([plain]) == "" and '"steady":' not in plain.model_dump_json()
