"""The server backend seam: a backend defined here (an engine that is not vLLM, played by
tests/fake_openai.py run as a script) goes through the real run path: launched through the keeper
with its own command, ready on its own health path, its version from its own route, its state read
from its own /metrics names. And SGLang's documented metrics page parses with SGLang's names."""

from __future__ import annotations

import io
import json
import pickle
import sys
from dataclasses import dataclass, field

import pytest

from engine.events import PhaseChanged
from engine.headless.cli import check_recipe
from engine.load.client import HttpTarget
from engine.load.prompts import Prompt
from engine.profiles import apply_overrides, load_profile
from engine.run.session import RunSession
from engine.server.backend import Capabilities, DockerEntry
from engine.server.backends import BACKENDS, backend_named
from engine.server.launcher import NotSupportedError, check_mode, launch_preview, server_spec
from engine.server.launcher_base import CacheReset
from engine.server.metrics import MetricNames
from tests.conftest import ROOT

FAKE = str(ROOT / "tests" / "fake_openai.py")


@dataclass
class FakeFlagCheck:
    version: str | None
    rejected: list[str] = field(default_factory=list)
    unavailable: str | None = None

    @property
    def ok(self) -> bool:
        return not self.rejected

    def explain(self) -> list[str]:
        return [f"{flag}: rejected by FakeEngine {self.version}" for flag in self.rejected]


class FakeEngineBackend:
    """An engine with nothing of vLLM's names: `--model-path`, `/ready`, `/server_version`, `fake:` metrics."""

    name = "fake-engine"
    label = "FakeEngine"
    health_path = "/ready"
    version_path = "/server_version"
    metrics = MetricNames(
        running="fake:running_streams",
        waiting="fake:queued",
        kv_cache_usage="fake:cache_fill",
        generation_tokens="fake:tokens_out",
        prompt_tokens="fake:tokens_in",
        preemptions=None,
    )
    capabilities = Capabilities(token_id_prompts=True, answer_ids_field="return_token_ids", in_process=False)
    FLAGS = ("--metrics-prefix", "--version", "--health-path", "--token-delay", "--exit-on-request")

    def serve_command(self, model, args, host, port):
        return [sys.executable, FAKE, "--model-path", model, *args, "--host", host, "--port", str(port)]

    def docker_entry(self, model, args, host, port):
        return DockerEntry("python3", ("/fake_openai.py", "--model-path", model, *args, "--port", str(port)))

    def installed_version(self):
        return "9.9"

    def cache_reset_env(self):
        return {}

    async def reset_prefix_cache(self, client, base_url):
        return CacheReset(False, "not reset: FakeEngine has no prefix cache")

    def check_flags(self, model, args):
        return FakeFlagCheck("9.9", [a for a in args if a.startswith("--") and a not in self.FLAGS])

    def in_process_launcher(self, profile, model, log_path, timeout_s):
        raise NotSupportedError("FakeEngine has no in-process engine")

    def in_process_preview(self, profile, model, resolve):
        raise NotSupportedError("FakeEngine has no in-process engine")


# Streams of 6 tokens 0.2 s apart: the cell lasts seconds, so its /metrics samples fall inside it.
FAKE_ARGS = ["--metrics-prefix", "fake", "--version", "9.9", "--health-path", "/ready", "--token-delay", "0.2"]


@pytest.fixture
def fake_engine(monkeypatch):
    backend = FakeEngineBackend()
    monkeypatch.setitem(BACKENDS, backend.name, backend)
    return backend


def fake_profile(**extra):
    return apply_overrides(
        load_profile("cpu-tiny"),
        **{
            "recipe.backend": "fake-engine",
            "recipe.args": FAKE_ARGS,
            "recipe.startup_timeout_s": 60.0,
            "mode": "server",
            "grid.concurrency": [2],
            "grid.seq": ["16/6"],
            "grid.prompts_per_concurrency": 2,
            "grid.min_prompts": 0,
            "grid.warmup_requests": 1,
            **extra,
        },
    )


async def test_a_backend_defined_here_runs_through_the_real_run_path(fake_engine, tiny_model, tmp_path):
    events = []
    outcome = await RunSession(fake_profile(), events.append, tmp_path).run()
    assert outcome.exit_code == 0, outcome.error
    summary = json.loads((outcome.results_dir / "summary.json").read_text())
    # Launched with the backend's own command, through the keeper (its header is in server.log).
    assert f"{FAKE} --model-path {tiny_model}" in summary["launch_command"]
    log = (outcome.results_dir / "server.log").read_text()
    assert "# llmbench-tui:" in log and "fake engine:" in log
    waits = [e.detail for e in events if isinstance(e, PhaseChanged) and e.phase == "waiting"]
    assert waits and waits[0].endswith("/ready")
    # Discovered as the backend says: its version route, token-id prompts.
    assert summary["server"]["version"] == "9.9" and summary["server"]["prompt_kind"] == "token_ids"
    # Its state read with its own metric names: the server's token counters match what we received.
    assert summary["telemetry"]["server_metrics"].endswith("/metrics, about once a second")
    (cell,) = summary["cells"]
    assert cell["completed"] == 4 and cell["total_output_tokens"] == 24
    server = cell["server"]
    assert server["generation_tokens"] == 24 and server["prompt_tokens"] == 4 * 16, server
    assert server["token_check"].startswith("match"), server["token_check"]
    assert server["running_max"] is not None and server["waiting_max"] == 0.0


async def test_a_server_that_dies_under_load_ends_the_run_with_why_and_its_cell_cut_short(fake_engine, tmp_path):
    """The server exits when the cell's second measured request arrives: its requests fail at once,
    maybe before the watch's next look. Either way the run says why, and the cell is cut short (not
    summarised: a resume measures it again), never recorded as a measurement."""
    profile = fake_profile(**{"recipe.args": [*FAKE_ARGS, "--exit-on-request", "3"]})  # 1 warm-up, then 2
    outcome = await RunSession(profile, lambda event: None, tmp_path).run()
    assert outcome.exit_code == 1, outcome.error
    summary = json.loads((outcome.results_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["cells"] == []
    assert summary["error"].startswith("the server") and "during cell c=2 16/6" in summary["error"], summary["error"]
    assert any(word in summary["error"] for word in ("exited (code 3)", "ended")), summary["error"]
    assert summary["interrupted_cell"]["cell"] == "c=2 16/6"


def test_the_backend_shapes_the_launch_and_the_dry_run(fake_engine):
    profile = fake_profile()
    spec = server_spec(profile, "/models/m", 8123)
    listen = ["--host", profile.host, "--port", "8123"]
    assert spec.command == [sys.executable, FAKE, "--model-path", "/models/m", *FAKE_ARGS, *listen]
    docker = server_spec(apply_overrides(profile, **{"docker": True, "recipe.docker_image": "fake:1"}), "m", 8123)
    at = docker.command.index("--entrypoint")
    assert docker.command[at : at + 4] == ["--entrypoint", "python3", "fake:1", "/fake_openai.py"]
    assert FAKE in launch_preview(profile).command


def test_a_backend_without_an_in_process_engine_or_an_unknown_one_is_bad_input(fake_engine):
    with pytest.raises(NotSupportedError, match="FakeEngine has no in-process engine"):
        check_mode(fake_profile(mode="inprocess"))
    with pytest.raises(NotSupportedError, match=r"recipe\.backend = 'sglang': no such server backend"):
        check_mode(fake_profile(**{"recipe.backend": "sglang"}))
    assert backend_named("vllm").capabilities.in_process


def test_the_recipe_is_checked_by_its_backend(fake_engine):
    out = io.StringIO()
    assert check_recipe(fake_profile(), out)
    assert "recipe flags accepted by FakeEngine 9.9" in out.getvalue()
    out = io.StringIO()
    assert not check_recipe(fake_profile(**{"recipe.args": ["--enforce-eager"]}), out)
    err = out.getvalue()
    assert "--enforce-eager: rejected by FakeEngine 9.9" in err and "fake-engine9.9" in err


def test_the_answer_ids_field_is_the_backends():
    prompt = Prompt([1, 2, 3], None, 3)
    asks = HttpTarget(None, "http://h", "completions", "m").prepare(prompt, 4, answer_ids=True)
    assert json.loads(asks.body)["return_token_ids"] is True
    none = HttpTarget(None, "http://h", "completions", "m", answer_ids_field=None)
    assert "return_token_ids" not in json.loads(none.prepare(prompt, 4, answer_ids=True).body)
    # Load workers build their targets from the run's Endpoint, pickled to them: the field goes with it.
    endpoint = pickle.loads(pickle.dumps(none.endpoint))
    assert endpoint.answer_ids_field is None
    e = endpoint
    again = HttpTarget(None, e.base_url, e.api, e.model, e.keep_text, e.answer_ids_field)
    assert "return_token_ids" not in json.loads(again.prepare(prompt, 4, answer_ids=True).body)


# SGLang's names (docs/backends.md), from its documented /metrics example
# (docs.sglang.io/references/production_metrics.html) and python/sglang/srt/metrics/collector.py.
SGLANG_METRICS = MetricNames(
    running="sglang:num_running_reqs",
    waiting="sglang:num_queue_reqs",
    kv_cache_usage="sglang:token_usage",
    generation_tokens="sglang:generation_tokens",
    prompt_tokens="sglang:prompt_tokens",
    preemptions="sglang:num_retracted_requests",
)

SGLANG_PAGE = """\
# HELP sglang:prompt_tokens_total Number of prefill tokens processed.
# TYPE sglang:prompt_tokens_total counter
sglang:prompt_tokens_total{model_name="meta-llama/Llama-3.1-8B-Instruct"} 8.128902e+06
# HELP sglang:generation_tokens_total Number of generation tokens processed.
# TYPE sglang:generation_tokens_total counter
sglang:generation_tokens_total{model_name="meta-llama/Llama-3.1-8B-Instruct"} 7.557572e+06
# HELP sglang:token_usage The token usage
# TYPE sglang:token_usage gauge
sglang:token_usage{model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.28
# HELP sglang:num_running_reqs The number of running requests
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="meta-llama/Llama-3.1-8B-Instruct"} 162.0
# HELP sglang:num_queue_reqs The number of requests in the waiting queue
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="meta-llama/Llama-3.1-8B-Instruct"} 2826.0
# HELP sglang:gen_throughput The generate throughput (token/s)
# TYPE sglang:gen_throughput gauge
sglang:gen_throughput{model_name="meta-llama/Llama-3.1-8B-Instruct"} 86.50814177726902
"""


def test_sglangs_documented_metrics_page_parses_with_its_names():
    s = SGLANG_METRICS.parse(SGLANG_PAGE)
    assert (s.running, s.waiting, s.kv_cache_usage) == (162.0, 2826.0, 0.28)
    assert (s.generation_tokens_total, s.prompt_tokens_total) == (7557572.0, 8128902.0)
    assert s.preemptions_total is None  # not on that page: absent, never 0
