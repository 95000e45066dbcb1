"""The launched server's whole tree is stopped on every ending, SIGKILL of the run included, and
secrets never reach server.log. A fake `vllm serve` plays a server whose engine child ignores SIGTERM."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engine.server.launcher import LaunchSpec, ServerLauncher
from engine.server.launcher_base import free_port
from engine.server.proctree import descendants
from engine.server.scratch import remove, scratch_env
from tests.conftest import ROOT, cli_env, read_until

FAKE = str(ROOT / "tests" / "fake_vllm.py")
CLI = str(Path(sys.executable).parent / "llmbench-tui")


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


def scratch_of(pids: Path) -> Path:
    """The directory the fake server was given for its sockets (it left one there, as vLLM does)."""
    scratch = Path(pids.with_name(pids.name + ".rpc").read_text())
    assert scratch.parent == Path(tempfile.gettempdir()) and scratch.name.startswith("llmbench-vllm-")
    return scratch


def test_the_scratch_directory_is_made_in_the_server_s_own_temp_dir(run_tmpdir):
    own = run_tmpdir  # short: pytest's tmp_path is too deep for a unix socket's path
    path, env = scratch_env({"TMPDIR": str(own)})
    try:
        assert Path(path).parent == own and env["TMPDIR"] == env["VLLM_RPC_BASE_PATH"] == path
        assert env["TORCHINDUCTOR_CACHE_DIR"] == str(own / f"torchinductor_{getpass.getuser()}")
    finally:
        remove(path)
    assert not Path(path).exists()
    assert scratch_env({"VLLM_RPC_BASE_PATH": "/theirs"}) == (None, {})  # the user's choice
    assert scratch_env({"TMPDIR": "/" + "d" * 60}) == (None, {})  # a socket's path would not fit


def test_stop_ends_a_child_that_ignores_sigterm_and_the_log_holds_no_secret(tmp_path, monkeypatch):
    monkeypatch.setattr("engine.server.launcher.STOP_GRACE_S", 1.0)
    spec, pids = fake_spec(tmp_path)
    launcher = ServerLauncher(spec, tmp_path / "server.log", timeout_s=30)
    asyncio.run(launcher.start(lambda event: None))
    server, engine_child = server_pids(pids)
    assert alive(server) and alive(engine_child) and launcher.alive()
    scratch = scratch_of(pids)
    assert (scratch / "fake-rpc").is_socket()
    launcher.stop_sync()
    assert not alive(server) and not alive(engine_child)
    assert not scratch.exists()  # removed by the keeper once the tree had ended
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
        scratch = scratch_of(pids)
        run.kill()  # SIGKILL: the run process gets no chance to clean up
        run.wait()
        wait_until(lambda: not any(alive(p) for p in tree), "the server's tree to be gone")
        assert not scratch.exists()  # the keeper, in the tree, removed it before it ended
    finally:
        run.kill()
        for pid in server_pids(pids):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_killed_keeper_is_known_at_once_and_its_server_tree_is_stopped_from_the_run(tmp_path, monkeypatch):
    monkeypatch.setattr("engine.server.launcher.STOP_GRACE_S", 1.0)
    spec, pids = fake_spec(tmp_path)
    launcher = ServerLauncher(spec, tmp_path / "server.log", timeout_s=30)
    asyncio.run(launcher.start(lambda event: None))
    try:
        server, engine_child = server_pids(pids)
        keeper = launcher.proc.pid
        assert launcher.gone() is None and launcher.server[0] == server
        assert f"its process (pid {server}): sleeping" in launcher.process_note()
        os.kill(keeper, signal.SIGKILL)  # as an operator's `kill -9` of what `pgrep -f vllm` finds first
        wait_until(lambda: launcher.gone() is not None, "the launcher to see its keeper gone", 10)
        assert launcher.gone() == f"the server's keeper process (pid {keeper}) was killed by SIGKILL"
        assert not launcher.alive()
        assert alive(engine_child)  # it ignores SIGTERM, and no keeper is left to SIGKILL it
        assert scratch_of(pids).exists()  # the keeper died before it could remove it
        launcher.stop_sync()  # the run stops what the keeper kept: SIGTERM, the grace, SIGKILL
        assert not alive(server) and not alive(engine_child)
        assert not scratch_of(pids).exists()  # and removes what it left
    finally:
        launcher.stop_sync()
        for pid in server_pids(pids):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_server_that_exits_is_known_before_its_keeper_has_stopped_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr("engine.server.launcher.STOP_GRACE_S", 3.0)
    spec, pids = fake_spec(tmp_path)
    launcher = ServerLauncher(spec, tmp_path / "server.log", timeout_s=30)
    asyncio.run(launcher.start(lambda event: None))
    try:
        server, engine_child = server_pids(pids)
        os.kill(server, signal.SIGKILL)  # its engine child lives on, ignoring SIGTERM: the keeper waits its grace
        wait_until(lambda: launcher.gone() is not None, "the launcher to see its server gone", 10)
        assert launcher.gone().startswith(f"the server process (pid {server}) ended")
    finally:
        launcher.stop_sync()
    assert not alive(engine_child)


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


async def test_a_sigkilled_keeper_ends_a_real_run_within_seconds_with_the_reason(tiny_model, tmp_path):
    """The real vLLM under load (the case that waited out the 300 s read timeout): its keeper is
    SIGKILLed mid-cell; the run fails with the reason within 15 s and leaves none of the server behind."""
    argv = ["--no-ui", "--profile", "cpu-tiny", "--concurrency", "4", "--seq", "128/1024", "--results", str(tmp_path)]
    proc = await asyncio.create_subprocess_exec(
        CLI, *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=cli_env()
    )
    tree: list[int] = []
    try:
        seen = await read_until(proc.stderr, b"in flight", 300)  # measuring: requests in flight
        keeper = next(p for p in descendants(proc.pid) if b"engine.server.supervisor" in cmdline(p))
        tree = descendants(keeper)
        os.kill(keeper, signal.SIGKILL)
        killed = time.monotonic()
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        took = time.monotonic() - killed
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        for pid in tree:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    log = (seen + err).decode()
    assert proc.returncode == 1, log[-3000:]
    assert took < 15, f"{took:.1f} s\n{log[-3000:]}"
    reason = f"the server's keeper process (pid {keeper}) was killed by SIGKILL"
    assert reason in err.decode(), log[-3000:]
    run_dir = Path(out.decode().split("results: ")[-1].strip())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"].startswith(reason)
    assert summary["interrupted_cell"]["cell"] == "c=4 128/1024"
    assert tree and not any(alive(pid) for pid in tree)  # the run stopped what the keeper kept
