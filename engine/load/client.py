"""Closed-loop load: exactly C streaming requests in flight until a cell's N requests are done.

Timing follows `vllm bench serve`: E2E from just before the request is sent to the last token,
TTFT at the first chunk that carries a token. Tokens are counted from the server's usage
(`continuous_usage_stats`), never from text: a random-weight model streams chunks whose text is
empty (a partial UTF-8 character) or holds U+2028, which line splitters other than SSE's break on.

The hot path is our own HTTP/1.1 Protocol (engine.load.http) feeding a byte-level SSE reader: each
read is timestamped in the loop's read callback and parsed without a JSON decode, because on a
host shared with the server every client CPU second is taken from the server under test
(benchmarks/fidelity.py measures it against `vllm bench serve`). httpx stays for the control plane.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.load import wallclock
from engine.load.chunk import REASONING_KEY, StreamError, is_reasoning, parse_event
from engine.load.http import HTTPError, Session
from engine.load.prompts import Endpoint, Prompt, api_path, request_body
from engine.load.record import RequestRecord
from engine.plan import Cell

OnTokens = Callable[[int], None]  # told how many tokens just arrived


# An SSE line longer than this is no token stream (and buffering it would cost quadratic CPU).
MAX_LINE = 2**20
CT_KEY = b'"completion_tokens":'
PT_KEY = b'"prompt_tokens":'
# Servers differ in JSON spacing: `"choices": []` or `"choices":[]`.
EMPTY_CHOICES = re.compile(rb'"choices"\s*:\s*\[\s*\]')
ID_RE = re.compile(rb'"id"\s*:\s*"([^"]*)"')
# vLLM's `return_token_ids`: each chunk's new token ids (the first chunk's "prompt_token_ids" has a
# `_` before the quote this pattern starts with, so it never matches here).
TOKEN_IDS_RE = re.compile(rb'"token_ids"\s*:\s*\[([^\]]*)\]')
_DIGITS = re.compile(rb"\s*(\d+)")


def _response_id(payload: bytes) -> str:
    m = ID_RE.search(payload)
    return m.group(1).decode(errors="replace") if m else ""


class _SSEConsumer:
    """Turns a streamed body into the record's timings and token counts, read by read.

    Reads raw bytes and finds the cumulative `completion_tokens` of each event with a byte search
    rather than a JSON parse: the client's CPU per token is taken from the server on a shared
    host. Events without usage (other servers), errors and kept text take the JSON path. SSE lines
    end at CR or LF only; both are single bytes that never occur inside a UTF-8 sequence or a JSON
    string, so splitting bytes is exact (U+2028 and U+0085 stay inside).
    """

    __slots__ = (
        *("api", "buf", "counted", "got_first", "keep_text", "last", "on_tokens", "record", "start"),
        *("ids", "text_parts", "usage_seen", "chat", "reasoning", "answer_at", "reasoning_parts"),
    )

    def __init__(
        self,
        record: RequestRecord,
        api: str,
        on_tokens: Callable[[int], None],
        keep_text: bool,
        collect_ids: bool = False,
    ):
        self.record, self.api, self.on_tokens, self.keep_text = record, api, on_tokens, keep_text
        self.ids: list[int] | None = [] if collect_ids else None  # the answer's token ids (multi-turn)
        self.buf = b""
        self.counted = 0
        self.got_first = False
        self.usage_seen = False
        self.text_parts: list[str] = []
        self.start = self.last = 0.0
        # A chat answer's reasoning tokens (engine.load.chunk), apart from the answer's, and when
        # its first answer token came.
        self.chat, self.reasoning, self.answer_at = api == "chat", 0, None
        self.reasoning_parts: list[str] = []

    def __call__(self, data: bytes, now: float) -> bool:
        """Feed one read; True once the stream's [DONE] has arrived."""
        record = self.record
        buf = self.buf + data if self.buf else data
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *lines, self.buf = buf.split(b"\n")
        if len(self.buf) > MAX_LINE:
            raise StreamError(f"an SSE line of over {MAX_LINE // 1024} KiB: not a token stream")
        for line in lines:
            if not line.startswith(b"data:"):
                continue  # blank separators, comments (pings), event/id fields
            payload = line[5:].strip()
            if payload == b"[DONE]":
                return True
            if record.response_id is None:
                record.response_id = _response_id(payload)
            pos = payload.rfind(CT_KEY) if not self.keep_text else -1
            if pos >= 0:
                self.usage_seen = True
                digits = _DIGITS.match(payload, pos + len(CT_KEY))
                new = int(digits.group()) - self.counted if digits else 0
                if record.prompt_tokens is None:
                    p = payload.rfind(PT_KEY)
                    if p >= 0 and (m := _DIGITS.match(payload, p + len(PT_KEY))):
                        record.prompt_tokens = int(m.group())
                # A byte test first: the regex only where an empty list may be.
                maybe_empty = b"[]" in payload or b"[ " in payload
                if new <= 0 or (maybe_empty and EMPTY_CHOICES.search(payload)):
                    # The final usage-only chunk (or a chunk with no new token).
                    self.counted += max(new, 0)
                    continue
                thinking = self.chat and REASONING_KEY in payload and is_reasoning(payload)
            else:
                new, piece, thinking = parse_event(payload, self.api, record)
                if new < 0:  # usage reported through the JSON path
                    self.usage_seen = True
                    new = -new - 1 - self.counted
                if self.keep_text and piece:
                    (self.reasoning_parts if thinking else self.text_parts).append(piece)
                if new <= 0:
                    continue
            if thinking:
                self.reasoning += new
            elif self.answer_at is None:
                self.answer_at = now
            if self.ids is not None and (m := TOKEN_IDS_RE.search(payload)):
                self.ids.extend(int(t) for t in m.group(1).split(b",") if t.strip())
            if not self.got_first:
                self.got_first = True
                record.ttft = now - self.start
            else:
                record.chunk_gaps.append(now - self.last)
                record.chunk_tokens.append(new)
            self.last = now
            self.counted += new
            self.on_tokens(new)
        return False


async def stream_request(
    session: Session,
    url: str,
    body: bytes,
    record: RequestRecord,
    api: str,
    on_tokens: Callable[[int], None],
    keep_text: bool = False,
    deadline_s: float | None = None,
    collect_ids: bool = False,
) -> RequestRecord:
    """Send one streaming request and fill `record` with its timings and token counts; past
    `deadline_s` the request is given up (a failed record, its connection closed). With
    `collect_ids` (a body asking `return_token_ids`), the answer's ids go to `record.output_ids`."""
    consumer = _SSEConsumer(record, api, on_tokens, keep_text, collect_ids)
    record.start_time = wallclock.now()  # a worker's clock: the coordinator takes its offset off
    consumer.start = consumer.last = time.perf_counter()
    try:
        try:
            await asyncio.wait_for(session.post_stream(url, body, consumer), deadline_s)
        except TimeoutError:
            raise StreamError(
                f"no complete response within {deadline_s:.0f} s (the request deadline: --request-timeout)"
            ) from None
        record.e2el = consumer.last - consumer.start
        record.usage_reported = consumer.usage_seen
        if keep_text:
            record.text = "".join(consumer.text_parts)
            record.reasoning_text = "".join(consumer.reasoning_parts) if consumer.reasoning_parts else None
        if consumer.reasoning or consumer.reasoning_parts:
            record.reasoning_tokens = consumer.reasoning
            record.answer_ttft = None if consumer.answer_at is None else consumer.answer_at - consumer.start
        record.output_tokens = consumer.counted
        record.output_ids = consumer.ids
        if not consumer.got_first:
            raise StreamError("the stream ended without a single token")
        record.ok = True
    except (HTTPError, StreamError, OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        # Whatever a server sends, one bad request is a failed record, never a crashed run.
        record.ok = False
        record.error = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
        record.http_status = getattr(exc, "status", None)
        if record.e2el is None:
            record.e2el = time.perf_counter() - consumer.start
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
    # Called once, when the cell's first output token arrives: the server is then certainly busy
    # with the cell (the telemetry samples its state there, so a short cell has one).
    on_first_token: Callable[[], None] | None = None

    def add_tokens(self, n: int) -> None:
        self.set_tokens(self.output_tokens + n)

    def count(self, record: RequestRecord) -> None:
        """A finished request: done or failed."""
        if record.ok:
            self.done += 1
        else:
            self.failed += 1

    def set_tokens(self, total: int) -> None:
        self.output_tokens = total
        if total and self.on_first_token is not None:
            callback, self.on_first_token = self.on_first_token, None
            callback()


def new_session(concurrency: int, read_timeout_s: float = 1800.0, headers: dict[str, str] | None = None) -> Session:
    """One session per run: C keep-alive connections, no total deadline (8k-token answers take long),
    a read timeout between two pieces of a response."""
    return Session(concurrency + 4, read_timeout_s=read_timeout_s, headers=headers)


@dataclass(frozen=True)
class PreparedRequest:
    """A request made ahead of its cell, so the timed loop only sends it: the serialised JSON body
    for HTTP, the prompt and sampling parameters for an in-process engine (engine/load/inprocess.py)."""

    body: Any
    expected_prompt_tokens: int
    # A dataset or trace request's own lengths and send time (None: the cell's; engine/load/datasets.py).
    input_len: int | None = None
    output_len: int | None = None
    planned_s: float | None = None
    # A multi-turn request (engine/load/conversations.py): `body` is then this turn's user tokens,
    # made into the real request only when the turns before it have their answers.
    conversation: int | None = None
    turn: int | None = None
    answer_ids: bool = False  # ask for the answer's token ids (record.output_ids)


class Target(Protocol):
    """Where a closed loop sends its requests: a server over HTTP, or an engine in this process."""

    endpoint: Endpoint | None  # where load workers in other processes can send them too (None: nowhere)

    def prepare(self, prompt: Prompt, output_len: int, answer_ids: bool = False) -> PreparedRequest:
        """A request ready to send; with `answer_ids` its answer's token ids come back in the record."""

    async def send(
        self,
        request: PreparedRequest,
        record: RequestRecord,
        on_tokens: Callable[[int], None],
        deadline_s: float | None,
    ) -> None:
        """Send one request and fill `record` (timings, token counts, ok or error); never raise for
        a failed request."""


@dataclass(frozen=True)
class SendCore:
    """The bookkeeping every send loop shares (closed, open, conversations): a request counts in
    flight from its send to its end; a finished one counts done or failed, then goes to `on_record`.
    A request cut short (cancelled) leaves the in-flight count and is lost, not failed: no record."""

    target: Target
    load: CellLoad
    on_record: Callable[[RequestRecord], None]
    deadline_s: float | None = None

    async def send(self, request: PreparedRequest, record: RequestRecord) -> None:
        """Send `request`, counted in flight until it ends, filling `record` (never raises for a failed request)."""
        self.load.in_flight += 1
        try:
            await self.target.send(request, record, self.load.add_tokens, self.deadline_s)
        finally:
            self.load.in_flight -= 1

    def finish(self, record: RequestRecord) -> None:
        finish_request(self.load, self.on_record, record)


@dataclass(frozen=True)
class PhaseSend:
    """What every sender of a load phase (a cell's warm-up or its measurement) is given alike."""

    output_len: int  # the cell's (a dataset request carries its own)
    warmup: bool
    on_record: Callable[[RequestRecord], None]  # each finished request, once
    load: CellLoad  # the cell's live counters
    deadline_s: float | None = None  # each request's

    def core(self, target: Target) -> SendCore:
        return SendCore(target, self.load, self.on_record, self.deadline_s)


def finish_request(load: CellLoad, on_record: Callable[[RequestRecord], None], record: RequestRecord) -> None:
    """A finished request, wherever it was sent (here, or by a load worker): counted done or failed, then kept."""
    load.count(record)
    on_record(record)


class HttpTarget:
    """An OpenAI-compatible server: streaming requests over our own HTTP client. `answer_ids_field`:
    the request field that has the server stream each chunk's `token_ids` (its backend's: vLLM's
    and SGLang's `return_token_ids`); None: the server has none."""

    def __init__(
        self,
        session: Session,
        base_url: str,
        api: str,
        model: str,
        keep_text: bool = False,
        answer_ids_field: str | None = "return_token_ids",
    ):
        self.session, self.api, self.model, self.keep_text = session, api, model, keep_text
        self.url = base_url + api_path(api)
        self.answer_ids_field = answer_ids_field
        self.endpoint: Endpoint | None = Endpoint(base_url, api, model, keep_text)

    def prepare(self, prompt: Prompt, output_len: int, answer_ids: bool = False) -> PreparedRequest:
        field_name = self.answer_ids_field
        extra = {field_name: True} if answer_ids and field_name else None
        body = request_body(self.api, self.model, prompt, output_len, usage=True, extra=extra)
        return PreparedRequest(
            json.dumps(body, separators=(",", ":")).encode(), prompt.expected_len, answer_ids=answer_ids
        )

    async def send(
        self,
        request: PreparedRequest,
        record: RequestRecord,
        on_tokens: Callable[[int], None],
        deadline_s: float | None,
    ) -> None:
        await stream_request(
            self.session,
            self.url,
            request.body,
            record,
            self.api,
            on_tokens,
            self.keep_text,
            deadline_s,
            request.answer_ids,
        )


async def run_closed_loop(
    target: Target,
    cell: Cell,
    requests: list[PreparedRequest],
    send: PhaseSend,
    *,
    slots: int | None = None,
    take: Callable[[], Awaitable[int | None]] | None = None,
) -> float:
    """Drive `requests` with the cell's concurrency in flight; return the wall duration in seconds.

    A worker process of several (engine.load.workers) runs `slots` of the cell's slots and gets the
    index of each next request from `take` (None: the cell has no more), so that every request is
    sent by exactly one worker; alone, the loop runs all slots and counts the indices itself."""
    next_index = 0
    core = send.core(target)

    async def slot() -> None:
        nonlocal next_index
        freed = time.perf_counter()  # when this slot became free: the planned send time
        while True:
            if take is None:
                if next_index >= len(requests):
                    break
                i = next_index
                next_index += 1
            elif (i := await take()) is None:
                break
            record = RequestRecord.for_cell(cell, i, send.output_len, send.warmup, requests[i].expected_prompt_tokens)
            record.send_delay = time.perf_counter() - freed
            try:
                await core.send(requests[i], record)
            finally:
                freed = time.perf_counter()
            core.finish(record)

    start = time.perf_counter()
    n_slots = cell.concurrency if slots is None else slots
    await asyncio.gather(*(slot() for _ in range(min(n_slots, len(requests)))))
    return time.perf_counter() - start
