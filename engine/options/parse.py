"""The parsers of options' text, shared by the command line and the TUI's form, so a value means
the same wherever it is typed. Each raises ValueError saying what is wrong and what to write.
The formatters at the end write a value back as text a parser reads again (the form's fields).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from engine.values import parse_seq


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


def _numbers(text: str, cast, what: str) -> list:
    """Numbers written with commas or spaces between; ValueError naming `what` (with an example)."""
    try:
        return [cast(p) for p in re.split(r"[,\s]+", text) if p]
    except ValueError:
        raise ValueError(f"{text!r} is not a list of {what}") from None


def parse_int_list(text: str) -> list[int]:
    """'1, 4 16' -> [1, 4, 16] (commas or spaces between); the profile checks the values."""
    values = _numbers(text, int, "whole numbers: write them with commas, e.g. 4, 8, 16")
    if not values:
        raise ValueError("give at least one, e.g. 4, 8, 16")
    return values


def parse_rates(text: str) -> list[float]:
    """'2, 5, 10' -> [2.0, 5.0, 10.0] requests per second, each above 0."""
    values = _numbers(text, float, "request rates: write req/s with commas, e.g. 2, 5, 10")
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


def split_list(text: str) -> list[str]:
    """'a,b' -> ['a', 'b'] as typed (the profile checks each)."""
    return [x.strip() for x in text.split(",") if x.strip()]


def whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


def optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """A form field that may be left empty (None: the profile's default)."""
    return lambda text: parse(text) if text else None


def checked(parse: Callable[[str], Any]) -> Callable[[str], str]:
    """The text itself (the profile keeps it as written), once `parse` accepts it."""

    def check(text: str) -> str:
        parse(text)
        return text

    return check


def required(parse: Callable[[str], Any], what: str) -> Callable[[str], Any]:
    """A form field that must be filled: empty says what to give."""

    def check(text: str):
        if not text:
            raise ValueError(f"give {what}")
        return parse(text)

    return check


# -- values back to text (the form's fields, engine/workload.py) -------------------------------------
def format_number(x: float) -> str:
    """Exactly, and as a person would write it: 2.0 -> '2', 0.25 -> '0.25'."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def joined(text: Callable[[Any], str] = str) -> Callable[[list], str]:
    """A list as the list parsers read it: [2.0, 5.0] -> '2, 5'."""
    return lambda values: ", ".join(map(text, values))


def format_slo(slo: dict[str, float]) -> str:
    """{"ttft": 500.0} -> 'ttft:500', as --slo reads it."""
    return ",".join(f"{name}:{format_number(ms)}" for name, ms in slo.items())
