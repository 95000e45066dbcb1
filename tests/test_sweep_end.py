"""How a sweep ends on the console (a test-defined backend, tests/test_backends.py): its last line
says the sweep ended, not a run, and names what it wrote (sweep.json, with the frontier)."""

from __future__ import annotations

import io

from engine.events import Event, RunFinished, SweepFinished, from_record, to_record
from engine.headless.console import ConsoleObserver
from engine.sweep.runner import SweepRunner
from tests.test_backends import fake_engine  # noqa: F401 (a fixture)
from tests.test_sweep_stop import _sweep


async def test_a_finished_sweep_says_the_sweep_completed_and_what_it_wrote(fake_engine, tmp_path):  # noqa: F811
    plans = _sweep(tmp_path)
    events: list[Event] = []
    out = io.StringIO()
    console = ConsoleObserver(out)

    def observe(event: Event) -> None:
        events.append(event)
        console(event)

    assert await SweepRunner(tmp_path, plans, observe).run() == 0
    final = events[-1]
    assert isinstance(final, SweepFinished) and final.status == "completed"
    assert final.wrote == [f"{tmp_path / 'sweep.json'} (each variant's status and the frontier)"]
    last = out.getvalue().splitlines()[-1]
    assert "sweep completed; wrote " in last and "sweep.json" in last and "frontier" in last
    assert "run completed" not in out.getvalue()  # each variant's own end goes to its events.jsonl only
    assert from_record(to_record(final)) == final  # a front end following events.jsonl sees the same


def test_a_run_still_says_run():
    assert RunFinished("failed", "/r", error="server died").headline() == "run failed: server died"
    assert SweepFinished("interrupted", "/s", error="stop").headline() == "sweep interrupted: stop"
