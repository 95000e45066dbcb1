"""The setup screen's Workload section, driven with Pilot: every load shape, errors beside their
field (and no run while one stands), the preview, and a profile saved from the TUI reopening
with the same workload."""

from __future__ import annotations

from pathlib import Path

from engine.profiles import load_profile
from engine.workload import form_from_profile
from tests.test_tui import tiny_profile
from tui.app import LLMBenchApp
from tui.screens.setup import SetupScreen
from tui.workload import WorkloadSection


def preview(screen) -> str:
    return str(screen.query_one("#preview").render())


async def set_fields(pilot, **values) -> None:
    for name, value in values.items():
        pilot.app.screen.query_one(f"#{name}").value = value
        await pilot.pause()


async def test_each_shape_shows_its_fields_and_lands_in_the_profile(tmp_path, stable_paths):
    app = LLMBenchApp(tiny_profile(), tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        shown = lambda row: screen.query_one(f"#{row}-row").display  # noqa: E731
        # The fixed grid: its rows only.
        assert shown("concurrency") and shown("prompts") and not shown("rates") and not shown("trace")
        await set_fields(pilot, shape="rates", rates="2, 5", arrival="gamma", burstiness="0.5", slo="ttft:500")
        assert shown("rates") and shown("arrival") and not shown("concurrency") and not shown("prompts")
        g = screen.profile.grid
        assert g.rates == [2.0, 5.0] and g.arrival == "gamma" and g.burstiness == 0.5
        assert screen.profile.load.slo == {"ttft": 500.0}
        assert "2 cells: rates 2, 5 req/s (gamma)" in preview(screen) and "SLO: ttft <= 500 ms" in preview(screen)
        await set_fields(pilot, shape="search", search="concurrency", percentile="90")
        assert screen.profile.grid.search == "concurrency" and screen.profile.grid.rates == []
        assert not shown("arrival") and shown("prompts")
        assert "a search over concurrency" in preview(screen) and "p90 meets ttft <= 500 ms" in preview(screen)
        await set_fields(pilot, shape="trace", trace="mooncake.jsonl", speedup="2")
        assert not shown("seq") and not shown("dataset") and screen.profile.grid.trace == "mooncake.jsonl"
        assert "trace mooncake.jsonl on its timestamps / 2" in preview(screen)
        await set_fields(pilot, shape="grid", dataset="prefix", dataset_arg="64:4", seq="128/128", workers="3")
        assert screen.profile.grid.trace is None and screen.profile.grid.dataset == "prefix:64:4"
        assert screen.profile.load.workers == 3 and "load: 3 worker processes" in preview(screen)


async def test_an_error_is_shown_beside_its_field_and_blocks_the_run(tmp_path, stable_paths):
    app = LLMBenchApp(tiny_profile(), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        before = screen.profile
        await set_fields(pilot, shape="rates", rates="2, fast")
        error = screen.query_one("#rates-error")
        assert error.display and "Rates (req/s) (--rate): '2, fast' is not a list" in str(error.render())
        assert screen.profile == before  # nothing half-applied
        assert "not applied yet" in preview(screen)
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.screen is screen  # no run started
        await set_fields(pilot, dataset="prefix", dataset_arg="512", rates="2")
        assert not error.display
        assert "prefix:512 needs every ISL above 512" in str(screen.query_one("#dataset-error").render())
        await set_fields(pilot, dataset_arg="64")
        assert not screen.query_one(WorkloadSection).has_errors and screen.profile.grid.dataset == "prefix:64"


async def test_a_profile_saved_from_the_tui_reopens_with_the_same_workload(tmp_path, stable_paths):
    app = LLMBenchApp(tiny_profile(), tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await set_fields(
            pilot,
            shape="rates",
            rates="1.5, 4",
            arrival="constant",
            num_prompts="40",
            max_concurrency="8",
            dataset="random",
            input_len_range="32:96",
            slo="tpot:50,e2el:9000",
            workers="2",
        )
        form = app.screen.query_one(WorkloadSection).form()
        target = tmp_path / "workload.toml"
        await pilot.press("ctrl+s")
        await pilot.pause()
        app.screen.query_one("#path").value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        saved = load_profile(str(target))
        assert saved.grid.rates == [1.5, 4.0] and saved.grid.input_len_range == "32:96"
        assert saved.load.slo == {"tpot": 50.0, "e2el": 9000.0} and saved.load.workers == 2
        assert form_from_profile(saved) == form
        await pilot.press("ctrl+o")
        await pilot.pause()
        app.screen.query_one("#path").value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        reopened = app.screen
        assert isinstance(reopened, SetupScreen) and reopened.query_one(WorkloadSection).form() == form
        assert reopened.profile.grid == saved.grid and reopened.query_one("#rates-row").display


def test_snapshot_setup_request_rates(snap_compare, stable_paths):
    async def run_before(pilot):
        await set_fields(pilot, shape="rates", rates="2, 5, 10", arrival="gamma", slo="ttft=500")

    for size in ((80, 24), (120, 40)):
        assert snap_compare(LLMBenchApp(tiny_profile(), Path("results")), terminal_size=size, run_before=run_before)
