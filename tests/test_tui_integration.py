"""The TUI on the real vLLM: a whole cpu-tiny run through Pilot, and quitting mid-run."""

from __future__ import annotations

import json
import time

import pytest

from engine.profiles import apply_overrides, load_profile
from tui.app import LLMBenchApp
from tui.screens.live import LiveScreen
from tui.screens.results import ResultsScreen

pytestmark = pytest.mark.integration


async def wait_for(pilot, predicate, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting in the TUI"
        await pilot.pause(0.5)


async def test_real_cpu_tiny_run_through_the_tui(tiny_model, tmp_path):
    profile = apply_overrides(
        load_profile("cpu-tiny"), **{"grid.concurrency": [2], "grid.seq": ["32/16"], "grid.prompts_per_concurrency": 2}
    )
    app = LLMBenchApp(profile, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert isinstance(app.screen, LiveScreen)
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen), 400)
        # The screen is current before its on_mount has filled the table: wait for that, bounded.
        await wait_for(pilot, lambda: app.screen.query_one("#cells").row_count > 0, 30)
        assert app.screen.query_one("#cells").row_count == 1
    (run_dir,) = list(tmp_path.iterdir())
    # The same shape as a headless run's folder.
    assert {p.name for p in run_dir.iterdir()} == {
        *("profile.toml", "summary.json", "requests.jsonl", "server.log", "events.jsonl", "run.log", "timeseries.jsonl")
    }
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    (cell,) = summary["cells"]
    assert cell["completed"] == cell["num_prompts"] == 8  # cpu-tiny's grid asks for at least 8
    assert cell["total_output_tokens"] == 8 * 16 and cell["total_input_tokens"] == 8 * 32


async def test_quit_mid_run_asks_then_saves_partial_results(vllm_server, tmp_path):
    profile = apply_overrides(
        load_profile("cpu-tiny"),
        **{
            "mode": "external",
            "endpoint": vllm_server.base_url,
            "grid.concurrency": [4],
            "grid.seq": ["64/512"],
            "grid.prompts_per_concurrency": 10,
        },
    )
    app = LLMBenchApp(profile, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+r")
        await pilot.pause()
        live = app.screen
        await wait_for(pilot, lambda: live.progress.done >= 1, 300)
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("escape")  # changed our mind: the run goes on
        await pilot.pause()
        assert app.screen is live and live.run.running
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("s")  # stop it
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen), 120)
    (run_dir,) = list(tmp_path.iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert (run_dir / "requests.jsonl").read_text().strip()
