"""A repeated run on the real vLLM (the tiny model): interrupted in its last round and resumed, each
(cell, round) is measured exactly once, in the rotated orders the run recorded."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from pathlib import Path

from tests.conftest import cli_env, read_until

CLI = str(Path(sys.executable).parent / "llmbench-tui")


async def start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        CLI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=cli_env()
    )


async def until_requests_done(stream) -> bytes:
    """Progress lines up to one saying the cell being measured has finished a request (not all 8)."""
    seen = b""
    while not re.search(rb"\]   [1-7]/8 done", seen.splitlines()[-1] if seen else b""):
        seen += await read_until(stream, b"/8 done (")
    return seen


async def test_a_repeated_run_resumed_measures_each_missing_round_once(vllm_server, tiny_model, tmp_path):
    # 256 output tokens: each request outlasts a progress tick, so the last cell is seen part-done
    args = [
        *("--no-ui", "--endpoint", vllm_server.base_url, "--tokenizer", str(tiny_model), "--results", str(tmp_path)),
        *("--seq", "16/256", "--concurrency", "1,2", "--warmup", "0", "--repeat", "2", "--seed", "5"),
    ]
    proc = await start(*args)
    seen = b""
    for _ in range(3):  # round 1's two cells, and the first of round 2
        seen += await read_until(proc.stderr, b"  done: ")
    seen += await until_requests_done(proc.stderr)  # the last (cell, round) under way, some of it recorded
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 130, (seen + err).decode()[-3000:]
    assert b"(round 1/2)" in seen and b"(round 2/2)" in seen
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    cut = json.loads((run_dir / "summary.json").read_text())
    orders = cut["rounds"]["orders"]
    assert cut["status"] == "interrupted" and cut["rounds"]["repeats"] == 2 and "Student t" in cut["rounds"]["method"]
    assert sorted(orders[0]) == [0, 1] and orders[1] == orders[0][::-1]  # two cells: the order turns
    last = orders[1][1]  # the cell cut short in round 2
    assert {c["cell"]: [r["round"] for r in c["rounds"]] for c in cut["cells"]} == {orders[1][0]: [0, 1], last: [0]}

    again = await start("--no-ui", "--resume", str(run_dir))
    out, err = await asyncio.wait_for(again.communicate(), 300)
    assert again.returncode == 0, err.decode()[-3000:]
    assert "3 of 2 cells x 2 rounds done, 1 to run" in err.decode()
    assert err.decode().count("  done: ") == 1  # only the missing (cell, round)
    s = json.loads((run_dir / "summary.json").read_text())
    assert s["status"] == "completed" and s["rounds"]["orders"] == orders
    for c in s["cells"]:
        assert [r["round"] for r in c["rounds"]] == [0, 1] and c["completed"] == 16 and c["failed"] == 0
        tput = [r["output_throughput"] for r in c["rounds"]]
        assert c["output_throughput"] == sum(tput) / 2
        ci = c["intervals"]["output_throughput"]
        assert ci["n"] == 2 and ci["low"] < c["output_throughput"] < ci["high"]
    records = [json.loads(line) for line in (run_dir / "requests.jsonl").read_text().splitlines()]
    superseded = {(r["cell"], r["round"]) for r in records if r.get("superseded")}
    assert superseded == {(last, 1)}  # the cut (cell, round) only; its cell's first round kept
    for cell in (0, 1):
        for rnd in (0, 1):
            kept = [r for r in records if (r["cell"], r["round"]) == (cell, rnd) and not r.get("superseded")]
            assert len(kept) == 8, (cell, rnd)
    assert " \u00b1" in out.decode()  # the run's table: each figure with its interval's half-width
