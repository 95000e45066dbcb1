"""The report's prefix-cache and speculative-decoding tables: per cell, what the server's counters
say over the measured window (engine.report.model.ServerCellStats), shown only where some cell has them.

A workload that shares prefixes on purpose (prefix:, a trace, multi-turn) has its hit rate as a
figure of the workload; elsewhere hits mean prompts were served from an earlier run's cache, and
the cell is flagged prefix_cache_hits.
"""

from __future__ import annotations

from engine.report.model import PREFIX_CACHE_HITS, CellResult
from engine.share.markup import NA, caption, flag_codes, na, table


def cache_table(cells: list[CellResult]) -> str:
    shown = [c for c in cells if c.server is not None and c.server.prefix_cache_queries]
    if not shown:
        return ""
    header = ["cell", "prompt tokens looked up", "found in the cache", "hit rate", "reset before the cell", "flag"]
    rows = [
        [
            c.label,
            na(c.server.prefix_cache_queries, "{:,d}"),
            na(c.server.prefix_cache_hits, "{:,d}"),
            na(c.prefix_cache_hit_rate, "{:.1%}"),
            c.server.prefix_cache_reset or NA,
            flag_codes(c, (PREFIX_CACHE_HITS,)),
        ]
        for c in shown
    ]
    note = (
        "The server's prefix-cache counters over the measured window, in prompt tokens. Prompts that share "
        "nothing by design should find nothing cached: above 5% (beyond a chat template's common opening) the "
        "cell is flagged prefix_cache_hits, its figures being the cache's. Workloads that share prefixes on "
        "purpose (prefix:, traces, multi-turn) report their hit rate as a figure of the workload."
    )
    classes = ["flagged" if flag_codes(c, (PREFIX_CACHE_HITS,)) else "" for c in shown]
    return "<h4>Prefix cache</h4>" + table(header, rows, text_columns=(0, 4, 5), row_classes=classes) + caption(note)


def spec_table(cells: list[CellResult]) -> str:
    shown = [c for c in cells if c.spec_decode is not None]
    if not shown:
        return ""
    header = ["cell", "drafts", "draft tokens", "accepted", "acceptance rate", "mean acceptance length", "per position"]
    rows = []
    for c in shown:
        s = c.spec_decode
        per_pos = ", ".join(f"{p:.2f}" for p in s.acceptance_per_position) if s.acceptance_per_position else NA
        rows.append(
            [
                c.label,
                f"{s.drafts:,}",
                f"{s.draft_tokens:,}",
                f"{s.accepted_tokens:,}",
                na(s.acceptance_rate, "{:.1%}"),
                na(s.mean_acceptance_length, "{:.2f}"),
                per_pos,
            ]
        )
    note = (
        "Speculative decoding over the measured window, from the server's counters, with vLLM's definitions: "
        "acceptance rate = accepted / draft tokens; mean acceptance length = 1 + accepted / drafts (the bonus "
        "token counted); per position = accepted at that draft position / drafts."
    )
    return "<h4>Speculative decoding</h4>" + table(header, rows, text_columns=(0, 6)) + caption(note)
