"""The launched server's whole tree is stopped on every ending, SIGKILL of the run included, and
secrets never reach server.log. A fake `vllm serve` plays a server whose engine child ignores SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.server.launcher import LaunchSpec, ServerLauncher, free_port
from engine.server.proctree import descendants
from tests.conftest import ROOT

FAKE = str(ROOT / "tests" / "fake_vllm.py")


def fake_spec(tmp_path: Path) -> tuple[LaunchSpec, Path]:
    port = free_port()
    pids = tmp_path / "pids"
    command = [sys.executable, FAKE, "--port", str(port), "--pids", str(pids), "--api-key", "sk-clear-secret"]
    return LaunchSpec(command, {"HF_TOKEN": "hf_clear_secret"}, f"http://127.0.0.1:{port}"), pids


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(condition, what: str, timeout_s: float = 60.0) -> None:
    """Wait on a state (the bound only turns a hang into a failure)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for: {what}"
        time.sleep(0.05)


def server_pids(pids: Path) -> list[int]:
    wait_until(pids.exists, "the fake server's pid file")
    return [int(x) for x in pids.read_text().split()]


def test_stop_ends_a_child_that_ignores_sigterm_and_the_log_holds_no_secret(tmp_path, monkeypatch):
    monkeypatch.setattr("engine.server.launcher.STOP_GRACE_S", 1.0)
    spec, pids = fake_spec(tmp_path)
    launcher = ServerLauncher(spec, tmp_path / "server.log", timeout_s=30)
    asyncio.run(launcher.start(lambda event: None))
    server, engine_child = server_pids(pids)
    assert alive(server) and alive(engine_child) and launcher.alive()
    launcher.stop_sync()
    assert not alive(server) and not alive(engine_child)
    log = (tmp_path / "server.log").read_text()
    assert "non-default args" in log and "--api-key" in log
    assert "sk-clear-secret" not in log and "hf_clear_secret" not in log and "***" in log


RUN_AND_WAIT = """
import asyncio, sys
from pathlib import Path
import engine.server.launcher as L
L.STOP_GRACE_S = 1.0
spec = L.LaunchSpec({command!r}, {{}}, {url!r})
launcher = L.ServerLauncher(spec, Path({log!r}), timeout_s=30)
asyncio.run(launcher.start(lambda event: None))
print("ready", flush=True)
sys.stdin.read()
"""


def test_sigkill_of_the_run_process_leaves_no_server_process(tmp_path):
    spec, pids = fake_spec(tmp_path)
    code = RUN_AND_WAIT.format(command=spec.command, url=spec.base_url, log=str(tmp_path / "server.log"))
    run = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, text=True
    )
    try:
        assert run.stdout.readline().strip() == "ready"
        tree = descendants(run.pid)
        server, engine_child = server_pids(pids)
        assert {server, engine_child} <= set(tree)
        run.kill()  # SIGKILL: the run process gets no chance to clean up
        run.wait()
        wait_until(lambda: not any(alive(p) for p in tree), "the server's tree to be gone")
    finally:
        run.kill()
        for pid in server_pids(pids):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
