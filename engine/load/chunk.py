"""What one streamed event of a completion says, where the byte scan (engine.load.client) is not
enough: the JSON path (servers without usage, errors, kept text), and whether a chat chunk is
reasoning or answer.

A reasoning parser streams the model's thinking as a delta field of its own, apart from the
answer's `content`: `reasoning` in vLLM 0.32 (DeltaMessage, vllm/entrypoints/generate/base/
protocol.py), `reasoning_content` in earlier vLLM, SGLang and DeepSeek's API (some beside a null
`content`). A chunk is reasoning when such a field holds a string and its content holds no text;
a chunk with answer text is answer (it carries the answer's first token, whatever came with it).
"""

from __future__ import annotations

import json
import re

from engine.load.record import RequestRecord

REASONING_FIELDS = ("reasoning", "reasoning_content")
# Checked by bytes on the fast path (no JSON decode): a field name opens with an unescaped quote.
REASONING_KEY = b'"reasoning'
_REASONING_RE = re.compile(rb'(?<!\\)"(?:reasoning|reasoning_content)"\s*:\s*"')
_ANSWER_TEXT_RE = re.compile(rb'(?<!\\)"content"\s*:\s*"(?!")')


class StreamError(Exception):
    pass


def is_reasoning(payload: bytes) -> bool:
    """A chat chunk's bytes carry reasoning and no answer text (call only where REASONING_KEY is in it)."""
    return _REASONING_RE.search(payload) is not None and _ANSWER_TEXT_RE.search(payload) is None


def _chat_piece(delta: dict) -> tuple[str, bool]:
    """(text, reasoning) of a chat delta."""
    content = delta.get("content")
    if not content:
        for name in REASONING_FIELDS:
            if isinstance(thought := delta.get(name), str):
                return thought, True
    return content or "", False


def parse_event(payload: bytes, api: str, record: RequestRecord) -> tuple[int, str, bool]:
    """The JSON path: (new tokens, text, reasoning). A server without usage: a chunk with text is
    one token (re-counted with the tokenizer at the end). With usage, returns -(cumulative + 1)."""
    chunk = json.loads(payload)
    choices = chunk.get("choices") or ()
    if "error" in chunk and not choices:
        raise StreamError(f"server error in stream: {chunk['error']}")
    piece, reasoning = "", False
    if choices:
        c0 = choices[0]
        if api == "completions":
            piece = c0.get("text") or ""
        else:
            piece, reasoning = _chat_piece(c0.get("delta") or {})
    usage = chunk.get("usage")
    if usage and usage.get("completion_tokens") is not None:
        if usage.get("prompt_tokens") is not None:
            record.prompt_tokens = usage["prompt_tokens"]
        if not choices:
            return 0, piece, False  # final usage-only chunk
        return -(usage["completion_tokens"] + 1), piece, reasoning
    return (1 if piece else 0), piece, reasoning
