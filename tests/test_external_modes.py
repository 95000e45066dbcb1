"""External mode against servers unlike vLLM (the fake server): how lengths are made and counted."""

import json

from engine.exits import EXIT_FAILED
from engine.load.tokenizer import load_tokenizer
from engine.profiles import apply_overrides, load_profile
from engine.run.session import RunSession
from tests.fake_openai import FakeConfig, FakeServer


def profile_for(url, tiny_model, **extra):
    return apply_overrides(
        load_profile("cpu-tiny"),
        **{
            "mode": "external",
            "endpoint": url,
            "model.tokenizer": str(tiny_model),
            "grid.concurrency": [2],
            "grid.seq": ["16/6"],
            "grid.prompts_per_concurrency": 2,
            "grid.min_prompts": 0,
            "grid.warmup_requests": 1,
            **extra,
        },
    )


async def run(profile, tmp_path):
    events = []
    outcome = await RunSession(profile, events.append, tmp_path).run()
    summary = json.loads((outcome.results_dir / "summary.json").read_text())
    return outcome, summary, events


async def test_token_id_server(tiny_model, tmp_path):
    async with FakeServer(FakeConfig()) as server:
        outcome, summary, _ = await run(profile_for(server.url, tiny_model), tmp_path)
    assert outcome.exit_code == 0, outcome.error
    assert summary["server"]["prompt_kind"] == "token_ids" and summary["server"]["api"] == "completions"
    cell = summary["cells"][0]
    assert cell["completed"] == 4 and cell["total_output_tokens"] == 24 and cell["total_input_tokens"] == 64
    assert cell["input_len_mismatches"] == 0 and cell["output_len_mismatches"] == 0
    assert not (outcome.results_dir / "server.log").exists()  # nothing was launched


async def test_text_only_server_gets_text_of_the_exact_length(tiny_model, tmp_path):
    cfg = FakeConfig(accept_token_ids=False, tokenizer=load_tokenizer(str(tiny_model)))
    async with FakeServer(cfg) as server:
        outcome, summary, _ = await run(profile_for(server.url, tiny_model), tmp_path)
    assert outcome.exit_code == 0, outcome.error
    assert summary["server"]["prompt_kind"] == "text"
    assert "text made to length with the tokenizer" in summary["lengths"]
    cell = summary["cells"][0]
    # The server counts our text with the same tokenizer: every prompt is exactly 16 tokens.
    assert cell["input_len_mismatches"] == 0 and cell["total_input_tokens"] == 4 * 16
    # After the token-id probe was refused: a text probe, 1 warm-up and 4 measured requests, all text.
    texts = [r for r in cfg.requests if isinstance(r.get("prompt"), str)]
    assert len(texts) == 6 and isinstance(cfg.requests[0]["prompt"], list)


async def test_chat_only_server(tiny_model, tmp_path):
    async with FakeServer(FakeConfig(chat_only=True)) as server:
        outcome, summary, _ = await run(profile_for(server.url, tiny_model), tmp_path)
    assert outcome.exit_code == 0, outcome.error
    assert summary["server"]["api"] == "chat" and "chat/completions" in summary["lengths"]
    assert summary["cells"][0]["total_output_tokens"] == 24


async def test_server_without_usage_is_counted_with_the_tokenizer(tiny_model, tmp_path):
    tok = load_tokenizer(str(tiny_model))
    cfg = FakeConfig(usage="none", pieces=(" alpha", " beta", " gamma"))
    async with FakeServer(cfg) as server:
        outcome, summary, _ = await run(profile_for(server.url, tiny_model), tmp_path)
    assert outcome.exit_code == 0, outcome.error
    assert summary["server"]["usage_reported"] is False
    assert "reports no usage" in summary["lengths"]
    expected = len(tok.encode(" alpha beta gamma alpha beta gamma", add_special_tokens=False))
    assert summary["cells"][0]["total_output_tokens"] == 4 * expected
    lines = [json.loads(x) for x in (outcome.results_dir / "requests.jsonl").read_text().splitlines()]
    assert all("text" in r for r in lines)


async def test_every_request_failing_is_a_failed_run(tiny_model, tmp_path):
    async with FakeServer(FakeConfig(status=500)) as server:
        outcome, summary, _ = await run(profile_for(server.url, tiny_model), tmp_path)
    assert outcome.exit_code == EXIT_FAILED
    assert summary["status"] == "failed" and "accepted no request format" in summary["error"]


async def test_unreachable_endpoint_fails_clearly(tiny_model, tmp_path):
    outcome, _, _ = await run(profile_for("http://127.0.0.1:9", tiny_model), tmp_path)
    assert outcome.exit_code == EXIT_FAILED and "cannot reach" in outcome.error


async def test_mid_run_failures_are_counted_not_averaged(tiny_model, tmp_path):
    cfg = FakeConfig()
    async with FakeServer(cfg) as server:
        profile = profile_for(server.url, tiny_model)
        # Discovery and warm-up succeed; then every stream dies after 2 tokens.
        original = server._stream

        async def flaky(request, body, prompt_len, chat):
            if body.get("max_tokens") == 6:
                cfg.die_after_tokens = 2
            return await original(request, body, prompt_len, chat)

        server._stream = flaky
        outcome, summary, _ = await run(profile, tmp_path)
    cell = summary["cells"][0]
    assert cell["failed"] == 4 and cell["completed"] == 0
    assert outcome.exit_code == EXIT_FAILED and "every request failed" in outcome.error


async def test_a_server_whose_metrics_do_not_answer_says_the_telemetry_stopped_and_why(tiny_model, tmp_path):
    async with FakeServer(FakeConfig()) as server:  # no /metrics route
        outcome, summary, _ = await run(profile_for(server.url, tiny_model), tmp_path)
    assert outcome.exit_code == 0, outcome.error
    assert summary["telemetry"]["server_metrics"] == "stopped: /metrics answered HTTP 404"
