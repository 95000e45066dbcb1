"""Local data files for datasets and traces, read with errors that name the file, line and field."""

from __future__ import annotations

import json
from pathlib import Path


class DatasetError(Exception):
    """A dataset or trace file that cannot be used: the message names the file, line and field."""


def open_lines(path: str):
    """(line number, stripped text) of a local file's non-blank lines; DatasetError when unreadable."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file (give a local path)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read it: {exc}") from None
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def json_line(path: str, n: int, line: str) -> dict:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{n}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{path}:{n}: each line must be a JSON object, not {type(obj).__name__}")
    return obj


def int_field(path: str, n: int, obj: dict, name: str, minimum: int = 1, required: bool = True) -> int | None:
    if name not in obj:
        if required:
            raise DatasetError(f"{path}:{n}: field {name!r} is missing")
        return None
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DatasetError(f"{path}:{n}: field {name!r} must be a whole number of at least {minimum}, not {value!r}")
    return value


def read_jsonl_prompts(path: str) -> list[tuple[int, str, int | None]]:
    """(line, prompt, output_len or None) of each line `{"prompt": "...", "output_len": 128}`."""
    out = []
    for n, line in open_lines(path):
        obj = json_line(path, n, line)
        if "prompt" not in obj:
            raise DatasetError(f"{path}:{n}: field 'prompt' is missing")
        prompt = obj["prompt"]
        if not isinstance(prompt, str) or not prompt:
            raise DatasetError(f"{path}:{n}: field 'prompt' must be a non-empty string")
        out.append((n, prompt, int_field(path, n, obj, "output_len", required=False)))
    if not out:
        raise DatasetError(f"{path}: the file holds no prompts")
    return out


def _sharegpt_list(path: str) -> list:
    p = Path(path).expanduser()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file (give a local path to a ShareGPT JSON file)") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read it: {exc}") from None
    if not isinstance(data, list):
        raise DatasetError(f"{path}: a ShareGPT file is a JSON list of conversations, not {type(data).__name__}")
    return data


def _turn_texts(path: str, i: int, entry, count: int) -> list[str] | None:
    """The first `count` messages' texts of entry i (None: it has fewer); DatasetError naming a bad one."""
    turns = entry.get("conversations") if isinstance(entry, dict) else None
    if not isinstance(turns, list):
        raise DatasetError(f"{path}: entry {i}: field 'conversations' is missing or not a list")
    if len(turns) < count:
        return None
    texts = []
    for t, turn in enumerate(turns[:count]):
        value = turn.get("value") if isinstance(turn, dict) else None
        if not isinstance(value, str):
            raise DatasetError(f"{path}: entry {i}: conversations[{t}]: field 'value' is missing or not a string")
        texts.append(value)
    return texts


def read_sharegpt(path: str) -> tuple[list[tuple[int, str, str]], int]:
    """ShareGPT JSON (a list of `{"conversations": [{"from": ..., "value": ...}, ...]}`): (entry,
    first turn, second turn) of each conversation of two turns or more, as `vllm bench serve` takes
    them, and how many shorter ones were passed over."""
    out, short = [], 0
    for i, entry in enumerate(_sharegpt_list(path)):
        texts = _turn_texts(path, i, entry, 2)
        if texts is None:
            short += 1
            continue
        out.append((i, texts[0], texts[1]))
    if not out:
        raise DatasetError(f"{path}: no conversation has two turns (a prompt and an answer)")
    return out, short


def read_sharegpt_exchanges(path: str, exchanges: int) -> tuple[list[tuple[int, list[str]]], int]:
    """(entry, [user, answer, user, answer, ...]) of each conversation's first `exchanges` exchanges
    (2 x exchanges messages, in file order: a user's message, then the answer), and how many
    conversations were too short and passed over."""
    out, short = [], 0
    for i, entry in enumerate(_sharegpt_list(path)):
        texts = _turn_texts(path, i, entry, 2 * exchanges)
        if texts is None:
            short += 1
            continue
        out.append((i, texts))
    if not out:
        raise DatasetError(
            f"{path}: no conversation has {exchanges} exchanges ({2 * exchanges} messages): "
            f"use fewer turns (multiturn:T:PATH)"
        )
    return out, short
