"""The TUI driven with Pilot: setup (choose, edit grid, save/open), live, results, quit mid-run."""

from __future__ import annotations

import json
from pathlib import Path

from engine.events import CellFinished, CellStarted, LoadProgress, PhaseChanged, RunFinished
from engine.plan import build_plan
from engine.profiles import apply_overrides, load_profile
from engine.report.model import ONE_READ, CellResult, Flag
from engine.run.progress import RunProgress
from tests.conftest import open_results_folder
from tui.app import LLMBenchApp
from tui.messages import EngineEvent
from tui.screens.live import LiveScreen
from tui.screens.results import ResultsScreen
from tui.screens.setup import SetupScreen

CELLS = [
    CellResult(
        max_concurrency=c,
        input_len=128,
        output_len=128,
        completed=8,
        failed=0,
        num_prompts=8,
        duration=4.0,
        total_input_tokens=1024,
        total_output_tokens=1024,
        request_throughput=0.5 * c,
        output_throughput=60.0 * c,
        total_token_throughput=120.0 * c,
        median_ttft_ms=40.0 * c,
        p99_ttft_ms=50.0 * c,
        mean_tpot_ms=8.0 + c,
        mean_e2el_ms=1000.0 + 100 * c,
        interactivity=1000 / (8.0 + c),
        total_token_throughput_per_gpu=120.0 * c,
    )
    for c in (1, 4, 16)
]
# The last cell's client read late: flagged, its TPOT n/a.
CELLS[2] = CELLS[2].model_copy(
    update={
        "mean_tpot_ms": None,
        "interactivity": None,
        "one_read_requests": 8,
        "flags": [Flag(code=ONE_READ, reason="8 of 8 requests had every token in one read")],
    }
)


def tiny_profile(**overrides):
    base = {"port": 8000, "grid.concurrency": [1, 4, 16], "grid.seq": ["128/128"]}
    return apply_overrides(load_profile("cpu-tiny"), **{**base, **overrides})


async def test_setup_edits_grid_shows_errors_and_saves(tmp_path, stable_paths):
    app = LLMBenchApp(tiny_profile(), tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, SetupScreen)
        assert "3 cells" in str(screen.query_one("#preview").render())
        seq = screen.query_one("#seq")
        seq.value = "64/64, 256/32"
        await pilot.pause()
        assert screen.profile.grid.seq == ["64/64", "256/32"]
        assert "6 cells" in str(screen.query_one("#preview").render())
        seq.value = "64x64"
        await pilot.pause()
        assert "ISL/OSL (--seq): '64x64' is not ISL/OSL" in str(screen.query_one("#seq-error").render())
        assert screen.profile.grid.seq == ["64/64", "256/32"]  # the bad value did not land
        seq.value = "64/64"
        await pilot.pause()
        assert not screen.query_one("#seq-error").display
        # Concurrency levels are text: what is chosen reads the same without colour.
        concurrency = screen.query_one("#concurrency")
        assert concurrency.value == "1, 4, 16"
        concurrency.value = "2, 8 32"
        await pilot.pause()
        assert screen.profile.grid.concurrency == [2, 8, 32] and "3 cells" in str(screen.query_one("#preview").render())
        concurrency.value = "2, eight"
        await pilot.pause()
        assert "Concurrency (--concurrency)" in str(screen.query_one("#concurrency-error").render())
        assert screen.profile.grid.concurrency == [2, 8, 32]
        concurrency.value = "1, 4, 16"
        await pilot.pause()
        # Save, then open what was saved.
        target = tmp_path / "mine.toml"
        await pilot.press("ctrl+s")
        await pilot.pause()
        prompt = app.screen.query_one("#path")
        prompt.value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        assert load_profile(str(target)).grid.seq == ["64/64"]
        await pilot.press("ctrl+o")
        await pilot.pause()
        app.screen.query_one("#path").value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen) and app.screen.profile.grid.seq == ["64/64"]


async def test_choosing_a_seed_profile_updates_the_preview(tmp_path, stable_paths):
    app = LLMBenchApp(tiny_profile(), tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        app.screen.query_one("#run").value = "deepseek-r1-mi355x"
        await pilot.pause()
        await pilot.pause()
        screen = app.screen
        assert screen.profile.name == "deepseek-r1-mi355x"
        preview = str(screen.query_one("#preview").render())
        assert "18 cells" in preview and "VLLM_ROCM_USE_AITER=1" in preview and "docker run" in preview


def feed(screen, events):
    for e in events:
        screen.post_message(EngineEvent(e))


def synthetic_events(profile):
    plan = build_plan(profile.grid)
    events = [PhaseChanged("measuring", "synthetic")]
    for cell, summary in zip(plan, CELLS):
        events += [
            CellStarted(cell, len(plan)),
            LoadProgress(cell, 3, 0, cell.concurrency, 8, 300, 150.0, 2.0),
            CellFinished(cell, summary),
        ]
    return events


async def test_live_screen_fills_in_and_hands_over_to_results(tmp_path, stable_paths):
    profile = tiny_profile()
    app = LLMBenchApp(profile, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        live = LiveScreen(profile, tmp_path, start=False)
        await app.push_screen(live)
        feed(live, synthetic_events(profile))
        await pilot.pause()
        assert live.query_one("#cells").row_count == 3
        assert "cell 3/3" in str(live.query_one("#counters").render())
        feed(live, [RunFinished("completed", str(tmp_path), CELLS)])
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, ResultsScreen)
        await pilot.press("v")
        assert app.screen.view_index == 1


def test_snapshot_setup(snap_compare, stable_paths):
    for size in ((80, 24), (120, 40)):
        assert snap_compare(LLMBenchApp(tiny_profile(), Path("results")), terminal_size=size)


def test_snapshot_live(snap_compare, stable_paths, monkeypatch):
    profile = tiny_profile()
    # Elapsed 00:00 in the picture, however slow the machine (time itself must keep running).
    monkeypatch.setattr(RunProgress, "elapsed_s", property(lambda self: 0.0))

    async def run_before(pilot):
        live = LiveScreen(profile, Path("results"), start=False)
        await pilot.app.push_screen(live)
        feed(live, synthetic_events(profile))
        await pilot.pause()

    for size in ((80, 24), (120, 40)):
        assert snap_compare(LLMBenchApp(profile, Path("results")), terminal_size=size, run_before=run_before)


def test_snapshot_results(snap_compare, stable_paths):
    async def run_before(pilot):
        await pilot.app.push_screen(ResultsScreen(CELLS, "cpu-tiny: completed", "results/example"))
        await pilot.pause()

    for size in ((80, 24), (120, 40)):
        assert snap_compare(LLMBenchApp(tiny_profile(), Path("results")), terminal_size=size, run_before=run_before)


async def test_a_profile_that_is_not_bundled_opens(tmp_path, stable_paths):
    # Its name matches no bundled run profile: the choice shows "(custom)", the form still opens.
    profile = apply_overrides(tiny_profile(), name="my-own")
    app = LLMBenchApp(profile, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen) and app.screen.profile.name == "my-own"
        assert app.screen.query_one("#run").is_blank()


async def test_a_schema_1_results_folder_opens_with_its_warning_as_a_flag(tmp_path, stable_paths):
    from tests.test_metrics import SCHEMA_1_CELL

    run_dir = tmp_path / "20260101-000000-cpu-tiny"
    run_dir.mkdir()
    (run_dir / "profile.toml").write_text(tiny_profile().to_toml())
    old = {"schema_version": 1, "profile": "cpu-tiny", "status": "completed", "cells": [SCHEMA_1_CELL]}
    (run_dir / "summary.json").write_text(json.dumps(old))
    app = LLMBenchApp(tiny_profile(), tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_results_folder(pilot, run_dir)
        screen = app.screen
        assert isinstance(screen, ResultsScreen) and screen.query_one("#cells").row_count == 1
        assert "client_limit" in str(screen.query_one("#cells").get_row_at(0))
        notes = str(screen.query_one("#flags").render())
        assert "event-loop lag p99 900.0 ms" in notes and "TPOT recorded as 0" in notes
