"""A small OpenAI-compatible server for fault injection and for servers unlike vLLM.

Never the only proof of anything: the integration tests run the real vLLM. This one plays the
servers vLLM is not: text-only prompts, chat-only, no usage, errors, weird text, dying streams.
Run as a script (`python tests/fake_openai.py --port N --model-path M ...`) it is a launched
server of another engine, with its own health path, version route and /metrics names.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class FakeConfig:
    model: str = "fake-model"
    accept_token_ids: bool = True
    chat_only: bool = False
    usage: str = "continuous"  # continuous | final | none
    tokens_per_chunk: int = 1
    # Texts the streamed tokens cycle through: include line separators JSON may carry raw.
    pieces: tuple[str, ...] = ("a", "\u2028", "b\u0085c", "", "d\r", "e")
    status: int = 200  # anything else: every completion request fails with it
    die_after_tokens: int | None = None  # cut the connection mid-stream
    token_delay_s: float = 0.0
    tokenizer: object | None = None  # counts text prompts like a real server would
    line_end: str = "\n"  # SSE allows CRLF and CR too
    split_writes: bool = False  # send each event in small pieces (events split across reads)
    error_event_after: int | None = None  # send an in-stream error event after this many tokens
    # (request body, how many completion requests came before it) -> an HTTP status to fail it with
    fail_when: Callable[[dict, int], int | None] | None = None
    dead: bool = False  # every request's connection is dropped, /v1/models included (a dead server)
    # Each token's delay grows by this much per stream in flight (a server whose latency grows with load).
    delay_per_stream_s: float = 0.0
    # vLLM's return_token_ids: each chunk's token ids (token j of an answer is 1000 + j), and the
    # prompt's in the first chunk; False plays a server that ignores the field.
    return_token_ids: bool = True
    api_key: str | None = None  # when set, the API's routes answer 401 without `Authorization: Bearer <it>`
    # (request body, how many completion requests came before it) -> after how many tokens its stream
    # stops sending, its connection kept open while the server lives (a stalled server); None: no stall
    stall_when: Callable[[dict, int], int | None] | None = None
    vllm_metrics: bool = False  # serve /metrics in vLLM's names: streams open as running, tokens as counted
    health_path: str = "/health"
    version: str | None = None  # served at /server_version as {"version": ...}
    # /metrics in this engine's own names (`PREFIX:running_streams`, `PREFIX:tokens_out_total`, ...)
    metrics_prefix: str | None = None
    exit_on_request: int | None = None  # the whole process exits (code 3) when this request arrives
    # A chat answer's first tokens stream as a reasoning parser's deltas, in this field (vLLM 0.32:
    # `reasoning`; older vLLM, SGLang and DeepSeek's API: `reasoning_content`, beside a null content).
    reasoning_tokens: int = 0
    reasoning_field: str = "reasoning"
    requests: list[dict] = field(default_factory=list)
    tokens_in: int = 0  # prompt tokens of every completion stream so far
    tokens_out: int = 0  # tokens streamed so far
    streams: int = 0  # completion streams open now
    max_streams: int = 0  # the most ever open at once (a closed loop's C must bound it)


class FakeServer:
    def __init__(self, config: FakeConfig):
        self.config = config
        self.app = web.Application()
        self.app.router.add_get("/v1/models", self.models)
        self.app.router.add_get(config.health_path, self.health)
        if config.version:
            self.app.router.add_get("/server_version", self.version)
        if config.metrics_prefix:
            self.app.router.add_get("/metrics", self.metrics)
        elif config.vllm_metrics:
            self.app.router.add_get("/metrics", self.vllm_metrics)
        self.closing = asyncio.Event()  # set on exit: stalled streams end then
        if not config.chat_only:
            self.app.router.add_post("/v1/completions", self.completions)
        self.app.router.add_post("/v1/chat/completions", self.chat)
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> FakeServer:
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc) -> None:
        self.closing.set()
        await self.runner.cleanup()

    async def health(self, request):
        return web.Response(text="")

    async def vllm_metrics(self, request):
        cfg, labels = self.config, f'{{engine="0",model_name="{self.config.model}"}}'
        lines = [
            f"vllm:num_requests_running{labels} {float(cfg.streams)}",
            f"vllm:num_requests_waiting{labels} 0.0",
            f"vllm:kv_cache_usage_perc{labels} 0.25",
            f"vllm:generation_tokens_total{labels} {float(cfg.tokens_out)}",
            f"vllm:prompt_tokens_total{labels} {float(cfg.tokens_in)}",
        ]
        return web.Response(text="\n".join(lines) + "\n")

    async def version(self, request):
        return web.json_response({"version": self.config.version})

    async def metrics(self, request):
        cfg, p = self.config, self.config.metrics_prefix
        lines = [
            f"# TYPE {p}:running_streams gauge",
            f'{p}:running_streams{{model="{cfg.model}"}} {float(cfg.streams)}',
            f"# TYPE {p}:queued gauge",
            f'{p}:queued{{model="{cfg.model}"}} 0.0',
            f"# TYPE {p}:cache_fill gauge",
            f'{p}:cache_fill{{model="{cfg.model}"}} 0.0',
            f"# TYPE {p}:tokens_out counter",
            f'{p}:tokens_out_total{{model="{cfg.model}"}} {float(cfg.tokens_out)}',
            f"# TYPE {p}:tokens_in counter",
            f'{p}:tokens_in_total{{model="{cfg.model}"}} {float(cfg.tokens_in)}',
        ]
        return web.Response(text="\n".join(lines) + "\n")

    def _drop_if_dead(self, request) -> None:
        if self.config.dead:
            request.transport.close()
            raise ConnectionResetError("the fake server is dead")
        key = self.config.api_key
        if key and request.headers.get("Authorization") != f"Bearer {key}":
            raise web.HTTPUnauthorized(text='{"error": "invalid api key"}')

    async def models(self, request):
        self._drop_if_dead(request)
        return web.json_response({"object": "list", "data": [{"id": self.config.model, "root": "/nonexistent"}]})

    def _prompt_len(self, prompt) -> int:
        if isinstance(prompt, list):
            return len(prompt)
        tok = self.config.tokenizer
        return len(tok.encode(prompt, add_special_tokens=False)) if tok else len(prompt.split())

    async def completions(self, request):
        self._drop_if_dead(request)
        body = await request.json()
        self.config.requests.append(body)
        if self.config.exit_on_request is not None and len(self.config.requests) >= self.config.exit_on_request:
            os._exit(3)  # a server process that dies under load (run as a script: a launched server)
        if isinstance(body.get("prompt"), list) and not self.config.accept_token_ids:
            return web.json_response({"error": {"message": "prompt must be a string"}}, status=400)
        return await self._stream(request, body, self._prompt_len(body["prompt"]), chat=False)

    async def chat(self, request):
        self._drop_if_dead(request)
        body = await request.json()
        self.config.requests.append(body)
        text = body["messages"][-1]["content"]
        return await self._stream(request, body, self._prompt_len(text), chat=True)

    async def _stream(self, request, body, prompt_len: int, chat: bool):
        cfg = self.config
        status = cfg.fail_when(body, len(cfg.requests) - 1) if cfg.fail_when else None
        status = status or cfg.status
        if status != 200:
            return web.json_response({"error": {"message": "injected failure"}}, status=status)
        # Counted open until just before its last event is written: the client cannot have sent its
        # next request before then, so a closed loop of C never shows more than C here.
        cfg.streams += 1
        cfg.max_streams = max(cfg.max_streams, cfg.streams)
        cfg.tokens_in += prompt_len
        open_ = [True]
        try:
            return await self._stream_tokens(request, body, prompt_len, chat, open_)
        finally:
            if open_[0]:
                cfg.streams -= 1

    def _closing(self, open_: list[bool]) -> None:
        if open_[0]:
            open_[0] = False
            self.config.streams -= 1

    async def _stream_tokens(self, request, body, prompt_len: int, chat: bool, open_: list[bool]):
        cfg = self.config
        stall_at = cfg.stall_when(body, len(cfg.requests) - 1) if cfg.stall_when else None
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        n = body.get("max_tokens") or body.get("max_completion_tokens") or 16
        sent = 0
        i = 0
        while sent < n:
            if stall_at is not None and sent >= stall_at:
                await self.closing.wait()  # alive, connection open, nothing more sent
                return resp
            k = min(cfg.tokens_per_chunk, n - sent)
            text = "".join(cfg.pieces[(i + j) % len(cfg.pieces)] for j in range(k))
            i += k
            sent += k
            if cfg.die_after_tokens is not None and sent > cfg.die_after_tokens:
                self._closing(open_)
                request.transport.close()  # the server "dies" mid-stream
                return resp
            if cfg.error_event_after is not None and sent > cfg.error_event_after:
                await self._send(resp, {"error": {"message": "injected", "code": 500}})
                break
            choice = {"index": 0, "delta": self._delta(text, sent, k)} if chat else {"index": 0, "text": text}
            if body.get("return_token_ids") and cfg.return_token_ids:
                choice["token_ids"] = list(range(1000 + sent - k, 1000 + sent))
                if sent == k and isinstance(body.get("prompt"), list):
                    choice["prompt_token_ids"] = body["prompt"]
            chunk = {"id": "cmpl-fake", "choices": [choice]}
            if cfg.usage == "continuous":
                chunk["usage"] = {"prompt_tokens": prompt_len, "completion_tokens": sent}
            cfg.tokens_out += k
            await self._send(resp, chunk)
            delay = cfg.token_delay_s + cfg.delay_per_stream_s * cfg.streams
            if delay:
                await asyncio.sleep(delay)
        if cfg.usage in ("continuous", "final"):
            final = {"choices": [], "usage": {"prompt_tokens": prompt_len, "completion_tokens": sent}}
            await self._send(resp, final)
        self._closing(open_)
        await self._send(resp, "[DONE]")
        await resp.write_eof()
        return resp

    def _delta(self, text: str, sent: int, k: int) -> dict:
        """A chat chunk's delta: reasoning while the answer's first `reasoning_tokens` stream, then
        content (a chunk that holds both carries both)."""
        thinking = min(k, max(0, self.config.reasoning_tokens - (sent - k)))
        if not thinking:
            return {"content": text}
        field = self.config.reasoning_field
        if thinking == k:
            return {field: text} | ({"content": None} if field == "reasoning_content" else {})
        return {field: text[:thinking], "content": text[thinking:]}  # split by characters: a stand-in

    async def _send(self, resp, event) -> None:
        # ensure_ascii=False: U+2028 and U+0085 go out raw, as vLLM sends them.
        data = event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)
        end = self.config.line_end
        raw = f"data: {data}{end}{end}".encode()
        if not self.config.split_writes:
            await resp.write(raw)
            return
        for i in range(0, len(raw), 7):
            await resp.write(raw[i : i + 7])
            await asyncio.sleep(0)


def main() -> None:
    """Serve on --port until killed: a launched server of an engine that is not vLLM."""
    p = argparse.ArgumentParser()
    p.add_argument("--model-path", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--health-path", default="/health")
    p.add_argument("--metrics-prefix")
    p.add_argument("--version")
    p.add_argument("--token-delay", type=float, default=0.0, help="seconds between two tokens of a stream")
    p.add_argument("--exit-on-request", type=int, help="exit (code 3) when this completion request arrives")
    args = p.parse_args()
    print(f"fake engine: {vars(args)}", flush=True)
    cfg = FakeConfig(
        model=args.model_path,
        health_path=args.health_path,
        metrics_prefix=args.metrics_prefix,
        version=args.version,
        token_delay_s=args.token_delay,
        exit_on_request=args.exit_on_request,
    )
    web.run_app(FakeServer(cfg).app, host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
