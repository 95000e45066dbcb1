"""The run browser and the compare screen driven with Pilot, on hand-made results folders whose
answers are known: B is A with the output throughput doubled, so A vs B reads 0.50x."""

from __future__ import annotations

import subprocess
from pathlib import Path

from engine.compare.sources import load_runs
from engine.report.model import CLIENT_STARVED, Flag, RunSummary
from tests.test_compare import cell
from tests.test_tui import tiny_profile
from tui.app import LLMBenchApp
from tui.screens.compare import CompareScreen
from tui.screens.results import ResultsScreen
from tui.screens.runs import RunsScreen
from tui.widgets import RatioTable, RunTable

A, B, LOST, BROKEN = "20260102-100000-llama-mi355x", "20260101-100000-llama-b200", "20260103-100000-cpu", "broken"
NAME_A, NAME_B = "mi355x", "b200"  # runs are named by their hardware when it tells them apart


def dead_pid() -> int:
    # A process that has ended; even if its pid were reused, the catalog checks the run folder is
    # on the command line.
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def write_run(root: Path, name: str, cells, planned: int, **meta) -> None:
    d = root / name
    d.mkdir(parents=True)
    (d / "profile.toml").write_text(tiny_profile().to_toml())
    plan = [{"concurrency": c, "input_len": 128, "output_len": 128} for c in (1, 4, 16, 64)[:planned]]
    summary = RunSummary(model_profile="llama-8b", plan=plan, cells=cells, **meta)
    (d / "summary.json").write_text(summary.model_dump_json())


def make_runs(root: Path) -> Path:
    """Four runs: A, B (A's throughput doubled, c=16 flagged, no c=64), a lost one, an unreadable one."""
    a = [cell(c, tput=100.0 * c, e2e=500.0 + 50 * c) for c in (1, 4, 16, 64)]
    b = [cell(c, tput=200.0 * c, e2e=500.0 + 50 * c) for c in (1, 4)]
    b.append(cell(16, tput=3200.0, e2e=1300.0, flags=[Flag(code=CLIENT_STARVED, reason="client waited 85% for a CPU")]))
    common = {"status": "completed", "profile": "llama"}
    write_run(root, A, a, 4, hardware="mi355x", started_at="2026-01-02T10:00:00+0000", **common)
    write_run(root, B, b, 3, hardware="b200", started_at="2026-01-01T10:00:00+0000", **common)
    write_run(
        root, LOST, a[:1], 3, profile="cpu-tiny", hardware="cpu", status="running", pid=dead_pid(),
        started_at="2026-01-03T10:00:00+0000",
    )  # fmt: skip
    (root / BROKEN).mkdir()
    (root / BROKEN / "summary.json").write_text("{")
    return root


def rows(table) -> list[list[str]]:
    return [[str(v) for v in table.get_row_at(i)] for i in range(table.row_count)]


async def test_browse_mark_two_and_compare(tmp_path, stable_paths):
    root = make_runs(tmp_path / "results")
    app = LLMBenchApp(tiny_profile(), root)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+b")
        await pilot.pause()
        browser = app.screen
        assert isinstance(browser, RunsScreen)
        table = browser.query_one(RunTable)
        listed = rows(table)
        # Newest first; the unreadable run is listed with its problem, not hidden.
        assert [r[7] for r in listed] == [LOST, A, B, BROKEN]
        assert [r[5] for r in listed] == ["lost", "completed", "completed", "unreadable"]
        assert [r[6] for r in listed] == ["1/3", "4/4", "3/3", "?"]
        assert listed[1][1:5] == ["llama", "mi355x", "llama-8b", "2026-01-02 10:00"]
        problems = str(browser.query_one("#run-problems").render())
        assert f"! {root / BROKEN / 'summary.json'}: not a summary.json this version can read" in problems
        await pilot.press("down", "down", "down", "space")
        assert browser.marked == []  # an unreadable run cannot be compared
        await pilot.press("up", "up", "space", "c")
        assert isinstance(app.screen, RunsScreen)  # one marked run: nothing to compare yet
        await pilot.press("down", "space")
        assert [r[0] for r in rows(table)] == ["", "1", "2 base", ""]
        await pilot.press("c")
        await pilot.pause()

        screen = app.screen
        assert isinstance(screen, CompareScreen)
        assert str(screen.query_one(".compare-summary").render()) == (
            f"{NAME_A} delivers 0.50x the output throughput of {NAME_B} across 2 cells (geomean); "
            f"no interval can be given: {NAME_A} and {NAME_B} measured one round (run with --repeat 3 or more); "
            f"{NAME_B} up to 2.00x at concurrency 1, 128/128 (2 cells left out: see below)."
        )
        ratios = rows(screen.query_one(RatioTable))
        assert ratios == [
            [f"concurrency {c}, 128/128", "0.50x", "0.50x", "0.50x", "1.00x", "1.00x", "1.00x", "1.00x"] for c in (1, 4)
        ]
        stats = str(screen.query_one(".compare-stats").render())
        assert f"128/128: output tok/s geomean 0.50x over 2 cells, min 0.50x, max 0.50x; {NAME_B} leads" in stats
        assert "at equal mean E2E latency" in stats and "128/128 at 550 ms: 200 vs 400 = 0.50x" in stats
        left_out = str(screen.query_one(".left-out").render())
        assert f"left out, flagged: concurrency 16, 128/128: {NAME_B}: client waited 85% for a CPU" in left_out
        assert f"left out, only in {NAME_A}: concurrency 64, 128/128" in left_out
        assert "Total throughput vs E2E latency" in str(screen.query_one("#compare-title").render())
        await pilot.press("v")
        assert "Throughput per GPU vs interactivity" in str(screen.query_one("#compare-title").render())
        await pilot.press("escape")
        assert app.screen is browser and browser.marked == [root / A, root / B]


async def test_compare_screen_lists_cells_counted_though_flagged(tmp_path, stable_paths):
    root = make_runs(tmp_path / "results")
    app = LLMBenchApp(tiny_profile(), root)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.push_screen(CompareScreen(load_runs([root / A, root / B]), frozenset({CLIENT_STARVED})))
        await pilot.pause()
        screen = app.screen
        assert "across 3 cells" in str(screen.query_one(".compare-summary").render())
        left_out = str(screen.query_one(".left-out").render())
        assert (
            f"counted though flagged ({CLIENT_STARVED} counted on request): concurrency 16, 128/128: "
            f"{NAME_B}: client waited 85% for a CPU"
        ) in left_out
        assert "left out, flagged" not in left_out and f"left out, only in {NAME_A}: concurrency 64" in left_out


async def test_browser_opens_a_run_and_rescans(tmp_path, stable_paths):
    root = make_runs(tmp_path / "results")
    app = LLMBenchApp(tiny_profile(), root)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+b")
        await pilot.pause()
        browser = app.screen
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ResultsScreen) and app.screen.query_one("#cells").row_count == 4
        assert str(root / A) in str(app.screen.query_one("#results-title").render())
        await pilot.press("escape")
        assert app.screen is browser
        write_run(root, "20260104-100000-new", [cell(1)], 1, status="completed", started_at="2026-01-04T10:00:00+0000")
        assert browser.query_one(RunTable).row_count == 4
        await pilot.press("r")
        assert rows(browser.query_one(RunTable))[0][7] == "20260104-100000-new"
        # The browser is also reachable from the results screen.
        await pilot.press("down", "enter")
        await pilot.pause()
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen) and app.screen is not browser


def browse_and_compare(keys: tuple[str, ...]):
    async def run_before(pilot):
        await pilot.press("ctrl+b", *keys)
        await pilot.pause()

    return run_before


def test_snapshot_runs(snap_compare, stable_paths, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_runs(Path("results"))
    for size in ((80, 24), (120, 40)):
        app = LLMBenchApp(tiny_profile(), Path("results"))
        assert snap_compare(app, terminal_size=size, run_before=browse_and_compare(("down", "space", "down", "space")))


def test_snapshot_compare(snap_compare, stable_paths, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_runs(Path("results"))
    for size in ((80, 24), (120, 40)):
        app = LLMBenchApp(tiny_profile(), Path("results"))
        keys = ("down", "space", "down", "space", "c")
        assert snap_compare(app, terminal_size=size, run_before=browse_and_compare(keys))
