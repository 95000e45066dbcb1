"""The prefix cache's part in a cell: a flag when prompts that share nothing by design were served
from the server's cache (the cell then measured the cache, not the prefill).

Pure functions on a cell's figures: tested on hand-made ones and on a real server.
"""

from __future__ import annotations

from engine.plan import Cell
from engine.report.model import PREFIX_CACHE_HITS, CellResult, Flag, ServerCellStats
from engine.report.run_notes import PromptSeed

# The share of prompt tokens a cell of unshared prompts may find cached before it is flagged.
# Prompts of random tokens share no cache block (16 tokens) by chance, so what they hit was sent
# before; a chat template's common opening is allowed for apart (the tokens the server counts
# beyond ours). 5% is far below what reuse gives (87% for a repeated run, issue 20) and above
# the odd block a template counted differently leaves.
HIT_RATE_LIMIT = 0.05


def cache_flag(cell: Cell, result: CellResult, stats: ServerCellStats, seed: PromptSeed | None) -> Flag | None:
    """The flag for `result` given the server's `stats` over it, or None: not flagged, or a workload
    whose prompts share prefixes on purpose (its hit rate is the figure of interest)."""
    if cell.shares_prefixes or not stats.prefix_cache_queries or not stats.prefix_cache_hits:
        return None
    intended = result.dataset.input_len_mean if result.dataset is not None else result.input_len
    template = max(0.0, result.mean_input_tokens - intended) * result.completed  # a chat template's tokens
    allowed = template + HIT_RATE_LIMIT * stats.prefix_cache_queries
    if stats.prefix_cache_hits <= allowed:
        return None
    hits, queries = stats.prefix_cache_hits, stats.prefix_cache_queries
    share = f"{hits:,} of {queries:,} prompt tokens ({hits / queries:.0%})"
    return Flag(
        code=PREFIX_CACHE_HITS, reason=f"{share} came from the server's prefix cache: {likely_cause(cell, seed)}"
    )


def likely_cause(cell: Cell, seed: PromptSeed | None) -> str:
    """Why prompts that share nothing were in the cache, and what to do about it."""
    if cell.dataset in ("jsonl", "sharegpt"):
        cause = "the dataset's prompts were sent to this server before (an earlier run of the same file)"
    elif seed is not None and seed.explicit:
        cause = f"the explicit seed {seed.value} repeats the prompts of an earlier run against this long-lived server"
    else:
        cause = "another client, or an earlier run with the same seed, sent these prompts to this long-lived server"
    return (
        f"{cause}; the figures are the cache's, not the prefill's. Reset the cache between cells (a server "
        "started with VLLM_SERVER_DEV_MODE=1 allows it), or leave the seed unset so each run draws its own"
    )
