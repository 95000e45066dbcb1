"""events.jsonl through the one discriminated union of events: a file an earlier version wrote
(tests/data/events-0.1.jsonl, a real run's lines, one or two of each kind) reads back into typed
events and writes again unchanged; unknown kinds are skipped, unknown fields ignored."""

from __future__ import annotations

import json

from engine.events import (
    EVENTS,
    CellFinished,
    DeviceReading,
    LoadProgress,
    RunFinished,
    ServerState,
    ServerStateChanged,
    SweepFinished,
    SweepProgress,
    TelemetrySampled,
    VariantFinished,
    from_record,
    to_record,
)
from engine.plan import Cell
from engine.report.model import CellResult
from engine.run.eventlog import read_events
from tests.conftest import ROOT

OLD = ROOT / "tests" / "data" / "events-0.1.jsonl"
SINCE_0_1 = {"SweepProgress", "VariantFinished", "SweepFinished"}


def test_the_sweeps_events_write_and_read_back():
    for event in (
        SweepProgress(2, 3, "max-num-seqs=16", 1, 4, 12.5),
        SweepProgress(1, 3, "max-num-seqs=2", 0, 4),
        VariantFinished("max-num-seqs=2", "failed", "01-max-num-seqs-2", "server exited"),
        SweepFinished("completed", "/s", exit_code=0, wrote=["/s/sweep.json (each variant's status and the frontier)"]),
    ):
        assert from_record(json.loads(json.dumps(to_record(event)))) == event


def test_an_earlier_versions_events_read_back_typed_and_write_every_value_again():
    records = [json.loads(line) for line in OLD.read_text().splitlines()]
    events = read_events(OLD)
    assert [type(e).__name__ for e in events] == [r["event"] for r in records]
    # The file holds every kind of its version; the sweep's kinds came later (round trip below).
    assert {type(e).__name__ for e in events} == set(EVENTS) - SINCE_0_1
    for record, event in zip(records, events):
        written = json.loads(json.dumps(to_record(event)))
        if record.get("cell") is not None:  # a cell now carries its load shape (these: closed loops), not a rate
            assert written["cell"].pop("shape") == {} and record["cell"].pop("rate") is None
        assert _kept(record, written)
    finished = next(e for e in events if isinstance(e, CellFinished))
    assert isinstance(finished.cell, Cell) and isinstance(finished.result, CellResult)
    assert finished.result.completed > 0 and finished.result.cell == finished.cell.index
    state = next(e for e in events if isinstance(e, ServerStateChanged)).state
    assert isinstance(state, ServerState)
    readings = next(e for e in events if isinstance(e, TelemetrySampled)).readings
    assert readings and all(isinstance(r, DeviceReading) for r in readings)
    end = events[-1]
    assert isinstance(end, RunFinished) and all(isinstance(c, CellResult) for c in end.cells) and end.cells


def _kept(old, new) -> bool:
    """Every value of the old line is written again; fields added since are at their empty defaults."""
    if isinstance(old, list):
        return isinstance(new, list) and len(old) == len(new) and all(map(_kept, old, new))
    if not isinstance(old, dict):
        return old == new
    added = set(new) - set(old)
    return all(new[k] in (None, {}, []) for k in added) and all(k in new and _kept(v, new[k]) for k, v in old.items())


def test_unknown_kinds_are_skipped_and_unknown_or_missing_fields_tolerated():
    assert from_record({"event": "SomethingNewer", "at": 1.0}) is None
    assert from_record({"at": 1.0}) is None
    line = next(json.loads(x) for x in OLD.read_text().splitlines() if '"LoadProgress"' in x)
    line["added_later"] = 7
    line["cell"]["added_later"] = "x"
    del line["client_wait_share"]  # written only by later versions: its default
    event = from_record(line)
    assert isinstance(event, LoadProgress) and event.client_wait_share is None
    assert event.at == line["at"] and event.done == line["done"]
