"""A comparison in words: the per-ISL/OSL statistics, iso-latency and iso-interactivity, the cells
counted though flagged and what was left out (the ratio table's rows are ratios.table_rows). One
definition for the headless `compare`, the TUI's compare screen and the HTML report, so all say
exactly the same thing."""

from __future__ import annotations

from dataclasses import dataclass

from engine.compare.ratios import LEAD, NOT_SAME_LOAD, Comparison, IsoPoint, Stats, describe, fmt_ratio, iso


def heading(c: Comparison) -> str:
    return f"{c.a.name} vs {c.b.name} (ratios {c.a.name} / {c.b.name}; latency above 1x: {c.a.name} slower)"


def stats_lines(c: Comparison) -> list[str]:
    """Output throughput's geomean, min and max per ISL/OSL (with where the lead turns), then overall,
    then the server's counters per cell where it has them (counter_lines)."""
    out = []
    for seq, figures in c.by_seq.items():
        s = figures[LEAD]
        if s.n:
            where = "; ".join(c.crossovers.get(seq, []))
            out.append(
                f"{seq}: output tok/s geomean {geomean_text(s)} over {s.n} cells, min {fmt_ratio(s.low)}, "
                f"max {fmt_ratio(s.high)}" + (f"; {where}" if where else "")
            )
    s = c.overall[LEAD]
    if s.n:
        out.append(f"overall: output tok/s geomean {geomean_text(s)} over {s.n} cells")
    return out + counter_lines(c)


def geomean_text(s: Stats) -> str:
    """'1.02x', or with its interval '1.02x (95% CI 0.97-1.07)'."""
    return fmt_ratio(s.geomean) if s.interval is None else s.interval.text()


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def counter_lines(c: Comparison) -> list[str]:
    """Per compared cell, the server's own figures that explain a gap: speculative decoding's
    acceptance (a longer acceptance is fewer steps per token) and the prefix cache's hit rate."""
    out = []
    for r in c.cells:
        a, b = r.a, r.b
        if a.spec_decode is not None or b.spec_decode is not None:
            la, lb = (
                f"{x:.2f}" if x is not None else "n/a" for x in (a.spec_acceptance_length, b.spec_acceptance_length)
            )
            out.append(
                f"{describe(r.key)}: speculative decoding, mean acceptance length {la} vs {lb} "
                f"(accepted {_pct(a.spec_acceptance_rate)} vs {_pct(b.spec_acceptance_rate)} of draft tokens)"
            )
        if a.prefix_cache_hit_rate or b.prefix_cache_hit_rate:
            out.append(
                f"{describe(r.key)}: prefix cache hit rate {_pct(a.prefix_cache_hit_rate)} vs "
                f"{_pct(b.prefix_cache_hit_rate)} of prompt tokens"
            )
    return out


@dataclass(frozen=True)
class IsoView:
    """One way of reading two curves at an equal x: throughput `y` of each run at the same `x`."""

    heading: str
    x: str
    y: str
    unit: str
    steps: int  # points across the range both runs cover, where no target is given
    digits: int  # decimals of the x value
    targets: bool  # whether the user's --latency targets apply

    def at(self, p: IsoPoint) -> str:
        return f"{p.at:,.{self.digits}f}"


ISO_VIEWS = (
    IsoView(
        "at equal mean E2E latency (total tok/s, interpolated on each run's curve)",
        "mean_e2el_ms",
        "total_token_throughput",
        "ms",
        5,
        0,
        True,
    ),
    IsoView(
        "at equal interactivity (total tok/s per GPU at the same tok/s/user)",
        "interactivity",
        "total_token_throughput_per_gpu",
        "tok/s/user",
        3,
        1,
        False,
    ),
)


def iso_sets(c: Comparison, targets: list[float] | None = None) -> list[tuple[IsoView, list[IsoPoint]]]:
    """Throughput at equal latency (at `targets` ms, else across the common range) and per-GPU
    throughput at equal interactivity, each view that has a point; cells flagged only with the
    comparison's counted codes are on the curves."""
    out = []
    for v in ISO_VIEWS:
        points = iso(c.a, c.b, v.x, v.y, targets if v.targets else None, v.steps, c.count_flagged)
        if points:
            out.append((v, points))
    return out


def iso_lines(c: Comparison, targets: list[float] | None = None) -> list[str]:
    """iso_sets in words: a heading line per view, then one indented line per point."""
    out = []
    for v, points in iso_sets(c, targets):
        out.append(f"{v.heading}:")
        out += [f"  {p.seq} at {v.at(p)} {v.unit}: {p.a:,.0f} vs {p.b:,.0f} = {p.ratio:.2f}x" for p in points]
    return out


def counted_lines(c: Comparison) -> list[str]:
    """Every flagged cell that entered the statistics because its flags are of the codes counted on request."""
    codes = "/".join(sorted(c.count_flagged))
    return [f"counted though flagged ({codes} counted on request): {describe(k)}: {why}" for k, why in c.counted]


def left_out_lines(c: Comparison) -> list[str]:
    """Every cell kept out of the statistics, with why, and what a source lacked."""
    out = [
        f"left out{'' if why.startswith(NOT_SAME_LOAD) else ', flagged'}: {describe(k)}: {why}" for k, why in c.excluded
    ]
    out += [f"left out, only in {c.a.name}: {describe(k)}" for k in c.only_a]
    out += [f"left out, only in {c.b.name}: {describe(k)}" for k in c.only_b]
    out += [f"note on {run.name}: {note}" for run in (c.a, c.b) for note in run.notes]
    return out
