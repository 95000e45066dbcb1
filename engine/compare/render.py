"""A comparison in words: the per-ISL/OSL statistics, iso-latency and iso-interactivity, and what
was left out (the ratio table's rows are ratios.table_rows). One definition for the headless
`compare` and the TUI's compare screen, so both say exactly the same thing."""

from __future__ import annotations

from engine.compare.ratios import LEAD, Comparison, describe, fmt_ratio, iso


def heading(c: Comparison) -> str:
    return f"{c.a.name} vs {c.b.name} (ratios {c.a.name} / {c.b.name}; latency above 1x: {c.a.name} slower)"


def stats_lines(c: Comparison) -> list[str]:
    """Output throughput's geomean, min and max per ISL/OSL (with where the lead turns), then overall."""
    out = []
    for seq, figures in c.by_seq.items():
        s = figures[LEAD]
        if s.n:
            where = "; ".join(c.crossovers.get(seq, []))
            out.append(
                f"{seq}: output tok/s geomean {fmt_ratio(s.geomean)} over {s.n} cells, min {fmt_ratio(s.low)}, "
                f"max {fmt_ratio(s.high)}" + (f"; {where}" if where else "")
            )
    s = c.overall[LEAD]
    if s.n:
        out.append(f"overall: output tok/s geomean {fmt_ratio(s.geomean)} over {s.n} cells")
    return out


def iso_lines(c: Comparison, targets: list[float] | None = None) -> list[str]:
    """Throughput at equal latency (at `targets` ms, else across the common range) and per-GPU
    throughput at equal interactivity: a heading line, then one indented line per point."""
    out = []
    points = iso(c.a, c.b, "mean_e2el_ms", "total_token_throughput", targets)
    if points:
        out.append("at equal mean E2E latency (total tok/s, interpolated on each run's curve):")
        for p in points:
            out.append(f"  {p.seq} at {p.at:,.0f} ms: {p.a:,.0f} vs {p.b:,.0f} = {p.ratio:.2f}x")
    inter = iso(c.a, c.b, "interactivity", "total_token_throughput_per_gpu", None, steps=3)
    if inter:
        out.append("at equal interactivity (total tok/s per GPU at the same tok/s/user):")
        for p in inter:
            out.append(f"  {p.seq} at {p.at:,.1f} tok/s/user: {p.a:,.0f} vs {p.b:,.0f} = {p.ratio:.2f}x")
    return out


def left_out_lines(c: Comparison) -> list[str]:
    """Every cell kept out of the statistics, with why, and what a source lacked."""
    out = [f"left out, flagged: {describe(k)}: {why}" for k, why in c.excluded]
    out += [f"left out, only in {c.a.name}: {describe(k)}" for k in c.only_a]
    out += [f"left out, only in {c.b.name}: {describe(k)}" for k in c.only_b]
    out += [f"note on {run.name}: {note}" for run in (c.a, c.b) for note in run.notes]
    return out
