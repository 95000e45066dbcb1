"""In-process mode: vLLM's `AsyncLLM` in the run process, built from the same recipe as a server.

The recipe's vLLM flags (and the model, as server mode passes it) go through vLLM's own engine
argument parser (`AsyncEngineArgs.add_cli_args` / `from_cli_args`), so one profile runs in both
modes. Flags that only the API server knows (`--host`, `--api-key`, `--enable-auto-tool-choice`,
...) are dropped and named; a flag neither parser knows is refused (exit code 2), as server mode's
parser would refuse it.

The engine is built on a helper thread (the event loop keeps reporting progress and answering
signals) that first takes the server's isolation (SCHED_IDLE, nice, CPUs): the engine core, a
child process started from that thread, inherits it, while the load's thread stays on the
client's CPU. Everything vLLM prints, in this process and its engine's, goes to server.log.
A watchdog process (engine/server/watchdog.py) stops the engine's processes should the run
process die without its clean shutdown.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import io
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx

from engine.events import Notice, Observer, ServerState, ServerWaiting
from engine.exits import EXIT_BAD_INPUT
from engine.load.http import Session
from engine.load.inprocess import EngineTarget
from engine.load.prompts import PromptFactory
from engine.load.tokenizer import load_tokenizer
from engine.profiles import ResolvedProfile
from engine.server import isolation, scratch
from engine.server.launcher_base import (
    CacheReset,
    LaunchDescription,
    Launcher,
    LaunchError,
    ServerInfo,
    StateSource,
    log_tail,
    run_isolation,
    server_env,
)
from engine.server.livestats import LiveStats
from engine.server.recipe_check import drop_flags
from engine.server.watchdog import children_of
from engine.spawn import python_argv

API = "engine"  # ServerInfo.api of an in-process run: AsyncLLM.generate, no HTTP API
WATCHDOG_GRACE_S = 10.0  # from SIGTERM to SIGKILL of what is left (the --grace given to the watchdog)


@dataclass
class EngineArgsPlan:
    """What the engine will be built from: the flags given to vLLM's parser, what was dropped, and
    the resulting engine arguments that differ from vLLM's defaults."""

    argv: list[str]
    dropped: list[str] = field(default_factory=list)  # API-server-only flags, left out
    non_default: dict[str, Any] = field(default_factory=dict)
    engine_args: Any = None  # vllm.engine.arg_utils.AsyncEngineArgs

    def describe(self) -> list[str]:
        lines = [f"AsyncLLM engine args (vLLM's parser): {shlex.join(self.argv)}"]
        if self.dropped:
            lines.append(f"dropped, API server only: {' '.join(self.dropped)}")
        if self.non_default:
            shown = ", ".join(f"{k}={v!r}" for k, v in self.non_default.items())
            lines.append(f"as AsyncEngineArgs (besides the defaults): {shown}")
        return lines


def engine_argv(profile: ResolvedProfile, model: str) -> list[str]:
    """The flags server mode gives `vllm serve`, less our host and port: the model, then the recipe's."""
    return ["--model", model, *profile.recipe.args]


@lru_cache(maxsize=1)
def _parsers():
    """vLLM's engine-argument parser, and the flags only its API server's parser knows (~10 s: once)."""
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    engine = AsyncEngineArgs.add_cli_args(FlexibleArgumentParser(prog="AsyncEngineArgs"))
    serve = make_arg_parser(FlexibleArgumentParser(prog="vllm serve"))
    engine_flags = {o for a in engine._actions for o in a.option_strings}
    server_only = {o for a in serve._actions for o in a.option_strings if o.startswith("--")} - engine_flags
    return engine, server_only


def _parse(parser, argv: list[str]):
    """(namespace, None) or (None, argparse's error message)."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return parser.parse_args(argv), None
    except SystemExit:
        text = err.getvalue()
        return None, (text.split(": error: ", 1)[1].strip() if ": error: " in text else text.strip()[-500:])
    except Exception as exc:  # vLLM's own validators raise plain exceptions
        return None, f"{exc.__class__.__name__}: {exc}"


def resolve_engine_args(argv: list[str]) -> EngineArgsPlan:
    """Parse `argv` with vLLM's engine parser; raise LaunchError (exit code 2) for what it rejects."""
    from vllm.engine.arg_utils import AsyncEngineArgs

    parser, server_only = _parsers()
    given = {tok.split("=", 1)[0] for tok in argv if tok.startswith("--")}
    dropped = sorted(given & server_only)
    argv = drop_flags(argv, set(dropped))
    ns, error = _parse(parser, argv)
    if ns is None:
        raise LaunchError(
            f"vLLM's engine arguments rejected the recipe's flags for in-process mode: {error}\n"
            f"  flags: {shlex.join(argv)}",
            exit_code=EXIT_BAD_INPUT,
        )
    model = argv[argv.index("--model") + 1] if "--model" in argv else None
    base, _ = _parse(parser, ["--model", model] if model else [])
    defaults = vars(base) if base is not None else {}
    non_default = {k: v for k, v in vars(ns).items() if k in defaults and defaults[k] != v}
    return EngineArgsPlan(argv, dropped, non_default, AsyncEngineArgs.from_cli_args(ns))


class InProcessLauncher(Launcher):
    """vLLM's AsyncLLM in this process: `start` builds it, `stop` shuts it down (and its processes)."""

    launched = True

    def __init__(self, profile: ResolvedProfile, model: str, log_path: Path, timeout_s: float):
        self.profile, self.model_arg, self.log_path, self.timeout_s = profile, model, log_path, timeout_s
        self.iso = run_isolation(profile)
        self.env = server_env(profile, self.iso)  # the same as a launched server's
        self.argv = engine_argv(profile, model)
        self.base_url = "in-process"  # summary.json's endpoint: no URL
        self.engine = None
        self.plan: EngineArgsPlan | None = None
        self.stats = LiveStats()
        self.watchdog: subprocess.Popen | None = None
        self._build: concurrent.futures.Future | None = None
        self._saved_fds: tuple[int, int] | None = None
        self._scratch: str | None = None  # removed by the watchdog, or here should it be killed
        self._scratch_vars: dict[str, str] = {}  # set in os.environ while the engine lives

    def _command(self) -> str:
        """The engine's launch, as summary.json's launch_command."""
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return (exports + " " if exports else "") + f"AsyncLLM.from_engine_args({shlex.join(self.argv)})"

    def describe(self) -> LaunchDescription:
        return LaunchDescription(self._command(), "building vLLM's AsyncLLM in this process")

    async def start(self, observer: Observer) -> None:
        loop = asyncio.get_running_loop()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"# llmbench-tui: in-process {self._command()}\n".encode())
        os.environ.update(self.env)  # before vLLM is imported: it reads some variables at import
        # The engine's sockets go to a directory of their own, which the watchdog removes.
        # Not with the engine core in this process: it caches vLLM's variables (a next engine would
        # get the first one's directory, removed by then).
        if os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING") != "0":
            self._scratch, self._scratch_vars = scratch.scratch_env(dict(os.environ), temp_dir=False)
        os.environ.update(self._scratch_vars)
        self._start_watchdog(self._scratch)
        self._log_to_server_log()
        self.plan = await loop.run_in_executor(None, resolve_engine_args, self.argv)
        for line in self.plan.describe()[1:]:
            observer(Notice("info", line))
        builder = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="llmbench-engine-build")
        self._build = builder.submit(self._build_engine, self.plan.engine_args)
        builder.shutdown(wait=False)
        started = time.monotonic()
        while not self._build.done():
            elapsed = time.monotonic() - started
            if elapsed > self.timeout_s:
                raise LaunchError(
                    f"the in-process engine was not up within {self.timeout_s:.0f} s (recipe startup_timeout_s); "
                    f"see {self.log_path}"
                )
            observer(ServerWaiting(elapsed, self.timeout_s, self._last_log_line()))
            await asyncio.wait([asyncio.wrap_future(self._build)], timeout=1.0)
        try:
            self.engine = self._build.result()
        except Exception as exc:
            tail = "\n".join(self.log_tail())
            raise LaunchError(
                f"the in-process engine failed to start: {exc.__class__.__name__}: {exc}; "
                f"last lines of {self.log_path}:\n{tail}"
            ) from None
        self._tell_watchdog(b"ready\n")
        observer(Notice("info", f"in-process engine ready after {time.monotonic() - started:.0f} s"))

    def _build_engine(self, engine_args):
        # This helper thread takes the server's priority and CPUs: the engine core, started from
        # it, inherits them; the load's thread (the caller's) is not touched.
        isolation.server_preexec(self.iso)()
        from vllm.v1.engine.async_llm import AsyncLLM

        return AsyncLLM.from_engine_args(engine_args, stat_loggers=[self.stats.factory])

    def _start_watchdog(self, scratch_dir: str | None) -> None:
        me = os.getpid()
        foreign = ",".join(map(str, children_of(me)))  # a launched server, a tracker: not the engine's
        argv = python_argv("engine.server.watchdog", "--pid", str(me))
        self.watchdog = subprocess.Popen(
            [
                *argv,
                "--grace",
                str(WATCHDOG_GRACE_S),
                "--foreign",
                foreign,
                *(["--scratch", scratch_dir] if scratch_dir else []),
            ],
            stdin=subprocess.PIPE,
            stdout=open(self.log_path, "ab"),  # noqa: SIM115 (its one line, if it had to stop anything)
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our terminal's signals are not its business
        )

    def _tell_watchdog(self, line: bytes) -> None:
        if self.watchdog is not None and self.watchdog.stdin is not None:
            with contextlib.suppress(OSError):
                self.watchdog.stdin.write(line)
                self.watchdog.stdin.flush()

    def _log_to_server_log(self) -> None:
        """Point this process's stdout and stderr at server.log while the engine lives: vLLM's own
        logging, and the engine core's and its workers' output (they inherit both)."""
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved_fds = (os.dup(1), os.dup(2))
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)

    def _restore_output(self) -> None:
        if self._saved_fds is None:
            return
        sys.stdout.flush()
        sys.stderr.flush()
        out, err = self._saved_fds
        self._saved_fds = None
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.close(out)
        os.close(err)

    def log_tail(self, lines: int = 20) -> list[str]:
        return log_tail(self.log_path, lines)

    def _last_log_line(self) -> str:
        return next((ln for ln in reversed(self.log_tail(5)) if ln.strip()), "")

    async def discover(
        self, client: httpx.AsyncClient, session: Session, profile: ResolvedProfile
    ) -> tuple[ServerInfo, PromptFactory, EngineTarget]:
        """What server mode asks the server over HTTP, from the engine itself (no HTTP: `client`
        and `session` are unused)."""
        import vllm

        engine = self.engine
        config = engine.model_config
        source = profile.model.tokenizer or self.model_arg
        tokenizer = await asyncio.get_running_loop().run_in_executor(None, load_tokenizer, source)
        served = config.served_model_name
        info = ServerInfo(
            model=served[0] if isinstance(served, list | tuple) else (served or self.model_arg),
            root=self.model_arg,
            max_model_len=config.max_model_len,
            version=vllm.__version__,
            api=API,
            prompt_kind="token_ids",
            usage_reported=True,  # token ids: counted exactly
            tokenizer=source,
        )
        return info, PromptFactory(tokenizer, profile.load.seed), EngineTarget(engine)

    def server_state(self) -> ServerState:
        """The engine's state now, from its stat logger: what server mode reads from /metrics."""
        return dataclasses.replace(self.stats.state)

    def state_source(self) -> StateSource:
        return StateSource("the in-process engine's stat logger, about once a second", read=self.server_state)

    async def reset_prefix_cache(self) -> CacheReset:
        if self.engine is None:
            return CacheReset(False, "not reset: the in-process engine is not running")
        if await self.engine.reset_prefix_cache():
            return CacheReset(True, "reset")
        return CacheReset(False, "not reset: the engine refused (cache blocks still held by running requests)")

    def alive(self) -> bool:
        return self.engine is not None and not self.engine.errored

    def gone(self) -> str | None:
        engine = self.engine
        return f"the in-process engine is dead: {engine.dead_error}" if engine is not None and engine.errored else None

    def process_note(self) -> str:
        return "its engine: in this process, " + ("dead" if self.gone() else "not reported dead")

    async def unreachable(self) -> str | None:
        if self.alive():
            return None
        return "the in-process engine is dead" + (f": {self.engine.dead_error}" if self.engine is not None else "")

    async def stop(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.stop_sync)

    def stop_sync(self) -> None:
        """Shut the engine down (vLLM's own clean shutdown), then let the watchdog stop whatever of
        its processes is left, and wait for it. Safe to call twice."""
        engine, self.engine = self.engine, None
        build, self._build = self._build, None
        try:
            if engine is None and build is not None and not build.done():
                # Still starting (a Ctrl-C, a timeout): the watchdog stops its processes, which ends the build.
                self._end_watchdog()
                with contextlib.suppress(Exception):
                    engine = build.result(timeout=WATCHDOG_GRACE_S + 30)
            if engine is not None:
                engine.shutdown()
        finally:
            self._end_watchdog()
            self._restore_output()
            scratch.remove(self._scratch)
            for name in self._scratch_vars:  # the directory is gone: a next engine gets its own
                os.environ.pop(name, None)
            self._scratch, self._scratch_vars = None, {}

    def _end_watchdog(self) -> None:
        watchdog, self.watchdog = self.watchdog, None
        if watchdog is None:
            return
        with contextlib.suppress(OSError):
            watchdog.stdin.close()  # the lifeline: it stops what is left of the engine's processes
        try:
            watchdog.wait(timeout=WATCHDOG_GRACE_S + 15)
        except subprocess.TimeoutExpired:
            watchdog.kill()
            watchdog.wait()


def preview_lines(profile: ResolvedProfile, model: str, resolve: bool) -> list[str]:
    """What --dry-run prints of an in-process launch. `resolve`: through vLLM's parser (slow: ~10 s)."""
    argv = engine_argv(profile, model)
    if not resolve:
        return [f"AsyncLLM engine args: {shlex.join(argv)} (checked by vLLM's parser when the run starts)"]
    return resolve_engine_args(argv).describe()
