"""The in-process engine's state as server mode reads it from /metrics: a vLLM stat logger that
keeps the gauges and counters the run samples (running, waiting, KV cache, token counters, the
prefix cache's lookups and hits, speculative decoding's drafts and acceptances)."""

from __future__ import annotations

from engine.events import ServerState


class LiveStats:
    """vLLM stat logger (per engine) keeping what the live screen shows of a server's /metrics."""

    def __init__(self) -> None:
        self.state = ServerState(
            generation_tokens_total=0.0,
            prompt_tokens_total=0.0,
            preemptions_total=0.0,
            prefix_cache_queries_total=0.0,
            prefix_cache_hits_total=0.0,
        )

    def count_scheduler(self, scheduler_stats) -> None:
        """The prefix cache's and speculative decoding's counters, as vLLM's PrometheusStatLogger counts them."""
        state, cache = self.state, scheduler_stats.prefix_cache_stats
        state.prefix_cache_queries_total = (state.prefix_cache_queries_total or 0.0) + cache.queries
        state.prefix_cache_hits_total = (state.prefix_cache_hits_total or 0.0) + cache.hits
        if (spec := scheduler_stats.spec_decoding_stats) is not None:
            state.spec_drafts_total = (state.spec_drafts_total or 0.0) + spec.num_drafts
            state.spec_draft_tokens_total = (state.spec_draft_tokens_total or 0.0) + spec.num_draft_tokens
            state.spec_accepted_tokens_total = (state.spec_accepted_tokens_total or 0.0) + spec.num_accepted_tokens
            per_pos = state.spec_accepted_per_pos_total or (0.0,) * len(spec.num_accepted_tokens_per_pos)
            if len(per_pos) == len(spec.num_accepted_tokens_per_pos):
                state.spec_accepted_per_pos_total = tuple(
                    a + b for a, b in zip(per_pos, spec.num_accepted_tokens_per_pos, strict=True)
                )

    def factory(self, vllm_config, engine_index: int = 0):
        from vllm.v1.metrics.loggers import StatLoggerBase

        live = self
        if (spec := vllm_config.speculative_config) is not None and live.state.spec_drafts_total is None:
            # As vLLM's /metrics: the spec-decode counters exist (at 0) only when the engine speculates.
            live.state.spec_drafts_total = live.state.spec_draft_tokens_total = 0.0
            live.state.spec_accepted_tokens_total = 0.0
            live.state.spec_accepted_per_pos_total = (0.0,) * spec.num_speculative_tokens

        class LiveStatLogger(StatLoggerBase):
            def __init__(self, vllm_config, engine_index: int = 0):
                pass

            def record(self, scheduler_stats, iteration_stats, mm_cache_stats=None, engine_idx: int = 0):
                state = live.state
                if scheduler_stats is not None:
                    state.running = float(scheduler_stats.num_running_reqs)
                    state.waiting = float(scheduler_stats.num_waiting_reqs)
                    state.kv_cache_usage = float(scheduler_stats.kv_cache_usage)
                    live.count_scheduler(scheduler_stats)
                if iteration_stats is not None:
                    # Counters as vLLM's /metrics keeps them: every prompt token, preemptions.
                    state.generation_tokens_total += iteration_stats.num_generation_tokens
                    state.prompt_tokens_total += iteration_stats.num_prompt_tokens
                    state.preemptions_total += iteration_stats.num_preempted_reqs

            def log_engine_initialized(self):
                pass

        return LiveStatLogger(vllm_config, engine_index)
