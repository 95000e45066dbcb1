"""Stopping a sweep (fault injection on a test-defined backend, tests/test_backends.py): the variant
running keeps what it measured and stays pending for a resume, even when the stop comes as its
server is being stopped after its last cell (then it is done: every cell was measured); resumed, it
counts only the cells it has left in its progress and ETA."""

from __future__ import annotations

import asyncio
import json

import pytest

from engine.events import CellFinished, CellStarted, Event, PhaseChanged, SweepProgress
from engine.exits import EXIT_FAILED
from engine.redact import MASK
from engine.sweep.process import create_sweep
from engine.sweep.runner import SweepRunner
from engine.sweep.variants import expand
from engine.sweepspec import SweepSpec
from tests.test_backends import fake_engine, fake_profile  # noqa: F401 (a fixture)

ARGS = ["--metrics-prefix", "fake", "--health-path", "/ready", "--token-delay", "0.02"]


def _sweep(tmp_path, args: list[str] = ARGS):
    profile = fake_profile(**{"grid.concurrency": [1, 2], "recipe.args": args})
    profile = profile.model_copy(update={"sweep": SweepSpec(flags={"version": ["1", "2"]})})
    plans = expand(profile)
    create_sweep(tmp_path, profile, plans)
    return plans


async def _stop_on(tmp_path, plans, when) -> int:
    """Run the sweep, stopping it (as its process's SIGTERM handler does) at the first event `when` picks."""
    task = asyncio.current_task()

    def observe(event: Event) -> None:
        if when(event) and not runner.stopping:
            runner.stop("test stop")
            task.cancel()

    runner = SweepRunner(tmp_path, plans, observe)
    return await runner.run()


def _state(tmp_path, plans):
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    first = json.loads((tmp_path / plans[0].run / "summary.json").read_text())
    return sweep, first


async def test_a_stop_during_a_cell_leaves_the_variant_pending_with_its_finished_cells(fake_engine, tmp_path):  # noqa: F811
    plans = _sweep(tmp_path)
    assert await _stop_on(tmp_path, plans, lambda e: isinstance(e, CellFinished)) == 130
    sweep, first = _state(tmp_path, plans)
    assert sweep["status"] == "interrupted" and sweep["pid"] is None
    assert [v["status"] for v in sweep["variants"]] == ["pending", "pending"]
    assert first["status"] == "interrupted" and len(first["cells"]) == 1
    assert not (tmp_path / plans[1].run).exists()  # the next variant never started


async def test_a_stop_while_the_server_stops_after_the_last_cell_still_ends_the_run(fake_engine, tmp_path):  # noqa: F811
    plans = _sweep(tmp_path)
    stopping = lambda e: isinstance(e, PhaseChanged) and e.phase == "stopping"  # noqa: E731
    assert await _stop_on(tmp_path, plans, stopping) == 130
    sweep, first = _state(tmp_path, plans)
    assert first["status"] == "completed" and len(first["cells"]) == 2 and first["pid"] is None
    assert [v["status"] for v in sweep["variants"]] == ["done", "pending"]


async def test_a_resumed_variant_counts_only_the_cells_it_has_left(fake_engine, tmp_path):  # noqa: F811
    # Without --token-delay: a flag named "token..." is masked as a secret in the saved profile.toml,
    # which a resume reads back ("***" is no delay).
    plans = _sweep(tmp_path, ARGS[:4])
    assert await _stop_on(tmp_path, plans, lambda e: isinstance(e, CellFinished)) == 130  # 1 of 2 cells done
    events: list[Event] = []
    seen: list[list[int]] = []  # the runner's cells left at each of its progress reports

    def observe(event: Event) -> None:
        events.append(event)
        if isinstance(event, SweepProgress):
            seen.append(list(runner.left))

    runner = SweepRunner(tmp_path, plans, observe)
    assert await runner.run() == 0
    started = [(e.cell.index, e.left) for e in events if isinstance(e, CellStarted)]
    assert started == [(1, 1), (0, 2), (1, 1)]  # the resumed variant: its second cell only
    # variant 1 starting and its cell 2 (cell 1 was done); variant 2 starting, its cell 1, its cell 2
    assert seen == [[1], [1], [0, 1], [0, 1], [1]]
    progress = [e for e in events if isinstance(e, SweepProgress)]
    assert progress[0].eta_s is None  # nothing measured yet in this process
    # The last cell's start: it alone is left, as long as it took in variant 1 (measured then, once).
    assert progress[-1].eta_s == pytest.approx(runner.clock.cell_s[1][0])


async def test_a_resumed_variant_whose_secret_cannot_be_given_again_fails_alone(fake_engine, tmp_path):  # noqa: F811
    plans = _sweep(tmp_path, ARGS[:4])
    assert await _stop_on(tmp_path, plans, lambda e: isinstance(e, CellFinished)) == 130
    saved = tmp_path / plans[0].run / "profile.toml"
    saved.write_text(saved.read_text().replace('"/ready"', f'"/ready-{MASK}"'))  # as a masked secret's text
    runner = SweepRunner(tmp_path, plans, lambda e: None)
    assert await runner.run() == EXIT_FAILED
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    assert [v["status"] for v in sweep["variants"]] == ["failed", "done"]
    assert "recipe.args, which cannot be given again" in sweep["variants"][0]["error"]
