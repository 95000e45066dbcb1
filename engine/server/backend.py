"""A server backend: the inference engine under test (vLLM first), as the run sees it.

A backend says how to launch its OpenAI-compatible server (command, docker form), where it
answers (health, version), what its /metrics call the server's state, what it can do
(capabilities), how its prefix cache is emptied, which release is installed here, and checks a
recipe's flags with its own parser. The registry is engine/server/backends.py; docs/backends.md shows how SGLang fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from engine.profiles import ResolvedProfile
from engine.server.launcher_base import CacheReset, Launcher
from engine.server.metrics import MetricNames


@dataclass(frozen=True)
class Capabilities:
    """What the backend's server does beyond the OpenAI API. Discovery still probes a server:
    a capability only spares probes that would fail."""

    token_id_prompts: bool  # `prompt` may be a list of token ids (exact input lengths)
    # The request field that streams each chunk's token ids back (`token_ids` in the choice, as
    # multi-turn needs); None: the server has none.
    answer_ids_field: str | None
    in_process: bool  # the engine can run inside the run process (in_process_launcher)


@dataclass(frozen=True)
class DockerEntry:
    """The container's entrypoint and its arguments after the image: `--entrypoint E IMAGE ARGS`."""

    entrypoint: str
    args: tuple[str, ...]


class FlagCheck(Protocol):
    """A recipe's flags through the backend's own argument parser (engine/server/recipe_check.py)."""

    version: str | None  # the installed release that checked them; None when it cannot be imported
    unavailable: str | None  # why the check could not run

    @property
    def ok(self) -> bool: ...

    def explain(self) -> list[str]:
        """One line per rejected flag or value, with what to use instead where known."""
        ...


class Backend(Protocol):
    name: str  # the profile's recipe.backend
    label: str  # in messages: "vLLM"
    health_path: str  # answers 200 once the server is ready
    version_path: str  # a JSON object whose `version` is the server's release
    metrics: MetricNames
    capabilities: Capabilities

    def serve_command(self, model: str, args: list[str], host: str, port: int) -> list[str]:
        """The server's command line on this host: the model, the recipe's flags, our host and port last."""
        ...

    def docker_entry(self, model: str, args: list[str], host: str, port: int) -> DockerEntry:
        """The same server inside the recipe's image."""
        ...

    def installed_version(self) -> str | None:
        """The release installed here, cheaply (package metadata); None when absent."""
        ...

    def cache_reset_env(self) -> dict[str, str]:
        """The environment a launched server needs to serve `reset_prefix_cache` ({}: none)."""
        ...

    async def reset_prefix_cache(self, client: httpx.AsyncClient, base_url: str) -> CacheReset:
        """Ask the server at `base_url` to empty its prefix cache (between cells, the server idle)."""
        ...

    def check_flags(self, model: str, args: list[str]) -> FlagCheck:
        """The recipe's flags through the installed release's own parser (slow: imports it)."""
        ...

    def in_process_launcher(self, profile: ResolvedProfile, model: str, log_path: Path, timeout_s: float) -> Launcher:
        """The engine inside the run process (only with capabilities.in_process)."""
        ...

    def in_process_preview(self, profile: ResolvedProfile, model: str, resolve: bool) -> list[str]:
        """What --dry-run prints of an in-process launch; `resolve`: through the engine's own parser."""
        ...
