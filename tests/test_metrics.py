import statistics

import pytest

from engine.loadgen import RequestRecord
from engine.metrics import percentile, summarize_cell, tpot
from engine.plan import Cell

CELL = Cell(index=0, concurrency=2, input_len=10, output_len=5, num_prompts=3, warmup_requests=0, warmup_output_len=1)


def rec(i, ttft, e2el, gaps, ok=True, prompt=10):
    return RequestRecord(
        cell=0, index=i, concurrency=2, input_len=10, output_len=5, ok=ok, ttft=ttft, e2el=e2el,
        prompt_tokens=prompt, expected_prompt_tokens=10, output_tokens=1 + sum(k for _, k in gaps),
        chunk_gaps=[g for g, _ in gaps], chunk_tokens=[k for _, k in gaps], error=None if ok else "boom",
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
    assert s["completed"] == 2 and s["failed"] == 1 and s["num_prompts"] == 3
    assert s["total_input_tokens"] == 20 and s["total_output_tokens"] == 10
    assert s["output_throughput"] == pytest.approx(5.0)
    assert s["total_token_throughput"] == pytest.approx(15.0)
    assert s["request_throughput"] == pytest.approx(1.0)
    # TPOT = (E2E - TTFT) / (n - 1): 0.4/4 and 0.8/4
    assert tpot(records[0]) == pytest.approx(0.1)
    assert s["mean_tpot_ms"] == pytest.approx(150.0)
    assert s["mean_ttft_ms"] == pytest.approx(150.0)  # the failed request is not averaged in
    assert s["mean_e2el_ms"] == pytest.approx(750.0)
    # ITL: a chunk of k tokens after gap g counts as k gaps of g/k: 0.1,0.1,0.1,0.1 and 0.2 x4
    assert s["mean_itl_ms"] == pytest.approx(150.0)
    assert s["interactivity"] == pytest.approx(1000 / 150.0)
    assert s["total_token_throughput_per_gpu"] == pytest.approx(7.5)
    assert s["errors"] == {"boom": 1}
    assert s["input_len"] == 10 and s["output_len"] == 5 and s["max_concurrency"] == 2
    for key in ("median_ttft_ms", "p99_ttft_ms", "p90_tpot_ms", "std_itl_ms", "p50_e2el_ms", "duration"):
        assert key in s


def test_length_mismatches_are_counted():
    short = rec(0, 0.1, 0.3, [(0.1, 1)])  # 2 tokens, not 5
    wrong_prompt = rec(1, 0.1, 0.5, [(0.1, 1), (0.1, 1), (0.2, 2)], prompt=11)  # the cell asks for 10
    s = summarize_cell(CELL, [short, wrong_prompt], duration=1.0, devices=1)
    assert s["output_len_mismatches"] == 1 and s["input_len_mismatches"] == 1


def test_all_failed_gives_zeros_not_errors():
    s = summarize_cell(CELL, [rec(0, None, 1.0, [], ok=False)], duration=1.0, devices=1)
    assert s["completed"] == 0 and s["mean_ttft_ms"] == 0.0 and s["interactivity"] == 0.0
