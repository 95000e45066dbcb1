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


def read_sharegpt(path: str) -> tuple[list[tuple[int, str, str]], int]:
    """ShareGPT JSON (a list of `{"conversations": [{"from": ..., "value": ...}, ...]}`): (entry,
    first turn, second turn) of each conversation of two turns or more, as `vllm bench serve` takes
    them, and how many shorter ones were passed over."""
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
    out, short = [], 0
    for i, entry in enumerate(data):
        turns = entry.get("conversations") if isinstance(entry, dict) else None
        if not isinstance(turns, list):
            raise DatasetError(f"{path}: entry {i}: field 'conversations' is missing or not a list")
        if len(turns) < 2:
            short += 1
            continue
        texts = []
        for t, turn in enumerate(turns[:2]):
            value = turn.get("value") if isinstance(turn, dict) else None
            if not isinstance(value, str):
                raise DatasetError(f"{path}: entry {i}: conversations[{t}]: field 'value' is missing or not a string")
            texts.append(value)
        out.append((i, texts[0], texts[1]))
    if not out:
        raise DatasetError(f"{path}: no conversation has two turns (a prompt and an answer)")
    return out, short
