"""How late an open loop sent its requests, per cell of one or more results folders.

For each rate or trace cell: the planned rate (over the span of the planned sends), the achieved
send rate and the completed rate (is the server keeping up?), the lateness of each send against
its plan (`sent_s - planned_s` in requests.jsonl) at p50, p99 and max, how many requests had
exactly their planned input and output lengths as the server reported them, the token totals,
the most requests seen in flight, and the client's own health (event-loop lag p99, run-queue wait).

    python benchmarks/send_lateness.py results/RUN [results/RUN ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def percentile(values: list[float], p: float) -> float:
    v = sorted(values)
    k = (len(v) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def cell_lines(run: Path) -> list[str]:
    rows = [json.loads(line) for line in (run / "requests.jsonl").read_text().splitlines() if line.strip()]
    cells = {c["cell"]: c for c in json.loads((run / "summary.json").read_text())["cells"]}
    out = []
    for index, cell in sorted(cells.items()):
        sent = [
            r
            for r in rows
            if r["cell"] == index and not r["warmup"] and not r.get("superseded") and r.get("planned_s") is not None
        ]
        if len(sent) < 2:
            continue
        late_ms = [1000 * (r["sent_s"] - r["planned_s"]) for r in sent]
        planned = sorted(r["planned_s"] for r in sent)
        ok = [r for r in rows if r["cell"] == index and not r["warmup"] and not r.get("superseded") and r["ok"]]
        exact = sum(1 for r in ok if r["prompt_tokens"] == r["input_len"] and r["output_tokens"] == r["output_len"])
        loop = cell.get("open_loop") or {}
        out.append(
            f"{run.name} {cell.get('input_len')}/{cell.get('output_len')} {loop.get('arrival')} "
            f"rate {loop.get('request_rate')}: planned {(len(planned) - 1) / (planned[-1] - planned[0]):.2f}/s, "
            f"sent {loop.get('achieved_rate') or 0:.2f}/s, completed {cell['request_throughput']:.2f}/s; "
            f"lateness p50 {percentile(late_ms, 50):.2f} ms, p99 {percentile(late_ms, 99):.2f} ms, "
            f"max {max(late_ms):.2f} ms; exact lengths {exact}/{len(ok)} ok of {cell['num_prompts']}; "
            f"tokens in {cell['total_input_tokens']} out {cell['total_output_tokens']}; "
            f"peak in flight {loop.get('peak_in_flight')}; "
            f"client lag p99 {cell.get('client_loop_lag_p99_ms') or 0:.1f} ms"
        )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="results folders")
    for run in p.parse_args().runs:
        for line in cell_lines(run):
            print(line)


if __name__ == "__main__":
    main()
