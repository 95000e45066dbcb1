import statistics

import pytest

from engine.load.record import RequestRecord
from engine.plan import Cell
from engine.report.metrics import ClientFigures, percentile, summarize_cell, tpot
from engine.report.model import CLIENT_LIMIT, FAILED_REQUESTS, ONE_READ, RunSummary
from engine.report.table import summary_table

CELL = Cell(index=0, concurrency=2, input_len=10, output_len=5, num_prompts=3, warmup_requests=0, warmup_output_len=1)


def rec(i, ttft, e2el, gaps, ok=True, prompt=10):
    return RequestRecord(
        cell=0,
        index=i,
        concurrency=2,
        input_len=10,
        output_len=5,
        ok=ok,
        ttft=ttft,
        e2el=e2el,
        prompt_tokens=prompt,
        expected_prompt_tokens=10,
        output_tokens=1 + sum(k for _, k in gaps),
        chunk_gaps=[g for g, _ in gaps],
        chunk_tokens=[k for _, k in gaps],
        error=None if ok else "boom",
    )


def test_percentile_matches_numpy_linear():
    values = sorted([3.0, 1.0, 4.0, 1.5, 9.0, 2.6])
    assert percentile(values, 50) == pytest.approx(statistics.median(values))
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 9.0
    # numpy.percentile(values, 90) with linear interpolation
    assert percentile(values, 90) == pytest.approx(6.5)


def test_cell_summary_follows_vllm_definitions():
    records = [
        rec(0, 0.1, 0.5, [(0.1, 1), (0.1, 1), (0.2, 2)]),  # 5 tokens
        rec(1, 0.2, 1.0, [(0.4, 2), (0.4, 2)]),  # 5 tokens
        rec(2, None, 3.0, [], ok=False),
    ]
    records[2].output_tokens = 0
    s = summarize_cell(CELL, records, duration=2.0, devices=2)
    assert s.completed == 2 and s.failed == 1 and s.num_prompts == 3
    assert s.total_input_tokens == 20 and s.total_output_tokens == 10
    assert s.output_throughput == pytest.approx(5.0)
    assert s.total_token_throughput == pytest.approx(15.0)
    assert s.request_throughput == pytest.approx(1.0)
    # TPOT = (E2E - TTFT) / (n - 1): 0.4/4 and 0.8/4
    assert tpot(records[0]) == pytest.approx(0.1)
    assert s.mean_tpot_ms == pytest.approx(150.0)
    assert s.mean_ttft_ms == pytest.approx(150.0)  # the failed request is not averaged in
    assert s.mean_e2el_ms == pytest.approx(750.0)
    # ITL: a chunk of k tokens after gap g counts as k gaps of g/k: 0.1,0.1,0.1,0.1 and 0.2 x4
    assert s.mean_itl_ms == pytest.approx(150.0)
    assert s.interactivity == pytest.approx(1000 / 150.0)
    assert s.total_token_throughput_per_gpu == pytest.approx(7.5)
    assert s.errors == {"boom": 1}
    assert s.input_len == 10 and s.output_len == 5 and s.max_concurrency == 2
    dumped = s.model_dump()
    for key in ("median_ttft_ms", "p99_ttft_ms", "p90_tpot_ms", "std_itl_ms", "median_e2el_ms", "duration"):
        assert dumped[key] is not None, key
    assert s.flag_codes() == [FAILED_REQUESTS] and "1 of 3 requests failed" in s.flags[0].reason


def test_length_mismatches_are_counted():
    short = rec(0, 0.1, 0.3, [(0.1, 1)])  # 2 tokens, not 5
    wrong_prompt = rec(1, 0.1, 0.5, [(0.1, 1), (0.1, 1), (0.2, 2)], prompt=11)  # the cell asks for 10
    s = summarize_cell(CELL, [short, wrong_prompt], duration=1.0, devices=1)
    assert s.output_len_mismatches == 1 and s.input_len_mismatches == 1


def test_all_failed_gives_na_not_zeros():
    s = summarize_cell(CELL, [rec(0, None, 1.0, [], ok=False)], duration=1.0, devices=1)
    assert s.completed == 0 and s.mean_ttft_ms is None and s.interactivity is None
    assert "n/a" in summary_table([s])


def test_a_stream_that_came_in_one_read_is_flagged_and_its_tpot_is_na():
    # Every token in one read: e2el == ttft (the client read late, or the server sent it all at once).
    late = rec(0, 0.5, 0.5, [(0.0, 2), (0.0, 2)])
    s = summarize_cell(CELL, [late], duration=1.0, devices=1)
    assert late.one_read and tpot(late) is None
    assert s.mean_tpot_ms is None and s.interactivity is None and s.one_read_requests == 1
    assert s.flag_codes() == [ONE_READ]
    table = summary_table([s])
    assert "n/a" in table and "! one_read" in table and "every token in one read" in table
    # Mixed: the one-read request is left out of TPOT, not averaged in as 0.
    s = summarize_cell(CELL, [late, rec(1, 0.1, 0.5, [(0.1, 1), (0.1, 1), (0.2, 2)])], duration=1.0, devices=1)
    assert s.mean_tpot_ms == pytest.approx(100.0) and s.one_read_requests == 1


def test_a_lagging_client_flags_the_cell():
    records = [rec(0, 0.1, 0.5, [(0.1, 1), (0.1, 1), (0.2, 2)])]
    calm = summarize_cell(CELL, records, 1.0, 1, ClientFigures(cpu_s=0.1, loop_lags_s=[0.0001] * 100))
    assert not calm.flags and calm.client_loop_lag_p99_ms < 1 and calm.client_cpu_util == pytest.approx(0.1)
    # A lag p99 of 80 ms is more than a quarter of the 100 ms ITL: timestamps may be that late.
    lagging = summarize_cell(CELL, records, 1.0, 1, ClientFigures(cpu_s=0.1, loop_lags_s=[0.08] * 100))
    assert lagging.flag_codes() == [CLIENT_LIMIT] and "event-loop lag p99 80.0 ms" in lagging.flags[0].reason
    busy = summarize_cell(CELL, records, 1.0, 1, ClientFigures(cpu_s=0.95, loop_lags_s=[0.0]))
    assert busy.flag_codes() == [CLIENT_LIMIT] and "95% of a CPU core" in busy.flags[0].reason


SCHEMA_1_CELL = {
    "duration": 2.0,
    "completed": 8,
    "failed": 0,
    "num_prompts": 8,
    "max_concurrency": 16,
    "total_input_tokens": 1024,
    "total_output_tokens": 1024,
    "request_throughput": 4.0,
    "output_throughput": 512.0,
    "total_token_throughput": 1024.0,
    "mean_ttft_ms": 700.0,
    "median_ttft_ms": 700.0,
    "mean_tpot_ms": 0.0,
    "median_tpot_ms": 0.0,
    "mean_itl_ms": 0.0,
    "mean_e2el_ms": 700.0,
    "input_len": 128,
    "output_len": 128,
    "interactivity": 0.0,
    "client_warning": "the client, not the server, may be the limit: event-loop lag p99 900.0 ms",
    "client_loop_lag_p99_ms": 900.0,
    "some_future_key": 1,
}


def test_schema_1_summary_loads_with_its_warning_as_a_flag():
    summary = RunSummary.model_validate({"schema_version": 1, "status": "completed", "cells": [SCHEMA_1_CELL]})
    (cell,) = summary.cells
    assert cell.flag_codes() == [CLIENT_LIMIT, ONE_READ]
    assert cell.mean_tpot_ms is None and cell.interactivity is None and cell.mean_ttft_ms == 700.0
