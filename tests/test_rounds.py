"""Repeated rounds on hand-made figures whose answers are known: the interval arithmetic (a mean's,
a ratio's, a geometric mean's), a cell made from its rounds, the rotation of the cell order, the
rounds a resume finds done, compare's tie band, and what one round says."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from engine.compare.ratios import compare, crossovers, summary_sentence, table_rows
from engine.compare.sources import Run
from engine.load.record import RequestRecord
from engine.report.model import CLIENT_LIMIT, CellResult, Flag, RunSummary
from engine.report.registry import COMPARED, METRICS
from engine.report.results import mark_superseded, read_summary
from engine.report.rounds import add_round, combine, measured_rounds, round_orders
from engine.report.table import summary_table
from engine.run.resume import done_rounds
from engine.stats.intervals import geomean_interval, mean_interval, ratio_interval, t975
from tests.test_compare import cell


def rounds_of(conc: int, tputs: list[float], **extra) -> CellResult:
    """A cell measured once per throughput in `tputs` (round 0, 1, ...), combined."""
    return combine([cell(conc, tput=t, round=r, **extra) for r, t in enumerate(tputs)])


def write_round_runs(root: Path, sides: dict[str, list[float]]) -> list[str]:
    """A results folder per side (name: its rounds' throughputs at c=1), as compare reads them."""
    from engine.report.results import SummaryFile

    for name, tputs in sides.items():
        (root / name).mkdir()
        (root / name / "profile.toml").write_text('name = "cpu-tiny"\n')
        SummaryFile(root / name).write(RunSummary(profile=name, cells=[rounds_of(1, tputs)]))
    return [str(root / name) for name in sides]


def run(name: str, cells: list[CellResult]) -> Run:
    return Run(name=name, path=None, cells=cells)


# -- the arithmetic ------------------------------------------------------------------------------
def test_t_quantiles_are_students():
    # Published two-sided 95% critical values, and the normal's in the limit.
    for df, t in ((1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (10, 2.2281), (30, 2.0423)):
        assert t975(df) == pytest.approx(t, abs=1e-4)
    assert t975(1e6) == pytest.approx(1.95996, abs=1e-4) and t975(math.inf) == pytest.approx(1.959964)
    assert t975(2) > t975(2.5) > t975(3)  # Welch's degrees of freedom are not whole
    with pytest.raises(ValueError):
        t975(0)


def test_a_mean_and_its_interval_from_hand_made_rounds():
    i = mean_interval([10.0, 12.0, 14.0])  # mean 12, s = 2, t(2) = 4.3027: half-width 4.3027 * 2 / sqrt(3)
    assert i.mean == 12.0 and i.sd == pytest.approx(2.0) and i.n == 3
    assert i.half_width == pytest.approx(4.96836, abs=1e-4)
    assert (i.low, i.high) == (pytest.approx(7.03164, abs=1e-4), pytest.approx(16.96836, abs=1e-4))
    assert mean_interval([5.0]) is None and mean_interval([]) is None
    assert mean_interval([3.0, 3.0]).half_width == 0.0


def test_a_ratio_of_means_by_the_log_delta_method():
    # A: mean 100, s 10 over 3 rounds; B: 50 exactly. se(log) = sqrt((10/100)^2 / 3), df = 2 (B adds none).
    r = ratio_interval([90.0, 100.0, 110.0], [50.0, 50.0, 50.0])
    se = math.sqrt(0.01 / 3)
    assert r.value == pytest.approx(2.0) and r.spread.df == pytest.approx(2.0)
    assert r.low == pytest.approx(2.0 * math.exp(-4.3027 * se), rel=1e-4)
    assert r.high == pytest.approx(2.0 * math.exp(4.3027 * se), rel=1e-4)
    # Symmetric on the log scale: B / A is the reciprocal interval.
    back = ratio_interval([50.0, 50.0, 50.0], [90.0, 100.0, 110.0])
    assert (back.low, back.high) == (pytest.approx(1 / r.high), pytest.approx(1 / r.low))
    # Both sides noisy: Welch-Satterthwaite with equal spreads and rounds gives 2 (n - 1) = 4.
    both = ratio_interval([90.0, 100.0, 110.0], [90.0, 100.0, 110.0])
    assert both.value == pytest.approx(1.0) and both.spread.df == pytest.approx(4.0) and both.spans_one
    assert ratio_interval([100.0], [90.0, 110.0]) is None  # one round: no interval


def test_the_geometric_mean_of_ratios_and_its_interval():
    a = ratio_interval([90.0, 100.0, 110.0], [50.0, 50.0, 50.0])  # 2.0, var v, df 2
    b = ratio_interval([45.0, 50.0, 55.0], [100.0, 100.0, 100.0])  # 0.5, the same var and df
    g = geomean_interval([a, b])
    v = 0.01 / 3
    assert g.value == pytest.approx(1.0) and g.spread.var == pytest.approx(2 * v / 4)
    assert g.spread.df == pytest.approx(4.0)  # (v + v)^2 / (v^2 / 2 + v^2 / 2)
    half = t975(4.0) * math.sqrt(v / 2)
    assert (g.low, g.high) == (pytest.approx(math.exp(-half)), pytest.approx(math.exp(half)))


# -- a cell made from its rounds -------------------------------------------------------------------
def test_a_cell_of_three_rounds_is_their_mean_with_an_interval():
    flagged = Flag(code=CLIENT_LIMIT, reason="lag")
    rounds = [cell(4, tput=t, round=r, flags=[flagged] if r == 1 else []) for r, t in enumerate((90.0, 100.0, 110.0))]
    c = combine(rounds)
    assert c.output_throughput == pytest.approx(100.0) and c.completed == 24 and c.duration == 3.0
    assert c.max_concurrency == 4 and c.round is None and [r.round for r in c.rounds] == [0, 1, 2]
    ci = METRICS["output_throughput"].interval(c)
    assert ci.mean == pytest.approx(100.0) and ci.half_width == pytest.approx(4.3027 * 10 / math.sqrt(3), rel=1e-4)
    assert METRICS["completed"].interval(c) is None  # a count: a total, not a figure of merit
    assert [f.reason for f in c.flags] == ["round 2: lag"]
    errors = combine([cell(4, round=r, errors={"timeout": 1, f"HTTP 50{r}": 1}) for r in (0, 1)]).errors
    assert errors == {"timeout": 2, "HTTP 500": 1, "HTTP 501": 1}
    # Tables show the half-width beside the mean.
    assert METRICS["output_throughput"].cell_text(c) == "100 \u00b125"
    assert "100 \u00b125" in summary_table([c])
    # Through summary.json and back, every round and interval kept.
    again = RunSummary.model_validate(json.loads(RunSummary(cells=[c]).model_dump_json())).cells[0]
    assert METRICS["output_throughput"].interval(again) == ci and len(again.rounds) == 3


def test_rounds_are_added_to_their_cell_as_they_come_and_a_resume_sees_which():
    cells: list[CellResult] = []
    add_round(cells, cell(1, tput=10.0, round=0, cell=0), repeats=3)
    add_round(cells, cell(4, tput=40.0, round=0, cell=1), repeats=3)
    whole = add_round(cells, cell(1, tput=12.0, round=1, cell=0), repeats=3)
    assert len(cells) == 2 and cells[0] is whole and whole.output_throughput == pytest.approx(11.0)
    assert measured_rounds(cells[0]) == {0, 1} and measured_rounds(cells[1]) == {0}
    assert done_rounds(cells) == {((1.0, "128/128"), 0), ((1.0, "128/128"), 1), ((4.0, "128/128"), 0)}
    plain: list[CellResult] = []
    add_round(plain, cell(1), repeats=1)
    assert plain[0].rounds is None and measured_rounds(plain[0]) == {0}


def test_the_order_rotates_each_round_from_the_seed():
    orders = round_orders([0, 1, 2, 3, 4, 5], 3, seed=7)
    assert orders == round_orders([0, 1, 2, 3, 4, 5], 3, seed=7)  # recorded, and reproducible
    for order in orders:  # each round is the plan rotated
        start = order[0]
        assert order == [(start + i) % 6 for i in range(6)]
    starts = [o[0] for o in orders]
    assert [(s - starts[0]) % 6 for s in starts] == [0, 2, 4]  # two steps a round: every cell in each third once
    positions = {c: {o.index(c) // 2 for o in orders} for c in range(6)}
    assert all(p == {0, 1, 2} for p in positions.values())
    assert {round_orders(list(range(6)), 3, seed=s)[0][0] for s in range(20)} != {0}  # the start is drawn
    assert all(round_orders(list(range(6)), 1, seed=s) == [list(range(6))] for s in range(20))  # one round: as planned
    two = round_orders([0, 1], 3, seed=1)
    assert two[0] != two[1] and two[1] != two[2]  # fewer cells than rounds: still a turn each round


def test_a_resume_supersedes_only_the_rounds_not_finished(tmp_path):
    path = tmp_path / "requests.jsonl"
    lines = [RequestRecord(cell=c, index=i, concurrency=1, input_len=8, output_len=8, round=r) for c, i, r in
             ((0, 0, 0), (0, 1, 1), (1, 0, 0), (1, 1, 1))]  # fmt: skip
    old = RequestRecord(cell=2, index=0, concurrency=1, input_len=8, output_len=8)  # no round: round 0
    path.write_text("".join(r.to_json() + "\n" for r in [*lines, old]))
    assert mark_superseded(path, {(0, 1), (2, 0)}) == 2
    marked = [
        (r["cell"], r.get("round")) for r in map(json.loads, path.read_text().splitlines()) if r.get("superseded")
    ]
    assert marked == [(0, 1), (2, None)]


def test_a_summary_without_rounds_opens_as_one_round(tmp_path):
    path = tmp_path / "summary.json"
    data = json.loads(RunSummary(cells=[cell(1), cell(4)]).model_dump_json())
    assert "rounds" not in data and "rounds" not in data["cells"][0] and "intervals" not in data["cells"][0]
    path.write_text(json.dumps(data))
    s = read_summary(path)
    assert s.rounds is None and s.cells[0].intervals is None
    assert "\u00b1" not in summary_table(s.cells)


# -- compare with confidence -----------------------------------------------------------------------
def test_a_ratio_of_1_03_whose_interval_spans_1_is_not_a_lead():
    a = [rounds_of(1, [103.0, 93.0, 113.0]), rounds_of(4, [412.0, 372.0, 452.0])]
    b = [rounds_of(1, [100.0, 100.5, 99.5]), rounds_of(4, [400.0, 402.0, 398.0])]
    c = compare(run("A", a), run("B", b))
    r = c.cells[0]
    assert r.ratios["output_throughput"] == pytest.approx(1.03)
    ci = r.intervals["output_throughput"]
    assert ci.low < 1.0 < ci.high and ci.spans_one
    assert table_rows(c)[1][-1] == "no measurable difference"
    assert c.crossovers["128/128"] == []  # no lead at any concurrency, so none changes hands
    text = summary_sentence(c)
    s = c.overall["output_throughput"]
    assert s.interval.spans_one and "up to" not in text
    assert f"A delivers 1.03x (95% CI {s.interval.low:.2f}-{s.interval.high:.2f}) the output" in text
    assert "no measurable difference; 2 of 2 cells show no measurable difference" in text


def test_a_difference_the_intervals_resolve_is_called_and_the_lead_turns_only_there():
    # c=1: A 1.5x clearly; c=4: a tie (1.01x, noisy); c=16: B 1.5x clearly.
    a = [rounds_of(1, [150, 151, 149]), rounds_of(4, [101, 91, 111]), rounds_of(16, [100, 101, 99])]
    b = [rounds_of(1, [100, 101, 99]), rounds_of(4, [100, 101, 99]), rounds_of(16, [150, 151, 149])]
    c = compare(run("A", a), run("B", b))
    assert [table_rows(c)[i][-1] for i in (1, 2, 3)] == ["A ahead", "no measurable difference", "B ahead"]
    assert c.crossovers["128/128"] == ["B takes the lead at concurrency 16"]
    assert "1.50x (1.4" in table_rows(c)[1][3]
    text = summary_sentence(c)
    assert "up to 1.50x at concurrency 1, 128/128" in text and "B up to 1.50x at concurrency 16" in text
    assert "1 of 3 cells show no measurable difference" in text


def test_one_round_in_either_run_says_no_interval_can_be_given():
    a = [rounds_of(1, [103.0, 93.0, 113.0])]
    c = compare(run("A", a), run("B", [cell(1, tput=100.0)]))
    assert c.cells[0].intervals["output_throughput"] is None and c.overall["output_throughput"].interval is None
    text = summary_sentence(c)
    assert "A delivers 1.03x the output throughput of B across 1 cells (geomean)" in text
    assert "no interval can be given: B measured one round" in text
    assert table_rows(c)[0] == ["cell", *(m.compared.label for m in COMPARED)]  # no CI column: none to give
    assert table_rows(c)[1][3] == "1.03x"
    plain = compare(run("A", [cell(1, tput=103.0)]), run("B", [cell(1, tput=100.0)]))
    assert "no interval can be given: A and B measured one round" in summary_sentence(plain)
    # Without intervals the point ratio is all there is: the lead is read from it.
    assert crossovers(plain.cells, "A", "B") == ["A leads at concurrency 1"]


def test_curves_draw_a_cell_of_rounds_with_its_spread():
    from engine.report import curves
    from engine.share.svg import chart

    cells = [rounds_of(1, [90.0, 100.0, 110.0], cell=0), cell(4, tput=300.0, cell=1)]
    (s,) = curves.series(cells, "latency")
    half = METRICS["total_token_throughput"].interval(cells[0]).half_width
    assert s.y_spread == [pytest.approx(half), 0.0] and half == pytest.approx(2 * 4.3027 * 10 / math.sqrt(3), rel=1e-4)
    svg = chart([s], curves.view("latency"))
    assert svg.count("<path d='M") == 1  # one whisker: the cell of one round has none
    import plotext

    plotext.clear_figure()
    curves.draw(plotext, cells)  # the terminal's chart takes the error bars too
    assert plotext.build()


def test_compare_exports_carry_each_ratio_s_interval(tmp_path):
    from engine.headless.compare import compare_main

    folders = write_round_runs(tmp_path, {"a": [103.0, 93.0, 113.0], "b": [100.0, 100.5, 99.5]})
    out = tmp_path / "cmp.csv"
    code = compare_main([*folders, "--csv", str(out), "--json", str(tmp_path / "c.json")])
    assert code == 0
    header, row = [line.split(",") for line in out.read_text().splitlines()]
    low, high = (float(row[header.index(f"output_throughput_{end}")]) for end in ("low", "high"))
    assert low < 1.0 < float(row[header.index("output_throughput")]) < high
    data = json.loads((tmp_path / "c.json").read_text())["comparisons"][0]
    assert data["cells"][0]["intervals"]["output_throughput"] == [
        pytest.approx(low, abs=1e-4),
        pytest.approx(high, abs=1e-4),
    ]
    assert "95% CI" in data["summary"]


def test_the_live_progress_remakes_a_cell_s_row_with_each_round_and_counts_rounds_in_its_eta():
    from engine.events import CellFinished, CellStarted
    from engine.plan import Cell
    from engine.run.progress import RunProgress

    plan = [Cell(index=i, concurrency=c, input_len=128, output_len=128, num_prompts=8, warmup_requests=0,
                 warmup_output_len=8) for i, c in enumerate((1, 4))]  # fmt: skip
    p = RunProgress()
    measured: list[CellResult] = []
    for r, i in ((0, 0), (0, 1), (1, 1)):
        p.apply(CellStarted(plan[i], 2, r, 2))
        whole = add_round(measured, cell(plan[i].concurrency, tput=10.0 * (r + 1), round=r, cell=i), repeats=2)
        p.apply(CellFinished(plan[i], whole))
    assert (p.round, p.rounds) == (1, 2) and p.cells_done == 3
    assert [c.cell for c in p.cells] == [0, 1] and p.cells[1].output_throughput == pytest.approx(15.0)
    assert p.eta_s() == pytest.approx(1.0)  # 3 s measured over 3 (cell, round)s; 1 of 4 left


def test_a_resumed_run_s_eta_counts_only_the_cells_it_has_left():
    from engine.events import CellFinished, CellStarted
    from engine.plan import Cell
    from engine.run.progress import RunProgress

    plan = [Cell(index=i, concurrency=c, input_len=128, output_len=128, num_prompts=8, warmup_requests=0,
                 warmup_output_len=8) for i, c in enumerate((1, 2, 4, 8))]  # fmt: skip
    p = RunProgress()
    # A resume of a 4-cell run with cells 1 and 2 done: cells 3 and 4 left, each measured in 1 s.
    p.apply(CellStarted(plan[2], 4, left=2))
    p.apply(CellFinished(plan[2], cell(4, tput=10.0, cell=2)))
    assert p.eta_s() == pytest.approx(1.0)  # one cell left, not 4 - 1
    p.apply(CellStarted(plan[3], 4, left=1))
    p.apply(CellFinished(plan[3], cell(8, tput=10.0, cell=3)))
    assert p.eta_s() == 0.0
