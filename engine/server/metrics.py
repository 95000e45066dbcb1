"""Server state from a backend's Prometheus `/metrics`, polled during a run.

Each backend names the same few things differently (vLLM `vllm:num_requests_running`, SGLang
`sglang:num_running_reqs`): MetricNames holds one backend's names and parses its page.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from prometheus_client.parser import text_string_to_metric_families

from engine.events import ServerState


@dataclass(frozen=True)
class MetricNames:
    """A backend's names for the server state the run reads: gauges, then counters (named
    without their `_total` suffix, as Prometheus names the family). None: not exported."""

    running: str
    waiting: str
    kv_cache_usage: str | None
    generation_tokens: str | None
    prompt_tokens: str | None
    preemptions: str | None

    @cached_property
    def _names(self) -> tuple[str, ...]:
        return tuple(
            n
            for n in (
                self.running,
                self.waiting,
                self.kv_cache_usage,
                self.generation_tokens,
                self.prompt_tokens,
                self.preemptions,
            )
            if n
        )

    @cached_property
    def _samples(self) -> frozenset[str]:
        # The sample names to keep: exactly these (not `vllm:prompt_tokens_by_source_total`, not `*_created`).
        return frozenset([*self._names, *(f"{name}_total" for name in self._names)])

    @cached_property
    def _comments(self) -> tuple[str, ...]:
        return tuple(f"# {kind} {name} " for name in self._names for kind in ("TYPE", "HELP"))

    def wanted_lines(self, text: str) -> str:
        """Only the lines of the wanted metrics: their samples and their TYPE/HELP comments."""
        keep = []
        for ln in text.splitlines():
            if ln.startswith(self._names):
                end = ln.find("{")
                if (ln[:end] if end >= 0 else ln.split(" ", 1)[0]) in self._samples:
                    keep.append(ln)
            elif ln.startswith(self._comments):
                keep.append(ln)
        return "\n".join(keep) + "\n"

    def parse(self, text: str) -> ServerState:
        """Sum each wanted metric over its label sets (engines, models).

        vLLM's page is ~60 KB of histograms; parsing all of it costs ~35 ms of the client's CPU
        (taken from the server on a shared host), so only the wanted lines reach the parser (~1 ms)."""
        sums: dict[str, float] = {}
        for family in text_string_to_metric_families(self.wanted_lines(text)):
            for sample in family.samples:
                if sample.name in self._samples:
                    name = sample.name.removesuffix("_total")
                    sums[name] = sums.get(name, 0.0) + sample.value

        def value(name: str | None) -> float | None:
            return sums.get(name) if name else None

        return ServerState(
            running=value(self.running),
            waiting=value(self.waiting),
            kv_cache_usage=value(self.kv_cache_usage),
            generation_tokens_total=value(self.generation_tokens),
            prompt_tokens_total=value(self.prompt_tokens),
            preemptions_total=value(self.preemptions),
        )
