"""The `[sweep]` table of a run profile, and the command line's `--sweep-flag`, `--sweep-env` and
`--sweep-recipes`, which add to it (or replace one axis of it).

    [sweep]
    flags = { max-num-seqs = [128, 256], max-num-batched-tokens = [8192, 16384] }
    env = { VLLM_ROCM_USE_AITER = ["0", "1"] }
    recipes = ["llama-3.3-70b-mi355x", "llama-3.3-70b-mi355x-vllm0.32"]
    exclude = [{ max-num-seqs = "128", VLLM_ROCM_USE_AITER = "1" }]

Axes combine as a cartesian product; an `exclude` entry drops every variant that has all of its
settings (keys: a flag, with or without dashes, an environment variable, or `recipe`). A long flag's
name is kept without its leading dashes (`--max-num-seqs` and `max-num-seqs` are one flag); a short
flag written with one dash (`-tp`) keeps it, and the server gets it exactly so. Every value is text
("" for a flag without a value).
"""

from __future__ import annotations

from pydantic import field_validator

from engine.grid import Strict


def flag_name(name: str) -> str:
    """A vLLM flag as sweep.json names it: a long flag without its dashes, a short one (`-tp`) as written."""
    name = name.strip()
    return name if name.startswith("-") and not name.startswith("--") else name.lstrip("-")


def flag_arg(name: str) -> str:
    """The flag named `name` (flag_name's form) as the server's command line spells it: `--max-num-seqs`, `-tp`."""
    return name if name.startswith("-") else f"--{name}"


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _values(axis: dict[str, object]) -> dict[str, list[str]]:
    out = {}
    for name, values in axis.items():
        values = values if isinstance(values, list) else [values]
        if not values:
            raise ValueError(f"{name}: give at least one value")
        out[name] = [_text(v) for v in values]
    return out


class SweepSpec(Strict):
    flags: dict[str, list[str]] = {}
    env: dict[str, list[str]] = {}
    recipes: list[str] = []
    exclude: list[dict[str, str]] = []

    @field_validator("flags", mode="before")
    @classmethod
    def _flags(cls, v: dict) -> dict[str, list[str]]:
        return {flag_name(k): vals for k, vals in _values(v).items()}

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, v: dict) -> dict[str, list[str]]:
        return _values(v)

    @field_validator("exclude", mode="before")
    @classmethod
    def _exclude(cls, v: list) -> list[dict[str, str]]:
        return [{k: _text(x) for k, x in entry.items()} for entry in v]

    @property
    def empty(self) -> bool:
        return not (self.flags or self.env or self.recipes)


def parse_axis(text: str) -> tuple[str, list[str]]:
    """`NAME=V1,V2,...` -> (NAME, [V1, V2, ...]); `NAME=` is one value, "" (a flag without a value)."""
    name, sep, values = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"{text!r}: write NAME=V1,V2,..., e.g. max-num-seqs=128,256")
    return name.strip(), [v.strip() for v in values.split(",")]


def parse_recipes(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError(f"{text!r}: give recipe names or paths, e.g. cpu-tiny,my-recipe.toml")
    return names


def with_typed(
    spec: SweepSpec | None,
    flags: list[tuple[str, list[str]]],
    env: list[tuple[str, list[str]]],
    recipes: list[list[str]],
) -> SweepSpec | None:
    """The profile's sweep with the typed axes added (a typed axis replaces the profile's of that name)."""
    spec = spec or SweepSpec()
    if not (flags or env or recipes):
        return None if spec.empty else spec
    return SweepSpec(
        flags={**spec.flags, **{flag_name(n): v for n, v in flags}},
        env={**spec.env, **dict(env)},
        recipes=[r for group in recipes for r in group] or spec.recipes,
        exclude=spec.exclude,
    )
