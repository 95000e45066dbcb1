"""In-process mode (vLLM's AsyncLLM in the run process): the engine target on a fake engine, the
watchdog on fake process trees, and end to end on the real tiny model: the same results files
as server mode, exact counts, and nothing of vLLM left after a normal end, a failure, SIGINT,
SIGKILL of the run process, or quitting the TUI mid-run."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.load.client import CellLoad, PhaseSend, run_closed_loop
from engine.load.inprocess import EngineTarget
from engine.load.prompts import Prompt
from engine.plan import Cell
from engine.server.proctree import descendants
from engine.server.watchdog import living, start_time
from tests.conftest import ROOT, cli_env, read_until, vllm_leftovers

CLI = str(Path(sys.executable).parent / "llmbench-tui")
RUN_FILES = {
    *("profile.toml", "summary.json", "requests.jsonl", "server.log", "events.jsonl", "run.log", "timeseries.jsonl")
}


# -- the engine target, on a fake engine -------------------------------------------------------


class FakeEngine:
    """AsyncLLM.generate's shape: DELTA outputs of `chunks` tokens each, `gap_s` apart."""

    def __init__(self, chunks=(1, 2, 1), gap_s=0.001, fail_after: int | None = None):
        self.chunks, self.gap_s, self.fail_after = chunks, gap_s, fail_after
        self.requests: list[tuple[dict, object, str]] = []
        self.cancelled = 0

    async def generate(self, prompt, params, request_id):
        self.requests.append((prompt, params, request_id))
        try:
            for i, k in enumerate(self.chunks):
                await asyncio.sleep(self.gap_s)
                if self.fail_after is not None and i >= self.fail_after:
                    raise RuntimeError("EngineCore died")
                out = SimpleNamespace(token_ids=list(range(k)))
                yield SimpleNamespace(prompt_token_ids=prompt["prompt_token_ids"], outputs=[out])
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


def cell(concurrency=2, n=6, isl=5, osl=4) -> Cell:
    return Cell(
        index=0,
        concurrency=concurrency,
        input_len=isl,
        output_len=osl,
        num_prompts=n,
        warmup_requests=0,
        warmup_output_len=1,
    )


async def test_engine_target_records_like_the_http_client():
    engine = FakeEngine(chunks=(1, 2, 1))
    target = EngineTarget(engine, make_params=lambda n: {"max_tokens": n, "min_tokens": n})
    c = cell()
    requests = [target.prepare(Prompt([7] * 5, None, 5), 4) for _ in range(6)]
    records, load = [], CellLoad(6)
    duration = await run_closed_loop(
        target, c, requests, PhaseSend(output_len=4, warmup=False, on_record=records.append, load=load)
    )
    assert duration > 0 and len(records) == 6 and load.done == 6 and load.output_tokens == 24
    for r in records:
        assert r.ok and r.output_tokens == 4 and r.prompt_tokens == 5 and r.expected_prompt_tokens == 5
        assert list(r.chunk_tokens) == [2, 1] and len(r.chunk_gaps) == 2
        assert 0 < r.ttft < r.e2el and r.response_id.startswith("llmbench-0-0-")
    # One SamplingParams per output length, made ahead; every request its own id.
    assert {id(p) for _, p, _ in engine.requests} == {id(requests[0].body[1])}
    assert len({rid for _, _, rid in engine.requests}) == 6


async def test_engine_errors_and_the_deadline_make_failed_records():
    target = EngineTarget(FakeEngine(fail_after=1), make_params=lambda n: n)
    records: list = []
    await run_closed_loop(
        target,
        cell(n=2),
        [target.prepare(Prompt([1] * 5, None, 5), 4)] * 2,
        PhaseSend(output_len=4, warmup=False, on_record=records.append, load=CellLoad(2)),
    )
    assert [r.ok for r in records] == [False, False] and "EngineCore died" in records[0].error
    assert records[0].output_tokens == 1
    slow = FakeEngine(gap_s=5.0)
    target = EngineTarget(slow, make_params=lambda n: n)
    records = []
    await run_closed_loop(
        target,
        cell(concurrency=1, n=1),
        [target.prepare(Prompt([1] * 5, None, 5), 4)],
        PhaseSend(output_len=4, warmup=False, on_record=records.append, load=CellLoad(1), deadline_s=0.05),
    )
    assert not records[0].ok and "request deadline" in records[0].error
    assert slow.cancelled == 1  # the engine's generate() was cancelled: vLLM aborts the request


def test_text_prompts_are_refused():
    with pytest.raises(ValueError, match="token-id prompts only"):
        EngineTarget(FakeEngine(), make_params=lambda n: n).prepare(Prompt(None, "hi", 1), 4)


# -- the watchdog, on fake process trees --------------------------------------------------------

# A stand-in for the run process: a child started before the watchdog (not the engine's), the
# watchdog, then an "engine" child that ignores SIGTERM with a grandchild; pids go to a file.
FAKE_RUN = """
import json, os, subprocess, sys, time
root, out, mode = sys.argv[1:4]
sys.path.insert(0, root)
from engine.server.proctree import descendants
from engine.server import scratch
from engine.spawn import python_argv
sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
foreign = subprocess.Popen(sleeper)
rpc_dir, _ = scratch.scratch_env({}, temp_dir=False)
open(os.path.join(rpc_dir, "left-socket"), "w").close()
options = ["--pid", str(os.getpid()), "--grace", "1", "--foreign", str(foreign.pid), "--scratch", rpc_dir]
watchdog = python_argv("engine.server.watchdog", *options)
dog = subprocess.Popen(watchdog, stdin=subprocess.PIPE, start_new_session=True)
core_code = (
    "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); time.sleep(600)"
)
core = subprocess.Popen([sys.executable, "-c", core_code])
while not descendants(core.pid):
    time.sleep(0.05)
dog.stdin.write(b"ready\\n")
dog.stdin.flush()
time.sleep(0.5)  # the watchdog's last scan
with open(out + ".tmp", "w") as f:
    json.dump({"foreign": foreign.pid, "core": core.pid, "dog": dog.pid, "scratch": rpc_dir}, f)
os.rename(out + ".tmp", out)
if mode == "clean":
    dog.stdin.close()
    dog.wait()
    with open(out + ".done", "w") as f:
        json.dump({"dog_exit": dog.returncode}, f)
time.sleep(600)
"""


def _wait(condition, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for: {what}"
        time.sleep(0.05)


def _fake_run(tmp_path, mode):
    out = tmp_path / "pids.json"
    proc = subprocess.Popen([sys.executable, "-c", FAKE_RUN, str(ROOT), str(out), mode])
    _wait(out.exists, "the fake run to start its tree")
    pids = json.loads(out.read_text())
    engine = {pid: start_time(pid) for pid in [pids["core"], *descendants(pids["core"])]}
    assert len(engine) == 2
    return proc, pids, engine, out


def test_watchdog_stops_the_engine_tree_after_a_sigkill_and_leaves_the_rest(tmp_path):
    proc, pids, engine, _ = _fake_run(tmp_path, "kill")
    try:
        proc.kill()  # no clean-up can run in the run process
        proc.wait()
        _wait(lambda: not living(engine), "the engine's processes to be stopped")
        _wait(lambda: start_time(pids["dog"]) is None, "the watchdog to exit")
        assert start_time(pids["foreign"]) is not None  # started before the engine: not ours
        assert not os.path.exists(pids["scratch"])  # the engine's sockets' directory, removed
    finally:
        for pid in (pids["foreign"], *engine):
            with __import__("contextlib").suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_watchdog_on_a_clean_stop_kills_leftovers_and_exits(tmp_path):
    proc, pids, engine, out = _fake_run(tmp_path, "clean")
    try:
        _wait(lambda: (out.parent / (out.name + ".done")).exists(), "the watchdog to finish")
        assert json.loads((out.parent / (out.name + ".done")).read_text())["dog_exit"] == 0
        assert not living(engine) and start_time(pids["foreign"]) is not None and proc.poll() is None
        assert not os.path.exists(pids["scratch"])
    finally:
        proc.kill()
        os.kill(pids["foreign"], signal.SIGKILL)


# -- on the real tiny model ----------------------------------------------------------------------


def _results_dir(stdout: str) -> Path:
    return Path([ln for ln in stdout.splitlines() if ln.startswith("results: ")][-1].split(": ", 1)[1])


def logged_engine_pids(run_dir: Path) -> dict[int, int | None]:
    """The engine's processes as vLLM names them in server.log (EngineCore, Worker)."""
    text = (run_dir / "server.log").read_text(errors="replace")
    return {int(p): None for p in re.findall(r"\((?:EngineCore|Worker)[^)]*? pid=(\d+)\)", text)}


def vllm_left(pids) -> list[str]:
    """Those of `pids` still alive as vLLM processes (a pid reused by another program is not one)."""
    left = []
    for pid, started in dict(pids).items():
        now = start_time(pid)
        if now is None or (started is not None and now != started):
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "VLLM" in cmd or "vllm" in cmd or "resource_tracker" in cmd:
            left.append(f"{pid}: {cmd[:100]}")
    return left


async def until_gone(engine: dict[int, int | None], also: tuple[int, ...] = (), timeout_s: float = 60) -> None:
    """Wait until none of `engine` (nor of `also`) runs; the bound only turns a hang into a failure."""
    deadline = time.monotonic() + timeout_s
    while vllm_left(engine) or any(start_time(pid) is not None for pid in also):
        assert time.monotonic() < deadline, f"left running: {vllm_left(engine)}"
        await asyncio.sleep(0.2)


def snapshot(run_pid: int) -> dict[int, int | None]:
    """The run process's descendants now (the watchdog included), each with its start time."""
    return {pid: start_time(pid) for pid in descendants(run_pid)}


def cli(tmp_path, *extra: str) -> list[str]:
    return [CLI, "--no-ui", "--profile", "cpu-tiny", "--mode", "inprocess", "--results", str(tmp_path), *extra]


@pytest.mark.integration
def test_cli_inprocess_run_gives_the_same_files_and_exact_counts(tmp_path, tiny_model, run_tmpdir):
    proc = subprocess.run(
        cli(tmp_path, "--concurrency", "1,4", "--seq", "64/64"),
        capture_output=True,
        text=True,
        timeout=900,
        env={**cli_env(), "TMPDIR": str(run_tmpdir)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "in-process engine ready" in proc.stderr and "cell 2/2" in proc.stderr
    run_dir = _results_dir(proc.stdout)
    assert {p.name for p in run_dir.iterdir()} == RUN_FILES
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["mode"] == "inprocess"
    assert summary["server"]["api"] == "engine" and summary["server"]["max_model_len"] == 4096
    assert "AsyncLLM.from_engine_args(--model " in summary["launch_command"]
    for c in summary["cells"]:
        assert c["failed"] == 0 and c["completed"] == c["num_prompts"] == 8
        assert c["total_output_tokens"] == 8 * 64 and c["total_input_tokens"] == 8 * 64
        assert c["input_len_mismatches"] == 0 and c["output_len_mismatches"] == 0
        assert 0 < c["median_ttft_ms"] < c["mean_e2el_ms"] and c["output_throughput"] > 0
        assert c["server"]["prefix_cache_reset"] == "reset"  # through AsyncLLM.reset_prefix_cache
    assert summary["telemetry"]["prefix_cache_reset"] == "reset before each cell (2 of 2)"
    records = [json.loads(x) for x in (run_dir / "requests.jsonl").read_text().splitlines()]
    measured = [r for r in records if not r["warmup"]]
    assert len(measured) == 16 and all(sum(r["chunk_tokens"]) == 63 and r["prompt_tokens"] == 64 for r in measured)
    engine = logged_engine_pids(run_dir)
    assert engine
    asyncio.run(until_gone(engine))
    assert vllm_leftovers(run_tmpdir) == []  # the engine's sockets went with their directory


async def _start(*argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=cli_env()
    )


LONG = ("--concurrency", "4", "--seq", "64/1024", "--prompts-per-concurrency", "50", "--warmup", "0")


async def _running_engine(tmp_path) -> tuple[asyncio.subprocess.Process, Path, dict[int, int | None], int]:
    """A long in-process run with requests in flight: the CLI, its folder, the engine's processes."""
    proc = await _start(*cli(tmp_path, *LONG))
    await read_until(proc.stderr, b" in flight", 600)
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    run_pid = json.loads((run_dir / "summary.json").read_text())["pid"]
    engine = snapshot(run_pid)
    assert vllm_left(engine), engine  # the engine core (and its worker) are there to be stopped
    return proc, run_dir, engine, run_pid


@pytest.mark.integration
async def test_sigint_stops_the_engine_and_keeps_partial_results(tmp_path, tiny_model):
    proc, run_dir, engine, _ = await _running_engine(tmp_path)
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), 180)
    assert proc.returncode == 130, err.decode()[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["interrupted_cell"]["cell"] == "c=4 64/1024"
    # Gone, soon after the run process: multiprocessing's resource tracker ends once its parent has.
    await until_gone({**engine, **logged_engine_pids(run_dir)})


@pytest.mark.integration
async def test_sigkill_of_the_run_process_leaves_no_engine_behind(tmp_path, tiny_model):
    proc, run_dir, engine, run_pid = await _running_engine(tmp_path)
    os.kill(run_pid, signal.SIGKILL)  # no clean-up runs in the run process: the watchdog's job
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 1 and b"signal 9" in err
    await until_gone(engine)  # the watchdog's grace (10 s), then SIGKILL
    # The watchdog writes its line once it has seen the tree gone: wait for it, it is not instant.
    deadline = time.monotonic() + 60
    while "watchdog: stopped" not in (run_dir / "server.log").read_text():
        assert time.monotonic() < deadline, (run_dir / "server.log").read_text()[-2000:]
        await asyncio.sleep(0.2)


@pytest.mark.integration
async def test_an_engine_that_dies_fails_the_run_and_leaves_nothing(tmp_path, tiny_model):
    proc, run_dir, engine, _ = await _running_engine(tmp_path)
    core = [pid for pid in engine if "EngineCore" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")]
    assert len(core) == 1
    os.kill(core[0], signal.SIGKILL)
    _, err = await asyncio.wait_for(proc.communicate(), 180)
    assert proc.returncode == 1, err.decode()[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"]
    await until_gone(engine)


@pytest.mark.integration
def test_dry_run_prints_the_engine_args(capsys, tmp_path, monkeypatch):
    from engine.headless.cli import main

    monkeypatch.setenv("LLMBENCH_CACHE", str(tmp_path))  # nothing is built
    args = ["--no-ui", "--dry-run", "--mode", "inprocess"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "not supported" not in out and "AsyncLLM engine args (vLLM's parser): --model " in out
    assert "enforce_eager=True" in out and "kv_cache_memory_bytes=" in out
    assert not any(tmp_path.iterdir())


@pytest.mark.integration
def test_server_only_flags_are_dropped_and_unknown_ones_refused():
    from engine.server.inprocess import resolve_engine_args
    from engine.server.launcher import LaunchError

    plan = resolve_engine_args(["--model", "m", "--host", "0.0.0.0", "--api-key", "k", "--max-model-len", "128"])
    assert plan.dropped == ["--api-key", "--host"] and plan.argv == ["--model", "m", "--max-model-len", "128"]
    assert plan.non_default["max_model_len"] == 128 and plan.engine_args.max_model_len == 128
    with pytest.raises(LaunchError, match="--swap-space") as exc:
        resolve_engine_args(["--model", "m", "--swap-space", "16"])
    assert exc.value.exit_code == 2


@pytest.mark.integration
async def test_tui_runs_inprocess_and_quitting_mid_run_stops_the_engine(tiny_model, tmp_path):
    from engine.profiles import apply_overrides, load_profile
    from tui.app import LLMBenchApp
    from tui.screens.live import LiveScreen
    from tui.screens.results import ResultsScreen

    profile = apply_overrides(
        load_profile("cpu-tiny"),
        **{"mode": "inprocess", "grid.concurrency": [4], "grid.seq": ["64/1024"], "grid.prompts_per_concurrency": 50},
    )
    app = LLMBenchApp(profile, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+r")
        await pilot.pause()
        live = app.screen
        assert isinstance(live, LiveScreen)
        deadline = time.monotonic() + 600
        while live.progress.done < 1:
            assert time.monotonic() < deadline and live.run.running, "no request finished in the TUI"
            await pilot.pause(0.5)
        engine = snapshot(live.run.pid)
        assert vllm_left(engine)
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("s")  # stop it
        while not isinstance(app.screen, ResultsScreen):
            assert time.monotonic() < deadline + 180, "the TUI never showed the results"
            await pilot.pause(0.5)
    (run_dir,) = list(tmp_path.iterdir())
    assert {p.name for p in run_dir.iterdir()} >= RUN_FILES
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["mode"] == "inprocess"
    records = [json.loads(x) for x in (run_dir / "requests.jsonl").read_text().splitlines()]
    assert records and all(r["output_tokens"] == 1024 for r in records if r["ok"] and not r["warmup"])
    # The results show as soon as the run's last event is written; the run process then exits, and
    # multiprocessing's resource tracker with it.
    await until_gone(engine, (live.run.pid,))
