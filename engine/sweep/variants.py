"""A sweep's variants: the cartesian product of its axes less the excluded ones, each with the
profile its run uses (the recipe's flags replaced or added, its environment on top of the recipe's,
no `[sweep]` table: a variant's run folder replays as an ordinary run)."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from engine.profiles import ProfileError, ResolvedProfile, load_part
from engine.server.recipe_check import drop_flags
from engine.sweep.model import Variant
from engine.sweepspec import SweepSpec, flag_arg, flag_name
from engine.values import arg_value

PARALLEL_FLAGS = ("--tensor-parallel-size", "-tp", "--pipeline-parallel-size", "-pp", "--data-parallel-size", "-dp")


@dataclass(frozen=True)
class VariantPlan:
    """One variant: what it changes, and the profile its run uses."""

    name: str
    flags: dict[str, str]
    env: dict[str, str]
    recipe: str | None
    profile: ResolvedProfile
    run: str  # its run folder, relative to the sweep folder

    @property
    def gpus(self) -> int:
        """tensor x pipeline x data parallel size from its flags, else the hardware's devices."""
        args = self.profile.recipe.args
        if any(arg_value(args, f) is not None for f in PARALLEL_FLAGS):
            return self.profile.recipe.tensor_devices()
        return self.profile.hardware.devices_per_node or 1

    def record(self) -> Variant:
        """Its entry in sweep.json, not yet run."""
        return Variant(name=self.name, flags=self.flags, env=self.env, recipe=self.recipe, gpus=self.gpus, run=self.run)


def with_flags(args: list[str], flags: dict[str, str]) -> list[str]:
    """`args` with each flag set: its earlier occurrences (and its --no- form) removed, then added
    at the end, spelled as the user wrote it (`-tp` stays `-tp`; "" adds the flag without a value)."""
    for name, value in flags.items():
        forms = {flag_arg(name)}
        if not name.startswith("-"):  # a long flag: its --no- form too (a short one, `-tp`, has none)
            forms.add(f"--{name[3:]}" if name.startswith("no-") else f"--no-{name}")
        args = drop_flags(args, forms)
        args = [*args, flag_arg(name), *([value] if value != "" else [])]
    return args


def variant_name(recipe: str | None, flags: dict[str, str], env: dict[str, str]) -> str:
    parts = [f"recipe={recipe}"] if recipe else []
    parts += [f"{k}={v}" if v != "" else k for k, v in flags.items()]
    parts += [f"{k}={v}" for k, v in env.items()]
    return " ".join(parts) or "base"


def _excluded(spec: SweepSpec, recipe: str | None, flags: dict[str, str], env: dict[str, str]) -> bool:
    settings = {**env, **flags, **({"recipe": recipe} if recipe else {})}
    return any(all(settings.get(_key(k)) == v for k, v in entry.items()) for entry in spec.exclude)


def _key(name: str) -> str:
    return name if name == "recipe" or not name.startswith("-") else flag_name(name)


def _check_exclude(spec: SweepSpec, where: str) -> None:
    axes = {*spec.flags, *spec.env, *(["recipe"] if spec.recipes else [])}
    for entry in spec.exclude:
        for key in entry:
            if _key(key) not in axes and flag_name(key) not in axes:
                raise ProfileError(f"{where}: sweep.exclude names {key!r}, which no axis sweeps ({', '.join(axes)})")


def _variant_profile(base: ResolvedProfile, recipe: str | None, flags: dict[str, str], env: dict[str, str]):
    part = base.recipe
    if recipe is not None:
        try:
            part = load_part(recipe, "recipe")
        except ProfileError as exc:
            raise ProfileError(f"sweep recipe {recipe!r}: {exc}") from None
    part = part.model_copy(update={"args": with_flags(part.args, flags), "env": {**part.env, **env}})
    return base.model_copy(update={"recipe": part, "sweep": None})


def expand(profile: ResolvedProfile, where: str = "profile") -> list[VariantPlan]:
    """Every variant of `profile`'s sweep, in order (recipes, then flags, then env; the first axis slowest)."""
    spec = profile.sweep or SweepSpec()
    _check_exclude(spec, where)
    flag_names, env_names = list(spec.flags), list(spec.env)
    axes = [spec.recipes or [None], *spec.flags.values(), *spec.env.values()]
    variants: list[VariantPlan] = []
    for combo in itertools.product(*axes):
        recipe, values = combo[0], combo[1:]
        flags = dict(zip(flag_names, values[: len(flag_names)], strict=True))
        env = dict(zip(env_names, values[len(flag_names) :], strict=True))
        if _excluded(spec, recipe, flags, env):
            continue
        name = variant_name(recipe, flags, env)
        run = f"{len(variants) + 1:02d}-" + (re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:80] or "base")
        variants.append(VariantPlan(name, flags, env, recipe, _variant_profile(profile, recipe, flags, env), run))
    if not variants:
        raise ProfileError(f"{where}: the sweep's exclude list leaves no variant to run")
    return variants
