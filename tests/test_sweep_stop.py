"""Stopping a sweep (fault injection on a test-defined backend, tests/test_backends.py): the variant
running keeps what it measured and stays pending for a resume, even when the stop comes as its
server is being stopped after its last cell (then it is done: every cell was measured)."""

from __future__ import annotations

import asyncio
import json

from engine.events import CellFinished, Event, PhaseChanged
from engine.sweep.process import create_sweep
from engine.sweep.runner import SweepRunner
from engine.sweep.variants import expand
from engine.sweepspec import SweepSpec
from tests.test_backends import fake_engine, fake_profile  # noqa: F401 (a fixture)

ARGS = ["--metrics-prefix", "fake", "--health-path", "/ready", "--token-delay", "0.02"]


def _sweep(tmp_path):
    profile = fake_profile(**{"grid.concurrency": [1, 2], "recipe.args": ARGS})
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
