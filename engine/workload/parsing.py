"""Text from a form field or a flag, parsed into what the profile takes (ValueError says what is
wrong and what to write), and numbers written back as a person would."""

from __future__ import annotations

import re

from engine.profiles import parse_seq


def parse_workers(text: str) -> int | str:
    """'auto' or a number of load worker processes from 1 to 512."""
    if text == "auto":
        return text
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= 512:
        raise ValueError(f"{text!r}: give a number of load workers from 1 to 512, or auto")
    return n


def parse_int_list(text: str) -> list[int]:
    """'1, 4 16' -> [1, 4, 16] (commas or spaces between); the profile checks the values."""
    parts = [p for p in re.split(r"[,\s]+", text) if p]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"{text!r} is not a list of whole numbers: write them with commas, e.g. 4, 8, 16") from None
    if not values:
        raise ValueError("give at least one, e.g. 4, 8, 16")
    return values


def parse_rates(text: str) -> list[float]:
    """'2, 5, 10' -> [2.0, 5.0, 10.0] requests per second, each above 0."""
    parts = [p for p in re.split(r"[,\s]+", text) if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"{text!r} is not a list of request rates: write req/s with commas, e.g. 2, 5, 10") from None
    if not values or any(v <= 0 for v in values):
        raise ValueError("give request rates above 0 req/s, e.g. 2, 5, 10")
    return values


def parse_seq_list(text: str) -> list[str]:
    """'1024/1024, 8192/1024' -> ['1024/1024', '8192/1024'], each checked."""
    pairs = [s.strip() for s in text.split(",") if s.strip()]
    if not pairs:
        raise ValueError("give at least one ISL/OSL pair, e.g. 1024/1024")
    for pair in pairs:
        parse_seq(pair)
    return pairs


def parse_whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None


def parse_number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


def optional(parse):
    return lambda text: parse(text) if text else None


def checked(parse):
    """The text itself (the profile keeps it as written), once `parse` accepts it."""

    def check(text: str) -> str:
        parse(text)
        return text

    return check


def required(parse, what: str):
    def checked(text: str):
        if not text:
            raise ValueError(f"give {what}")
        return parse(text)

    return checked


def format_number(x: float) -> str:
    """Exactly, and as a person would write it: 2.0 -> '2', 0.25 -> '0.25'."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def format_slo(slo: dict[str, float]) -> str:
    return ",".join(f"{name}:{format_number(ms)}" for name, ms in slo.items())
