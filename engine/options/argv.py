"""The command line made from the option table: argparse's arguments, and the profile overrides of
the flags typed, each remembered as typed so that an error names the flag (not the profile field).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.options.option import Option
from engine.options.table import OPTIONS


def flag_value(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from one of the parsers above: its ValueError becomes argparse's error."""
    if parse in (int, float, Path):
        return parse  # argparse's own message ("invalid int value: 'x'")

    def convert(text: str):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__  # argparse names the type in its error message
    return convert


def add_options(parser: argparse.ArgumentParser, options: tuple[Option, ...] = OPTIONS) -> None:
    """Declare `options` (those on the command line) on `parser`."""
    for o in options:
        if not o.cli:
            continue
        kwargs: dict[str, Any] = {"help": o.help}
        if o.action == "switch":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif o.action:
            kwargs["action"] = o.action
        if o.parse is not None:
            kwargs["type"] = flag_value(o.parse)
        if o.choices is not None:
            kwargs["choices"] = list(o.choices)
        if o.metavar is not None:
            kwargs["metavar"] = o.metavar
        parser.add_argument(o.flag, **kwargs)


def typed_overrides(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
    """The profile fields the typed flags set (dotted path -> value), and for each of those fields
    the flag as typed (e.g. '--request-timeout -5'), for errors that name what the user typed."""
    values, flags = {}, {}
    by_dest = {o.dest: o for o in OPTIONS if o.cli and o.path}
    for dest, value in vars(args).items():
        if (o := by_dest.get(dest)) is not None:
            values[o.path] = value
            if isinstance(value, bool):  # a switch: --docker or --no-docker
                flags[o.path] = o.flag if value else o.flag.replace("--", "--no-", 1)
            else:
                flags[o.path] = f"{o.flag} {shown(value)}"
    return values, flags


def shown(value: Any) -> str:
    """A parsed value as it would be typed: [4, 8] -> '4,8', -5.0 -> '-5', {'ttft': 500.0} -> 'ttft:500'."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ",".join(shown(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}:{shown(v)}" for k, v in value.items())
    return str(value)
