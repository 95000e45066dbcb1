"""A streaming endpoint that emits tokens on an exact, known schedule, for `llmbench-tui selftest`.

It speaks just enough HTTP/1.1 and OpenAI completions streaming (vLLM's chunk shape, usage in
every chunk) for a benchmark client, and records when each token actually left: the client's
error on every inter-token gap is then known, whatever this server's own scheduling jitter.
Run as its own process (`python -m engine.bench.schedule_server --port P`), so it shares no event
loop with the client it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

STATS: dict[str, dict] = {}  # response id -> {"text": first token, "sent": [epoch seconds per token]}


class Handler(asyncio.Protocol):
    def __init__(self, ttft_s: float, itl_s: float):
        self.ttft_s, self.itl_s = ttft_s, itl_s
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buf[:head_end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buf) < head_end + 4 + length:
                return
            body = self.buf[head_end + 4 : head_end + 4 + length]
            self.buf = self.buf[head_end + 4 + length :]
            method, path = head.split(" ", 2)[:2]
            asyncio.get_running_loop().create_task(self.route(method, path, body))

    def reply(self, status: str, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.transport.write(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            + data
        )

    async def route(self, method: str, path: str, body: bytes) -> None:
        if path == "/v1/models":
            self.reply(
                "200 OK", {"object": "list", "data": [{"id": "selftest", "root": None, "max_model_len": 1 << 20}]}
            )
        elif path == "/health":
            self.reply("200 OK", {})
        elif path == "/stats":
            self.reply("200 OK", STATS)
        elif path == "/reset":
            STATS.clear()
            self.reply("200 OK", {})
        elif path == "/v1/completions" and method == "POST":
            await self.stream(json.loads(body))
        else:
            self.reply("404 Not Found", {"error": path})

    async def stream(self, req: dict) -> None:
        start = time.monotonic()
        n = len(STATS)
        rid = f"cmpl-st-{n}"
        prompt = req.get("prompt", "")
        plen = len(prompt) if isinstance(prompt, list) else len(str(prompt).split())
        osl = int(req.get("max_tokens") or 16)
        sent: list[float] = []
        STATS[rid] = {"text": f" r{n}", "sent": sent}
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        for i in range(1, osl + 1):
            # Absolute deadlines: a late token does not push the later ones back.
            delay = start + self.ttft_s + (i - 1) * self.itl_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            text = f" r{n}" if i == 1 else " x"
            chunk = {
                "id": rid,
                "object": "text_completion",
                "created": 0,
                "model": "selftest",
                "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": None}],
                "usage": {"prompt_tokens": plen, "total_tokens": plen + i, "completion_tokens": i},
            }
            self._chunk(b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n")
            sent.append(time.time())
            if self.transport.is_closing():
                return
        final = {
            "id": rid,
            "choices": [],
            "usage": {"prompt_tokens": plen, "total_tokens": plen + osl, "completion_tokens": osl},
        }
        self._chunk(b"data: " + json.dumps(final).encode() + b"\n\ndata: [DONE]\n\n")
        self.transport.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        self.transport.write(b"%x\r\n%s\r\n" % (len(data), data))


async def serve(host: str, port: int, ttft_ms: float, itl_ms: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Handler(ttft_ms / 1000, itl_ms / 1000), host, port)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description="token stream on an exact schedule")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ttft-ms", type=float, default=20.0)
    ap.add_argument("--itl-ms", type=float, default=10.0)
    args = ap.parse_args()
    from engine.loop import run

    run(serve(args.host, args.port, args.ttft_ms, args.itl_ms))


if __name__ == "__main__":
    main()
