"""The curves of a run, as data: one series per ISL/OSL, one point per concurrency.

Shared by the headless console and the TUI so both draw exactly the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Series:
    label: str
    xs: list[float]
    ys: list[float]
    point_labels: list[str]


@dataclass(frozen=True)
class View:
    name: str
    title: str
    x_label: str
    y_label: str


VIEWS = [
    View("latency", "Total throughput vs E2E latency", "mean end-to-end latency (s)", "total tok/s"),
    View("interactivity", "Throughput per GPU vs interactivity", "interactivity (tok/s/user = 1000/TPOT)", "total tok/s per GPU"),
    View("ttft", "TTFT p50 and TPOT vs concurrency", "concurrency", "ms"),
]


def _by_seq(cells: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for c in cells:
        if c.get("completed"):
            groups.setdefault(f"{c['input_len']}/{c['output_len']}", []).append(c)
    for points in groups.values():
        points.sort(key=lambda c: c["max_concurrency"])
    return groups


def series(cells: list[dict], view: str = "latency") -> list[Series]:
    out = []
    for seq, points in _by_seq(cells).items():
        labels = [str(p["max_concurrency"]) for p in points]
        if view == "latency":
            out.append(Series(seq, [p["mean_e2el_ms"] / 1000 for p in points], [p["total_token_throughput"] for p in points], labels))
        elif view == "interactivity":
            out.append(Series(seq, [p["interactivity"] for p in points],
                              [p["total_token_throughput_per_gpu"] for p in points], labels))  # fmt: skip
        elif view == "ttft":
            xs = [float(p["max_concurrency"]) for p in points]
            out.append(Series(f"{seq} TTFT p50", xs, [p["median_ttft_ms"] for p in points], labels))
            out.append(Series(f"{seq} TPOT", xs, [p["mean_tpot_ms"] for p in points], labels))
        else:
            raise ValueError(f"unknown view {view!r}: one of {', '.join(v.name for v in VIEWS)}")
    return out


def view(name: str) -> View:
    for v in VIEWS:
        if v.name == name:
            return v
    raise ValueError(f"unknown view {name!r}")


def draw(plt, cells: list[dict], view_name: str = "latency") -> None:
    """Draw a view onto a plotext module or a textual-plotext `plt` (same API)."""
    v = view(view_name)
    plt.clear_data()
    for s in series(cells, view_name):
        plt.plot(s.xs, s.ys, label=s.label, marker="dot")
        for x, y, text in zip(s.xs, s.ys, s.point_labels):
            plt.text(text, x, y)
    plt.title(f"{v.title} (labels: concurrency)")
    plt.xlabel(v.x_label)
    plt.ylabel(v.y_label)
