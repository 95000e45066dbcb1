"""A resumed run's secrets: its saved profile.toml holds them masked (engine/redact.py, MASK), and a
masked value must never reach a server or client. Each is given again by the resuming command
(`--api-key`) or its environment (the variable of that name; a flag `--hf-token` reads HF_TOKEN),
or the resume is refused before anything is launched, naming the field and what to pass."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from engine.profiles import ProfileError, ResolvedProfile, load_profile
from engine.redact import MASK, is_secret_name


def _flag_source(flag: str) -> str:
    """The environment variable that gives a masked flag's value again (`--hf-token`: HF_TOKEN)."""
    return "OPENAI_API_KEY" if flag == "--api-key" else flag.lstrip("-").replace("-", "_").upper()


def _how(name: str) -> str:
    if name == "--api-key":
        return "pass --api-key KEY again (or set OPENAI_API_KEY)"
    return f"set {_flag_source(name)} in the environment"


class _Filler:
    """Masked values replaced from `environ` (the resuming command's, --api-key as OPENAI_API_KEY);
    the fields it could not fill, with what to pass, in `missing`."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ
        self.missing: list[str] = []

    def value(self, field: str, name: str) -> str:
        source = _flag_source(name) if name.startswith("-") else name
        given = self.environ.get(source)
        if not given or given == MASK:
            self.missing.append(f"{field} {name}: {_how(name) if name.startswith('-') else f'set {name}'}")
            return MASK
        return given

    def env(self, field: str, env: dict[str, str]) -> dict[str, str]:
        return {k: self.value(field, k) if v == MASK and is_secret_name(k) else v for k, v in env.items()}

    def args(self, field: str, args: list[str]) -> list[str]:
        """`--flag ***`, `--flag=***` and docker's `-e NAME=***` filled in, where the name is a
        secret's (a secret's text masked inside an ordinary value is left: refused below)."""
        out = list(args)
        for i, tok in enumerate(args):
            name, eq, value = tok.partition("=")
            if eq and value == MASK and is_secret_name(name):
                out[i] = f"{name}={self.value(field, name)}"
            elif tok == MASK and i > 0 and args[i - 1].startswith("-") and is_secret_name(args[i - 1]):
                out[i] = self.value(field, args[i - 1])
        return out


def _masked_fields(data: object, path: str = "") -> list[str]:
    """Where a masked value is left anywhere in a profile's data (dotted paths)."""
    if isinstance(data, dict):
        return [f for k, v in data.items() for f in _masked_fields(v, f"{path}.{k}" if path else k)]
    if isinstance(data, list):
        return [f for v in data for f in _masked_fields(v, path)]
    return [path] if isinstance(data, str) and MASK in data else []


def unmask(profile: ResolvedProfile, environ: Mapping[str, str], where: str) -> ResolvedProfile:
    """`profile` (read from `where`) with its masked secrets given again from `environ`; a
    ProfileError (exit 2) naming each one that is not given, or that sits where none can be."""
    fill = _Filler(environ)
    args, env = fill.args("recipe.args", profile.recipe.args), fill.env("recipe.env", profile.recipe.env)
    recipe = profile.recipe.model_copy(update={"args": args, "env": env})
    hardware = profile.hardware.model_copy(
        update={
            "env": fill.env("hardware.env", profile.hardware.env),
            "docker_args": fill.args("hardware.docker_args", profile.hardware.docker_args),
        }
    )
    if fill.missing:
        raise ProfileError(
            f"--resume: {where} holds secrets masked as {MASK} (they are never saved); give each again: "
            + "; ".join(fill.missing)
        )
    filled = profile.model_copy(update={"recipe": recipe, "hardware": hardware})
    left = _masked_fields(filled.model_dump())
    if left:
        raise ProfileError(
            f"--resume: {where} holds a masked secret ({MASK}) in {', '.join(sorted(set(left)))}, which cannot "
            "be given again: start a new run with the profile and its secret instead"
        )
    return filled


def key_env(args: argparse.Namespace) -> dict[str, str]:
    """The command's --api-key as OPENAI_API_KEY, the variable the client reads it from."""
    return {"OPENAI_API_KEY": args.api_key} if hasattr(args, "api_key") else {}


def load_resumed(path: Path, args: argparse.Namespace) -> ResolvedProfile:
    """A saved profile.toml, its masked secrets given again by the resuming command (`args`)."""
    return unmask(load_profile(str(path)), {**os.environ, **key_env(args)}, str(path))
