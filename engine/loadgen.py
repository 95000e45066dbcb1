"""Closed-loop load: exactly C streaming requests in flight until a cell's N requests are done.

Timing follows `vllm bench serve`: E2E from just before the request is sent to the last token,
TTFT at the first chunk that carries a token. Tokens are counted from the server's usage
(`continuous_usage_stats`), never from text: a random-weight model streams chunks whose text is
empty (a partial UTF-8 character) or holds U+2028, which line splitters other than SSE's break on.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import httpx
from httpx_sse import EventSource

from engine.plan import Cell


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
    text: str | None = None  # kept only when the server reports no usage and we count tokens

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
        if d["text"] is None:
            del d["text"]
        return json.dumps(d, separators=(",", ":"))


class StreamError(Exception):
    pass


async def stream_request(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    record: RequestRecord,
    api: str,
    on_tokens: Callable[[int], None],
    keep_text: bool = False,
) -> RequestRecord:
    """Send one streaming request and fill `record` with its timings and token counts."""
    record.start_time = time.time()
    start = time.perf_counter()
    last = start
    got_first = False
    counted = 0  # tokens seen so far (from usage when the server reports it)
    text_parts: list[str] = []
    usage_seen = False
    try:
        async with client.stream(
            "POST", url, content=body, headers={"Content-Type": "application/json", "Accept": "text/event-stream"}
        ) as response:
            if response.status_code != 200:
                detail = (await response.aread()).decode(errors="replace")[:500]
                raise StreamError(f"HTTP {response.status_code}: {detail}")
            async for sse in EventSource(response).aiter_sse():
                data = sse.data
                if data == "[DONE]":
                    break
                now = time.perf_counter()
                chunk = json.loads(data)
                if "error" in chunk and not chunk.get("choices"):
                    raise StreamError(f"server error in stream: {chunk['error']}")
                choices = chunk.get("choices") or ()
                usage = chunk.get("usage")
                piece = ""
                if choices:
                    c0 = choices[0]
                    piece = c0.get("text") if api == "completions" else (c0.get("delta") or {}).get("content")
                    piece = piece or ""
                if usage:
                    usage_seen = True
                    record.prompt_tokens = usage.get("prompt_tokens", record.prompt_tokens)
                    new = (usage.get("completion_tokens") or 0) - counted
                else:
                    # No usage from this server: a chunk with text is one token (re-counted at the end).
                    new = 1 if piece else 0
                if not choices and usage:
                    # The final usage-only chunk: its count is already reflected, no new timing.
                    if new > 0:
                        counted += new
                    continue
                if keep_text and piece:
                    text_parts.append(piece)
                if new <= 0:
                    continue
                if not got_first:
                    got_first = True
                    record.ttft = now - start
                else:
                    record.chunk_gaps.append(now - last)
                    record.chunk_tokens.append(new)
                last = now
                counted += new
                on_tokens(new)
        record.e2el = last - start
        record.usage_reported = usage_seen
        if keep_text:
            record.text = "".join(text_parts)
        record.output_tokens = counted
        if not got_first:
            raise StreamError("the stream ended without a single token")
        record.ok = True
    except (httpx.HTTPError, StreamError, json.JSONDecodeError, OSError) as exc:
        record.ok = False
        record.error = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
        if record.e2el is None:
            record.e2el = time.perf_counter() - start
    return record


@dataclass
class CellLoad:
    """Live counters of one cell, read by the progress reporter."""

    total: int
    done: int = 0
    failed: int = 0
    in_flight: int = 0
    output_tokens: int = 0
    started: float = field(default_factory=time.perf_counter)

    def add_tokens(self, n: int) -> None:
        self.output_tokens += n


async def run_closed_loop(
    client: httpx.AsyncClient,
    url: str,
    api: str,
    cell: Cell,
    bodies: list[bytes],
    expected_prompt_lens: list[int],
    concurrency: int,
    *,
    warmup: bool,
    keep_text: bool,
    on_record: Callable[[RequestRecord], None],
    load: CellLoad,
) -> float:
    """Drive `bodies` with `concurrency` requests in flight; return the wall duration in seconds."""
    next_index = 0
    output_len = cell.warmup_output_len if warmup else cell.output_len

    async def worker() -> None:
        nonlocal next_index
        while next_index < len(bodies):
            i = next_index
            next_index += 1
            record = RequestRecord(
                cell=cell.index,
                index=i,
                concurrency=cell.concurrency,
                input_len=cell.input_len,
                output_len=output_len,
                warmup=warmup,
                expected_prompt_tokens=expected_prompt_lens[i],
            )
            load.in_flight += 1
            try:
                await stream_request(client, url, bodies[i], record, api, load.add_tokens, keep_text)
            finally:
                load.in_flight -= 1
            if record.ok:
                load.done += 1
            else:
                load.failed += 1
            on_record(record)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(bodies)))))
    return time.perf_counter() - start
