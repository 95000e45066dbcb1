"""Profiles: what to benchmark, on what, with which vLLM recipe and grid.

A run profile names (or inlines) four parts: a model, a hardware profile, a recipe and a grid.
Named parts are looked up in the bundled `profiles/` folder. `resolve()` inlines every part, so
the `profile.toml` saved with each run replays on its own, on any host.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import tomli_w
from pydantic import Field, ValidationError, field_validator, model_validator

from engine.grid import Grid, Strict
from engine.sweepspec import SweepSpec
from engine.values import (
    arg_value,
    format_validation_error,
    parse_cpus,
)


def _bundled_root() -> Traversable:
    """The bundled profiles: $LLMBENCH_PROFILES, else the installed package `llmbench_profiles`
    (the repository's profiles/ folder, shipped in the wheel), else the checkout's own folder."""
    if os.environ.get("LLMBENCH_PROFILES"):
        return Path(os.environ["LLMBENCH_PROFILES"])
    try:
        return resources.files("llmbench_profiles")
    except ModuleNotFoundError:  # run from a checkout that was never installed
        return Path(__file__).resolve().parent.parent / "profiles"


BUNDLED = _bundled_root()
KINDS = {"hardware": "hardware", "model": "models", "recipe": "recipes", "grid": "grids", "run": "runs"}
BUILTIN_PREFIX = "builtin:"


class ProfileError(Exception):
    """A profile (or an override of one) is invalid. The message names the file and field."""


class Hardware(Strict):
    name: str
    description: str = ""
    vendor: Literal["nvidia", "amd", "cpu"]
    accelerator: str
    devices_per_node: int = Field(ge=1)
    memory_gib_per_device: float | None = None
    # The price of one GPU-hour, in any currency (recorded with each cell): the cost per million
    # output tokens of every cell and frontier point. Unset: no cost figure anywhere.
    gpu_hour_cost: float | None = Field(default=None, gt=0)
    # Extra `docker run` arguments that give a container this vendor's devices.
    docker_args: list[str] = []
    env: dict[str, str] = {}


class Model(Strict):
    name: str
    # Hugging Face id, local path, or "builtin:tiny-llama" (built locally on first use).
    id: str
    tokenizer: str | None = None
    description: str = ""
    notes: list[str] = []


class Recipe(Strict):
    name: str
    description: str = ""
    source: str = ""
    # The server backend that runs the recipe (engine/server/backends.py): "vllm", or a plugin's.
    backend: str = "vllm"
    # The vLLM release the recipe was written for: flags are checked against the vLLM that runs it.
    vllm_version: str
    docker_image: str | None = None
    env: dict[str, str] = {}
    args: list[str] = []
    # What was changed from the source, and why (kept in saved profiles, where TOML comments are not).
    corrections: list[str] = []
    startup_timeout_s: float = Field(default=1800.0, gt=0)

    def tensor_devices(self) -> int:
        """Devices one server uses: tensor x pipeline x data parallel sizes from the args."""
        devices = 1
        for flag in ("--tensor-parallel-size", "-tp", "--pipeline-parallel-size", "-pp", "--data-parallel-size", "-dp"):
            value = arg_value(self.args, flag)
            if value is not None and value.isdigit():
                devices *= int(value)
        return devices


class Load(Strict):
    # auto: /v1/completions, falling back to /v1/chat/completions when the server lacks it.
    api: Literal["auto", "completions", "chat"] = "auto"
    # auto: token-id prompts (exact lengths on vLLM/SGLang), text made with the tokenizer elsewhere.
    prompt: Literal["auto", "token_ids", "text"] = "auto"
    # The whole request's deadline; unset: derived from the cell's output length (deadline_s()).
    request_timeout_s: float | None = Field(default=None, gt=0)
    # Longest silence between two pieces of one response.
    read_timeout_s: float = Field(default=300.0, gt=0)
    # With requests in flight, how long no output token on any of them, no request ending and no
    # change in the server's /metrics mean the server stalled: the run ends (engine/run/watch.py says
    # how the default was chosen).
    stall_timeout_s: float = Field(default=60.0, gt=0)
    # A cell with a larger share of failed requests fails the run (exit code 1).
    max_failed_share: float = Field(default=0.05, ge=0, le=1)
    # Prompts, dataset draws and arrivals are drawn from this. Unset: a fresh value per run (recorded
    # in summary.json), so a second run never sends the first one's prompts to a server whose prefix
    # cache still holds them; set: exactly this value, and the prompts repeat.
    seed: int | None = None
    # Empty the server's prefix cache before each cell where the server allows it (a launched vLLM
    # is given VLLM_SERVER_DEV_MODE=1, which serves the route; an external one is tried), so no cell
    # is served from what an earlier one or an earlier run left there.
    reset_prefix_cache: bool = True
    # Rounds (--repeat N): every cell measured N times, the rounds interleaved (engine.report.rounds);
    # a cell's figures are the means over its rounds with a 95% interval.
    repeats: int = Field(default=1, ge=1, le=100)
    # Load worker processes (HTTP targets only): 1 is the one in-process client; N > 1 spreads the
    # load over N processes, each with its own event loop and connections (engine.load.workers);
    # "auto": chosen from the plan's load and the client's CPUs (engine.load.autoworkers).
    workers: Annotated[int, Field(ge=1, le=512)] | Literal["auto"] = "auto"
    # Run the load workers as Ray actors on this cluster (engine.load.rayworkers): its head's
    # HOST:PORT, ray://HOST:PORT, or "auto" for the cluster running on this host. Unset: local processes.
    ray_address: str | None = None
    # Service levels in ms (ttft, tpot, e2el): goodput counts the requests meeting every one.
    slo: dict[str, float] = {}

    @field_validator("slo")
    @classmethod
    def _slo(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = set(v) - {"ttft", "tpot", "e2el"}
        if unknown or any(ms <= 0 for ms in v.values()):
            raise ValueError("slo holds ttft, tpot and e2el limits in ms, each above 0")
        return v

    def deadline_s(self, output_len: int) -> float:
        """Generous enough for any real server (a second per output token on top of 5 minutes),
        short enough that a server dribbling a byte a second cannot hang a run forever."""
        return self.request_timeout_s or 300.0 + 1.0 * output_len


class IsolationSettings(Strict):
    """Keeping a CPU for the client beside a server launched on the same host (engine.server.isolation)."""

    # SCHED_IDLE for the launched server's process tree: it runs only when no ordinary process wants
    # the CPU. Unset, and server_nice unset too: automatic (on when the server is launched here).
    server_idle: bool | None = None
    # A lower priority (nice) instead of, or with, SCHED_IDLE; 0 with server_idle unset: no isolation.
    server_nice: int | None = Field(default=None, ge=0, le=19)
    # CPU lists such as "2-63" or "0,1": the launched server's affinity, and the load thread's.
    server_cpus: str | None = None
    client_cpus: str | None = None

    @field_validator("server_cpus", "client_cpus")
    @classmethod
    def _cpu_list(cls, v: str | None) -> str | None:
        if v is not None:
            parse_cpus(v)
        return v


class RunProfile(Strict):
    name: str
    description: str = ""
    model: str | Model
    hardware: str | Hardware
    recipe: str | Recipe
    grid: str | Grid
    mode: Literal["server", "inprocess", "external"] = "server"
    # Run the recipe's docker image (server mode) rather than the installed vLLM.
    docker: bool = False
    endpoint: str | None = None
    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=1, le=65535)
    load: Load = Load()
    isolation: IsolationSettings = IsolationSettings()
    # Many server variants of this profile (engine/sweep): unset, one run.
    sweep: SweepSpec | None = None

    @field_validator("endpoint")
    @classmethod
    def _endpoint_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is not a server URL: give one such as http://127.0.0.1:8000")
        try:
            parts.port  # noqa: B018 (raises on a port out of range)
        except ValueError as exc:
            raise ValueError(f"{v!r}: {exc}") from None
        return v


class ResolvedProfile(RunProfile):
    """A run profile with every part inlined: what a run actually uses, and what it saves."""

    model: Model
    hardware: Hardware
    recipe: Recipe
    grid: Grid

    @model_validator(mode="after")
    def _rounds_of_a_grid(self) -> ResolvedProfile:
        if self.load.repeats > 1 and self.grid.search:
            raise ValueError(
                "load.repeats (--repeat) cannot repeat a search: each probe is chosen from the last one's "
                "figures; search first, then measure the load it found as a grid with --repeat"
            )
        return self

    def to_toml(self) -> str:
        return tomli_w.dumps(self.model_dump(exclude_none=True))


def bundled_names(kind: str) -> list[str]:
    folder = BUNDLED / KINDS[kind]
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def _locate(ref: str, kind: str) -> Path | Traversable:
    path = Path(ref).expanduser()
    if ref.endswith(".toml") or os.sep in ref:
        if not path.is_file():
            raise ProfileError(f"{kind} file {ref} does not exist")
        return path
    candidate = BUNDLED / KINDS[kind] / f"{ref}.toml"
    if not candidate.is_file():
        names = ", ".join(bundled_names(kind)) or "none"
        raise ProfileError(
            f"no bundled {kind} profile named {ref!r} (bundled: {names}); or give a path to a .toml file"
        )
    return candidate


def _read_toml(path: Path | Traversable) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read: {exc}") from None


def _validate(cls, data: dict, where: str, typed_as: Mapping[str, str] | None = None):
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(format_validation_error(exc, where, typed_as)) from None


def load_part(ref: str, kind: str):
    cls = {"hardware": Hardware, "model": Model, "recipe": Recipe, "grid": Grid}[kind]
    path = _locate(ref, kind)
    return _validate(cls, _read_toml(path), str(path))


def load_profile(ref: str) -> ResolvedProfile:
    """Load a run profile by bundled name or path and inline its named parts."""
    path = _locate(ref, "run")
    profile = _validate(RunProfile, _read_toml(path), str(path))
    return resolve(profile, str(path))


def resolve(profile: RunProfile, where: str = "profile") -> ResolvedProfile:
    data = profile.model_dump()
    for kind in ("model", "hardware", "recipe", "grid"):
        part = getattr(profile, kind)
        if isinstance(part, str):
            try:
                data[kind] = load_part(part, kind).model_dump()
            except ProfileError as exc:
                raise ProfileError(f"{where}: field {kind}: {exc}") from None
    return _validate(ResolvedProfile, data, where)


def apply_overrides(
    profile: ResolvedProfile, typed_as: Mapping[str, str] | None = None, **overrides
) -> ResolvedProfile:
    """Return a copy with the given (dotted) fields replaced, validated as a whole.

    Only flags the user typed are passed here, so a flag overrides the profile only when given;
    `typed_as` (dotted path -> the flag as typed) makes an error name the flag.
    """
    data = profile.model_dump()
    for dotted, value in overrides.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return _validate(ResolvedProfile, data, "command-line overrides", typed_as)


def save_profile(profile: ResolvedProfile, path: Path) -> None:
    path.write_text(profile.to_toml())
