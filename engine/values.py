"""Profile values from text, and errors that name what the user typed: ISL/OSL pairs, length
ranges, dataset specs, CPU lists, a flag's value in an argument list; a validation error turned
into the flag or the profile field it came from. No engine imports: usable from every layer."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError


def parse_seq(text: str) -> tuple[int, int]:
    """'1024/8192' -> (1024, 8192)."""
    parts = text.strip().split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"{text!r} is not ISL/OSL (two positive integers, e.g. 1024/1024)")
    isl, osl = (int(p) for p in parts)
    if isl < 1 or osl < 1:
        raise ValueError(f"{text!r}: input and output lengths must be at least 1")
    return isl, osl


DATASET_KINDS = ("random", "sharegpt", "jsonl", "prefix", "multiturn")


def dataset_kind(spec: str | None) -> str | None:
    """'sharegpt:/data/sg.json' -> 'sharegpt'; None for the fixed grid."""
    return None if spec is None else spec.split(":", 1)[0]


def check_dataset(spec: str) -> None:
    kind, _, arg = spec.partition(":")
    if kind not in DATASET_KINDS:
        raise ValueError(f"dataset {spec!r}: one of random, sharegpt:PATH, jsonl:PATH, prefix:P[:G], multiturn:T")
    if kind == "random" and arg:
        raise ValueError('dataset "random" takes no argument: give input_len_range / output_len_range')
    if kind in ("sharegpt", "jsonl") and not arg:
        raise ValueError(f"dataset {kind} needs a local file: {kind}:PATH")
    if kind == "prefix":
        parts = arg.split(":")
        if not arg or len(parts) > 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise ValueError(f"dataset {spec!r}: prefix:P[:G], P the shared prefix in tokens, G requests per group")
    turns, sep, path = arg.partition(":")
    if kind == "multiturn" and not (turns.isdigit() and int(turns) >= 2 and (path or not sep)):
        raise ValueError(
            f"dataset {spec!r}: multiturn:T, T the turns per conversation (at least 2), each user turn the ISL in "
            "tokens and each answer the OSL (--seq); or multiturn:T:PATH, the first T exchanges of each "
            "conversation of a ShareGPT JSON file"
        )


def parse_range(text: str) -> tuple[int, int]:
    """'100:400' -> (100, 400), both ends included."""
    lo, sep, hi = text.strip().partition(":")
    if not sep or not lo.strip().isdigit() or not hi.strip().isdigit():
        raise ValueError(f"{text!r} is not a length range MIN:MAX (e.g. 100:400)")
    a, b = int(lo), int(hi)
    if a < 1 or b < a:
        raise ValueError(f"{text!r}: a range of lengths from at least 1, MIN not above MAX")
    return a, b


def parse_cpus(text: str) -> set[int]:
    """'0-3,8' -> {0, 1, 2, 3, 8}; ValueError naming what is wrong."""
    cpus: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise ValueError(f"{text!r} is not a CPU list (e.g. 0-3,8)")
        first, last = int(lo), int(hi or lo)
        if last < first:
            raise ValueError(f"{part!r}: the range runs backwards")
        cpus.update(range(first, last + 1))
    if not cpus:
        raise ValueError("an empty CPU list")
    return cpus


def format_cpus(cpus: set[int]) -> str:
    """{0, 1, 2, 3, 8} -> '0-3,8'."""
    out, ordered = [], sorted(cpus)
    start = prev = ordered[0]
    for c in [*ordered[1:], None]:
        if c is not None and c == prev + 1:
            prev = c
            continue
        out.append(f"{start}-{prev}" if prev > start else str(start))
        if c is not None:
            start = prev = c
    return ",".join(out)


def arg_value(args: list[str], flag: str) -> str | None:
    """Value of `flag` in a CLI token list (`--flag v` or `--flag=v`), last one wins."""
    value = None
    for i, tok in enumerate(args):
        if tok == flag and i + 1 < len(args):
            value = args[i + 1]
        elif tok.startswith(flag + "="):
            value = tok.split("=", 1)[1]
    return value


def format_validation_error(exc: ValidationError, where: str, typed_as: Mapping[str, str] | None = None) -> str:
    """One line per error: `where: field F: what`. `typed_as`: for fields set by a flag, the flag as
    typed (dotted path -> '--request-timeout -5'), named instead of `where` and the field."""
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check its spelling)"
        flags, own = _flags_for(field, typed_as or {})
        whose = f"profile field {field}" if own else f"a check across the profile's {field}"
        lines.append(f"{flags}: {msg} ({whose})" if flags else f"{where}: field {field}: {msg}")
    return "\n".join(lines)


def _flags_for(field: str, typed_as: Mapping[str, str]) -> tuple[str, bool]:
    """The typed flag that set `field` (True), or for a check across a section's fields the typed
    flags of that section (False)."""
    for path, typed in typed_as.items():
        if field == path or field.startswith(path + "."):
            return typed, True
    return ", ".join(typed for path, typed in typed_as.items() if path.startswith(field + ".")), False
