"""A fast fake OpenAI-compatible completions server, for measuring the client (not for tests).

Raw asyncio (uvloop where installed), no framework: it streams each request's `max_tokens` tokens,
one token per SSE event with vLLM's continuous usage, as fast as the client reads, so the client's
own memory and CPU per token are what a benchmark sees. Events go out in batches of BATCH per
write; between batches the stream yields, so every stream in flight progresses.

    python benchmarks/fast_openai.py PORT
"""

from __future__ import annotations

import asyncio
import json
import sys

BATCH = 32
MODELS = b'{"object":"list","data":[{"id":"fake-model","object":"model","root":null,"max_model_len":65536}]}'


def _head(status: str, length: int | None, kind: bytes = b"application/json") -> bytes:
    size = b"Transfer-Encoding: chunked\r\n" if length is None else b"Content-Length: %d\r\n" % length
    return b"HTTP/1.1 %s\r\nContent-Type: %s\r\n%sConnection: keep-alive\r\n\r\n" % (status.encode(), kind, size)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _stream(writer: asyncio.StreamWriter, body: dict) -> None:
    n, prompt = int(body.get("max_tokens") or 16), body.get("prompt")
    prompt_tokens = len(prompt) if isinstance(prompt, list) else max(1, len(str(prompt or "").split()))
    writer.write(_head("200 OK", None, b"text/event-stream"))
    event = b'data: {"id":"cmpl-fast","object":"text_completion","choices":[{"index":0,"text":"a"}],'
    usage = b'"usage":{"prompt_tokens":%d,"completion_tokens":%%d}}\n\n' % prompt_tokens
    for start in range(0, n, BATCH):
        part = b"".join(event + usage % (i + 1) for i in range(start, min(n, start + BATCH)))
        writer.write(_chunk(part))
        await writer.drain()
        await asyncio.sleep(0)
    last = b'data: {"id":"cmpl-fast","choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d}}\n\n'
    writer.write(_chunk(last % (prompt_tokens, n) + b"data: [DONE]\n\n") + b"0\r\n\r\n")
    await writer.drain()


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            line, *fields = head.decode("latin-1").split("\r\n")
            method, path, _ = line.split(" ", 2)
            length = next((int(f.split(":", 1)[1]) for f in fields if f.lower().startswith("content-length:")), 0)
            body = json.loads(await reader.readexactly(length)) if length else {}
            if method == "POST" and path.endswith("/completions"):
                await _stream(writer, body)
            elif path == "/v1/models":
                writer.write(_head("200 OK", len(MODELS)) + MODELS)
            else:
                writer.write(_head("404 Not Found", 2) + b"{}")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", port, backlog=1024)
    print(f"listening on {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(int(sys.argv[1])))
