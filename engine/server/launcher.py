"""Where the server under test comes from: launched here (subprocess or docker), or attached to.

Every launcher gives a base URL once the server is ready and stops what it started, its whole
process group included (vLLM's engine core is a child process), so nothing is left orphaned.
The server's command, health path and metric names are its backend's (engine/server/backend.py).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shlex
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from engine.events import Notice, Observer, ServerWaiting
from engine.load.client import HttpTarget, Target
from engine.load.http import Session
from engine.load.prompts import PromptFactory
from engine.profiles import ResolvedProfile
from engine.redact import Redactor, secret_values
from engine.server import isolation, keeper, scratch
from engine.server.backend import Backend
from engine.server.backends import DEFAULT_BACKEND, backend_for
from engine.server.discovery import discover
from engine.server.isolation import Isolation
from engine.server.launcher_base import (
    CacheReset,
    LaunchDescription,
    Launcher,
    LaunchError,
    NotSupportedError,
    ServerInfo,
    StateSource,
    free_port,
    log_tail,
    model_location,
    run_isolation,
    server_env,
)
from engine.values import format_cpus, parse_cpus

STOP_GRACE_S = 20.0  # from SIGTERM to SIGKILL of what is left of the server's tree


@dataclass
class LaunchSpec:
    """Exactly what will be run: for --dry-run and for the results' metadata."""

    command: list[str]
    env: dict[str, str]  # only the variables the profile sets, on top of the inherited environment
    base_url: str
    isolation: Isolation = field(default_factory=Isolation)

    def shell(self) -> str:
        """The command as a user would type it: environment, isolation (nice, taskset), command.
        It holds secret values in clear: mask them (Redactor) before writing or printing it."""
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        prefix = [] if self.command[0] == "docker" else isolation.shell_prefix(self.isolation)
        return (exports + " " if exports else "") + shlex.join([*prefix, *self.command])


def server_spec(profile: ResolvedProfile, model: str, port: int, backend: Backend | None = None) -> LaunchSpec:
    """The server's launch: the backend's command (or its docker form) with the profile's environment."""
    recipe, hw, host = profile.recipe, profile.hardware, profile.host
    backend = backend or backend_for(profile)
    iso = run_isolation(profile)
    env = server_env(profile, iso)
    if profile.load.reset_prefix_cache:  # the routes that empty the cache between cells; the profile's env wins
        env |= {k: v for k, v in backend.cache_reset_env().items() if k not in env}
    url = f"http://{host}:{port}"
    if not profile.docker:
        return LaunchSpec(backend.serve_command(model, recipe.args, host, port), env, url, iso)
    if not recipe.docker_image:
        raise LaunchError(f"recipe {recipe.name!r} names no docker_image, but the profile asks for docker")
    entry = backend.docker_entry(model, recipe.args, host, port)
    # `-e NAME` without a value: docker takes it from its own environment, so no value
    # (a token, say) is on a command line that `ps` shows to every user of the host.
    env_flags = [x for k in env for x in ("-e", k)]
    hf_cache = str(Path.home() / ".cache" / "huggingface")
    command = [
        *("docker", "run", "--rm", "--name", f"llmbench-{uuid.uuid4().hex[:8]}"),
        *("--network", "host", "--ipc", "host"),
        *hw.docker_args,
        *([f"--cpuset-cpus={iso.server_cpus}"] if iso.server_cpus else []),
        *env_flags,
        *("-e", "HF_TOKEN", "-v", f"{hf_cache}:/root/.cache/huggingface"),
        *("--entrypoint", entry.entrypoint, recipe.docker_image, *entry.args),
    ]
    return LaunchSpec(command, env, url, iso)


class HttpLauncher(Launcher):
    """A server reached over HTTP: discovered through its OpenAI API, its state from its /metrics."""

    backend: Backend = DEFAULT_BACKEND

    async def discover(
        self, client: httpx.AsyncClient, session: Session, profile: ResolvedProfile
    ) -> tuple[ServerInfo, PromptFactory, Target]:
        info, factory = await discover(client, session, self.base_url, profile, self.model_arg, self.backend)
        ids_field = self.backend.capabilities.answer_ids_field
        target = HttpTarget(
            session, self.base_url, info.api, info.model, keep_text=not info.usage_reported, answer_ids_field=ids_field
        )
        return info, factory, target

    def state_source(self) -> StateSource:
        url = f"{self.base_url}/metrics"
        return StateSource(f"{url}, about once a second", metrics_url=url, names=self.backend.metrics)

    async def reset_prefix_cache(self) -> CacheReset:
        async with httpx.AsyncClient(timeout=30, headers=self.headers) as client:
            return await self.backend.reset_prefix_cache(client, self.base_url)

    async def unreachable(self) -> str | None:
        """Why the server does not answer /v1/models now (None when it does)."""
        async with httpx.AsyncClient(timeout=10, headers=self.headers) as client:
            try:
                r = await client.get(f"{self.base_url}/v1/models")
            except httpx.HTTPError as exc:
                return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
        return None if r.status_code == 200 else f"/v1/models answered HTTP {r.status_code}"


class ExternalLauncher(HttpLauncher):
    def __init__(self, endpoint: str, backend: Backend = DEFAULT_BACKEND):
        self.base_url = endpoint.rstrip("/").removesuffix("/v1")
        self.backend = backend

    async def start(self, observer: Observer) -> None:
        async with httpx.AsyncClient(timeout=10, headers=self.headers) as client:
            try:
                r = await client.get(f"{self.base_url}/v1/models")
            except httpx.HTTPError as exc:
                raise LaunchError(f"cannot reach {self.base_url}/v1/models: {exc.__class__.__name__}: {exc}") from None
        if r.status_code == 401:
            raise LaunchError(
                f"{self.base_url}/v1/models answered HTTP 401 (unauthorized): give the server's key with "
                "--api-key or the OPENAI_API_KEY environment variable"
            )
        if r.status_code != 200:
            raise LaunchError(f"{self.base_url}/v1/models answered HTTP {r.status_code}: {r.text[:300]}")


class ServerLauncher(HttpLauncher):
    launched = True

    def __init__(
        self,
        spec: LaunchSpec,
        log_path: Path,
        timeout_s: float,
        model_arg: str | None = None,
        backend: Backend = DEFAULT_BACKEND,
    ):
        self.spec, self.backend = spec, backend
        self.model_arg = model_arg
        self.base_url = spec.base_url
        self.log_path = log_path
        self.timeout_s = timeout_s
        self.proc: subprocess.Popen | None = None  # the keeper
        self.server: tuple[int, int] | None = None  # the keeper's child, the server: pid, start time
        self._container = spec.command[spec.command.index("--name") + 1] if spec.command[0] == "docker" else None
        self._scratch: str | None = None
        self.redact = Redactor(secret_values(spec.command, spec.env))

    def describe(self) -> LaunchDescription:
        return LaunchDescription(self.spec.shell(), f"waiting for {self.base_url}{self.backend.health_path}")

    async def start(self, observer: Observer) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"# llmbench-tui: {self.redact(self.spec.shell())}\n".encode())
        spec = self.spec
        # vLLM's sockets go to a directory of ours, removed by the keeper or, were it killed, by
        # stop_sync. A container's temp files are inside the container.
        self._scratch, scratch_vars = (None, {}) if self._container else scratch.scratch_env({**os.environ, **spec.env})
        try:  # the keeper (engine/server/keeper.py) starts the server and stops its whole tree
            self.proc = keeper.start_keeper(
                spec.command,
                {**spec.env, **scratch_vars},
                self.log_path,
                STOP_GRACE_S,
                spec.isolation,
                self._container,
                self._scratch,
            )
        except OSError as exc:
            scratch.remove(self._scratch)
            raise LaunchError(f"cannot start {self.spec.command[0]}: {exc}") from None
        atexit.register(self.stop_sync)  # even on an unexpected exit, no orphaned server
        await self._wait_ready(observer)
        self.server = keeper.server_of(self.proc)

    def log_tail(self, lines: int = 20) -> list[str]:
        return log_tail(self.log_path, lines)

    async def _wait_ready(self, observer: Observer) -> None:
        start = time.monotonic()
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                elapsed = time.monotonic() - start
                # Read without reaping: the keeper's session id must stay its own until it is stopped.
                if (code := keeper.keeper_exit(self.proc)) is not None:
                    tail = "\n".join(self.log_tail())
                    # argparse exits with 2: the recipe's flags or values were rejected.
                    rejected = code == 2
                    what = "rejected its arguments" if rejected else f"exited with code {code} before it was ready"
                    raise LaunchError(
                        f"the server {what}; last lines of {self.log_path}:\n{tail}", 2 if rejected else 1
                    )
                try:
                    r = await client.get(f"{self.base_url}{self.backend.health_path}")
                    if r.status_code == 200:
                        observer(Notice("info", f"server ready at {self.base_url} after {elapsed:.0f} s"))
                        return
                except httpx.HTTPError:
                    pass
                if elapsed > self.timeout_s:
                    await self.stop()
                    raise LaunchError(
                        f"the server did not answer {self.backend.health_path} within {self.timeout_s:.0f} s "
                        f"(recipe startup_timeout_s); see {self.log_path}"
                    )
                last = next((ln for ln in reversed(self.log_tail(5)) if ln.strip()), "")
                observer(ServerWaiting(elapsed, self.timeout_s, last))
                await asyncio.sleep(1.0)

    def alive(self) -> bool:
        return self.proc is not None and keeper.keeper_exit(self.proc) is None

    def gone(self) -> str | None:
        return None if self.proc is None else keeper.gone(self.proc, self.server)

    def process_note(self) -> str:
        return keeper.process_note(self.server)

    def server_pid(self) -> int | None:
        # In docker the tree under the keeper is docker's client, not the server.
        return self.proc.pid if self.proc is not None and self._container is None else None

    async def stop(self) -> None:
        if self.proc is None:
            return
        await asyncio.get_running_loop().run_in_executor(None, self.stop_sync)

    def stop_sync(self) -> None:
        """Stop the server's tree, through its keeper or, when that was killed, here. Safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is not None:
            keeper.stop_keeper(proc, STOP_GRACE_S, self._container)
            scratch.remove(self._scratch)


def check_mode(profile: ResolvedProfile) -> None:
    """Raise NotSupportedError for a mode this profile cannot run in (bad input: exit code 2)."""
    if profile.mode == "external" and not profile.endpoint:
        raise NotSupportedError("external mode needs an endpoint: --endpoint http://HOST:PORT")
    if profile.grid.search and not profile.load.slo:
        raise NotSupportedError("a search needs service levels to meet: --slo ttft:500,tpot:50 (ms)")
    if profile.grid.turns():
        _check_multiturn(profile)
    backend = backend_for(profile)  # a recipe.backend this build does not know: refused here
    if profile.mode == "inprocess":
        if not backend.capabilities.in_process:
            raise NotSupportedError(f"{backend.label} has no in-process engine here: use --mode server")
        if profile.docker:
            raise NotSupportedError(
                "in-process mode runs vLLM inside this tool's run process: it cannot run in docker; "
                "use --no-docker, or --mode server for the recipe's image"
            )
        if profile.load.workers != "auto" and profile.load.workers > 1:
            raise NotSupportedError(
                f"load.workers = {profile.load.workers}: in-process mode sends to the engine inside the run "
                "process, which one worker only can reach; use --workers 1, or --mode server for several"
            )
        if profile.load.ray_address:
            raise NotSupportedError(
                f"load.ray_address = {profile.load.ray_address!r} (--ray): in-process mode sends to the engine "
                "inside the run process, which no Ray worker can reach; leave out --ray, or use --mode server"
            )
        if profile.load.api == "chat" or profile.load.prompt == "text":
            raise NotSupportedError(
                "in-process mode sends token-id prompts to the engine (exact lengths, no API): "
                "load.api = 'chat' and load.prompt = 'text' are for servers; use --mode server or external"
            )
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    for name in ("server_cpus", "client_cpus"):
        value = getattr(profile.isolation, name)
        if value and usable and not parse_cpus(value) <= usable:
            raise NotSupportedError(
                f"isolation.{name} = {value!r}: this host lets us use CPUs {format_cpus(usable)} only; "
                "choose CPUs among those, or leave it unset"
            )


def make_launcher(profile: ResolvedProfile, results_dir: Path, progress: Callable[[str], None]) -> Launcher:
    check_mode(profile)
    backend = backend_for(profile)
    if profile.mode == "external":
        return ExternalLauncher(profile.endpoint, backend)
    model = model_location(profile, build=True, progress=progress)
    log, timeout_s = results_dir / "server.log", profile.recipe.startup_timeout_s
    if profile.mode == "inprocess":
        return backend.in_process_launcher(profile, model, log, timeout_s)
    spec = server_spec(profile, model, profile.port or free_port(profile.host), backend)
    return ServerLauncher(spec, log, timeout_s, model, backend)


@dataclass
class LaunchPreview:
    env: dict[str, str]
    command: str
    isolation: Isolation


def launch_preview(profile: ResolvedProfile, resolve_engine_args: bool = False) -> LaunchPreview:
    """The environment, the exact command and the isolation a run would use (nothing is built or
    launched). In-process: the engine arguments, through the engine's own parser when
    `resolve_engine_args` (slow: it imports vLLM; --dry-run does, the TUI's live preview does not)."""
    iso = run_isolation(profile)
    if profile.mode == "external":
        target = profile.endpoint or "<endpoint>"
        return LaunchPreview({}, f"(external mode: nothing is launched; load goes to {target})", iso)
    backend, model = backend_for(profile), model_location(profile, build=False)
    env = server_env(profile, iso)
    if profile.mode == "inprocess":
        redact = Redactor(secret_values(profile.recipe.args, env))
        lines = backend.in_process_preview(profile, model, resolve_engine_args)
        return LaunchPreview({k: redact(v) for k, v in env.items()}, redact("\n  ".join(lines)), iso)
    spec = server_spec(profile, model, profile.port or free_port(profile.host), backend)
    redact = Redactor(secret_values(spec.command, env))
    return LaunchPreview({k: redact(v) for k, v in env.items()}, redact(spec.shell()), iso)


def _check_multiturn(profile: ResolvedProfile) -> None:
    """What a multi-turn dataset cannot run with (engine/load/conversations.py says why)."""
    spec = profile.grid.dataset
    if profile.load.workers != "auto" and profile.load.workers > 1:
        raise NotSupportedError(
            f"dataset {spec} with load.workers = {profile.load.workers}: a conversation's next turn is built "
            "from the answer the previous one got, which the coordinator never sees; use --workers 1"
        )
    if profile.load.api == "chat" or profile.load.prompt == "text":
        raise NotSupportedError(
            f"dataset {spec}: each turn's prompt is the earlier turns' token ids and the answers' token ids "
            "(exact lengths); text prompts (load.api = 'chat', load.prompt = 'text') would re-tokenise the "
            "answers and drift; use --api completions with a server that takes token ids (vLLM, SGLang)"
        )
