"""A run is its own process: detach, attach, ls, resume, and the ways its front end or the run
itself can end (a signal, SIGKILL, the terminal going away). A fault-injecting fake server serves."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from engine.run.eventlog import read_events
from tests.conftest import cli_env, read_until
from tests.fake_openai import FakeConfig, FakeServer

CLI = str(Path(sys.executable).parent / "llmbench-tui")


def run_args(server, tiny_model, results: Path, *extra: str) -> list[str]:
    return [
        *("--endpoint", server.url, "--tokenizer", str(tiny_model), "--seq", "16/40", "--warmup", "0"),
        *("--results", str(results), *extra),
    ]


async def start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        CLI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=cli_env()
    )


async def until(condition, what: str, timeout_s: float = 120.0) -> None:
    """Wait on a state, serving the fake server meanwhile (the bound only turns a hang into a failure)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for: {what}"
        await asyncio.sleep(0.1)


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def only_run(results: Path) -> Path:
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    return run_dir


async def test_detach_returns_at_once_and_attach_shows_the_run(tiny_model, tmp_path):
    async with FakeServer(FakeConfig(token_delay_s=0.02)) as server:
        proc = await start("--no-ui", "--detach", *run_args(server, tiny_model, tmp_path, "--concurrency", "1,2"))
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        run_dir = Path(out.decode().split("results: ")[-1].strip())
        assert "llmbench-tui attach" in out.decode()
        listing = await start("ls", "--results", str(tmp_path))
        out, _ = await listing.communicate()
        assert run_dir.name in out.decode() and "cpu-tiny" in out.decode()
        attach = await start("attach", str(run_dir), "--no-ui")
        out, err = await asyncio.wait_for(attach.communicate(), 180)
    assert attach.returncode == 0, err.decode()[-2000:]
    assert "cell 2/2" in err.decode() and "results: " in out.decode()
    assert summary(run_dir)["status"] == "completed" and summary(run_dir)["pid"] is None
    events = read_events(run_dir / "events.jsonl")
    assert type(events[-1]).__name__ == "RunFinished" and events[-1].status == "completed"


async def test_resume_after_an_interrupt_runs_every_cell_once(tiny_model, tmp_path):
    async with FakeServer(FakeConfig(token_delay_s=0.05)) as server:
        proc = await start("--no-ui", *run_args(server, tiny_model, tmp_path, "--concurrency", "1,2"))
        seen = await read_until(proc.stderr, b"  done: ")  # the first cell finished
        seen += await read_until(proc.stderr, b"  2/8 done")  # the second one has requests done
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 130, (seen + err).decode()[-2000:]
        run_dir = only_run(tmp_path)
        cut = summary(run_dir)
        assert cut["status"] == "interrupted" and len(cut["cells"]) == 1
        assert cut["interrupted_cell"]["cell"] == "c=2 16/40" and cut["interrupted_cell"]["recorded"] >= 2
        assert "SIGTERM received, during cell c=2 16/40 after" in cut["error"]
        again = await start("--no-ui", "--resume", str(run_dir))
        _, err = await asyncio.wait_for(again.communicate(), 180)
        assert again.returncode == 0, err.decode()[-3000:]
        assert "resuming" in err.decode() and "1 of 2 cells done, 1 to run" in err.decode()
        # A completed run has nothing to resume; a flag beside --resume would change the profile.
        done = await start("--no-ui", "--resume", str(run_dir))
        _, err_done = await done.communicate()
        changed = await start("--no-ui", "--resume", str(run_dir), "--concurrency", "8")
        _, err_changed = await changed.communicate()
    s = summary(run_dir)
    assert s["status"] == "completed" and [c["max_concurrency"] for c in s["cells"]] == [1, 2]
    assert len(s["resumed"]) == 1 and s["resumed"][0]["after"] == "interrupted"
    records = [json.loads(line) for line in (run_dir / "requests.jsonl").read_text().splitlines()]
    superseded = [r for r in records if r.get("superseded")]
    assert superseded and {r["cell"] for r in superseded} == {1}
    fresh = [r for r in records if r["cell"] == 1 and not r.get("superseded") and not r["warmup"]]
    assert len(fresh) == s["cells"][1]["num_prompts"]
    assert done.returncode == 2 and b"nothing to resume, the run completed" in err_done
    assert changed.returncode == 2 and b"leave out --concurrency" in err_changed


async def test_sigkill_of_a_foreground_front_end_stops_its_run(tiny_model, tmp_path):
    async with FakeServer(FakeConfig(token_delay_s=0.05)) as server:
        proc = await start("--no-ui", *run_args(server, tiny_model, tmp_path, "--concurrency", "2"))
        await read_until(proc.stderr, b"in flight")
        proc.kill()  # the run process's lifeline (its stdin) closes
        await proc.wait()
        run_dir = only_run(tmp_path)
        await until(lambda: summary(run_dir)["status"] != "running", "the run to end")
    s = summary(run_dir)
    assert s["status"] == "interrupted" and s["pid"] is None
    assert "went away" in (run_dir / "events.jsonl").read_text()


async def test_sigkill_of_the_run_process_is_reported_and_recorded(tiny_model, tmp_path):
    async with FakeServer(FakeConfig(token_delay_s=0.05)) as server:
        proc = await start("--no-ui", *run_args(server, tiny_model, tmp_path, "--concurrency", "2"))
        await read_until(proc.stderr, b"in flight")
        run_dir = only_run(tmp_path)
        os.kill(summary(run_dir)["pid"], signal.SIGKILL)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    assert b"ended without a final status (signal 9)" in err
    s = summary(run_dir)
    assert s["status"] == "failed" and "signal 9" in s["error"]


def tmux(*args: str) -> str:
    import subprocess

    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


NEEDS_TMUX = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (.ci/run installs it)")


async def tui_run_in_tmux(session: str, server, tiny_model, results: Path) -> tuple[Path, int]:
    """The TUI in a tmux session, a run started with ctrl+r and its first cell going: (run folder, TUI pid)."""
    args = " ".join(run_args(server, tiny_model, results, "--concurrency", "1,2"))
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", f"{CLI} {args}")
    await until(lambda: "^r Run" in tmux("capture-pane", "-p", "-t", session), "the setup screen", 90)
    tmux("send-keys", "-t", session, "C-r")
    await until(lambda: any(results.glob("*/events.jsonl")), "the run to start", 90)
    run_dir = only_run(results)
    await until(lambda: "CellStarted" in (run_dir / "events.jsonl").read_text(), "the first cell")
    return run_dir, int(tmux("list-panes", "-t", session, "-F", "#{pane_pid}").split()[0])


@NEEDS_TMUX
async def test_a_tui_run_survives_its_terminal_and_attach_shows_it(tiny_model, tmp_path):
    session = f"llmbench-test-{os.getpid()}"
    async with FakeServer(FakeConfig(token_delay_s=0.05)) as server:
        try:
            run_dir, tui = await tui_run_in_tmux(session, server, tiny_model, tmp_path)
        finally:
            tmux("kill-session", "-t", session)  # the SSH connection drops: SIGHUP to the TUI
        await until(lambda: not Path(f"/proc/{tui}").exists(), "the TUI to exit", 120)
        await until(lambda: summary(run_dir)["status"] != "running", "the run to finish on its own", 180)
        attach = await start("attach", str(run_dir), "--no-ui")
        out, err = await asyncio.wait_for(attach.communicate(), 180)
    assert summary(run_dir)["status"] == "completed", summary(run_dir)["error"]
    assert attach.returncode == 0, err.decode()[-2000:]
    assert f"results: {run_dir}" in out.decode() and "out tok/s" in out.decode()
    assert len(summary(run_dir)["cells"]) == 2


@NEEDS_TMUX
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_sigterm_or_sigint_to_the_tui_stops_its_run(sig, tiny_model, tmp_path):
    session = f"llmbench-test-{sig.name}-{os.getpid()}"
    async with FakeServer(FakeConfig(token_delay_s=0.05)) as server:
        try:
            run_dir, tui = await tui_run_in_tmux(session, server, tiny_model, tmp_path)
            os.kill(tui, sig)
            await until(lambda: not Path(f"/proc/{tui}").exists(), "the TUI to exit", 120)
            await until(lambda: summary(run_dir)["status"] != "running", "the run to stop", 60)
        finally:
            tmux("kill-session", "-t", session)
    s = summary(run_dir)
    assert s["status"] == "interrupted" and "SIGTERM received" in s["error"]  # the TUI asks the run to stop


async def test_leaving_the_tui_mid_run_leaves_the_run_going(tiny_model, tmp_path):
    from tests.test_external_modes import profile_for
    from tui.app import LLMBenchApp
    from tui.screens.live import LiveScreen

    async with FakeServer(FakeConfig(token_delay_s=0.05)) as server:
        # Answers of 100 s each: the run is still going when `stop` reaches it, however slow the host.
        profile = profile_for(server.url, tiny_model, **{"grid.seq": ["16/2000"], "grid.warmup_requests": 0})
        app = LLMBenchApp(profile, tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("ctrl+r")
            live = app.screen
            assert isinstance(live, LiveScreen)
            await until(lambda: live.progress.in_flight > 0, "requests in flight")
            run = live.run
            await pilot.press("q")
            await pilot.press("l")  # leave it running
            await until(lambda: not app.is_running, "the TUI to exit")
        assert run.running and summary(run.run_dir)["status"] == "running"
        stop = await start("stop", str(run.run_dir), "--no-ui")
        _, err = await asyncio.wait_for(stop.communicate(), 120)
    assert stop.returncode == 130, err.decode()[-2000:]
    assert summary(run.run_dir)["status"] == "interrupted"


async def test_the_client_sends_the_api_key_and_never_writes_it(tiny_model, tmp_path):
    key = "sk-test-do-not-leak-4242"
    async with FakeServer(FakeConfig(api_key=key)) as server:
        refused = await start("--no-ui", *run_args(server, tiny_model, tmp_path / "none", "--concurrency", "1"))
        _, err_refused = await asyncio.wait_for(refused.communicate(), 120)
        flag = await start(
            "--no-ui", *run_args(server, tiny_model, tmp_path / "flag", "--concurrency", "1"), "--api-key", key
        )
        out, err = await asyncio.wait_for(flag.communicate(), 120)
        env = await asyncio.create_subprocess_exec(
            CLI,
            "--no-ui",
            *run_args(server, tiny_model, tmp_path / "env", "--concurrency", "1"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**cli_env(), "OPENAI_API_KEY": key},
        )
        await asyncio.wait_for(env.communicate(), 120)
    assert refused.returncode == 1 and b"HTTP 401 (unauthorized): give the server's key with --api-key" in err_refused
    assert flag.returncode == 0 and env.returncode == 0, err.decode()[-2000:]
    assert summary(only_run(tmp_path / "flag"))["status"] == "completed"
    assert key.encode() not in out + err
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
