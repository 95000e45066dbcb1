"""Server state from vLLM's Prometheus `/metrics`, polled during a run."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from engine.events import ServerState

# vLLM 0.32's names (vllm/v1/metrics/loggers.py): gauges, then counters (exported with `_total`).
WANTED = {
    "vllm:num_requests_running": "running",
    "vllm:num_requests_waiting": "waiting",
    "vllm:kv_cache_usage_perc": "kv_cache_usage",
    "vllm:generation_tokens": "generation_tokens_total",
    "vllm:prompt_tokens": "prompt_tokens_total",
    "vllm:num_preemptions": "preemptions_total",
}

_PREFIXES = tuple(WANTED)
# The sample names to keep: exactly these (not `vllm:prompt_tokens_by_source_total`, not `*_created`).
_SAMPLES = frozenset([*WANTED, *(f"{name}_total" for name in WANTED)])
_COMMENTS = tuple(f"# {kind} {name} " for name in WANTED for kind in ("TYPE", "HELP"))


def wanted_lines(text: str) -> str:
    """Only the lines of the wanted metrics: their samples and their TYPE/HELP comments."""
    keep = []
    for ln in text.splitlines():
        if ln.startswith(_PREFIXES):
            end = ln.find("{")
            if (ln[:end] if end >= 0 else ln.split(" ", 1)[0]) in _SAMPLES:
                keep.append(ln)
        elif ln.startswith(_COMMENTS):
            keep.append(ln)
    return "\n".join(keep) + "\n"


def parse_metrics(text: str) -> ServerState:
    """Sum each wanted metric over its label sets (engines, models).

    vLLM's page is ~60 KB of histograms; parsing all of it costs ~35 ms of the client's CPU (taken
    from the server on a shared host), so only the wanted lines reach the parser (~1 ms)."""
    state = ServerState()
    for family in text_string_to_metric_families(wanted_lines(text)):
        for sample in family.samples:
            name = sample.name.removesuffix("_total")
            if name in WANTED and sample.name in _SAMPLES:
                key = WANTED[name]
                setattr(state, key, (getattr(state, key) or 0.0) + sample.value)
    return state
