"""Every JSON file we write is strict JSON (RFC 8259): no NaN or Infinity, which Python's json
writes by default and jq and strict parsers reject. An undefined figure is null, with its reason
where the writer knows it."""

from __future__ import annotations

import math

import pytest

from engine.headless.compare import compare_main
from engine.jsontext import dumps, strict_loads
from engine.report.model import RunSummary
from engine.report.results import SummaryFile
from engine.stats.intervals import NO_SPREAD
from engine.sweep.model import SweepFile, read_sweep, write_sweep
from tests.test_rounds import write_round_runs


def test_compare_json_of_rounds_without_spread_is_strict_json_and_says_why_df_is_undefined(tmp_path):
    # Every round alike on both sides: Welch's degrees of freedom are undefined (0/0, computed as inf).
    folders = write_round_runs(tmp_path, {"a": [110.0] * 3, "b": [100.0] * 3})
    out = tmp_path / "c.json"
    assert compare_main([*folders, "--json", str(out)]) == 0
    data = strict_loads(out.read_text())["comparisons"][0]
    interval = data["overall"]["output_throughput"]["interval"]
    assert interval["value"] == pytest.approx(1.1) and interval["low"] == interval["high"] == interval["value"]
    assert interval["spread"]["df"] is None and interval["spread"]["df_undefined"] == NO_SPREAD


def test_compare_json_keeps_finite_degrees_of_freedom(tmp_path):
    folders = write_round_runs(tmp_path, {"a": [103.0, 93.0, 113.0], "b": [100.0, 100.5, 99.5]})
    out = tmp_path / "c.json"
    assert compare_main([*folders, "--json", str(out)]) == 0
    spread = strict_loads(out.read_text())["comparisons"][0]["overall"]["output_throughput"]["interval"]["spread"]
    assert 2 < spread["df"] < 4 and "df_undefined" not in spread


def test_sweep_json_with_a_figure_that_is_not_finite_is_strict_json(tmp_path):
    sweep = SweepFile(
        profile="tiny", variants=[], frontier={"gpu_hour_cost": math.nan, "y": [math.inf, 1.5, -math.inf]}
    )
    write_sweep(tmp_path, sweep)
    raw = strict_loads((tmp_path / "sweep.json").read_text())
    assert raw["frontier"] == {"gpu_hour_cost": None, "y": [None, 1.5, None]}
    assert read_sweep(tmp_path).frontier == raw["frontier"]


def test_dumps_writes_null_for_nan_and_inf_and_strict_loads_rejects_them():
    assert dumps({"a": [1.0, math.nan], "b": (math.inf,), "c": {"d": -math.inf}}) == (
        '{"a": [1.0, null], "b": [null], "c": {"d": null}}'
    )
    with pytest.raises(ValueError, match="Infinity"):
        strict_loads('{"df": Infinity}')


def test_summary_json_with_a_figure_that_is_not_finite_is_strict_json(tmp_path):
    from tests.test_compare import cell

    SummaryFile(tmp_path).write(RunSummary(profile="p", cells=[cell(1, tput=math.nan), cell(4, tput=math.inf)]))
    raw = strict_loads((tmp_path / "summary.json").read_text())
    assert [c["output_throughput"] for c in raw["cells"]] == [None, None]
