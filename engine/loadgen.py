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
from dataclasses import asdict, dataclass, field
from typing import Callable

import aiohttp

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
    response_id: str | None = None  # the server's id of the response, to match its logs
    # Closed loop: how long after its slot freed up the request was actually sent (client health).
    send_delay: float = 0.0
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
    except (aiohttp.ClientError, asyncio.TimeoutError, StreamError, OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
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


async def run_closed_loop(
    session: aiohttp.ClientSession,
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
        freed = time.perf_counter()  # when this slot became free: the planned send time
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
            record.send_delay = time.perf_counter() - freed
            try:
                await stream_request(session, url, bodies[i], record, api, load.add_tokens, keep_text)
            finally:
                load.in_flight -= 1
                freed = time.perf_counter()
            if record.ok:
                load.done += 1
            else:
                load.failed += 1
            on_record(record)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(bodies)))))
    return time.perf_counter() - start
