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
    # Prefix cache: prompt tokens looked up in the cache, and those found there.
    prefix_cache_queries: str | None = None
    prefix_cache_hits: str | None = None
    # Speculative decoding: drafts, drafted tokens, accepted tokens; and accepted tokens per draft
    # position, one series per value of the label `position_label`.
    spec_drafts: str | None = None
    spec_draft_tokens: str | None = None
    spec_accepted_tokens: str | None = None
    spec_accepted_per_pos: str | None = None
    position_label: str = "position"

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
                self.prefix_cache_queries,
                self.prefix_cache_hits,
                self.spec_drafts,
                self.spec_draft_tokens,
                self.spec_accepted_tokens,
                self.spec_accepted_per_pos,
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
        """Sum each wanted metric over its label sets (engines, models); the per-position counter
        is summed per position.

        vLLM's page is ~60 KB of histograms; parsing all of it costs ~35 ms of the client's CPU
        (taken from the server on a shared host), so only the wanted lines reach the parser (~1 ms)."""
        sums: dict[str, float] = {}
        per_pos: dict[int, float] = {}
        for family in text_string_to_metric_families(self.wanted_lines(text)):
            for sample in family.samples:
                if sample.name not in self._samples:
                    continue
                name = sample.name.removesuffix("_total")
                if name == self.spec_accepted_per_pos:
                    pos = int(sample.labels.get(self.position_label, "0"))
                    per_pos[pos] = per_pos.get(pos, 0.0) + sample.value
                else:
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
            prefix_cache_queries_total=value(self.prefix_cache_queries),
            prefix_cache_hits_total=value(self.prefix_cache_hits),
            spec_drafts_total=value(self.spec_drafts),
            spec_draft_tokens_total=value(self.spec_draft_tokens),
            spec_accepted_tokens_total=value(self.spec_accepted_tokens),
            spec_accepted_per_pos_total=tuple(per_pos[p] for p in sorted(per_pos)) if per_pos else None,
        )
