"""The ramp-up load shape: a request rate that climbs from a start to an end rate over a cell's
requests (vLLM bench serve's --ramp-up-strategy), and the rate at which the SLOs first failed."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.grid import Grid
from engine.headless.compare import compare_main
from engine.headless.report import report_main
from engine.load.record import RequestRecord
from engine.plan import Cell, build_plan
from engine.profiles import ProfileError, apply_overrides, load_profile
from engine.report.model import FLAG_CODES
from engine.report.results import read_summary
from engine.run.assemble import assemble_cell
from engine.run.preflight import worst_in_flight
from engine.shapes.ramp import Ramp
from engine.workload import apply_form, form_from_profile, plan_summary
from tests.conftest import cli_env

CLI = str(Path(sys.executable).parent / "llmbench-tui")


def test_the_ramp_follows_vllms_formula_from_start_to_end():
    linear = Ramp("linear", 2.0, 10.0, arrival="constant")
    assert [linear.rate_at(i, 5) for i in range(5)] == [2.0, 4.0, 6.0, 8.0, 10.0]
    exponential = Ramp("exponential", 1.0, 16.0, arrival="constant")
    assert [exponential.rate_at(i, 5) for i in range(5)] == pytest.approx([1.0, 2.0, 4.0, 8.0, 16.0])
    # Constant arrivals: each gap is one over the rate the ramp has reached; the first send at 0.
    times = linear.send_times(5, [None] * 5, seed=0)
    assert times[0] == 0.0
    assert [b - a for a, b in itertools.pairwise(times)] == pytest.approx([1 / 2, 1 / 4, 1 / 6, 1 / 8])
    # Poisson: seeded, replayable, and the gaps shrink as the rate climbs.
    poisson = Ramp("linear", 1.0, 50.0)
    a = poisson.send_times(2000, [None] * 2000, seed=3)
    assert a == poisson.send_times(2000, [None] * 2000, seed=3) and a == sorted(a)
    first, last = a[100] - a[0], a[-1] - a[-101]
    assert first > 5 * last


def test_a_ramp_grid_plans_one_open_loop_cell_per_seq():
    grid = Grid(
        concurrency=[1],
        seq=["64/16", "128/8"],
        ramp_up_strategy="exponential",
        ramp_up_start_rps=1,
        ramp_up_end_rps=8,
        num_prompts=30,
        max_concurrency=4,
    )
    cells = build_plan(grid)
    assert [c.label for c in cells] == ["ramp 1-8 64/16", "ramp 1-8 128/8"]
    assert all(c.open_loop and c.num_prompts == 30 and c.concurrency == 4 for c in cells)
    assert cells[0].pace == "exponential ramp 1 -> 8 req/s (poisson, at most 4 in flight)"
    plan = cells[0].to_dict()
    assert plan["ramp"] == {"strategy": "exponential", "start_rps": 1.0, "end_rps": 8.0} and plan["rate"] is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ramp_up_strategy": "linear", "ramp_up_start_rps": 1}, "needs both ramp_up_start_rps and ramp_up_end_rps"),
        ({"ramp_up_start_rps": 1, "ramp_up_end_rps": 2}, "need ramp_up_strategy"),
        ({"ramp_up_strategy": "linear", "ramp_up_start_rps": 1, "ramp_up_end_rps": 2, "rates": [3]}, "leave out rates"),
        ({"ramp_up_strategy": "linear", "ramp_up_start_rps": 0, "ramp_up_end_rps": 2}, "greater than 0"),
    ],
)
def test_a_bad_ramp_says_what_to_give(fields, message):
    profile = load_profile("cpu-tiny")
    with pytest.raises(ProfileError, match=message):
        apply_overrides(profile, **{f"grid.{k}": v for k, v in fields.items()})


def test_the_form_shows_a_ramp_and_gives_it_back():
    profile = apply_overrides(
        load_profile("cpu-tiny"),
        **{"grid.ramp_up_strategy": "linear", "grid.ramp_up_start_rps": 2.0, "grid.ramp_up_end_rps": 12.5},
    )
    form = form_from_profile(profile)
    assert (form.shape, form.ramp, form.ramp_start, form.ramp_end) == ("ramp", "linear", "2", "12.5")
    again, errors = apply_form(profile, form)
    assert not errors and again.grid == profile.grid
    assert plan_summary(profile).startswith("2 cells: linear ramp 2 -> 12.5 req/s (poisson) x ISL/OSL")
    # The ramp's highest rate bounds an uncapped cell's sockets, as a rate cell's rate does.
    many = apply_overrides(profile, **{"grid.num_prompts": 100_000})
    in_flight, why = worst_in_flight(build_plan(many.grid)[0], many)
    assert in_flight < 100_000 and "about rate x request deadline" in why
    bad, errors = apply_form(profile, form.__class__(**{**form.__dict__, "ramp_end": ""}))
    assert bad is None and errors["ramp_end"].startswith("to req/s (--ramp-up-end-rps): give the ramp's last rate")


def record(index: int, ttft: float, ok: bool = True) -> RequestRecord:
    r = RequestRecord(0, index, 0, 8, 2, ok=ok, ttft=ttft, e2el=ttft + 0.01)
    r.output_tokens, r.planned_s = 2, float(index)
    return r


def test_the_rate_at_which_the_slos_first_failed():
    # A run's profile has its seed set (engine/run/seed.py) by the time its cells are assembled.
    profile = apply_overrides(load_profile("cpu-tiny"), **{"load.slo": {"ttft": 100.0}, "load.seed": 0})
    cell = Cell(0, 0, 8, 2, 5, 0, 0, shape=Ramp("linear", 1.0, 5.0))
    records = [record(i, 0.05 if i < 3 else 0.5) for i in range(5)]
    ramp = assemble_cell(cell, records, 1.0, None, profile, None).ramp
    assert ramp.first_miss == 3 and ramp.slo_failed_at_rps == 4.0 and ramp.slo_ms == {"ttft": 100.0}
    # Held to the end: no rate to name.
    held = assemble_cell(cell, [record(i, 0.05) for i in range(5)], 1.0, None, profile, None).ramp
    assert held.first_miss is None and held.slo_failed_at_rps is None
    # Without SLOs, the first failed request marks it.
    plain = apply_overrides(load_profile("cpu-tiny"), **{"load.seed": 0})
    failed = assemble_cell(cell, [record(0, 0.05), record(1, 0.05, ok=False)], 1.0, None, plain, None).ramp
    assert failed.slo_failed_at_rps == 5.0  # request 1 of 2: the end of the ramp


@pytest.mark.integration
def test_a_ramp_on_vllm_from_the_command_line_to_the_report_and_compare(vllm_server, tiny_model, tmp_path):
    argv = [CLI, "--no-ui", "--endpoint", vllm_server.base_url, "--tokenizer", str(tiny_model)]
    argv += ["--seq", "32/8", "--num-prompts", "12", "--arrival", "constant", "--warmup", "0"]
    argv += ["--ramp-up-strategy", "linear", "--ramp-up-start-rps", "2", "--ramp-up-end-rps", "24"]
    runs = []
    for slo in ("ttft:60000", "ttft:0.001"):  # held to the end; missed by the first request
        out = tmp_path / slo.replace(":", "-")
        proc = subprocess.run(
            [*argv, "--slo", slo, "--results", str(out)], capture_output=True, text=True, timeout=300, env=cli_env()
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "SLO fail at" in proc.stdout and "linear ramp 2 -> 24 req/s (constant)" in proc.stderr
        (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
        runs.append(run_dir)
    held, missed = (read_summary(r / "summary.json").cells[0] for r in runs)
    for cell in (held, missed):
        assert cell.completed == 12 and cell.failed == 0 and cell.total_output_tokens == 12 * 8
        assert cell.label == "ramp 2-24 32/8" and cell.open_loop.arrival == "constant"
    assert held.ramp.slo_failed_at_rps is None and missed.ramp.slo_failed_at_rps == 2.0
    assert missed.ramp.first_miss == 0 and held.goodput.good == 12 and missed.goodput.good == 0
    # Each request's planned and actual send time, the planned ones one over the ramp's rate apart.
    lines = [json.loads(line) for line in (runs[0] / "requests.jsonl").read_text().splitlines()]
    planned = sorted(r["planned_s"] for r in lines)
    assert all("sent_s" in r for r in lines) and planned[0] == 0.0
    ramp = Ramp("linear", 2.0, 24.0, arrival="constant")
    assert [b - a for a, b in itertools.pairwise(planned)] == pytest.approx(
        [1 / ramp.rate_at(i, 12) for i in range(11)]
    )
    assert json.loads((runs[0] / "summary.json").read_text())["plan"][0]["ramp"]["end_rps"] == 24.0
    # The HTML report shows the ramp's table; compare matches the two ramps as one load.
    html = tmp_path / "report.html"
    assert report_main([str(runs[1]), "--out", str(html)]) == 0
    text = html.read_text()
    assert "<h4>Ramp-up</h4>" in text and "never" not in text.split("<h4>Ramp-up</h4>")[1].split("</table>")[0]
    # (a shared CPU host may flag the client: counted here, the pairing is what is checked)
    js = tmp_path / "compare.json"
    assert compare_main([*map(str, runs), "--count-flagged", ",".join(FLAG_CODES), "--json", str(js)]) == 0
    (paired,) = json.loads(js.read_text())["comparisons"][0]["cells"]
    assert "ramp" in json.dumps(paired) and "24" in json.dumps(paired)


def test_a_cells_shape_goes_through_the_event_log_and_older_lines_still_read():
    from engine.events import CellStarted, from_record, to_record
    from engine.shapes.closed import ClosedLoop
    from engine.shapes.rate import Rate
    from engine.shapes.trace import Trace

    for shape in (ClosedLoop(), Rate(2.0, "gamma", 0.5), Ramp("exponential", 1.0, 8.0), Trace(2.0)):
        cell = Cell(0, 4, 8, 8, 10, 0, 0, shape=shape)
        assert from_record(to_record(CellStarted(cell, 3))).cell == cell
    # A line written before cells carried shapes: a rate, or a trace's dataset, says which.
    line = to_record(CellStarted(Cell(0, 0, 8, 8, 10, 0, 0), 1))
    del line["cell"]["shape"]
    assert from_record({**line, "cell": {**line["cell"], "rate": 5.0}}).cell.shape == Rate(5.0)
    assert from_record({**line, "cell": {**line["cell"], "dataset": "trace"}}).cell.shape == Trace()
