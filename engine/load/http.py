"""The load's wire: HTTP/1.1 over keep-alive connections, read by an asyncio Protocol.

Why not aiohttp (or httpx) here: every read then goes through a StreamReader, a future and a task
wake-up before our code sees the bytes, and on a host shared with the server under test every
client CPU second is taken from the server. A Protocol's data_received is called straight from
the event loop's read callback: the bytes are timestamped as they arrive and handed to the stream
consumer (engine.load.client) with no task switch. Only what a streaming POST needs is here:
status line and headers, chunked or Content-Length bodies, keep-alive, TLS for https endpoints.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024  # a response head larger than this is not an HTTP server we can benchmark


class HTTPError(Exception):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status  # the HTTP status, when the server answered with one


# Called with (body bytes, arrival time) for each piece of the body; returns True when the
# consumer has all it needs (the stream's [DONE]).
BodyConsumer = Callable[[bytes, float], bool]


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reusable = False
        self._reset()

    def _reset(self) -> None:
        self._buf = b""
        self._head_done = False
        self._status = 0
        self._chunked = False
        self._remaining: int | None = None  # Content-Length body bytes still to come
        self._chunk_left = 0  # bytes of the current chunk still to come (chunked)
        self._error_body = b""
        self._consumer: BodyConsumer | None = None
        self._done: asyncio.Future | None = None
        self._body_ended = False
        self.last_activity = 0.0

    # -- asyncio.Protocol ----------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.reusable = False
        if self._done is not None and not self._done.done():
            if self._head_done and self._remaining is None and not self._chunked and self._status == 200:
                self._finish()  # a body delimited by the connection's end (HTTP/1.0 style)
            else:
                reason = f": {exc}" if exc else ""
                self._done.set_exception(HTTPError(f"the server closed the connection mid-response{reason}"))

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.last_activity = now
        if self._done is None or self._done.done():
            return  # the rest of a response whose consumer already had all it needed
        try:
            if not self._head_done:
                self._buf += data
                end = self._buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._buf) > MAX_HEAD:
                        raise HTTPError(f"no end of the response head within {MAX_HEAD} bytes")
                    return
                head, data = self._buf[:end], self._buf[end + 4 :]
                self._buf = b""
                self._parse_head(head)
            if data:
                self._body(data, now)
        except Exception as exc:  # a malformed response fails this request, never the loop
            self.reusable = False
            if not self._done.done():
                self._done.set_exception(exc if isinstance(exc, HTTPError) else HTTPError(f"{exc!r}"))
            if self.transport is not None:
                self.transport.close()

    # -- parsing -------------------------------------------------------------------------
    def _parse_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise HTTPError(f"not an HTTP response: {lines[0][:100]!r}")
        self._status = int(parts[1])
        keep_alive = parts[0] != b"HTTP/1.0"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"transfer-encoding" and b"chunked" in value:
                self._chunked = True
            elif name == b"content-length" and value.isdigit():
                self._remaining = int(value)
            elif name == b"connection":
                keep_alive = value == b"keep-alive" or (keep_alive and value != b"close")
        self.reusable = keep_alive and (self._chunked or self._remaining is not None)
        self._head_done = True
        if not self._chunked and self._remaining == 0:
            self._end_body()

    def _body(self, data: bytes, now: float) -> None:
        if not self._chunked:
            if self._remaining is not None:
                data = data[: self._remaining]
                self._remaining -= len(data)
            self._deliver(data, now)
            if self._remaining == 0:
                self._end_body()
            return
        if not self._buf and not self._chunk_left:
            # The common case: a read that is exactly one whole chunk (one SSE event).
            line_end = data.find(b"\r\n")
            if line_end > 0 and b";" not in data[:line_end]:
                try:
                    size = int(data[:line_end], 16)
                except ValueError:
                    size = -1
                start = line_end + 2
                if size > 0 and len(data) == start + size + 2 and data.endswith(b"\r\n"):
                    self._deliver(data[start : start + size], now)
                    return
        self._buf += data
        pieces = []
        while True:
            if self._chunk_left:
                piece = self._buf[: self._chunk_left]
                self._chunk_left -= len(piece)
                self._buf = self._buf[len(piece) :]
                pieces.append(piece)
                if self._chunk_left:
                    break
                continue
            if self._buf.startswith(b"\r\n"):  # the CRLF after a chunk's data
                self._buf = self._buf[2:]
            line_end = self._buf.find(b"\r\n")
            if line_end < 0:
                if len(self._buf) > 1024:
                    raise HTTPError("a chunk size line of over 1 KiB")
                break
            size_text = self._buf[:line_end].split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise HTTPError(f"bad chunk size {size_text[:40]!r}") from None
            self._buf = self._buf[line_end + 2 :]
            if size == 0:
                self._buf = b""
                if pieces:
                    self._deliver(b"".join(pieces), now)
                self._end_body()
                return
            self._chunk_left = size
        if pieces:
            self._deliver(b"".join(pieces), now)

    def _deliver(self, data: bytes, now: float) -> None:
        if self._status != 200:
            if len(self._error_body) < 2000:
                self._error_body += data
            return
        if self._consumer(data, now):
            self._finish()

    def _end_body(self) -> None:
        self._body_ended = True
        if self._status != 200:
            detail = self._error_body.decode(errors="replace")[:500]
            self._done.set_exception(HTTPError(f"HTTP {self._status}: {detail}", self._status))
        else:
            self._finish()

    def _finish(self) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    # -- one request ---------------------------------------------------------------------
    async def request(self, head: bytes, body: bytes, consumer: BodyConsumer, read_timeout_s: float) -> None:
        """Send one request; return when the consumer has what it needs or the body ended."""
        self._reset()
        loop = asyncio.get_running_loop()
        self._consumer = consumer
        self._done = done = loop.create_future()
        self.last_activity = time.perf_counter()
        self.transport.write(head + body)
        # One timer for the whole request, re-armed lazily: no timer work per read.
        timer = loop.call_later(read_timeout_s, self._check_idle, read_timeout_s)
        try:
            await done
        finally:
            timer.cancel()
            # Reusable only when this response was read to its end (the next read starts clean).
            self.reusable = self.reusable and self._body_ended and not self.closed

    def _check_idle(self, timeout_s: float) -> None:
        if self._done is None or self._done.done():
            return
        idle = time.perf_counter() - self.last_activity
        if idle >= timeout_s:
            self.reusable = False
            self._done.set_exception(HTTPError(f"no data from the server for {timeout_s:.0f} s (read timeout)"))
            self.transport.close()
        else:
            asyncio.get_running_loop().call_later(timeout_s - idle, self._check_idle, timeout_s)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()


class Session:
    """Keep-alive connections to one or more endpoints, handed out one request at a time."""

    def __init__(
        self,
        limit: int,
        read_timeout_s: float = 1800.0,
        connect_timeout_s: float = 30.0,
        headers: dict[str, str] | None = None,
    ):
        self.limit = limit
        # Sent with every request (an Authorization header, say), encoded once.
        self._headers = b"".join(f"{k}: {v}\r\n".encode() for k, v in (headers or {}).items())
        self.read_timeout_s = read_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._all: set[_Connection] = set()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for conn in self._all:
            conn.close()
        self._all.clear()
        self._idle.clear()

    async def _connect(self, key: tuple[str, str, int]) -> _Connection:
        scheme, host, port = key
        context = ssl.create_default_context() if scheme == "https" else None
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(_Connection, host, port, ssl=context), self.connect_timeout_s
            )
        except TimeoutError:
            raise HTTPError(f"no connection to {host}:{port} within {self.connect_timeout_s:.0f} s") from None
        self._all.add(conn)
        return conn

    async def post_stream(self, url: str, body: bytes, consumer: BodyConsumer, headers: bytes = b"") -> None:
        """POST `body` (JSON) to `url` and feed the response body to `consumer` as it arrives.

        Raises HTTPError (a non-200 status with the start of its body, a malformed response, a
        read timeout) or OSError (no connection)."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80))
        idle = self._idle.setdefault(key, [])
        conn = None
        while idle:
            candidate = idle.pop()
            if not candidate.closed:
                conn = candidate
                break
        if conn is None:
            conn = await self._connect(key)
        host = parts.netloc.encode()
        path = (parts.path or "/").encode() + (b"?" + parts.query.encode() if parts.query else b"")
        head = (
            b"POST " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\nContent-Type: application/json\r\n"
            b"Accept: text/event-stream\r\n"
            + self._headers
            + headers
            + b"Content-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
        )
        try:
            await conn.request(head, body, consumer, self.read_timeout_s)
        finally:
            if conn.reusable:
                idle.append(conn)
            else:
                conn.close()
                self._all.discard(conn)
