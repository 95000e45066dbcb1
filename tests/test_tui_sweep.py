"""The run browser's sweeps and the frontier screen driven with Pilot, on a hand-made sweep whose
frontier is known: variant "16" doubles variant "2"'s throughput at 10 and 20 tok/s/user, so those
two points of "2" are dominated; "16"'s starved cell is left off; variant "64" failed. Under the
profile's SLO (p99 TTFT <= 500 ms, TTFT being E2E / 10) only "2"'s c=1 and c=4 pass."""

from __future__ import annotations

from pathlib import Path

from engine.report.model import CLIENT_STARVED, Flag
from engine.sweep.model import read_sweep
from engine.sweep.model import write_sweep as write_record
from tests.test_frontier import cell, curve_cells, write_sweep
from tests.test_tui import tiny_profile
from tests.test_tui_compare import A, make_runs, rows
from tui.app import LLMBenchApp
from tui.screens.frontier import FrontierScreen
from tui.screens.results import ResultsScreen
from tui.screens.runs import RunsScreen
from tui.widgets import RunTable, SweepTable, TextTable

SWEEP, BROKEN_SWEEP = "sweep-20261203-150000", "sweep-broken"
STARVED = Flag(code=CLIENT_STARVED, reason="client waited 85% for a CPU")


def make_sweep(root: Path) -> Path:
    """A sweep of three variants (the last failed before it measured anything) and an unreadable one."""
    starved = cell(128, 5000.0, 5.0, flags=[STARVED])
    sweep = write_sweep(root / SWEEP, {"2": (curve_cells(), 1), "16": ([*curve_cells(2.0, {10.0, 20.0}), starved], 1)})
    for name in ("2", "16"):
        (sweep / name / "profile.toml").write_text(tiny_profile(**{"load.slo": {"ttft": 500.0}}).to_toml())
    record = read_sweep(sweep)
    failed = record.variants[0].model_copy(
        update={"name": "64", "flags": {"max-num-seqs": "64"}, "run": "64", "status": "failed"}
        | {"error": "server exited with code 1\nValueError: out of memory"}
    )
    write_record(sweep, record.model_copy(update={"variants": [*record.variants, failed], "status": "failed"}))
    (root / BROKEN_SWEEP).mkdir()
    (root / BROKEN_SWEEP / "sweep.json").write_text("{")
    return root


async def test_browser_lists_sweeps_and_opens_the_frontier(tmp_path, stable_paths):
    root = make_sweep(make_runs(tmp_path / "results"))
    app = LLMBenchApp(tiny_profile(), root)
    async with app.run_test(size=(140, 50)) as pilot:
        await pilot.press("ctrl+b")
        await pilot.pause()
        browser = app.screen
        assert isinstance(browser, RunsScreen)
        sweeps = rows(browser.query_one(SweepTable))
        assert [r[0] for r in sweeps] == [SWEEP, BROKEN_SWEEP]
        assert sweeps[0][1:4] == ["p", "failed", "3/3 variants (1 failed)"]
        assert sweeps[1][2:4] == ["unreadable", "?"]
        # The sweep's variant folders are not listed as runs of their own.
        assert len(rows(browser.query_one(RunTable))) == 4
        assert "2 sweeps and 4 runs under" in str(browser.query_one("#runs-title").render())
        problems = str(browser.query_one("#run-problems").render())
        assert f"! {root / BROKEN_SWEEP / 'sweep.json'}: not a sweep.json this version can read" in problems
        assert "64 failed: server exited with code 1 ... ValueError: out of memory" in str(
            browser.query_one("#run-detail").render()
        )
        await pilot.press("down", "enter")
        assert app.screen is browser  # an unreadable sweep cannot be opened
        await pilot.press("up", "enter")
        await pilot.pause()

        screen = app.screen
        assert isinstance(screen, FrontierScreen)
        variants = rows(screen.query_one("#variants", TextTable))
        assert [r[:2] + r[3:5] + r[6:] for r in variants] == [
            ["2", "done", "--max-num-seqs 2", "-", "yes", ""],
            ["16", "done", "--max-num-seqs 16", "-", "yes", ""],
            ["64", "failed", "--max-num-seqs 64", "-", "no", "server exited with code 1"],
        ]
        headings = [str(s.render()) for s in screen.query(".frontier-heading")]
        assert headings == [
            "Output throughput per GPU vs interactivity, 128/128  (v: next of 2)",
            "Output throughput per GPU vs interactivity, 128/128: frontier of 4 of 6 points",
            "Output throughput per GPU vs mean E2E latency, 128/128: frontier of 4 of 6 points",
            "best variant per ISL/OSL meeting p99 ttft <= 500 ms:",
        ]
        await pilot.press("v")
        title = str(screen.query_one("#plot-title").render())
        assert title == "Output throughput per GPU vs mean E2E latency, 128/128  (v: next of 2)"
        assert rows(screen.query_one("#best", TextTable)) == [
            ["128/128", "2", "c=4", "50.0", "200.0", "2,560", "2 of 6"]
        ]
        points = [rows(t) for t in screen.query(".frontier-points").results(TextTable)]
        # Interactivity rising: "16" where it doubles "2", then "2" alone.
        assert [r[:4] for r in points[0]] == [
            ["16", "c=64", "10.0", "2,000.0"],
            ["16", "c=16", "20.0", "1,000.0"],
            ["2", "c=4", "50.0", "200.0"],
            ["2", "c=1", "100.0", "100.0"],
        ]
        assert [r[4] for r in points[0]] == ["12,800", "6,400", "2,560", "1,280"]
        left_off = str(screen.query_one("#left-off").render())
        assert f"left off, flagged: 16 c=128 128/128: {CLIENT_STARVED}: client waited 85% for a CPU" in left_off
        assert "variant 64 failed: server exited with code 1" in left_off

        # Enter on a variant opens its run on the results screen; one without results says so.
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ResultsScreen) and app.screen.query_one("#cells").row_count == 3
        assert str(root / SWEEP / "16") in str(app.screen.query_one("#results-title").render())
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("escape")
        assert app.screen is browser
        # The runs table still opens runs.
        await pilot.press("tab", "down", "enter")
        await pilot.pause()
        assert str(root / A) in str(app.screen.query_one("#results-title").render())


def test_snapshot_frontier(snap_compare, stable_paths, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_sweep(Path("results"))

    async def run_before(pilot):
        await pilot.press("ctrl+b", "enter")
        await pilot.pause()

    for size in ((80, 24), (120, 40)):
        assert snap_compare(LLMBenchApp(tiny_profile(), Path("results")), terminal_size=size, run_before=run_before)


def test_snapshot_runs_with_sweeps(snap_compare, stable_paths, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_sweep(make_runs(Path("results")))

    async def run_before(pilot):
        await pilot.press("ctrl+b")
        await pilot.pause()

    for size in ((80, 24), (120, 40)):
        assert snap_compare(LLMBenchApp(tiny_profile(), Path("results")), terminal_size=size, run_before=run_before)
