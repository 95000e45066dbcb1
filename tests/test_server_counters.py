"""The server's prefix-cache and speculative-decoding counters per cell, the cache flag, the reset
behind the backend, and the run's seed (issue 20, items 3 and 5). Fast tests on hand-made figures
and pages; the real server's part is in test_prefix_cache.py."""

from __future__ import annotations

import httpx
import pytest

from engine.events import ServerState
from engine.plan import Cell
from engine.profiles import apply_overrides, load_profile
from engine.report.model import PREFIX_CACHE_HITS, CellResult, DatasetLengths, ServerCellStats
from engine.report.registry import Table, columns
from engine.report.run_notes import PromptSeed
from engine.report.table import summary_table
from engine.run.seed import run_seed, seeded
from engine.run.telemetry import reset_summary
from engine.server.launcher import server_spec
from engine.server.vllm_backend import VLLM, VLLM_METRICS
from engine.share.counters_html import cache_table, spec_table
from engine.telemetry.aggregate import server_cell_stats
from engine.telemetry.cache import cache_flag

# A /metrics page in vLLM 0.32's own names and labels, copied from its source
# (vllm/v1/metrics/loggers.py: the prefix-cache counters; vllm/v1/spec_decode/metrics.py,
# SpecDecodingProm: the spec-decode counters, the per-position one labelled `position`), two engines.
PAGE = """\
# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="m"} 1000.0
vllm:prefix_cache_queries_total{engine="1",model_name="m"} 24.0
# HELP vllm:prefix_cache_hits_total Prefix cache hits, in terms of number of cached tokens.
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{engine="0",model_name="m"} 512.0
vllm:prefix_cache_hits_total{engine="1",model_name="m"} 0.0
# HELP vllm:external_prefix_cache_queries_total External prefix cache queries.
# TYPE vllm:external_prefix_cache_queries_total counter
vllm:external_prefix_cache_queries_total{engine="0",model_name="m"} 99999.0
# HELP vllm:spec_decode_num_drafts_total Number of spec decoding drafts.
# TYPE vllm:spec_decode_num_drafts_total counter
vllm:spec_decode_num_drafts_total{engine="0",model_name="m"} 100.0
# HELP vllm:spec_decode_num_draft_tokens_total Number of draft tokens.
# TYPE vllm:spec_decode_num_draft_tokens_total counter
vllm:spec_decode_num_draft_tokens_total{engine="0",model_name="m"} 300.0
# HELP vllm:spec_decode_num_accepted_tokens_total Number of accepted tokens.
# TYPE vllm:spec_decode_num_accepted_tokens_total counter
vllm:spec_decode_num_accepted_tokens_total{engine="0",model_name="m"} 150.0
# HELP vllm:spec_decode_num_accepted_tokens_per_pos_total Accepted tokens per draft position.
# TYPE vllm:spec_decode_num_accepted_tokens_per_pos_total counter
vllm:spec_decode_num_accepted_tokens_per_pos_total{engine="0",model_name="m",position="0"} 80.0
vllm:spec_decode_num_accepted_tokens_per_pos_total{engine="0",model_name="m",position="2"} 20.0
vllm:spec_decode_num_accepted_tokens_per_pos_total{engine="0",model_name="m",position="1"} 50.0
vllm:spec_decode_num_accepted_tokens_per_pos_total{engine="1",model_name="m",position="0"} 1.0
vllm:spec_decode_num_accepted_tokens_created{engine="0",model_name="m"} 1.7e9
"""


def test_vllms_cache_and_spec_decode_counters_parse_summed_over_engines_per_position():
    s = VLLM_METRICS.parse(PAGE)
    assert s.prefix_cache_queries_total == 1024 and s.prefix_cache_hits_total == 512  # not the external ones
    assert (s.spec_drafts_total, s.spec_draft_tokens_total, s.spec_accepted_tokens_total) == (100, 300, 150)
    assert s.spec_accepted_per_pos_total == (81.0, 50.0, 20.0)  # ordered by position, engines summed


def test_a_server_that_does_not_speculate_has_no_spec_figures():
    s = VLLM_METRICS.parse(PAGE.split("# HELP vllm:spec_decode_num_drafts")[0])
    assert s.spec_drafts_total is None and s.spec_accepted_per_pos_total is None
    stats = server_cell_stats([], 0, 1, s, s, s)
    assert stats.spec_decode is None and stats.prefix_cache_hit_rate is None  # no query in the window


def test_cell_figures_are_counter_deltas_with_vllms_definitions():
    before = ServerState(
        prefix_cache_queries_total=1000.0,
        prefix_cache_hits_total=100.0,
        spec_drafts_total=10.0,
        spec_draft_tokens_total=30.0,
        spec_accepted_tokens_total=12.0,
        spec_accepted_per_pos_total=(8.0, 3.0, 1.0),
    )
    after = ServerState(
        prefix_cache_queries_total=3000.0,
        prefix_cache_hits_total=600.0,
        spec_drafts_total=110.0,
        spec_draft_tokens_total=330.0,
        spec_accepted_tokens_total=162.0,
        spec_accepted_per_pos_total=(88.0, 53.0, 21.0),
    )
    stats = server_cell_stats([], 0, 1, before, before, after)
    assert (stats.prefix_cache_queries, stats.prefix_cache_hits) == (2000, 500)
    assert stats.prefix_cache_hit_rate == 0.25
    spec = stats.spec_decode
    assert (spec.drafts, spec.draft_tokens, spec.accepted_tokens) == (100, 300, 150)
    assert spec.acceptance_rate == 0.5  # accepted / draft tokens
    assert spec.mean_acceptance_length == 2.5  # 1 + accepted / drafts
    assert spec.acceptance_per_position == [0.8, 0.5, 0.2]


CELL = dict(
    duration=2.0,
    completed=8,
    failed=0,
    num_prompts=8,
    max_concurrency=4,
    total_input_tokens=8192,
    total_output_tokens=32,
    request_throughput=4.0,
    output_throughput=16.0,
    total_token_throughput=4112.0,
    input_len=1024,
    output_len=4,
    mean_input_tokens=1024.0,
)


def cell_with(hits: int, queries: int = 8192, **extra) -> CellResult:
    server = ServerCellStats(prefix_cache_queries=queries, prefix_cache_hits=hits, prefix_cache_hit_rate=hits / queries)
    return CellResult(**{**CELL, **extra}, server=server)


def flagged_by(cell: Cell, result: CellResult, seed: PromptSeed | None):
    return cache_flag(cell, result, result.server, seed)


def plan_cell(dataset: str | None = None) -> Cell:
    return Cell(0, 4, 1024, 4, 8, 0, 4, dataset=dataset)


def test_unshared_prompts_served_from_the_cache_are_flagged_with_the_likely_cause():
    explicit = PromptSeed(value=7, explicit=True)
    flag = flagged_by(plan_cell(), cell_with(7168), explicit)
    assert flag is not None and flag.code == PREFIX_CACHE_HITS
    assert "7,168 of 8,192 prompt tokens (88%)" in flag.reason and "explicit seed 7" in flag.reason
    drawn = flagged_by(plan_cell(), cell_with(7168), PromptSeed(value=3, explicit=False))
    assert "another client" in drawn.reason and "explicit" not in drawn.reason
    file = flagged_by(plan_cell("sharegpt"), cell_with(7168), explicit)
    assert "the dataset's prompts were sent to this server before" in file.reason
    # At or under 5% of the looked-up tokens: no flag.
    assert flagged_by(plan_cell(), cell_with(409), explicit) is None
    assert flagged_by(plan_cell(), cell_with(0), explicit) is None


def test_a_chat_templates_common_opening_is_allowed_for():
    # The server counts 32 tokens more per request than we sent (a chat template): up to 8 x 32
    # hits plus 5% may be the template's own blocks.
    templated = dict(mean_input_tokens=1056.0, total_input_tokens=8448)
    assert flagged_by(plan_cell(), cell_with(256 + 400, 8448, **templated), None) is None
    assert flagged_by(plan_cell(), cell_with(256 + 500, 8448, **templated), None) is not None


def test_workloads_that_share_prefixes_on_purpose_are_never_flagged():
    for kind in ("prefix", "trace", "multiturn"):
        assert plan_cell(kind).shares_prefixes
        assert flagged_by(plan_cell(kind), cell_with(8000), PromptSeed(value=1, explicit=True)) is None
    lengths = DatasetLengths(
        name="random", input_len_mean=1024, input_len_min=1, input_len_max=2000, **dict.fromkeys(OUT, 4)
    )
    assert flagged_by(plan_cell("random"), cell_with(8000, input_len=0, dataset=lengths), None) is not None


OUT = ("output_len_mean", "output_len_min", "output_len_max")


def test_the_tables_show_the_hit_rate_and_acceptance_only_where_a_cell_has_them():
    plain = CellResult(**CELL)
    assert "cache hit" not in summary_table([plain]) and "accept len" not in summary_table([plain])
    assert cache_table([plain]) == "" and spec_table([plain]) == ""
    before = ServerState(spec_drafts_total=0.0, spec_draft_tokens_total=0.0, spec_accepted_tokens_total=0.0)
    after = ServerState(spec_drafts_total=10.0, spec_draft_tokens_total=30.0, spec_accepted_tokens_total=9.0)
    spec = server_cell_stats([], 0, 1, before, before, after).spec_decode
    cached = cell_with(2048)
    cached.server.spec_decode = spec
    cached.server.prefix_cache_reset = "reset"
    labels = [m.label for m in columns(Table.CONSOLE, [plain, cached])]
    assert {"cache hit", "accepted", "accept len"} <= set(labels)
    text = summary_table([plain, cached])
    assert "25%" in text and "1.90" in text and "30%" in text
    html = cache_table([plain, cached]) + spec_table([plain, cached])
    assert "Prefix cache" in html and "25.0%" in html and ">reset<" in html
    assert "Speculative decoding" in html and "1.90" in html and "30.0%" in html


def test_a_fresh_seed_per_run_an_explicit_one_exactly_and_a_resume_its_own():
    profile = load_profile("cpu-tiny")
    assert profile.load.seed is None
    drawn = {run_seed(profile, None, resume=False).value for _ in range(5)}
    assert len(drawn) > 1  # two runs differ (5 draws out of 2**31 all equal: never)
    assert not run_seed(profile, None, resume=False).explicit
    explicit = apply_overrides(profile, **{"load.seed": 42})
    assert run_seed(explicit, None, resume=False) == PromptSeed(value=42, explicit=True)
    recorded = PromptSeed(value=12345, explicit=False)
    assert run_seed(profile, recorded, resume=True) == recorded  # a resume reuses the run's salt
    assert run_seed(profile, None, resume=True) == PromptSeed(value=0, explicit=False)  # a run from before seeds
    assert seeded(profile, recorded).load.seed == 12345 and profile.load.seed is None
    assert "explicit" in PromptSeed(value=42, explicit=True).describe()
    assert "drawn for this run" in recorded.describe() and "--seed 12345" in recorded.describe()


def test_a_launched_vllm_gets_the_dev_mode_that_serves_the_reset_unless_turned_off():
    profile = load_profile("cpu-tiny")
    assert server_spec(profile, "m", 8000).env["VLLM_SERVER_DEV_MODE"] == "1"
    off = apply_overrides(profile, **{"load.reset_prefix_cache": False})
    assert "VLLM_SERVER_DEV_MODE" not in server_spec(off, "m", 8000).env
    assert reset_summary(["reset", "reset"]) == "reset before each cell (2 of 2)"
    assert reset_summary(["reset", "not reset: x"]) == "reset before 1 of 2 cells; not reset: x"


@pytest.mark.parametrize(
    ("status", "body", "done", "words"),
    [
        (200, {"success": True}, True, "reset"),
        (200, {"success": False}, False, "refused"),
        (404, {"detail": "Not Found"}, False, "not started with VLLM_SERVER_DEV_MODE=1"),
        (500, {"error": "x"}, False, "answered 500"),
    ],
)
async def test_vllms_reset_reads_the_servers_answer(status, body, done, words):
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path))
        return httpx.Response(status, json=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        outcome = await VLLM.reset_prefix_cache(client, "http://server:8000")
    assert seen == [("POST", "/reset_prefix_cache")]
    assert outcome.done is done and words in outcome.text


def test_compare_sets_the_servers_acceptance_and_hit_rate_beside_the_ratios_and_leaves_out_cache_hits():
    from engine.compare.ratios import compare
    from engine.compare.render import stats_lines
    from engine.compare.sources import Run
    from engine.report.model import SpecDecodeStats

    def speculating(accepted: int, hits: int) -> CellResult:
        c = cell_with(hits)
        c.server.spec_decode = SpecDecodeStats(
            drafts=100, draft_tokens=300, accepted_tokens=accepted, acceptance_rate=accepted / 300
        )
        c.server.spec_decode.mean_acceptance_length = 1 + accepted / 100
        return c

    a, b = Run(name="a", path=None, cells=[speculating(150, 0)]), Run(name="b", path=None, cells=[speculating(60, 0)])
    lines = stats_lines(compare(a, b))
    assert any("mean acceptance length 2.50 vs 1.60 (accepted 50% vs 20% of draft tokens)" in x for x in lines)
    flagged = speculating(150, 7000)
    flagged.flags.append(flagged_by(plan_cell(), flagged, PromptSeed(value=7, explicit=True)))
    c = compare(Run(name="a", path=None, cells=[flagged]), b)
    assert not c.cells and "prefix cache" in c.excluded[0][1]


def test_the_in_process_stat_logger_counts_as_vllms_prometheus_logger():
    from types import SimpleNamespace as NS

    from engine.server.livestats import LiveStats

    live = LiveStats()
    config = NS(speculative_config=NS(num_speculative_tokens=2))
    live.factory(config)  # a speculating engine: its counters exist from the start, at 0
    assert live.state.spec_drafts_total == 0 and live.state.spec_accepted_per_pos_total == (0.0, 0.0)
    for _ in range(2):
        spec = NS(num_drafts=3, num_draft_tokens=6, num_accepted_tokens=4, num_accepted_tokens_per_pos=[3, 1])
        live.count_scheduler(NS(prefix_cache_stats=NS(queries=256, hits=128), spec_decoding_stats=spec))
    s = live.state
    assert (s.prefix_cache_queries_total, s.prefix_cache_hits_total) == (512, 256)
    assert (s.spec_drafts_total, s.spec_draft_tokens_total, s.spec_accepted_tokens_total) == (6, 12, 8)
    assert s.spec_accepted_per_pos_total == (6, 2)


def test_the_seed_survives_summary_json_for_a_resume_and_old_summaries_open_without_one():
    from engine.report.model import RunSummary

    written = RunSummary(seed=PromptSeed(value=987654, explicit=False)).model_dump_json()
    read = RunSummary.model_validate_json(written)
    assert run_seed(load_profile("cpu-tiny"), read.seed, resume=True) == PromptSeed(value=987654, explicit=False)
    assert RunSummary.model_validate_json("{}").seed is None
