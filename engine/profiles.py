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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


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


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class Hardware(Strict):
    name: str
    description: str = ""
    vendor: Literal["nvidia", "amd", "cpu"]
    accelerator: str
    devices_per_node: int = Field(ge=1)
    memory_gib_per_device: float | None = None
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


class Grid(Strict):
    name: str = ""
    concurrency: list[int] = Field(min_length=1)
    seq: list[str] = Field(min_length=1)
    # Requests per cell = concurrency x prompts_per_concurrency, at least min_prompts.
    prompts_per_concurrency: int = Field(default=10, ge=1)
    min_prompts: int = Field(default=0, ge=0)
    # Unmeasured requests before each cell, with the cell's input length and a short output.
    warmup_requests: int = Field(default=2, ge=0)
    warmup_output_len: int = Field(default=16, ge=1)
    # Open loop: request rates (req/s) replace the concurrency axis; arrivals drawn from a seed.
    rates: list[float] = []
    arrival: Literal["poisson", "constant", "gamma"] = "poisson"
    burstiness: float = Field(default=1.0, gt=0)  # gamma's shape: below 1 burstier, above 1 more even
    num_prompts: int | None = Field(default=None, ge=1)  # per rate cell (default: about 20 s of arrivals)
    max_concurrency: int | None = Field(default=None, ge=1)  # cap on requests in flight in a rate cell
    # A ramp (vLLM bench serve's --ramp-up-*): one open-loop cell per ISL/OSL whose rate climbs from
    # the start to the end rate over its num_prompts requests, linearly or exponentially.
    ramp_up_strategy: Literal["linear", "exponential"] | None = None
    ramp_up_start_rps: float | None = Field(default=None, gt=0)
    ramp_up_end_rps: float | None = Field(default=None, gt=0)
    # Search for the highest load meeting load.slo at a percentile, probing from search_start.
    search: Literal["concurrency", "rate"] | None = None
    search_percentile: Literal[50, 90, 99] = 99
    search_start: float = Field(default=1.0, gt=0)
    search_max_probes: int = Field(default=12, ge=2)
    # Prompts (engine/load/datasets.py): unset, the fixed grid (exact ISL/OSL per cell); else random
    # (lengths drawn from input_len_range / output_len_range, seeded), sharegpt:PATH, jsonl:PATH,
    # prefix:P[:G] (groups of G requests sharing a P-token prefix), multiturn:T (conversations of T
    # turns, each user turn ISL tokens, each answer OSL; engine/load/conversations.py). Lengths stay
    # exact per request.
    dataset: str | None = None
    input_len_range: str | None = None  # "100:400", both ends included
    output_len_range: str | None = None
    # Trace replay (engine/load/trace.py): a Mooncake-style JSONL sent on its own timestamps / speedup.
    trace: str | None = None
    speedup: float | None = Field(default=None, gt=0)  # unset: 1 (real time)

    @field_validator("rates")
    @classmethod
    def _rates(cls, v: list[float]) -> list[float]:
        if any(r <= 0 for r in v):
            raise ValueError("every request rate must be above 0 req/s")
        return v

    @field_validator("concurrency")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(c < 1 for c in v):
            raise ValueError("every concurrency must be at least 1")
        return v

    @field_validator("seq")
    @classmethod
    def _seq(cls, v: list[str]) -> list[str]:
        for s in v:
            parse_seq(s)
        return v

    @field_validator("input_len_range", "output_len_range")
    @classmethod
    def _range(cls, v: str | None) -> str | None:
        if v is not None:
            parse_range(v)
        return v

    @model_validator(mode="after")
    def _workload(self) -> Grid:
        kind = dataset_kind(self.dataset)
        if self.dataset is not None:
            _check_dataset(self.dataset)
        if (self.input_len_range or self.output_len_range) and kind != "random":
            raise ValueError('input_len_range / output_len_range apply to dataset = "random" only')
        if kind == "random" and not (self.input_len_range or self.output_len_range):
            raise ValueError('dataset "random" needs input_len_range and/or output_len_range (e.g. "100:400")')
        if kind == "prefix":
            prefix = int(self.dataset.split(":")[1])
            short = [s for s in self.seq if parse_seq(s)[0] <= prefix]
            if short:
                raise ValueError(f"prefix:{prefix} needs every ISL above {prefix} (the unique suffix): {short}")
        self._check_ramp()
        if self.speedup is not None and self.trace is None:
            raise ValueError("speedup applies to a trace: give trace = PATH (--trace) too")
        if self.trace is not None:
            if self.dataset is not None:
                raise ValueError("give either a trace or a dataset: a trace brings its own prompts and lengths")
            if self.rates:
                raise ValueError("a trace brings its own send times: leave out the request rates")
            if self.search:
                raise ValueError(
                    "a trace brings its own send times, so a search (--search) would replay the same trace "
                    "at every probe: leave out one of them"
                )
        return self

    def _check_ramp(self) -> None:
        ends = (self.ramp_up_start_rps, self.ramp_up_end_rps)
        if self.ramp_up_strategy is None:
            if ends != (None, None):
                raise ValueError("ramp_up_start_rps / ramp_up_end_rps need ramp_up_strategy (--ramp-up-strategy)")
            return
        if None in ends:
            raise ValueError(
                "a ramp (--ramp-up-strategy) needs both ramp_up_start_rps and ramp_up_end_rps "
                "(--ramp-up-start-rps, --ramp-up-end-rps)"
            )
        others = [n for n, v in (("rates", self.rates), ("trace", self.trace), ("search", self.search)) if v]
        if others:
            raise ValueError(f"a ramp (--ramp-up-strategy) sets the request rate itself: leave out {', '.join(others)}")

    def turns(self) -> int:
        """multiturn:T[:PATH] -> T, the turns of each conversation; 0 for any other workload."""
        return int(self.dataset.split(":")[1]) if dataset_kind(self.dataset) == "multiturn" else 0

    def multiturn_file(self) -> str | None:
        """multiturn:T:PATH -> PATH, the ShareGPT file its conversations come from (None: synthetic)."""
        if dataset_kind(self.dataset) != "multiturn":
            return None
        return self.dataset.split(":", 2)[2] if self.dataset.count(":") >= 2 else None

    def pairs(self) -> list[tuple[int, int]]:
        return [parse_seq(s) for s in self.seq]


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

    def to_toml(self) -> str:
        return tomli_w.dumps(self.model_dump(exclude_none=True))


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


def _check_dataset(spec: str) -> None:
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
