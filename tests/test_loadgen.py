"""The SSE client and closed loop against the fake server: exact counts, weird text, faults."""

import json

import pytest

from engine.load.client import (
    CellLoad,
    HttpTarget,
    PhaseSend,
    PreparedRequest,
    new_session,
    run_closed_loop,
    stream_request,
)
from engine.load.record import RequestRecord
from engine.plan import Cell
from tests.fake_openai import FakeConfig, FakeServer


def _body(n: int, prompt=None) -> bytes:
    return json.dumps({"model": "fake-model", "prompt": prompt or [1, 2, 3], "max_tokens": n, "stream": True}).encode()


def _record(n: int = 10) -> RequestRecord:
    return RequestRecord(cell=0, index=0, concurrency=1, input_len=3, output_len=n, expected_prompt_tokens=3)


async def test_line_separators_in_text_do_not_break_the_stream():
    # U+2028 / U+0085 inside JSON strings: str.splitlines-based clients crash here.
    async with FakeServer(FakeConfig()) as server, new_session(8) as client:
        seen = []
        rec = await stream_request(
            client, server.url + "/v1/completions", _body(12), _record(12), "completions", seen.append
        )
    assert rec.ok, rec.error
    assert rec.output_tokens == 12 and sum(seen) == 12
    assert rec.prompt_tokens == 3
    assert rec.ttft is not None and rec.e2el >= rec.ttft
    assert len(rec.itl()) == 11
    assert rec.response_id == "cmpl-fake"


async def test_multi_token_chunks_count_as_k_tokens():
    async with FakeServer(FakeConfig(tokens_per_chunk=4)) as server, new_session(8) as client:
        rec = await stream_request(
            client, server.url + "/v1/completions", _body(10), _record(10), "completions", lambda n: None
        )
    assert rec.ok and rec.output_tokens == 10
    # chunks carry 4, 4, 2 tokens: the first sets TTFT, the next two give 4 + 2 ITL entries.
    assert list(rec.chunk_tokens) == [4, 2]
    assert len(rec.itl()) == 6
    assert sum(rec.itl()) == pytest.approx(sum(rec.chunk_gaps))


async def test_events_split_across_reads_and_crlf_line_ends():
    # Tiny writes: events arrive in pieces; CRLF line ends must be handled like LF.
    cfg = FakeConfig(line_end="\r\n", split_writes=True, tokens_per_chunk=2)
    async with FakeServer(cfg) as server, new_session(8) as client:
        rec = await stream_request(
            client, server.url + "/v1/completions", _body(9), _record(9), "completions", lambda n: None
        )
    assert rec.ok, rec.error
    assert rec.output_tokens == 9 and list(rec.chunk_tokens) == [2, 2, 2, 1]


async def test_server_error_event_fails_the_request():
    async with FakeServer(FakeConfig(error_event_after=2)) as server, new_session(8) as client:
        rec = await stream_request(
            client, server.url + "/v1/completions", _body(5), _record(5), "completions", lambda n: None
        )
    assert not rec.ok and "server error in stream" in rec.error


async def test_http_error_is_a_failed_record():
    async with FakeServer(FakeConfig(status=503)) as server, new_session(8) as client:
        rec = await stream_request(
            client, server.url + "/v1/completions", _body(5), _record(5), "completions", lambda n: None
        )
    assert not rec.ok and "503" in rec.error


async def test_stream_cut_mid_way_is_a_failed_record():
    async with FakeServer(FakeConfig(die_after_tokens=3)) as server, new_session(8) as client:
        rec = await stream_request(
            client, server.url + "/v1/completions", _body(8), _record(8), "completions", lambda n: None
        )
    assert not rec.ok and rec.error


async def test_closed_loop_keeps_exactly_c_in_flight():
    cfg = FakeConfig(token_delay_s=0.005)
    cell = Cell(
        index=0, concurrency=3, input_len=3, output_len=5, num_prompts=12, warmup_requests=0, warmup_output_len=1
    )
    peak = 0
    records = []
    load = CellLoad(total=12)

    def on_record(r):
        records.append(r)

    async with FakeServer(cfg) as server, new_session(8) as client:
        import asyncio

        async def watch():
            nonlocal peak
            while True:
                peak = max(peak, load.in_flight)
                await asyncio.sleep(0.001)

        task = asyncio.create_task(watch())
        duration = await run_closed_loop(
            HttpTarget(client, server.url, "completions", "m"),
            cell,
            [PreparedRequest(_body(5), 3)] * 12,
            PhaseSend(output_len=5, warmup=False, on_record=on_record, load=load),
        )
        task.cancel()
    assert len(records) == 12 and all(r.ok for r in records)
    assert sorted(r.index for r in records) == list(range(12))
    assert peak == 3
    assert load.output_tokens == 60 and load.done == 12 and load.in_flight == 0
    assert duration > 0


def test_server_metrics_parse_only_what_is_shown():
    from engine.server.vllm_backend import VLLM_METRICS

    text = (
        "# HELP vllm:num_requests_running Number of requests running.\n"
        "# TYPE vllm:num_requests_running gauge\n"
        'vllm:num_requests_running{engine="0",model_name="m"} 3.0\n'
        "# TYPE vllm:kv_cache_usage_perc gauge\n"
        'vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25\n'
        "# TYPE vllm:generation_tokens counter\n"
        'vllm:generation_tokens_total{engine="0",model_name="m"} 1234.0\n'
        "# TYPE vllm:e2e_request_latency_seconds histogram\n"
        'vllm:e2e_request_latency_seconds_bucket{le="0.3",model_name="m"} 1.0\n'
    )
    state = VLLM_METRICS.parse(text)
    assert state.running == 3.0 and state.kv_cache_usage == 0.25 and state.generation_tokens_total == 1234.0
    assert state.waiting is None
