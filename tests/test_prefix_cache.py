"""The prefix cache and speculative decoding on the real vLLM (the tiny model): one server with
prefix caching on (vLLM's default; cpu-tiny turns it off) and ngram speculation, started once;
runs attach to it as an external endpoint, as a long-lived server is met in practice. And the
run's seed on the fake server, which records every prompt it was sent."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from engine.profiles import apply_overrides, load_profile
from engine.report.model import PREFIX_CACHE_HITS
from engine.run.session import RunSession
from engine.server.launcher import ServerLauncher, server_spec
from engine.server.launcher_base import free_port
from engine.server.vllm_backend import VLLM_METRICS
from tests.fake_openai import FakeConfig, FakeServer

SPEC = {"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 3, "prompt_lookup_min": 1}


@pytest.fixture(scope="module")
def caching_server(tiny_model, tmp_path_factory):
    profile = load_profile("cpu-tiny")
    args = [a for a in profile.recipe.args if a != "--no-enable-prefix-caching"]
    profile = apply_overrides(profile, **{"recipe.args": [*args, "--speculative-config", json.dumps(SPEC)]})
    spec = server_spec(profile, str(tiny_model), free_port())
    assert spec.env["VLLM_SERVER_DEV_MODE"] == "1"  # given by default, so the reset route is served
    launcher = ServerLauncher(spec, tmp_path_factory.mktemp("caching") / "server.log", timeout_s=300)
    asyncio.run(launcher.start(lambda event: None))
    yield launcher
    launcher.stop_sync()


def attach(url: str, tiny_model, **extra):
    # 384-token prompts: three of vLLM's CPU cache blocks (128 tokens), so a repeat can hit.
    return apply_overrides(
        load_profile("cpu-tiny"),
        **{
            "mode": "external",
            "endpoint": url,
            "model.tokenizer": str(tiny_model),
            "grid.concurrency": [1],
            "grid.seq": ["384/24"],
            "grid.prompts_per_concurrency": 3,
            "grid.min_prompts": 0,
            "grid.warmup_requests": 1,
            **extra,
        },
    )


async def run(profile, tmp_path):
    outcome = await RunSession(profile, lambda event: None, tmp_path).run()
    assert outcome.exit_code == 0, outcome.error
    return json.loads((outcome.results_dir / "summary.json").read_text())


def cache_flags(cell: dict) -> list[dict]:
    # Other flags (a busy client on a shared host) may come and go: only the cache's is checked.
    return [f for f in cell["flags"] if f["code"] == PREFIX_CACHE_HITS]


async def counters(url: str):
    async with httpx.AsyncClient() as client:
        return VLLM_METRICS.parse((await client.get(f"{url}/metrics")).text)


async def test_a_repeat_with_one_seed_is_flagged_or_reset_never_silently_faster(caching_server, tiny_model, tmp_path):
    url = caching_server.base_url
    no_reset = {"load.seed": 7, "load.reset_prefix_cache": False}
    first = await run(attach(url, tiny_model, **no_reset), tmp_path / "1")
    cell = first["cells"][0]
    assert first["seed"] == {"value": 7, "explicit": True}
    assert cell["server"]["prefix_cache_queries"] > 0 and cell["server"]["prefix_cache_hits"] == 0
    assert cell["server"]["prefix_cache_hit_rate"] == 0 and not cache_flags(cell)
    assert "prefix_cache_reset" not in cell["server"]  # not tried
    assert first["telemetry"]["prefix_cache_reset"] == "off (load.reset_prefix_cache = false)"

    # The same explicit seed again: the same prompts, served from the cache, and flagged.
    before = await counters(url)
    second = await run(attach(url, tiny_model, **no_reset), tmp_path / "2")
    after = await counters(url)
    cell = second["cells"][0]
    s = cell["server"]
    assert s["prefix_cache_hit_rate"] > 0.5  # all but the last block of each prompt
    (flag,) = cache_flags(cell)
    assert "explicit seed 7" in flag["reason"]

    # Speculative decoding, from the server's own counters: the cell's figures are deltas of them
    # (the warm-up's included in neither: the server had gone idle before each read).
    spec = s["spec_decode"]
    warmup_and_cell = after.spec_drafts_total - before.spec_drafts_total
    assert 0 < spec["drafts"] <= warmup_and_cell
    assert spec["acceptance_rate"] == spec["accepted_tokens"] / spec["draft_tokens"]
    assert spec["mean_acceptance_length"] == 1 + spec["accepted_tokens"] / spec["drafts"]
    assert len(spec["acceptance_per_position"]) == SPEC["num_speculative_tokens"]
    assert sum(spec["acceptance_per_position"]) * spec["drafts"] == pytest.approx(spec["accepted_tokens"])

    # With the reset (the server has VLLM_SERVER_DEV_MODE=1): the cache is emptied before the cell.
    third = await run(attach(url, tiny_model, **{"load.seed": 7}), tmp_path / "3")
    cell = third["cells"][0]
    assert cell["server"]["prefix_cache_reset"] == "reset"
    assert cell["server"]["prefix_cache_hits"] == 0 and not cache_flags(cell)
    assert third["telemetry"]["prefix_cache_reset"] == "reset before each cell (1 of 1)"

    # No seed: a fresh one, other prompts, nothing cached, even without the reset.
    fourth = await run(attach(url, tiny_model, **{"load.reset_prefix_cache": False}), tmp_path / "4")
    assert fourth["seed"]["explicit"] is False and fourth["seed"]["value"] != 7
    assert fourth["cells"][0]["server"]["prefix_cache_hits"] == 0


async def test_prompts_differ_between_runs_unless_a_seed_is_given(tiny_model, tmp_path):
    """On the fake server, which records each prompt: two runs without a seed send other prompts;
    two with one seed the same. A server without the reset route: tried, and recorded."""
    sent = []
    for i, extra in enumerate([{}, {}, {"load.seed": 5}, {"load.seed": 5}]):
        cfg = FakeConfig()
        async with FakeServer(cfg) as server:
            summary = await run(attach(server.url, tiny_model, **extra), tmp_path / str(i))
        sent.append([r["prompt"] for r in cfg.requests if isinstance(r.get("prompt"), list) and len(r["prompt"]) > 8])
        assert (
            summary["cells"][0]["server"] is None or "not reset" in summary["cells"][0]["server"]["prefix_cache_reset"]
        )
        assert "answers 404 (not started with VLLM_SERVER_DEV_MODE=1)" in summary["telemetry"]["prefix_cache_reset"]
    assert all(len(prompts) == 4 for prompts in sent)  # the warm-up and three measured
    assert not set(map(tuple, sent[0])) & set(map(tuple, sent[1]))
    assert sent[2] == sent[3]
