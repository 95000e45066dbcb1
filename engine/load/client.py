"""Closed-loop load: exactly C streaming requests in flight until a cell's N requests are done.

Timing follows `vllm bench serve`: E2E from just before the request is sent to the last token,
TTFT at the first chunk that carries a token. Tokens are counted from the server's usage
(`continuous_usage_stats`), never from text: a random-weight model streams chunks whose text is
empty (a partial UTF-8 character) or holds U+2028, which line splitters other than SSE's break on.

The hot path is aiohttp with a byte-level SSE reader: measured against httpx (+ httpx-sse) on the
same server, it costs a fraction of the client CPU per token (benchmarks/fidelity.py), and on a
shared host that CPU is taken from the server under test. httpx stays for the control plane.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from engine.load.record import RequestRecord
from engine.plan import Cell


class StreamError(Exception):
    pass


HEADERS = {"Content-Type": "application/json", "Accept": "text/event-stream"}
CT_KEY = b'"completion_tokens":'
PT_KEY = b'"prompt_tokens":'
# Servers differ in JSON spacing: `"choices": []` or `"choices":[]`.
EMPTY_CHOICES = re.compile(rb'"choices"\s*:\s*\[\s*\]')
ID_RE = re.compile(rb'"id"\s*:\s*"([^"]*)"')
_DIGITS = re.compile(rb"\s*(\d+)")


def _response_id(payload: bytes) -> str:
    m = ID_RE.search(payload)
    return m.group(1).decode(errors="replace") if m else ""


def _parse_event(payload: bytes, api: str, record: RequestRecord) -> tuple[int, str]:
    """The JSON path: (new tokens, text). A server without usage: a chunk with text is one token
    (re-counted with the tokenizer at the end). With usage, returns -(cumulative + 1)."""
    chunk = json.loads(payload)
    choices = chunk.get("choices") or ()
    if "error" in chunk and not choices:
        raise StreamError(f"server error in stream: {chunk['error']}")
    piece = ""
    if choices:
        c0 = choices[0]
        piece = (c0.get("text") if api == "completions" else (c0.get("delta") or {}).get("content")) or ""
    usage = chunk.get("usage")
    if usage and usage.get("completion_tokens") is not None:
        if usage.get("prompt_tokens") is not None:
            record.prompt_tokens = usage["prompt_tokens"]
        if not choices:
            return 0, piece  # final usage-only chunk
        return -(usage["completion_tokens"] + 1), piece
    return (1 if piece else 0), piece


async def stream_request(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    record: RequestRecord,
    api: str,
    on_tokens: Callable[[int], None],
    keep_text: bool = False,
) -> RequestRecord:
    """Send one streaming request and fill `record` with its timings and token counts.

    The hot path reads raw bytes and finds the cumulative `completion_tokens` of each event with
    a byte search rather than a JSON parse: the client's CPU per token is taken from the server
    on a shared host. Events without usage (other servers), errors and kept text take the JSON path.
    SSE lines end at CR or LF only; both are single bytes that never occur inside a UTF-8
    sequence or a JSON string, so splitting bytes is exact (U+2028 and U+0085 stay inside).
    """
    perf = time.perf_counter
    record.start_time = time.time()
    start = perf()
    last = start
    got_first = False
    counted = 0
    text_parts: list[str] = []
    usage_seen = False
    buf = b""
    try:
        async with session.post(url, data=body, headers=HEADERS) as response:
            if response.status != 200:
                detail = (await response.read()).decode(errors="replace")[:500]
                raise StreamError(f"HTTP {response.status}: {detail}")
            done = False
            async for data in response.content.iter_any():
                now = perf()
                buf += data
                if b"\r" in buf:
                    buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if not line.startswith(b"data:"):
                        continue  # blank separators, comments (pings), event/id fields
                    payload = line[5:].strip()
                    if payload == b"[DONE]":
                        done = True
                        break
                    if record.response_id is None:
                        record.response_id = _response_id(payload)
                    pos = payload.rfind(CT_KEY) if not keep_text else -1
                    if pos >= 0:
                        usage_seen = True
                        end = pos + len(CT_KEY)
                        digits = _DIGITS.match(payload, end)
                        new = int(digits.group()) - counted if digits else 0
                        if record.prompt_tokens is None:
                            p = payload.rfind(PT_KEY)
                            if p >= 0 and (m := _DIGITS.match(payload, p + len(PT_KEY))):
                                record.prompt_tokens = int(m.group())
                        if new <= 0 or EMPTY_CHOICES.search(payload):
                            # The final usage-only chunk (or a chunk with no new token).
                            counted += max(new, 0)
                            continue
                    else:
                        new, piece = _parse_event(payload, api, record)
                        if new < 0:  # usage reported through the JSON path
                            usage_seen = True
                            new = -new - 1 - counted
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
                if done:
                    break
        record.e2el = last - start
        record.usage_reported = usage_seen
        if keep_text:
            record.text = "".join(text_parts)
        record.output_tokens = counted
        if not got_first:
            raise StreamError("the stream ended without a single token")
        record.ok = True
    except (
        TimeoutError,
        aiohttp.ClientError,
        StreamError,
        OSError,
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
    ) as exc:
        # Whatever a server sends, one bad request is a failed record, never a crashed run.
        record.ok = False
        record.error = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
        if record.e2el is None:
            record.e2el = perf() - start
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


def new_session(concurrency: int, read_timeout_s: float = 1800.0) -> aiohttp.ClientSession:
    """One session per run: C keep-alive connections, no total deadline (8k-token answers take long)."""
    connector = aiohttp.TCPConnector(limit=concurrency + 4, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=read_timeout_s)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, skip_auto_headers=("User-Agent",))


@dataclass(frozen=True)
class PreparedRequest:
    """A request serialised ahead of its cell, so the timed loop only sends bytes."""

    body: bytes
    expected_prompt_tokens: int


async def run_closed_loop(
    session: aiohttp.ClientSession,
    url: str,
    api: str,
    cell: Cell,
    requests: list[PreparedRequest],
    *,
    output_len: int,
    warmup: bool,
    keep_text: bool,
    on_record: Callable[[RequestRecord], None],
    load: CellLoad,
) -> float:
    """Drive `requests` with the cell's concurrency in flight; return the wall duration in seconds."""
    next_index = 0

    async def slot() -> None:
        nonlocal next_index
        freed = time.perf_counter()  # when this slot became free: the planned send time
        while next_index < len(requests):
            i = next_index
            next_index += 1
            record = RequestRecord(
                cell=cell.index,
                index=i,
                concurrency=cell.concurrency,
                input_len=cell.input_len,
                output_len=output_len,
                warmup=warmup,
                expected_prompt_tokens=requests[i].expected_prompt_tokens,
            )
            load.in_flight += 1
            record.send_delay = time.perf_counter() - freed
            try:
                await stream_request(session, url, requests[i].body, record, api, load.add_tokens, keep_text)
            finally:
                load.in_flight -= 1
                freed = time.perf_counter()
            if record.ok:
                load.done += 1
            else:
                load.failed += 1
            on_record(record)

    start = time.perf_counter()
    await asyncio.gather(*(slot() for _ in range(min(cell.concurrency, len(requests)))))
    return time.perf_counter() - start
