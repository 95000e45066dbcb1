"""A sweep's variants without a server: the product of its axes, exclusions, the flags each
variant's server gets, its GPUs, the typed axes, the ETA, and how `ls` and `--resume` see a sweep."""

from __future__ import annotations

import subprocess
import sys

import pytest

from engine.events import CellFinished, CellStarted, PhaseChanged
from engine.headless.cli import main
from engine.plan import build_plan
from engine.profiles import ProfileError, load_profile
from engine.report.model import CellResult
from engine.sweep.model import SweepFile, Variant, write_sweep
from engine.sweep.progress import SweepClock, eta_text
from engine.sweep.variants import expand, with_flags
from engine.sweepspec import SweepSpec, parse_axis, with_typed
from tests.conftest import ROOT


def _swept(**spec) -> list:
    return expand(load_profile("cpu-tiny").model_copy(update={"sweep": SweepSpec(**spec)}))


def test_axes_multiply_first_axis_slowest_and_exclude_drops_matching_pairs():
    plans = _swept(
        flags={"--max-num-seqs": [2, 16], "max-num-batched-tokens": ["256"]},
        env={"VLLM_X": ["0", "1"]},
        exclude=[{"max-num-seqs": "16", "VLLM_X": "1"}],
    )
    assert [p.name for p in plans] == [
        "max-num-seqs=2 max-num-batched-tokens=256 VLLM_X=0",
        "max-num-seqs=2 max-num-batched-tokens=256 VLLM_X=1",
        "max-num-seqs=16 max-num-batched-tokens=256 VLLM_X=0",
    ]
    assert [p.run for p in plans] == [
        "01-max-num-seqs-2-max-num-batched-tokens-256-VLLM_X-0",
        "02-max-num-seqs-2-max-num-batched-tokens-256-VLLM_X-1",
        "03-max-num-seqs-16-max-num-batched-tokens-256-VLLM_X-0",
    ]
    third = plans[2]
    assert third.flags == {"max-num-seqs": "16", "max-num-batched-tokens": "256"} and third.env == {"VLLM_X": "0"}
    args = third.profile.recipe.args
    assert args[-4:] == ["--max-num-seqs", "16", "--max-num-batched-tokens", "256"]
    assert third.profile.recipe.env == {"VLLM_X": "0"} and third.profile.sweep is None
    assert "[sweep]" not in third.profile.to_toml()  # its run folder replays as one run
    assert third.record() == Variant(
        name=third.name, flags=third.flags, env=third.env, gpus=1, run=third.run, status="pending"
    )


def test_a_flag_replaces_the_recipes_own_and_its_negation():
    base = ["--enforce-eager", "--max-model-len", "4096", "--no-enable-prefix-caching", "--seed=3"]
    assert with_flags(base, {"max-model-len": "512"}) == [
        "--enforce-eager",
        "--no-enable-prefix-caching",
        "--seed=3",
        "--max-model-len",
        "512",
    ]
    assert with_flags(base, {"enable-prefix-caching": "", "seed": "4"}) == [
        "--enforce-eager",
        "--max-model-len",
        "4096",
        "--enable-prefix-caching",
        "--seed",
        "4",
    ]


def test_gpus_are_the_parallel_sizes_from_the_flags_else_the_hardwares():
    plans = _swept(flags={"tensor-parallel-size": ["1", "2"], "data-parallel-size": ["2"]})
    assert [p.gpus for p in plans] == [2, 4]
    b200 = load_profile("cpu-tiny").model_copy(update={"sweep": SweepSpec(flags={"max-num-seqs": ["8"]})})
    b200 = b200.model_copy(update={"hardware": b200.hardware.model_copy(update={"devices_per_node": 8})})
    assert [p.gpus for p in expand(b200)] == [8]


def test_recipes_axis_loads_each_recipe_and_applies_the_flags_to_it(tmp_path):
    other = tmp_path / "other.toml"
    other.write_text('name = "other"\nvllm_version = "0.32.0"\nargs = ["--max-model-len", "1024"]\n')
    plans = _swept(recipes=["cpu-tiny", str(other)], flags={"max-num-seqs": ["4"]})
    assert [p.recipe for p in plans] == ["cpu-tiny", str(other)]
    assert plans[1].profile.recipe.name == "other"
    assert plans[1].profile.recipe.args == ["--max-model-len", "1024", "--max-num-seqs", "4"]
    with pytest.raises(ProfileError, match="sweep recipe 'nope'"):
        _swept(recipes=["nope"])


def test_bad_sweeps_name_what_is_wrong():
    with pytest.raises(ProfileError, match="exclude names 'max-num-batched-tokens'"):
        _swept(flags={"max-num-seqs": ["2"]}, exclude=[{"max-num-batched-tokens": "1"}])
    with pytest.raises(ProfileError, match="leaves no variant"):
        _swept(flags={"max-num-seqs": ["2"]}, exclude=[{"max-num-seqs": "2"}])
    with pytest.raises(ValueError, match="NAME=V1,V2"):
        parse_axis("max-num-seqs")
    with pytest.raises(ValueError, match="at least one value"):
        SweepSpec(flags={"max-num-seqs": []})


def test_typed_axes_add_to_the_profiles_table_or_replace_its_axis():
    table = SweepSpec(flags={"max-num-seqs": [1, 2]}, env={"A": ["x"]}, exclude=[{"A": "x", "max-num-seqs": "1"}])
    assert with_typed(None, [], [], []) is None
    typed = with_typed(table, [parse_axis("--max-num-seqs=8,16"), parse_axis("enforce-eager=")], [], [["r1", "r2"]])
    assert typed.flags == {"max-num-seqs": ["8", "16"], "enforce-eager": [""]}
    assert typed.env == {"A": ["x"]} and typed.recipes == ["r1", "r2"] and typed.exclude == table.exclude
    assert with_typed(table, [], [], []) == table


def test_the_eta_counts_server_starts_as_measured_and_each_cell_as_measured_before():
    profile = load_profile("cpu-tiny")
    cells = build_plan(profile.grid)[:2]
    clock = SweepClock(2)
    assert clock.eta_s([0, 1], 3, starting=True) is None
    assert eta_text(None).startswith("ETA after the first variant")
    result = CellResult.model_construct(cell=0)  # the clock reads only the events' times
    for event in (
        PhaseChanged("launching", at=100.0),
        CellStarted(cells[0], 2, at=130.0),  # the server took 30 s
        CellFinished(cells[0], result, at=140.0),
    ):
        clock.observe(event)
    assert clock.eta_s([1], 1) == 10.0 + (30.0 + 20.0)  # cell 2 not measured: as long as cell 1
    clock.observe(CellStarted(cells[1], 2, at=141.0))
    clock.observe(CellFinished(cells[1], result, at=146.0))
    assert clock.eta_s([0, 1], 2, starting=True) == 30.0 + 15.0 + 2 * (30.0 + 15.0)
    # A resumed variant with only cell 2 left counts that cell, not the one done before the resume.
    assert clock.eta_s([1], 2, starting=True) == 30.0 + 5.0 + 2 * (30.0 + 15.0)
    # --repeat 3: each cell three times, in this variant (what it has left) and every one after it.
    thrice = SweepClock(2, rounds=3)
    for event in (PhaseChanged("launching", at=0.0), CellStarted(cells[0], 2, at=30.0)):
        thrice.observe(event)
    thrice.observe(CellFinished(cells[0], result, at=40.0))
    assert thrice.eta_s([1, 0, 1], 1) == 3 * 10.0 + (30.0 + 3 * 2 * 10.0)
    assert eta_text(135.0) == "ETA 2m15s" and eta_text(3725.0) == "ETA 1h02m"


def _sweep(tmp_path, statuses, status="running", pid=None):
    variants = [Variant(name=f"v{i}", run=f"0{i}-v{i}", status=s) for i, s in enumerate(statuses, 1)]
    folder = tmp_path / "s1"
    folder.mkdir()
    write_sweep(folder, SweepFile(profile="cpu-tiny", variants=variants, status=status, pid=pid))
    return folder


def test_ls_lists_a_sweep_with_its_progress_and_a_dead_one_as_lost(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _sweep(tmp_path, ["done", "failed", "pending"], pid=dead.pid)
    out = subprocess.run(
        [sys.executable, "-m", "engine.headless.cli", "ls", "--results", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    assert "s1" in out and "lost" in out and "2/3 variants (1 failed)" in out, out


def test_resume_refuses_what_it_cannot_continue(tmp_path, capsys):
    folder = _sweep(tmp_path, ["done", "failed"], status="failed")
    assert main(["--no-ui", "--resume", str(folder)]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert main(["--no-ui", "--resume", str(folder), "--concurrency", "4"]) == 2
    assert "leave out --concurrency" in capsys.readouterr().err


def test_a_short_flag_reaches_the_server_as_written():
    # vLLM takes `-tp`; `--tp` is not one of its flags. A long flag's dashes stay optional.
    typed = with_typed(None, [parse_axis("-tp=1,2"), parse_axis("--max-num-seqs=4")], [], [])
    assert typed.flags == {"-tp": ["1", "2"], "max-num-seqs": ["4"]}
    plans = _swept(flags={"-tp": ["1", "2"]}, exclude=[{"-tp": "1"}])
    assert [p.name for p in plans] == ["-tp=2"] and plans[0].run == "01-tp-2"
    assert plans[0].profile.recipe.args[-2:] == ["-tp", "2"] and "--tp" not in plans[0].profile.recipe.args
    assert plans[0].gpus == 2
    assert with_flags(["-tp", "1", "--seed", "3"], {"-tp": "4"}) == ["--seed", "3", "-tp", "4"]
