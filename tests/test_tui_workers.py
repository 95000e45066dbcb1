"""Per-worker health in the TUI: the results screen (opened from a results folder made of
hand-built cells) shows the selected cell's workers, the live screen the latest cell's."""

from __future__ import annotations

from pathlib import Path

from engine.report.model import RunSummary
from tests.conftest import open_results_folder
from tests.test_tui import CELLS, feed, synthetic_events, tiny_profile
from tests.test_worker_health import with_workers, worker
from tui.app import LLMBenchApp
from tui.screens.live import LiveScreen
from tui.screens.results import ResultsScreen

# Two workers on the first cell, three (one on another host) on the second, the one client on the third.
WORKER_CELLS = [
    with_workers(CELLS[0], [worker(0, 1.2, 1.64, 0.02), worker(1, 3.1, 1.6, 0.05)]),
    with_workers(
        CELLS[1],
        [
            worker(0, 0.8, 1.0, 0.01),
            worker(1, 0.9, 1.1, 0.0),
            worker(2, 4.5, 1.2, 0.2, host="gpu-b", clock_offset_s=0.0003),
        ],
    ),
    CELLS[2],
]


def results_folder(root: Path) -> Path:
    run_dir = root / "20260101-000000-cpu-tiny"
    run_dir.mkdir(parents=True)
    (run_dir / "profile.toml").write_text(tiny_profile(**{"load.workers": 3}).to_toml())
    summary = RunSummary(profile="cpu-tiny", status="completed", cells=WORKER_CELLS)
    (run_dir / "summary.json").write_text(summary.model_dump_json())
    return run_dir


async def test_results_show_the_selected_cells_workers(tmp_path, stable_paths):
    run_dir = results_folder(tmp_path)
    app = LLMBenchApp(tiny_profile(), tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_results_folder(pilot, run_dir)
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        health = screen.query_one("#worker-health")
        assert health.display and "c=1 128/128  workers: 2, worst w1 · w0 lag p99 1.2 ms" in str(health.render())
        screen.query_one("#cells").focus()
        await pilot.press("down")
        await pilot.pause()
        assert "workers: 3, worst w2" in str(health.render()) and "on gpu-b (clock +0.3 ms)" in str(health.render())
        await pilot.press("down")
        await pilot.pause()
        assert not health.display  # the one in-process client: no line


async def test_the_live_screen_shows_the_latest_cells_workers(tmp_path, stable_paths):
    profile = tiny_profile()
    app = LLMBenchApp(profile, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        live = LiveScreen(profile, tmp_path, start=False)
        await app.push_screen(live)
        events = synthetic_events(profile)
        for e in events:  # the hand-built cells, with their workers
            if hasattr(e, "result"):
                e.result = WORKER_CELLS[e.cell.index]
        feed(live, events[:7])  # two cells finished
        await pilot.pause()
        health = live.query_one("#worker-health")
        assert health.display and "c=4 128/128  workers: 3, worst w2" in str(health.render())
        feed(live, events[7:])
        await pilot.pause()
        assert not health.display


def test_snapshot_results_with_workers(snap_compare, stable_paths):
    async def run_before(pilot):
        await pilot.app.push_screen(ResultsScreen(WORKER_CELLS, "cpu-tiny: completed", "results/example"))
        await pilot.pause()

    for size in ((80, 24), (120, 40)):
        assert snap_compare(LLMBenchApp(tiny_profile(), Path("results")), terminal_size=size, run_before=run_before)
