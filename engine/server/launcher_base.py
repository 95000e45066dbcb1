"""What every launcher gives the run, and what launchers share.

A launcher (launcher.py: a launched server or an endpoint attached to; inprocess.py: an engine in
this process) describes its launch, starts, discovers what the server serves (ServerInfo, prompts,
the Target requests go to), says where the server's state is read (StateSource), and stops what
it started. The run calls these and never asks which launcher it holds.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass

import httpx

from engine.events import Observer, ServerState
from engine.exits import EXIT_FAILED
from engine.load.client import Target
from engine.load.http import Session
from engine.load.prompts import PromptFactory
from engine.profiles import BUILTIN_PREFIX, ResolvedProfile
from engine.server import isolation
from engine.server.isolation import Isolation
from engine.server.metrics import MetricNames
from engine.server.tinymodel import TINY_NAME, ensure_tiny_model, tiny_model_dir


class LaunchError(Exception):
    """The server could not be started or never became ready (exit code 1, or 2 when it
    rejected its arguments: bad input, found before any load was sent)."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED):
        super().__init__(message)
        self.exit_code = exit_code


class NotSupportedError(Exception):
    """A mode this build does not support yet (exit code 2)."""


@dataclass
class ServerInfo:
    """What the server serves and speaks, as summary.json's `server` records it."""

    model: str  # the name to put in requests
    root: str | None  # the model's path on the server, as /v1/models reports it
    max_model_len: int | None
    version: str | None
    api: str  # completions | chat | engine (in-process: no HTTP API)
    prompt_kind: str  # token_ids | text
    usage_reported: bool
    tokenizer: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StateSource:
    """Where the run reads the server's state (running, waiting, KV cache, token counters) about
    once a second: a Prometheus page and the backend's names for it (which parse it), or a callable
    (an in-process engine's stat logger). `description` goes to summary.json's telemetry.server_metrics."""

    description: str
    metrics_url: str | None = None
    names: MetricNames | None = None
    read: Callable[[], ServerState | None] | None = None


@dataclass(frozen=True)
class CacheReset:
    """What asking the server to empty its prefix cache gave: done, or why not (its answer)."""

    done: bool
    text: str  # "reset", or why not, as summary.json records it


@dataclass(frozen=True)
class LaunchDescription:
    """What the run records and shows before `start`: the launch as a user would type it (None:
    nothing is launched) and what it waits for (None: no wait worth a phase)."""

    command: str | None = None
    waiting: str | None = None


class Launcher:
    """Where the server under test comes from. Subclasses: launcher.py and inprocess.py."""

    base_url: str = ""
    launched = False  # whether this tool started the server (and writes server.log)
    model_arg: str | None = None  # what this tool passed to the server as the model, when it launched it
    headers: dict[str, str] = {}  # the client's credentials, for the API's routes

    def describe(self) -> LaunchDescription:
        return LaunchDescription()

    async def start(self, observer: Observer) -> None:
        raise NotImplementedError

    async def discover(
        self, client: httpx.AsyncClient, session: Session, profile: ResolvedProfile
    ) -> tuple[ServerInfo, PromptFactory, Target]:
        """What the server serves, the prompts to make for it and where requests go."""
        raise NotImplementedError

    def state_source(self) -> StateSource:
        raise NotImplementedError

    async def reset_prefix_cache(self) -> CacheReset:
        """Empty the server's prefix cache (between cells, the server idle), where it allows it."""
        return CacheReset(False, "not reset: this launcher cannot reach the server's cache")

    def server_pid(self) -> int | None:
        """The launched server's process on this host, whose tree the telemetry reads (None: none)."""
        return None

    def alive(self) -> bool:
        return True

    def gone(self) -> str | None:
        """Why the server is gone now, None while it runs: asked every half second under load
        (engine/run/watch.py), so cheap and without a request; only a launcher holding the server's
        processes can tell."""
        return None

    def process_note(self) -> str:
        """What the server's processes say now, for a stalled server's diagnosis."""
        return "its process: not ours to see (a server this run did not launch)"

    async def unreachable(self) -> str | None:
        """Why the server does not answer now (None when it does): after a cell with failed
        requests, to tell a dead server from a few bad requests."""
        return None

    async def stop(self) -> None:
        pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def model_location(profile: ResolvedProfile, build: bool = True, progress: Callable[[str], None] = print) -> str:
    """What to pass to the server as the model: a HF id, a local path, or the built-in tiny model's path."""
    model_id = profile.model.id
    if model_id.startswith(BUILTIN_PREFIX):
        name = model_id[len(BUILTIN_PREFIX) :]
        if name != TINY_NAME:
            raise LaunchError(f"unknown built-in model {name!r}: the only one is {BUILTIN_PREFIX}{TINY_NAME}")
        return str(ensure_tiny_model(progress) if build else tiny_model_dir())
    return model_id


def profile_env(profile: ResolvedProfile) -> dict[str, str]:
    """The environment a profile sets for the server: the hardware's, then the recipe's on top."""
    env = {**profile.hardware.env, **profile.recipe.env}
    if profile.model.id.startswith(BUILTIN_PREFIX):
        env.setdefault("HF_HUB_OFFLINE", "1")  # the built-in model is local: never ask a hub
    return env


def run_isolation(profile: ResolvedProfile) -> Isolation:
    return isolation.resolve(profile.isolation, profile.mode, profile.docker, profile.hardware.vendor)


def server_env(profile: ResolvedProfile, iso: Isolation) -> dict[str, str]:
    """The environment the server (or the in-process engine) runs with: isolation's, then the profile's."""
    return {**isolation.server_env(iso, profile.hardware.vendor), **profile_env(profile)}


def log_tail(path, lines: int = 20) -> list[str]:
    """The last lines of a server's log (its last 16 KiB read), for progress lines and errors."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            return f.read().decode(errors="replace").splitlines()[-lines:]
    except OSError:
        return []
