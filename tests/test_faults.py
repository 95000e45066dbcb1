"""Faults end cleanly: the exit code, summary.json's final status and message, the files.

A fault-injecting fake server plays the broken servers; bad input is refused before anything starts."""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import sys
import time
from pathlib import Path

import pytest

from engine.events import CellFinished, PhaseChanged, RunFinished
from engine.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED
from engine.headless.cli import main
from engine.run import assemble as assemble_module
from engine.run.session import RunSession
from tests.conftest import cli_env
from tests.fake_openai import FakeConfig, FakeServer
from tests.test_external_modes import profile_for

CLI = str(Path(sys.executable).parent / "llmbench-tui")


def summary_of(outcome) -> dict:
    return json.loads((outcome.results_dir / "summary.json").read_text())


async def test_an_external_server_that_dies_mid_run_fails_the_run(tiny_model, tmp_path):
    cfg = FakeConfig()
    async with FakeServer(cfg) as server:
        profile = profile_for(server.url, tiny_model, **{"grid.concurrency": [1, 2, 4]})

        def observer(event):
            if isinstance(event, CellFinished) and event.cell.index == 0:
                cfg.dead = True  # after the first cell, nothing answers any more

        outcome = await RunSession(profile, observer, tmp_path).run()
    summary = summary_of(outcome)
    assert outcome.exit_code == EXIT_FAILED and summary["status"] == "failed"
    assert "stopped answering during cell c=2 16/6" in summary["error"]
    assert [c["max_concurrency"] for c in summary["cells"]] == [1, 2]  # the dead cell is kept, not a third


async def test_failures_above_the_threshold_fail_the_run_and_overload_is_counted_apart(tiny_model, tmp_path):
    # Of the 8 measured requests (6 output tokens), every other one is turned away with 503.
    cfg = FakeConfig(fail_when=lambda body, n: 503 if body.get("max_tokens") == 6 and n % 2 else None)
    async with FakeServer(cfg) as server:
        profile = profile_for(server.url, tiny_model, **{"grid.warmup_requests": 0, "grid.min_prompts": 8})
        outcome = await RunSession(profile, lambda e: None, tmp_path).run()
    summary = summary_of(outcome)
    (cell,) = summary["cells"]
    assert cell["failed"] == 4 and cell["completed"] == 4 and cell["rejected"] == 4
    assert "turned away as overloaded (HTTP 429/503)" in cell["flags"][0]["reason"]
    assert outcome.exit_code == EXIT_FAILED and summary["status"] == "failed"
    assert "more than 5% failed requests (load.max_failed_share): c=2 16/6 (4 of 8)" in summary["error"]
    # A higher threshold accepts the same cell: flagged, but the run completes.
    async with FakeServer(FakeConfig(fail_when=cfg.fail_when)) as server:
        lenient = profile_for(
            server.url, tiny_model, **{"grid.warmup_requests": 0, "grid.min_prompts": 8, "load.max_failed_share": 0.6}
        )
        outcome = await RunSession(lenient, lambda e: None, tmp_path).run()
    assert outcome.exit_code == 0 and outcome.cells[0].flags


async def test_a_server_that_dribbles_hits_the_request_deadline(tiny_model, tmp_path):
    async with FakeServer(FakeConfig(token_delay_s=0.5)) as server:
        profile = profile_for(server.url, tiny_model, **{"load.request_timeout_s": 1.5, "grid.warmup_requests": 0})
        outcome = await RunSession(profile, lambda e: None, tmp_path).run()
    summary = summary_of(outcome)
    (cell,) = summary["cells"]
    assert cell["failed"] == 4 and outcome.exit_code == EXIT_FAILED
    assert any("request deadline" in e for e in cell["errors"])


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_server_that_stalls_mid_stream_while_alive_ends_the_run_within_the_stall_bound(
    workers, tiny_model, tmp_path
):
    # The cell's requests 3 and 4 stop after 20 of their 40 tokens; the server lives on, its /metrics
    # frozen. With 2 workers the load runs in worker processes: the same watch, over their counters.
    measured: list[int] = []

    def stall_when(body: dict, n: int) -> int | None:
        if body.get("max_tokens") != 40:
            return None  # the discovery's probes
        measured.append(n)
        return 20 if len(measured) > 2 else None

    bound, seen = 2.0, {}

    def observer(event) -> None:
        if isinstance(event, PhaseChanged | RunFinished):
            seen.setdefault(event.phase if isinstance(event, PhaseChanged) else "end", time.monotonic())

    cfg = FakeConfig(vllm_metrics=True, stall_when=stall_when)
    async with FakeServer(cfg) as server:
        extra = {
            "grid.warmup_requests": 0,
            "grid.seq": ["16/40"],
            "load.stall_timeout_s": bound,
            "load.workers": workers,
        }
        outcome = await RunSession(profile_for(server.url, tiny_model, **extra), observer, tmp_path).run()
    summary = summary_of(outcome)
    assert outcome.exit_code == EXIT_FAILED and summary["status"] == "failed"
    # Found at the bound ("for 2 s" below); the cell's whole end also holds up to a second of /metrics
    # sampling (its last change) and the run's stop (workers: 2 s for their records, 2 s to exit), on
    # a shared 2-core host. The read timeout (300 s) would have been the wait without it.
    assert seen["end"] - seen["measuring"] < bound + 20, seen
    error = summary["error"]
    assert error.startswith(
        "the server stalled: no output token on any of the 2 requests in flight for 2 s "
        "(the stall bound: load.stall_timeout_s, --stall-timeout 2), during cell c=2 16/40 after 2 of its 4 requests"
    ), error
    assert "its /metrics, unchanged for" in error and "2 requests running, 0 waiting, KV cache 25% used" in error
    assert f"{cfg.tokens_out} generation and {cfg.tokens_in} prompt tokens counted" in error  # its last numbers
    assert "its process: not ours to see" in error and "a stalled server would stall every cell" in error
    assert summary["stall_timeout_s"] == bound and summary["cells"] == []
    assert summary["workers"]["count"] == workers
    assert summary["interrupted_cell"] == {"cell": "c=2 16/40", "index": 0, "recorded": 2}
    records = [json.loads(x) for x in (outcome.results_dir / "requests.jsonl").read_text().splitlines()]
    assert [r["output_tokens"] for r in records] == [40, 40]


async def test_an_unexpected_error_still_ends_with_a_status_a_message_and_a_trace(tiny_model, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("injected bug")

    monkeypatch.setattr(assemble_module, "summarize_cell", broken)
    async with FakeServer(FakeConfig()) as server:
        outcome = await RunSession(profile_for(server.url, tiny_model), lambda e: None, tmp_path).run()
    summary = summary_of(outcome)
    assert outcome.exit_code == EXIT_FAILED and summary["status"] == "failed"
    assert "unexpected RuntimeError: injected bug" in summary["error"]
    assert "injected bug" in (outcome.results_dir / "error.log").read_text()
    assert not list(outcome.results_dir.glob("*.tmp"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "70000"], "port"),
        (["--endpoint", "not-a-url"], "is not a server URL"),
        (["--endpoint", "http://127.0.0.1:9", "--tokenizer", "/no/such/tokenizer"], "does not exist"),
        (["--server-cpus", "0-4096"], "isolation.server_cpus"),
    ],
)
def test_bad_input_is_exit_2_before_anything_starts(argv, message, tmp_path, capsys):
    results = tmp_path / "results"
    assert main(["--no-ui", "--results", str(results), *argv]) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err
    assert not results.exists() or not any(results.iterdir())  # no results folder was made


def test_a_results_folder_that_cannot_be_written_is_bad_input(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["--no-ui", "--endpoint", "http://127.0.0.1:9", "--results", str(blocker / "runs")])
    assert code == EXIT_BAD_INPUT and "cannot be written" in capsys.readouterr().err


async def test_concurrency_beyond_the_open_file_limit_is_bad_input(tmp_path):
    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 256))

    proc = await asyncio.create_subprocess_exec(
        CLI,
        "--no-ui",
        "--endpoint",
        "http://127.0.0.1:9",
        "--concurrency",
        "1000",
        "--results",
        str(tmp_path),
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=low_limit,
        env=cli_env(),
    )
    _, err = await proc.communicate()
    assert proc.returncode == EXIT_BAD_INPUT and b"needs about 1064 open files" in err


async def test_sighup_ends_a_headless_run_like_ctrl_c(tiny_model, tmp_path):
    async with FakeServer(FakeConfig(token_delay_s=0.2)) as server:
        proc = await asyncio.create_subprocess_exec(
            CLI,
            "--no-ui",
            "--endpoint",
            server.url,
            "--tokenizer",
            str(tiny_model),
            "--concurrency",
            "2",
            "--seq",
            "16/200",
            "--warmup",
            "0",
            "--results",
            str(tmp_path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=cli_env(),
        )
        seen = b""
        while b"in flight" not in seen:
            line = await asyncio.wait_for(proc.stderr.readline(), 120)
            assert line, seen.decode()[-2000:]
            seen += line
        proc.send_signal(signal.SIGHUP)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == EXIT_INTERRUPTED, (seen + err).decode()[-2000:]
    assert b"SIGHUP: stopping the load" in err
    run_dir = Path(out.decode().split("results: ")[-1].strip())
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "interrupted"
