"""Reasoning tokens counted apart from the answer's, and the time to the first answer token, on a
fake server that streams a reasoning parser's deltas (vLLM 0.32's `reasoning`; `reasoning_content`
of earlier vLLM, SGLang and DeepSeek's API, beside a null content)."""

import json

import pytest

from engine.load.chunk import REASONING_KEY, is_reasoning, parse_event
from engine.load.client import HttpTarget, new_session
from engine.load.prompts import Prompt
from engine.load.record import RequestRecord
from engine.load.tokenizer import load_tokenizer
from engine.report.reasoning import reasoning_figures
from engine.report.registry import METRICS, Table, columns
from tests.fake_openai import FakeConfig, FakeServer
from tests.test_external_modes import profile_for, run

DELAY_S = 0.02  # between two tokens of a stream


async def send_one(cfg: FakeConfig, keep_text: bool = False) -> RequestRecord:
    async with FakeServer(cfg) as server:
        session = new_session(1)
        try:
            target = HttpTarget(session, server.url, "chat", cfg.model, keep_text=keep_text)
            request = target.prepare(Prompt(None, "hello there", 2), 10)
            record = RequestRecord(cell=0, index=0, concurrency=1, input_len=2, output_len=10)
            await target.send(request, record, lambda n: None, 30.0)
        finally:
            session.close()
    return record


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
async def test_reasoning_and_answer_tokens_are_counted_apart(field):
    cfg = FakeConfig(reasoning_tokens=4, reasoning_field=field, token_delay_s=DELAY_S, pieces=("x",))
    record = await send_one(cfg)
    assert record.ok, record.error
    assert record.output_tokens == 10 and record.reasoning_tokens == 4  # the OSL counts both
    # The TTFT is the first token of either; the answer's first comes 4 tokens later.
    assert record.answer_ttft - record.ttft >= 4 * DELAY_S * 0.9
    saved = json.loads(record.to_json())
    assert saved["reasoning_tokens"] == 4 and saved["answer_ttft"] == record.answer_ttft


async def test_a_server_without_usage_keeps_the_reasoning_text_apart():
    cfg = FakeConfig(reasoning_tokens=3, reasoning_field="reasoning_content", usage="none", pieces=("x",))
    record = await send_one(cfg, keep_text=True)
    assert record.ok and record.usage_reported is False
    assert record.reasoning_text == "xxx" and record.text == "xxxxxxx"
    assert record.reasoning_tokens == 3 and record.output_tokens == 10  # one a chunk until re-counted


async def test_an_answer_without_reasoning_records_none():
    record = await send_one(FakeConfig(pieces=("x",)))
    assert record.ok and record.reasoning_tokens is None and record.answer_ttft is None
    assert "reasoning_tokens" not in json.loads(record.to_json())


async def test_all_reasoning_no_answer():
    record = await send_one(FakeConfig(reasoning_tokens=10, pieces=("x",)))
    assert record.reasoning_tokens == 10 and record.answer_ttft is None and record.ttft is not None


def rec(ttft, answer_ttft=None, reasoning=None, tokens=10, ok=True):
    return RequestRecord(
        cell=0,
        index=0,
        concurrency=1,
        input_len=2,
        output_len=10,
        ok=ok,
        ttft=ttft,
        output_tokens=tokens,
        reasoning_tokens=reasoning,
        answer_ttft=answer_ttft,
    )


def test_cell_figures_on_hand_made_records():
    records = [
        rec(0.1, 0.5, 6),
        rec(0.2, 0.9, 4),
        rec(0.1, None, 10),  # never reached its answer
        rec(0.3),  # no reasoning: its answer's first token is its TTFT
        rec(0.1, 0.2, 3, ok=False),  # failed: left out
    ]
    f = reasoning_figures(records)
    assert f.requests == 3 and f.reasoning_tokens == 20 and f.answer_tokens == 20
    assert f.mean_reasoning_tokens == pytest.approx(20 / 3) and f.answered == 3
    assert f.mean_answer_ttft_ms == pytest.approx((500 + 900 + 300) / 3)
    assert f.median_answer_ttft_ms == pytest.approx(500)
    assert reasoning_figures([rec(0.1), rec(0.2)]) is None


async def test_a_chat_run_reports_reasoning_beside_the_ttft(tiny_model, tmp_path):
    cfg = FakeConfig(chat_only=True, reasoning_tokens=2, token_delay_s=0.005)
    async with FakeServer(cfg) as server:
        outcome, summary, _ = await run(profile_for(server.url, tiny_model), tmp_path)
    assert outcome.exit_code == 0, outcome.error
    cell = summary["cells"][0]
    # 4 requests of 6 tokens, 2 of each reasoning: the OSL check counts both, no mismatch.
    assert cell["total_output_tokens"] == 24 and cell["output_len_mismatches"] == 0
    r = cell["reasoning"]
    assert r["requests"] == 4 and r["reasoning_tokens"] == 8 and r["answer_tokens"] == 16 and r["answered"] == 4
    assert r["median_answer_ttft_ms"] > cell["median_ttft_ms"]
    result = outcome.cells[0]
    shown = [m.key for m in columns(Table.CONSOLE, [result])]
    assert "median_answer_ttft_ms" in shown and METRICS["mean_reasoning_tokens"].text(result) == "2"


async def test_without_usage_the_tokenizer_counts_reasoning_and_answer_apart(tiny_model, tmp_path):
    tok = load_tokenizer(str(tiny_model))
    cfg = FakeConfig(chat_only=True, usage="none", reasoning_tokens=2, pieces=(" alpha", " beta", " gamma"))
    async with FakeServer(cfg) as server:
        outcome, summary, _ = await run(profile_for(server.url, tiny_model), tmp_path)
    assert outcome.exit_code == 0, outcome.error

    def count(text):
        return len(tok.encode(text, add_special_tokens=False))

    thinking, answer = count(" alpha beta"), count(" gamma alpha beta gamma")
    cell = summary["cells"][0]
    assert cell["reasoning"]["reasoning_tokens"] == 4 * thinking
    assert cell["total_output_tokens"] == 4 * (thinking + answer)


@pytest.mark.parametrize(
    ("delta", "thinking"),
    [
        (b'{"reasoning":"x"}', True),  # vLLM 0.32 (exclude_unset)
        (b'{"content":null,"reasoning_content":"x"}', True),  # SGLang, DeepSeek
        (b'{"content": "", "reasoning_content": "x"}', True),
        (b'{"reasoning": ""}', True),  # a token of no text (a partial UTF-8 character) is still reasoning
        (b'{"content":"x","reasoning_content":null}', False),
        (b'{"content":"x","reasoning":"y"}', False),  # the answer's first token came with it
        (b'{"content":"say \\"reasoning\\": \\"no\\""}', False),  # the word inside the answer's text
    ],
)
def test_which_chunks_are_reasoning(delta, thinking):
    payload = b'{"id":"c","choices":[{"index":0,"delta":' + delta + b'}],"usage":{"completion_tokens":3}}'
    assert (REASONING_KEY in payload and is_reasoning(payload)) is thinking
    assert parse_event(payload, "chat", RequestRecord(0, 0, 1, 1, 1))[2] is thinking
