"""Prompts of an exact token length, and the OpenAI-compatible requests that carry them.

vLLM and SGLang take a list of token ids as the prompt: the input length is then exact and needs
no round trip through text. Other servers take text only; there a text is made from random
tokens and adjusted until the tokenizer gives exactly the wanted length.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Prompt:
    # Either token ids (exact length by construction) or text made to the length.
    token_ids: list[int] | None
    text: str | None
    # Length as our tokenizer counts it: what the server should report as prompt_tokens.
    expected_len: int


class PromptFactory:
    def __init__(self, tokenizer, seed: int = 0):
        self.tokenizer = tokenizer
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        # Random ids from the whole vocabulary except special tokens (BOS/EOS/pad would change
        # what the model sees and what the server counts).
        self.vocab = [i for i in range(len(tokenizer)) if i not in special]
        if not self.vocab:
            raise RuntimeError("the tokenizer has no ordinary tokens to build prompts from")
        self.seed = seed
        self._stable: list[int] | None = None

    def _rng(self, cell_index: int, request_index: int) -> random.Random:
        # Different per request (no prefix-cache hit between requests), reproducible per run.
        return random.Random(f"{self.seed}:{cell_index}:{request_index}")

    def token_ids(self, length: int, cell_index: int, request_index: int) -> Prompt:
        ids = self._rng(cell_index, request_index).choices(self.vocab, k=length)
        return Prompt(token_ids=ids, text=None, expected_len=length)

    def _stable_vocab(self) -> list[int]:
        """Tokens whose text re-encodes to themselves, alone and repeated: texts built from them
        mostly survive decode -> encode unchanged (no merges across token boundaries)."""
        if self._stable is None:
            tok, stable = self.tokenizer, []
            for i in self.vocab:
                piece = tok.decode([i])
                if piece.strip() and tok.encode(piece + piece, add_special_tokens=False) == [i, i]:
                    stable.append(i)
            self._stable = stable or self.vocab
        return self._stable

    def maker(self, prompt_kind: str) -> Callable[[int, int, int], Prompt]:
        """How prompts are made for a server of `prompt_kind` (ServerInfo's): token ids, else text."""
        return self.token_ids if prompt_kind == "token_ids" else self.text

    def text(self, length: int, cell_index: int, request_index: int) -> Prompt:
        """Text that re-encodes to `length` tokens: decode random ids, re-encode, trim or pad."""
        rng = self._rng(cell_index, request_index)
        tok, vocab = self.tokenizer, self._stable_vocab()
        ids = rng.choices(vocab, k=length)
        best_text, best_len = "", -1
        for _ in range(32):
            text = tok.decode(ids, skip_special_tokens=True)
            encoded = tok.encode(text, add_special_tokens=False)
            if best_len < 0 or abs(len(encoded) - length) < abs(best_len - length):
                best_text, best_len = text, len(encoded)
            if len(encoded) == length:
                break
            if len(encoded) > length:
                ids = encoded[:length]
            else:
                ids = encoded + rng.choices(vocab, k=length - len(encoded))
        return Prompt(token_ids=None, text=best_text, expected_len=best_len)

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))


@dataclass(frozen=True)
class Endpoint:
    """Where any process can send a run's requests: an OpenAI-compatible server's URL, API and
    model; `keep_text`: the server reports no usage, so answers are counted from their text;
    `answer_ids_field`: the request field that has it stream token ids (HttpTarget's)."""

    base_url: str
    api: str
    model: str
    keep_text: bool
    answer_ids_field: str | None = "return_token_ids"


def api_path(api: str) -> str:
    """The path of the OpenAI API a load uses: completions or chat (`engine`: in-process, no API)."""
    if api == "engine":
        return "AsyncLLM.generate (in-process)"
    return "/v1/completions" if api == "completions" else "/v1/chat/completions"


def request_body(
    api: str, model: str, prompt: Prompt, output_len: int, *, usage: bool = True, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON body of one streaming request with an exact output length."""
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": output_len,
        # vLLM extensions for an exact output length; other servers ignore unknown fields.
        "min_tokens": output_len,
        "ignore_eos": True,
        "temperature": 0.0,
        "stream": True,
    }
    if usage:
        body["stream_options"] = {"include_usage": True, "continuous_usage_stats": True}
    if api == "chat":
        content = prompt.text if prompt.text is not None else ""
        body["messages"] = [{"role": "user", "content": content}]
    else:
        body["prompt"] = prompt.token_ids if prompt.token_ids is not None else prompt.text
    if extra:
        body.update(extra)
    return body
