"""The model's tokenizer without torch: the `tokenizers` library reading tokenizer.json.

A fast Hugging Face tokenizer is tokenizer.json (the Rust tokenizer vLLM's own fast tokenizer
wraps) plus tokenizer_config.json, which names the special tokens. Read directly they give the
same ids as `transformers.AutoTokenizer` at a fraction of its import (torch): the run process stays
small. A model that ships no tokenizer.json (a sentencepiece-only one) still loads through
transformers, imported only then.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")  # org/name on the Hugging Face hub
# transformers' named special tokens (PreTrainedTokenizerBase.SPECIAL_TOKENS_ATTRIBUTES).
NAMED_SPECIAL = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
# The lists of further special tokens, by the name transformers 5 and 4 give them.
EXTRA_SPECIAL = ("extra_special_tokens", "additional_special_tokens")
# transformers' clean_up_tokenization, applied on decode where the config asks (never to BPE).
_CLEANUP = (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m")
_CLEANUP += (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")


class FastTokenizer:
    """The part of transformers' tokenizer interface the load uses: len(), all_special_ids,
    encode(text, add_special_tokens) -> ids and decode(ids, skip_special_tokens) -> text."""

    def __init__(self, backend, config: dict[str, Any]):
        self.backend = backend  # a tokenizers.Tokenizer
        self.clean_up = bool(config.get("clean_up_tokenization_spaces")) and not _is_bpe(backend)
        ids = (backend.token_to_id(token) for token in special_tokens(config))
        self.all_special_ids = sorted({i for i in ids if i is not None})

    def __len__(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return self.backend.encode(text, add_special_tokens=add_special_tokens).ids

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        text = self.backend.decode(ids, skip_special_tokens=skip_special_tokens)
        if self.clean_up:
            for old, new in _CLEANUP:
                text = text.replace(old, new)
        return text


def _is_bpe(backend) -> bool:
    return type(backend.model).__name__ == "BPE"


def _content(token: Any) -> str | None:
    """A special token as the config writes it: a string, or an AddedToken as a dict."""
    if isinstance(token, dict):
        return token.get("content")
    return token if isinstance(token, str) else None


def special_tokens(config: dict[str, Any]) -> list[str]:
    """The named special tokens and the extra ones, as transformers' all_special_tokens lists them."""
    out = [c for name in NAMED_SPECIAL if (c := _content(config.get(name))) is not None]
    for name in EXTRA_SPECIAL:
        extra = config.get(name) or []
        values = extra.values() if isinstance(extra, dict) else extra
        out += [c for token in values if (c := _content(token)) is not None]
    return list(dict.fromkeys(out))


def _read_config(folder: Path) -> dict[str, Any]:
    """special_tokens_map.json (older models) under tokenizer_config.json: the special tokens and options."""
    config: dict[str, Any] = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        path = folder / name
        if path.is_file():
            try:
                config.update(json.loads(path.read_text()))
            except ValueError as exc:
                raise RuntimeError(f"{path}: not valid JSON ({exc}); fix or remove the file") from None
    return config


def _hub_folder(repo: str) -> Path | None:
    """A hub id's tokenizer files, fetched into the Hugging Face cache; None where it has no tokenizer.json."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        path = Path(hf_hub_download(repo, "tokenizer.json"))
    except EntryNotFoundError:
        return None
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        try:
            hf_hub_download(repo, name)
        except EntryNotFoundError:
            pass
    return path.parent


def load_tokenizer(name_or_path: str):
    """The tokenizer of a local folder or (where a hub is reachable) a hub id: tokenizer.json read by
    `tokenizers`, else transformers' AutoTokenizer (a model without tokenizer.json)."""
    try:
        folder: Path | None = Path(name_or_path).expanduser()
        if not folder.is_dir():
            if not HUB_ID.fullmatch(name_or_path):
                raise FileNotFoundError(f"no folder {folder}")
            folder = _hub_folder(name_or_path)
        if folder is not None and (folder / "tokenizer.json").is_file():
            from tokenizers import Tokenizer

            return FastTokenizer(Tokenizer.from_file(str(folder / "tokenizer.json")), _read_config(folder))
        from transformers import AutoTokenizer  # heavy (torch): only for a model without tokenizer.json

        return AutoTokenizer.from_pretrained(name_or_path)
    except Exception as exc:  # tokenizers, the hub and transformers raise many kinds here
        raise RuntimeError(
            f"cannot load the tokenizer {name_or_path!r}: {exc.__class__.__name__}: {exc}. "
            "Set `tokenizer` in the model profile to a local folder that holds tokenizer files."
        ) from None
