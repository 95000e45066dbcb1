"""The in-process target: requests go straight to vLLM's `AsyncLLM` in this process, no HTTP.

The same rules as over HTTP (engine/load/client.py): a token-id prompt of the exact input length;
max_tokens = min_tokens = the output length with ignore_eos, greedy; outputs streamed as DELTAs and
timestamped as they arrive in this event loop (the same perf_counter clock). TTFT is the first
output that carries a token, E2E the last; a DELTA output of k tokens is one chunk of k tokens.
Tokens are counted from the token ids, never from text: the engine is asked not to detokenize
(text is the API server's work, and we never read it).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

from engine.load.client import PreparedRequest
from engine.load.prompts import Endpoint, Prompt
from engine.load.record import RequestRecord

_ids = itertools.count()


def sampling_params(output_len: int):
    """vLLM's SamplingParams for an exact output length, streamed as deltas."""
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    return SamplingParams(
        max_tokens=output_len,
        min_tokens=output_len,
        ignore_eos=True,
        temperature=0.0,
        detokenize=False,
        output_kind=RequestOutputKind.DELTA,
    )


class EngineTarget:
    """Closed-loop requests to an `AsyncLLM` (or anything with its `generate` signature): only this
    process can send them (no endpoint for load workers)."""

    endpoint: Endpoint | None = None

    def __init__(self, engine: Any, make_params: Callable[[int], Any] = sampling_params):
        self.engine = engine
        self.make_params = make_params
        self._params: dict[int, Any] = {}  # one SamplingParams per output length, made ahead

    def prepare(self, prompt: Prompt, output_len: int, answer_ids: bool = False) -> PreparedRequest:
        if prompt.token_ids is None:
            raise ValueError("the in-process engine takes token-id prompts only")
        params = self._params.get(output_len)
        if params is None:
            params = self._params[output_len] = self.make_params(output_len)
        request = ({"prompt_token_ids": prompt.token_ids}, params)
        return PreparedRequest(request, prompt.expected_len, answer_ids=answer_ids)

    async def send(
        self,
        request: PreparedRequest,
        record: RequestRecord,
        on_tokens: Callable[[int], None],
        deadline_s: float | None,
    ) -> None:
        prompt, params = request.body
        request_id = f"llmbench-{record.cell}-{int(record.warmup)}-{record.index}-{next(_ids)}"
        record.response_id = request_id
        record.start_time = time.time()
        start = last = time.perf_counter()
        counted = 0
        ids: list[int] | None = [] if request.answer_ids else None  # a multi-turn answer, for the next turn

        async def consume() -> None:
            nonlocal last, counted
            async for out in self.engine.generate(prompt, params, request_id):
                now = time.perf_counter()
                if record.prompt_tokens is None and out.prompt_token_ids is not None:
                    record.prompt_tokens = len(out.prompt_token_ids)
                new = sum(len(o.token_ids) for o in out.outputs)
                if new <= 0:
                    continue
                if ids is not None:
                    ids.extend(out.outputs[0].token_ids)
                if counted == 0:
                    record.ttft = now - start
                else:
                    record.chunk_gaps.append(now - last)
                    record.chunk_tokens.append(new)
                last = now
                counted += new
                on_tokens(new)

        try:
            try:
                await asyncio.wait_for(consume(), deadline_s)  # a cancelled generate() aborts the request
            except TimeoutError:
                raise RuntimeError(
                    f"no complete response within {deadline_s:.0f} s (the request deadline: --request-timeout)"
                ) from None
            record.e2el = last - start
            record.output_tokens = counted
            record.output_ids = ids
            if counted == 0:
                raise RuntimeError("the engine finished the request without a single token")
            record.ok = True
        except Exception as exc:  # the engine's errors (dead engine, bad request): a failed record, not a crash
            record.ok = False
            cause = exc.__cause__ or exc
            text = str(exc) or str(cause)
            record.error = f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__
            record.output_tokens = counted
            if record.e2el is None:
                record.e2el = time.perf_counter() - start
