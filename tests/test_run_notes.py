"""summary.json's run-level parts are typed now; files written before (plain dicts) still open and
are written back with the same keys."""

from __future__ import annotations

import json

from engine.report.model import RunSummary
from engine.report.results import SummaryFile, read_summary

# The run-level keys as the version before the typed notes wrote them.
OLD = {
    "schema_version": 2,
    "status": "completed",
    "server": {
        "model": "tiny",
        "root": "/m",
        "max_model_len": 2048,
        "version": "0.32",
        "api": "completions",
        "prompt_kind": "token_ids",
        "usage_reported": True,
        "tokenizer": "/m",
    },
    "isolation": {"server_nice": 10, "server_idle": True, "server_cpus": None, "client_cpus": "0", "notes": ["n"]},
    "resumed": [
        {
            "at": "t",
            "after": "interrupted",
            "cells_left": 2,
            "cut_short": {"cell": "c=2 16/40", "index": 1, "recorded": 3},
        }
    ],
    "search": [
        {
            "seq": "16/40",
            "kind": "concurrency",
            "slo": {"tpot": 50.0},
            "percentile": 99,
            "best": 5.0,
            "sentence": "16/40: highest concurrency meeting ...",
            "stopped": "bracket closed",
            "probes": [{"level": 1.0, "cell": "c=1 16/40", "miss": None}],
        }
    ],
    "interrupted_cell": {"cell": "c=4 16/40", "index": 2, "recorded": 7},
    "workers": {"count": 2, "auto": True, "why": "c=16: 3,200 tok/s"},
}


def test_a_summary_written_before_the_typed_notes_opens_and_keeps_its_keys(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps(OLD))
    summary = read_summary(tmp_path / "summary.json")
    assert summary.search[0].probes[0].cell == "c=1 16/40" and summary.workers.count == 2
    assert summary.resumed[0].cut_short.recorded == 3 and summary.server.prompt_kind == "token_ids"
    SummaryFile(tmp_path).write(summary)
    again = json.loads((tmp_path / "summary.json").read_text())
    assert {k: again[k] for k in OLD} == OLD


def test_a_summary_missing_parts_of_a_note_still_opens():
    summary = RunSummary.model_validate({"workers": {"auto": True}, "resumed": [{"at": "t"}], "search": [{}]})
    assert summary.workers.count is None and summary.resumed[0].cells_left == 0 and summary.search[0].probes == []


def test_the_notes_of_the_server_and_isolation_hold_every_field_of_what_they_note():
    """summary.json's notes ignore unknown keys (older and newer files open): a field added to what
    they note (the server's discovery, the isolation applied) must be added to the note too."""
    from dataclasses import fields

    from engine.report.run_notes import IsolationNote, ServerNote
    from engine.server.isolation import Isolation
    from engine.server.launcher_base import ServerInfo

    assert set(ServerNote.model_fields) == {f.name for f in fields(ServerInfo)}
    assert set(IsolationNote.model_fields) == {f.name for f in fields(Isolation)}
