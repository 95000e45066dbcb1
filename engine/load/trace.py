"""Trace replay: a Mooncake-style JSONL of requests, sent on their own timestamps.

Each line: `{"timestamp": ms, "input_length": n, "output_length": m, "hash_ids": [..]}` (the
format of Mooncake's published traces; `hash_ids` optional). The timestamps, made relative to the
first and divided by the speed-up, are the planned send times of the open loop
(engine/load/openloop.py). Lengths are exact: prompts are token ids of `input_length`, and
`max_tokens = min_tokens = output_length`.

Shared blocks: as in Mooncake, the prompt is cut in blocks of BLOCK_TOKENS (512) tokens and hash
id k names the content of one block, so requests that share hash ids share those blocks token for
token (and hit a prefix cache the way the traced requests did). Block k is drawn from a generator
seeded by (run seed, k); the last block is cut to the input length; tokens past the blocks the line
names are unique to the request.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from engine.load.datafiles import DatasetError, int_field, json_line, open_lines

BLOCK_TOKENS = 512


@dataclass
class TraceRow:
    line: int
    timestamp_ms: float
    input_length: int
    output_length: int
    hash_ids: list[int] = field(default_factory=list)


def read_trace(path: str, limit: int | None = None) -> list[TraceRow]:
    """The trace's rows in send order (sorted by timestamp, stably); DatasetError naming the line."""
    rows = []
    for n, line in open_lines(path):
        obj = json_line(path, n, line)
        ts = obj.get("timestamp")
        if "timestamp" not in obj:
            raise DatasetError(f"{path}:{n}: field 'timestamp' is missing (ms since the trace's start)")
        if isinstance(ts, bool) or not isinstance(ts, int | float) or ts < 0:
            raise DatasetError(f"{path}:{n}: field 'timestamp' must be a number of ms, at least 0, not {ts!r}")
        hash_ids = obj.get("hash_ids", [])
        if not isinstance(hash_ids, list) or not all(isinstance(h, int) and not isinstance(h, bool) for h in hash_ids):
            raise DatasetError(f"{path}:{n}: field 'hash_ids' must be a list of whole numbers")
        rows.append(
            TraceRow(
                line=n,
                timestamp_ms=float(ts),
                input_length=int_field(path, n, obj, "input_length"),
                output_length=int_field(path, n, obj, "output_length"),
                hash_ids=hash_ids,
            )
        )
    if not rows:
        raise DatasetError(f"{path}: the trace holds no requests")
    rows.sort(key=lambda r: r.timestamp_ms)
    return rows[:limit] if limit else rows


def offsets(rows: list[TraceRow], speedup: float = 1.0) -> list[float]:
    """Planned send times in seconds from the first request: timestamps (ms) / 1000 / speed-up."""
    if speedup <= 0:
        raise ValueError(f"the speed-up must be above 0 (got {speedup})")
    t0 = rows[0].timestamp_ms if rows else 0.0
    return [(r.timestamp_ms - t0) / 1000.0 / speedup for r in rows]


class BlockPrompts:
    """Token ids for trace rows: hash id k is always the same BLOCK_TOKENS tokens within a run."""

    def __init__(self, vocab: list[int], seed: int = 0, block_tokens: int = BLOCK_TOKENS):
        self.vocab, self.seed, self.block_tokens = vocab, seed, block_tokens
        self._blocks: dict[int, list[int]] = {}

    def block(self, hash_id: int) -> list[int]:
        if hash_id not in self._blocks:
            self._blocks[hash_id] = random.Random(f"{self.seed}:block:{hash_id}").choices(
                self.vocab, k=self.block_tokens
            )
        return self._blocks[hash_id]

    def token_ids(self, row: TraceRow) -> list[int]:
        ids: list[int] = []
        for h in row.hash_ids:
            if len(ids) >= row.input_length:
                break
            ids.extend(self.block(h))
        del ids[row.input_length :]
        if len(ids) < row.input_length:  # past the named blocks: this request's own tokens
            rng = random.Random(f"{self.seed}:tail:{row.line}")
            ids.extend(rng.choices(self.vocab, k=row.input_length - len(ids)))
        return ids
