"""The load's own HTTP/1.1 reader against a raw socket server that writes exactly the bytes given:
chunk framing split anywhere, Content-Length and close-delimited bodies, errors, keep-alive."""

from __future__ import annotations

import asyncio

import pytest

from engine.load.client import stream_request
from engine.load.http import Session
from engine.load.record import RequestRecord


def sse(*events: str) -> bytes:
    return b"".join(f"data: {e}\n\n".encode() for e in events)


TOKENS = [
    '{"id":"r1","choices":[{"text":"a"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}',
    '{"id":"r1","choices":[{"text":"b"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}',
    '{"id":"r1","choices":[{"text":"c"}],"usage":{"prompt_tokens":3,"completion_tokens":3}}',
    '{"id":"r1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":3}}',
    "[DONE]",
]


def chunked(body: bytes, size: int) -> bytes:
    out = b""
    for i in range(0, len(body), size):
        piece = body[i : i + size]
        out += f"{len(piece):x};ext=1\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\n\r\n"


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


class RawServer:
    """Answers each request on a connection with the next response; writes in pieces of `split`."""

    def __init__(self, responses: list[bytes], split: int = 0, close_after: bool = False, stall: bool = False):
        self.responses, self.split, self.close_after, self.stall = responses, split, close_after, stall
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.responses:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(
                    next(ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")).split(b":")[1]
                )
                self.requests.append(head + await reader.readexactly(length))
                response = self.responses.pop(0)
                step = self.split or len(response)
                for i in range(0, len(response), step):
                    writer.write(response[i : i + step])
                    await writer.drain()
                    if self.split:
                        await asyncio.sleep(0.001)
                if self.stall:
                    await asyncio.sleep(30)
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1/completions"
        return self

    async def __aexit__(self, *exc):
        self.server.close()


def record() -> RequestRecord:
    return RequestRecord(cell=0, index=0, concurrency=1, input_len=3, output_len=3)


@pytest.mark.parametrize("split", [0, 1, 3, 7])
@pytest.mark.parametrize("chunk", [3, 1000])
async def test_chunked_stream_split_anywhere(split, chunk):
    response = CHUNKED_HEAD + chunked(sse(*TOKENS), chunk)
    async with RawServer([response], split=split) as server, Session(2) as session:
        rec = await stream_request(session, server.url, b"{}", record(), "completions", lambda n: None)
    assert rec.ok, rec.error
    assert rec.output_tokens == 3 and rec.prompt_tokens == 3 and rec.response_id == "r1"
    assert len(rec.chunk_gaps) == 2 and list(rec.chunk_tokens) == [1, 1]


async def test_content_length_and_close_delimited_bodies():
    body = sse(*TOKENS)
    with_length = b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    until_close = b"HTTP/1.0 200 OK\r\n\r\n" + sse(*TOKENS[:4])  # no [DONE]: the body ends with the connection
    for response, close in ((with_length, False), (until_close, True)):
        async with RawServer([response], close_after=close) as server, Session(2) as session:
            rec = await stream_request(session, server.url, b"{}", record(), "completions", lambda n: None)
        assert rec.ok and rec.output_tokens == 3, rec.error


async def test_keep_alive_reuses_one_connection():
    responses = [CHUNKED_HEAD + chunked(sse(*TOKENS), 40) for _ in range(3)]
    async with RawServer(responses) as server, Session(2) as session:
        for _ in range(3):
            rec = await stream_request(session, server.url, b'{"x":1}', record(), "completions", lambda n: None)
            assert rec.ok, rec.error
    assert server.connections == 1 and len(server.requests) == 3
    assert server.requests[0].startswith(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:")
    assert server.requests[0].endswith(b'Content-Length: 7\r\n\r\n{"x":1}')


async def test_error_status_malformed_head_and_mid_stream_close_fail_the_record():
    bad_status = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 11\r\n\r\nbusy, sorry"
    not_http = b"SSH-2.0-OpenSSH\r\n\r\n"
    cut = CHUNKED_HEAD + chunked(sse(*TOKENS), 1000)[:60]
    for response, expected in (
        (bad_status, "HTTP 503: busy, sorry"),
        (not_http, "not an HTTP response"),
        (cut, "closed the connection mid-response"),
    ):
        async with RawServer([response], close_after=True) as server, Session(2) as session:
            rec = await stream_request(session, server.url, b"{}", record(), "completions", lambda n: None)
        assert not rec.ok and expected in rec.error, rec.error


async def test_read_timeout_and_line_cap():
    stalled = CHUNKED_HEAD + chunked(sse(TOKENS[0]), 1000)[:-5]
    async with RawServer([stalled], stall=True) as server, Session(2, read_timeout_s=0.3) as session:
        rec = await stream_request(session, server.url, b"{}", record(), "completions", lambda n: None)
    assert not rec.ok and "read timeout" in rec.error
    endless = CHUNKED_HEAD + chunked(b"data: " + b"x" * (2**20 + 10), 65536)
    async with RawServer([endless]) as server, Session(2) as session:
        rec = await stream_request(session, server.url, b"{}", record(), "completions", lambda n: None)
    assert not rec.ok and "not a token stream" in rec.error


async def test_unreachable_port_is_a_failed_record():
    async with Session(2) as session:
        rec = await stream_request(
            session, "http://127.0.0.1:9/v1/completions", b"{}", record(), "completions", lambda n: None
        )
    assert not rec.ok and rec.error
