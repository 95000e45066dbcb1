"""One request's record: what the load generator measured, appended to requests.jsonl as it ends.

Its per-chunk gaps and token counts are packed arrays (8 + 4 bytes a chunk, not 40 as Python
lists): 128 answers of 8,192 tokens in flight hold 12 MB, and once a finished record is written
and its ITLs handed on (engine.report.itl), it drops them.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from itertools import repeat
from operator import mul, truediv

import orjson

from engine.jsontext import dumps


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
    chunk_gaps: Sequence[float] = field(default_factory=lambda: array("d"))
    chunk_tokens: Sequence[int] = field(default_factory=lambda: array("I"))
    usage_reported: bool = True
    response_id: str | None = None  # the server's id of the response, to match its logs
    # Closed loop: how long after its slot freed up the request was actually sent (client health).
    send_delay: float = 0.0
    http_status: int | None = None  # of a failed request, when the server answered with one
    # Open loop: the planned and the actual send time, seconds from the cell's start.
    planned_s: float | None = None
    sent_s: float | None = None
    text: str | None = None  # kept only when the server reports no usage and we count tokens
    # A chat answer that streamed a reasoning parser's deltas (`reasoning` / `reasoning_content`):
    # how many of its output tokens were reasoning, its time to the first answer token (seconds;
    # None: no answer token came), and where text is kept, the reasoning's. All None: no reasoning
    # streamed (the answer's first token is then the TTFT).
    reasoning_tokens: int | None = None
    answer_ttft: float | None = None
    reasoning_text: str | None = None
    # A multi-turn request: its conversation and turn (1, 2, ...), and while it runs the answer's
    # token ids, which the next turn's prompt carries (never saved: the lengths say what was sent).
    conversation: int | None = None
    turn: int | None = None
    output_ids: list[int] | None = None
    round: int | None = None  # a run of several rounds (--repeat N): the round that sent it (0, 1, ...)

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

    def to_dict(self) -> dict:
        """A requests.jsonl line's fields: gaps to 0.1 us, the optional fields only where they apply."""
        d = {name: value for name in _SAVED if (value := getattr(self, name)) is not None or name not in _OPTIONAL}
        # The nearest multiple of 0.1 us, as round(g, 7) but iterated in C: this runs once per token.
        d["chunk_gaps"] = list(map(truediv, map(round, map(mul, self.chunk_gaps, repeat(1e7))), repeat(1e7)))
        d["chunk_tokens"] = list(self.chunk_tokens)
        return d

    def to_json(self) -> str:
        """One requests.jsonl line, in ASCII (non-ASCII text escaped), so that a reader splitting
        lines at U+2028 too (str.splitlines) still sees one line. orjson: 18x faster than json on
        an answer of 8,192 tokens, 2x faster than msgspec (benchmarks/json_libs.py)."""
        d = self.to_dict()
        line = orjson.dumps(d)
        return line.decode() if line.isascii() else dumps(d, separators=(",", ":"))


# Never saved: the answer's ids (the lengths say what was sent). Saved only when set: the rest.
_OPTIONAL = frozenset(("text", "planned_s", "sent_s", "conversation", "turn", "round"))
_OPTIONAL |= {"reasoning_tokens", "answer_ttft", "reasoning_text"}
_SAVED = tuple(f.name for f in fields(RequestRecord) if f.name != "output_ids")
