"""One request's record: what the load generator measured, appended to requests.jsonl as it ends."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class RequestRecord:
    cell: int
    index: int
    concurrency: int
    input_len: int
    output_len: int
    warmup: bool = False
    ok: bool = False
    error: str | None = None
    start_time: float = 0.0  # epoch seconds at send
    ttft: float | None = None  # seconds
    e2el: float | None = None  # seconds
    prompt_tokens: int | None = None  # as the server reports
    output_tokens: int = 0
    expected_prompt_tokens: int | None = None
    # Gap before each token-carrying chunk after the first, and how many tokens it carried.
    chunk_gaps: list[float] = field(default_factory=list)
    chunk_tokens: list[int] = field(default_factory=list)
    usage_reported: bool = True
    response_id: str | None = None  # the server's id of the response, to match its logs
    # Closed loop: how long after its slot freed up the request was actually sent (client health).
    send_delay: float = 0.0
    http_status: int | None = None  # of a failed request, when the server answered with one
    # Open loop: the planned and the actual send time, seconds from the cell's start.
    planned_s: float | None = None
    sent_s: float | None = None
    text: str | None = None  # kept only when the server reports no usage and we count tokens

    @classmethod
    def for_cell(
        cls, cell, index: int, output_len: int, warmup: bool, expected_prompt_tokens: int | None, **timing
    ) -> RequestRecord:
        """A request of `cell` (an engine.plan.Cell) about to be sent: the fields every loop fills alike."""
        return cls(
            cell=cell.index,
            index=index,
            concurrency=cell.concurrency,
            input_len=cell.input_len,
            output_len=output_len,
            warmup=warmup,
            expected_prompt_tokens=expected_prompt_tokens,
            **timing,
        )

    @property
    def one_read(self) -> bool:
        """Every token arrived in one read: no time passed between the first and the last."""
        return self.output_tokens > 1 and self.ttft is not None and self.e2el is not None and self.e2el <= self.ttft

    def itl(self) -> list[float]:
        """Inter-token latencies: a chunk of k tokens after gap g counts as k gaps of g/k."""
        out: list[float] = []
        for gap, k in zip(self.chunk_gaps, self.chunk_tokens):
            if k > 0:
                out.extend([gap / k] * k)
        return out

    def to_json(self) -> str:
        d = asdict(self)
        d["chunk_gaps"] = [round(g, 7) for g in self.chunk_gaps]
        for key in ("text", "planned_s", "sent_s"):  # only where they apply: the file stays lean
            if d[key] is None:
                del d[key]
        return json.dumps(d, separators=(",", ":"))
