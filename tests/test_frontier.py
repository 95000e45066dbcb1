"""Frontiers and frontier comparison on hand-made points whose answers are known: dominated points
left off, ties, flagged cells listed, one frontier covering a range the other does not, a sweep
against itself giving 1.00 everywhere, cost absent and present, a run against a sweep."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from engine.report.cost import cost_per_million
from engine.report.model import CLIENT_STARVED, CellResult, Flag, RunSummary
from engine.sweep.compare import compare_frontiers
from engine.sweep.compute import INTERACTIVITY, LATENCY, frontier
from engine.sweep.pareto import Curve, pareto
from engine.sweep.source import load_source, load_sources
from engine.sweep.words import headline, lines, sentence


def cell(conc: int, tput: float, user: float, e2e: float = 1000.0, seq=(128, 128), **extra) -> CellResult:
    """A cell of `tput` output tok/s in all, `user` tok/s per user (TPOT 1000/user ms), `e2e` ms."""
    isl, osl = seq
    fields = dict(
        max_concurrency=conc,
        input_len=isl,
        output_len=osl,
        completed=8,
        failed=0,
        num_prompts=8,
        duration=1.0,
        total_input_tokens=isl * 8,
        total_output_tokens=osl * 8,
        request_throughput=1.0,
        output_throughput=tput,
        total_token_throughput=2 * tput,
        mean_e2el_ms=e2e,
        p99_e2el_ms=1.5 * e2e,
        p99_ttft_ms=e2e / 10,
        median_ttft_ms=e2e / 10,
        mean_tpot_ms=1000.0 / user,
        p99_tpot_ms=1200.0 / user,
        interactivity=user,
    )
    return CellResult(**{**fields, **extra})


def write_run(folder: Path, cells: list[CellResult], hardware: str = "hw", devices: int = 1, **extra) -> Path:
    folder.mkdir(parents=True)
    summary = RunSummary(hardware=hardware, devices=devices, profile="p", status="completed", cells=cells, **extra)
    (folder / "summary.json").write_text(summary.model_dump_json())
    return folder


def write_sweep(root: Path, variants: dict[str, tuple[list[CellResult], int]], hardware: str = "hw", **top) -> Path:
    """A sweep folder: a run folder per variant (name -> (cells, gpus)) and sweep.json."""
    records = []
    for name, (cells, gpus) in variants.items():
        write_run(root / name, cells, hardware, devices=gpus, recipe=name)
        records.append(
            {"name": name, "flags": {"max-num-seqs": name}, "env": {}, "recipe": None, "gpus": gpus, "run": name}
            | {"status": "done", "error": None}
        )
    doc = {"schema": 1, "kind": "sweep", "created": "2026-12-03T15:00:00Z", "profile": "p"}
    (root / "sweep.json").write_text(json.dumps(doc | {"variants": records, "frontier": None} | top))
    return root


# A frontier falling from 1000 tok/s/GPU at 10 tok/s/user to 100 at 100 tok/s/user (y = 10000 / x).
CURVE = [(c, 10000.0 / u, u) for c, u in ((64, 10.0), (16, 20.0), (4, 50.0), (1, 100.0))]


def curve_cells(scale: float = 1.0, users=None) -> list[CellResult]:
    return [cell(c, scale * t, u, e2e=128 * 1000 / u) for c, t, u in CURVE if users is None or u in users]


# -- the frontier -----------------------------------------------------------------------------------
def test_pareto_leaves_dominated_points_off_and_keeps_ties():
    pts = [(10, 100), (20, 80), (15, 70), (20, 80), (30, 10), (5, 100)]
    # (15, 70) is below (20, 80); (5, 100) is left of (10, 100); the two (20, 80) are a tie: both stay.
    assert pareto(pts, lambda p: p) == [(10, 100), (20, 80), (20, 80), (30, 10)]
    # Lower x better (latency): (5, 100) dominates (10, 100); (15, 70) is worse than (10,100) on both.
    assert pareto(pts, lambda p: p, x_higher_better=False) == [(5, 100)]


def test_curve_interpolates_in_log_space_and_not_beyond():
    c = Curve.through([(10, 1000), (100, 100)])
    assert c.at(math.sqrt(10 * 100)) == pytest.approx(math.sqrt(1000 * 100))
    assert c.at(10) == 1000 and c.at(100) == 100
    assert c.at(9.9) is None and c.at(100.1) is None


def test_sweep_frontier_per_gpu_flagged_cells_and_dominated_variant(tmp_path):
    # tp2 serves twice the tokens on two GPUs: the same per GPU, a tie; slow is dominated everywhere.
    flagged = cell(8, 50000.0, 30.0, flags=[Flag(code=CLIENT_STARVED, reason="client waited 40% of the cell")])
    sweep = write_sweep(
        tmp_path / "s",
        {
            "fast": ([*curve_cells(), flagged], 1),
            "tp2": (curve_cells(2.0, users={20.0}), 2),
            "slow": (curve_cells(0.5), 1),
        },
    )
    f = frontier(load_source(sweep))
    on = f.on(INTERACTIVITY, "128/128")
    assert [(p.variant, p.load, p.output_tok_s_per_gpu) for p in on.frontier] == [
        ("fast", "c=64", 1000.0),
        ("fast", "c=16", 500.0),
        ("tp2", "c=16", 500.0),
        ("fast", "c=4", 200.0),
        ("fast", "c=1", 100.0),
    ]
    assert all(p.variant != "slow" for p in on.frontier) and len(on.points) == 9
    assert [(x.variant, x.load) for x in f.left_off] == [("fast", "c=8")]
    assert "client_starved" in f.left_off[0].why
    assert on.frontier[0].flags == {"max-num-seqs": "fast"}
    # Against latency (lower better): throughput rises with latency, every fast point is on it too.
    lat = f.on(LATENCY, "128/128")
    assert [p.load for p in lat.frontier if p.variant == "fast"] == ["c=1", "c=4", "c=16", "c=64"]


# -- frontier against frontier ----------------------------------------------------------------------
def test_a_sweep_against_itself_is_one_everywhere(tmp_path):
    sweep = write_sweep(tmp_path / "s", {"a": (curve_cells(), 1), "b": (curve_cells(0.5), 1)})
    a, b = load_sources([sweep, sweep], ["A", "B"])
    fc = compare_frontiers(frontier(a), frontier(b))
    for c in fc.axes:
        assert c.samples and all(s.ratio == pytest.approx(1.0) for s in c.samples)
        assert c.geomean == pytest.approx(1.0) and c.leads == []
    assert headline(fc) == [
        "A's best delivers 1.00x B's best output tokens per GPU at 10-100 tok/s/user (geomean, 128/128)."
    ]


def test_lead_changes_where_the_ratio_crosses_one(tmp_path):
    # A: y = 20000 / x^1.5 * sqrt(10)... built as points; B: y = 10000 / x. Equal at x = 40.
    users = (10.0, 20.0, 40.0, 80.0, 100.0)
    a_cells = [cell(i + 1, 10000.0 / 40 * (40 / u) ** 2, u) for i, u in enumerate(users)]
    b_cells = [cell(i + 1, 10000.0 / u, u) for i, u in enumerate(users)]
    fa = frontier(load_source(write_sweep(tmp_path / "a", {"x": (a_cells, 1)}, hardware="mi355x")))
    fb = frontier(load_source(write_sweep(tmp_path / "b", {"y": (b_cells, 1)}, hardware="b200")))
    fa.source.name, fb.source.name = "mi355x", "b200"
    c = compare_frontiers(fa, fb).on(INTERACTIVITY)[0]
    assert [who for _, who in c.leads] == ["mi355x", "b200"]
    assert c.leads[1][0] == pytest.approx(40.0, rel=1e-6)
    assert c.highest.ratio == pytest.approx(4.0) and c.highest.at == pytest.approx(10.0)
    assert c.lowest.ratio == pytest.approx(0.4) and c.lowest.at == pytest.approx(100.0)
    # Ratio = (40/x) in log space from 10 to 100: the geomean is 40 / sqrt(10 * 100) = 1.2649.
    assert c.geomean == pytest.approx(40 / math.sqrt(1000), rel=1e-3)
    text = sentence(c, "mi355x", "b200")
    assert text.startswith("mi355x's best delivers 1.26x b200's best output tokens per GPU at 10-100 tok/s/user")
    assert "up to 4.00x at 10 tok/s/user" in text and "b200's best up to 2.50x at 100 tok/s/user" in text
    assert "mi355x leads below 40 tok/s/user, b200 above" in text


def test_one_frontier_covers_a_range_the_other_does_not(tmp_path):
    a = write_sweep(tmp_path / "a", {"v": (curve_cells(1.5), 1)}, hardware="mi355x")  # 10-100 tok/s/user
    b = write_sweep(tmp_path / "b", {"w": (curve_cells(users={20.0, 50.0}), 1)}, hardware="b200")  # 20-50
    sa, sb = load_sources([a, b])
    fc = compare_frontiers(frontier(sa), frontier(sb))
    c = fc.on(INTERACTIVITY)[0]
    assert (c.low, c.high) == (pytest.approx(20.0), pytest.approx(50.0))
    assert all(s.ratio == pytest.approx(1.5) for s in c.samples)
    assert [(s.variant, s.low, s.high) for s in c.forming_a] == [("v", pytest.approx(20.0), pytest.approx(50.0))]
    text = "\n".join(lines(fc))
    assert "only mi355x's frontier reaches below 20 tok/s/user (down to 10 tok/s/user)" in text
    assert "only mi355x's frontier reaches above 50 tok/s/user (up to 100 tok/s/user)" in text
    assert "mi355x leads across the range" in text
    # Disjoint ranges: nothing compared, and said so.
    d = write_sweep(tmp_path / "d", {"w": (curve_cells(users={100.0}), 1)}, hardware="h100")
    e = write_sweep(tmp_path / "e", {"v": (curve_cells(users={10.0, 20.0}), 1)}, hardware="a100")
    c2 = compare_frontiers(*(frontier(s) for s in load_sources([d, e]))).on(INTERACTIVITY)[0]
    assert c2.samples == [] and "cover no common range" in sentence(c2, "h100", "a100")


def test_cost_absent_is_no_figure_and_present_is_price_over_tokens(tmp_path):
    assert cost_per_million(None, 8, 1000.0) is None and cost_per_million(2.0, 1, 0.0) is None
    # 2 per GPU-hour on 8 GPUs delivering 1000 tok/s: 16 per hour over 3.6M tokens per hour.
    assert cost_per_million(2.0, 8, 1000.0) == pytest.approx(16 / 3.6)
    priced = [cell(c, t, u, gpu_hour_cost=3.0) for c, t, u in CURVE]
    a = write_sweep(tmp_path / "a", {"v": (priced, 2)}, hardware="mi355x")
    b = write_sweep(tmp_path / "b", {"w": (curve_cells(), 1)}, hardware="b200")
    fa, fb = (frontier(s) for s in load_sources([a, b]))
    top = fa.on(INTERACTIVITY, "128/128").frontier[0]  # 1000 tok/s on 2 GPUs at 3.0 per GPU-hour
    assert top.cost_per_mtok == pytest.approx(3.0 * 2 / (1000 * 3600) * 1e6)
    assert priced[0].cost_per_mtok == pytest.approx(3.0 / (1000 * 3600) * 1e6)  # the cell's own devices: 1
    assert all(p.cost_per_mtok is None for p in fb.points)
    unpriced = compare_frontiers(fa, fb).on(INTERACTIVITY)[0]
    assert unpriced.cost_geomean is None and "cost" not in sentence(unpriced, "mi355x", "b200")
    # Both priced: B at 2.0 per GPU-hour. A's per-GPU output is half B's: cost ratio (3/0.5)/(2/1) = 3.
    b2 = write_sweep(tmp_path / "b2", {"w": ([cell(c, t, u, gpu_hour_cost=2.0) for c, t, u in CURVE], 1)})
    c = compare_frontiers(fa, frontier(load_source(b2))).on(INTERACTIVITY)[0]
    assert c.geomean == pytest.approx(0.5) and c.cost_geomean == pytest.approx(3.0)
    assert "cost per million output tokens 3.00x" in sentence(c, "mi355x", "b200")


def test_a_run_compares_as_a_one_variant_frontier(tmp_path):
    run = write_run(tmp_path / "run", curve_cells(2.0), hardware="b200", recipe="llama-fp8")
    sweep = write_sweep(tmp_path / "s", {"a": (curve_cells(), 1), "b": (curve_cells(users={100.0}), 1)})
    s, r = load_sources([sweep, run])
    assert not r.sweep and [v.name for v in r.variants] == ["llama-fp8"] and r.name == "b200"
    c = compare_frontiers(frontier(s), frontier(r)).on(INTERACTIVITY)[0]
    assert c.geomean == pytest.approx(0.5) and [who for _, who in c.leads] == ["b200"]
    assert [x.variant for x in c.forming_b] == ["llama-fp8"]


# -- sweep.json, the commands, the HTML ------------------------------------------------------------
def crossing_sweeps(tmp_path: Path) -> tuple[Path, Path]:
    """mi355x (two variants, priced) leads below 40 tok/s/user; b200 (one variant, priced) above."""
    users = (10.0, 20.0, 40.0, 80.0, 100.0)
    a = [cell(i + 1, 250.0 * (40 / u) ** 2, u, e2e=128000 / u, gpu_hour_cost=3.0) for i, u in enumerate(users)]
    a2 = [cell(i + 1, 8000.0 / u, u, e2e=128000 / u, gpu_hour_cost=3.0) for i, u in enumerate(users)]
    b = [cell(i + 1, 10000.0 / u, u, e2e=128000 / u, gpu_hour_cost=2.0) for i, u in enumerate(users)]
    flagged = cell(9, 99999.0, 50.0, flags=[Flag(code=CLIENT_STARVED, reason="client waited 40% of the cell")])
    sa = write_sweep(tmp_path / "a", {"mns128": ([*a, flagged], 1), "mns256": (a2, 1)}, hardware="mi355x")
    return sa, write_sweep(tmp_path / "b", {"tp1": (b, 1)}, hardware="b200")


def test_write_frontier_fills_sweep_json_and_keeps_what_the_sweep_wrote(tmp_path):
    from engine.sweep.frontier import write_frontier

    sweep, _ = crossing_sweeps(tmp_path)
    doc = json.loads((sweep / "sweep.json").read_text())
    doc["variants"][1] |= {"status": "failed", "error": "server died: see server.log"}
    (sweep / "sweep.json").write_text(json.dumps(doc))
    write_frontier(sweep)
    after = json.loads((sweep / "sweep.json").read_text())
    assert (after["schema"], after["created"], after["profile"]) == (1, doc["created"], "p")
    assert after["variants"] == doc["variants"]
    front = after["frontier"]
    points = front["interactivity"]["128/128"]
    assert [(p["variant"], p["concurrency"]) for p in points] == [
        ("mns128", 1),
        ("mns128", 2),
        ("mns128", 3),
        ("mns256", 4),
        ("mns256", 5),
    ]
    top = points[0]
    assert top["output_tok_s_per_gpu"] == pytest.approx(4000.0) and top["tok_s_per_user"] == 10.0
    assert top["flags"] == {"max-num-seqs": "mns128"} and top["gpus"] == 1 and top["rate"] is None
    assert top["cost_per_mtok"] == pytest.approx(3.0 / (4000 * 3600) * 1e6)
    assert front["left_off"] == [
        {"variant": "mns128", "load": "c=9", "seq": "128/128", "why": "client_starved: client waited 40% of the cell"}
    ]
    assert front["slo"] is None and front["gpu_hour_cost"] == 3.0
    assert front["variants_failed"] == [{"name": "mns256", "error": "server died: see server.log"}]


def test_best_variant_per_slo(tmp_path):
    from engine.sweep.slo import Slo, best_per_slo

    sweep, _ = crossing_sweeps(tmp_path)
    f = frontier(load_source(sweep))
    # p99 TPOT = 1200 / user ms: <= 30 ms needs 40 tok/s/user or more; the most output per GPU there is
    # mns128 at c=3 (250) against mns256's 200.
    (best,) = best_per_slo(f, Slo({"tpot": 30.0}, 99))
    assert (best.point.variant, best.point.load, best.met, best.of) == ("mns128", "c=3", 6, 10)
    (none,) = best_per_slo(f, Slo({"tpot": 1.0}, 99))
    assert none.point is None and none.met == 0


def test_cli_compares_sweeps_reports_them_and_refuses_nonsense(tmp_path, capsys):
    from engine.headless.compare import compare_main
    from engine.headless.report import report_main
    from tests.test_report_html import parse, svgs

    sa, sb = crossing_sweeps(tmp_path)
    js, html = tmp_path / "c.json", tmp_path / "r.html"
    assert compare_main([str(sa), str(sb), "--json", str(js)]) == 0
    text = capsys.readouterr().out
    assert "mi355x's best delivers" in text and "b200's best output tokens per GPU at 10-100 tok/s/user" in text
    assert "mi355x leads below 40 tok/s/user, b200 above" in text
    assert "mi355x's frontier there: mns128 (10-80), mns256 (80-100)" in text
    data = json.loads(js.read_text())
    axes = data["comparisons"][0]["axes"]
    assert [a["axis"] for a in axes] == ["interactivity", "latency"] and axes[0]["leads"][1]["leader"] == "b200"
    assert report_main([str(sa), "--slo", "tpot:30", "--out", str(html)]) == 0
    shown = capsys.readouterr().out
    assert "best variant per ISL/OSL meeting p99 tpot <= 30 ms" in shown and "line: the frontier" in shown
    assert "left off, flagged: mns128 c=9 128/128: client_starved" in shown
    page = html.read_text()
    parse(page)
    assert len(svgs(page)) >= 2 and "Variants" in page and "cost per million output tokens at 3 per GPU-hour" in page
    assert "Best variant per ISL/OSL meeting p99 tpot &lt;= 30 ms" in page
    # A sweep against a run: the run is a one-variant frontier.
    run = write_run(tmp_path / "run", curve_cells(), hardware="h100", recipe="r")
    assert compare_main([str(sa), str(run), "--out", str(html)]) == 0
    assert "h100's best output tokens per GPU" in capsys.readouterr().out and "Frontiers compared" in html.read_text()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "sweep.json").write_text("{not json")
    assert compare_main([str(tmp_path / "bad"), str(sb)]) == 2
    assert "sweep.json" in capsys.readouterr().err


def test_gpu_hour_cost_flag_sets_the_hardware_price_and_refuses_a_bad_one():
    from engine.headless.cli import build_parser, resolve_args
    from engine.profiles import ProfileError

    profile = resolve_args(build_parser().parse_args(["--gpu-hour-cost", "2.5"]))
    assert profile.hardware.gpu_hour_cost == 2.5
    assert resolve_args(build_parser().parse_args([])).hardware.gpu_hour_cost is None
    with pytest.raises(ProfileError, match="--gpu-hour-cost -1"):
        resolve_args(build_parser().parse_args(["--gpu-hour-cost", "-1"]))


async def test_a_real_priced_run_has_cost_per_cell_and_is_a_one_variant_frontier(vllm_server, tiny_model, tmp_path):
    """The real vLLM on the tiny model: each cell records the price and its cost per million output
    tokens; the run folder is a one-variant frontier that compares with itself at 1.00x."""
    from engine.profiles import apply_overrides, load_profile
    from engine.run.session import RunSession

    profile = apply_overrides(
        load_profile("cpu-tiny"),
        **{
            "mode": "external",
            "endpoint": vllm_server.base_url,
            "model.tokenizer": str(tiny_model),
            "hardware.gpu_hour_cost": 2.5,
            "grid.concurrency": [1, 4],
            "grid.seq": ["16/8"],
            "grid.prompts_per_concurrency": 2,
            "grid.min_prompts": 0,
            "grid.warmup_requests": 1,
        },
    )
    outcome = await RunSession(profile, lambda e: None, tmp_path).run()
    assert outcome.exit_code == 0, outcome.error
    cells = json.loads((outcome.results_dir / "summary.json").read_text())["cells"]
    assert [c["total_output_tokens"] for c in cells] == [2 * 8, 8 * 8]  # exact lengths in every cell
    assert all(c["gpu_hour_cost"] == 2.5 for c in cells)
    source = load_source(outcome.results_dir)
    f = frontier(source)
    for p in f.points:
        assert p.cost_per_mtok == pytest.approx(2.5 * p.gpus / (p.cell.output_throughput * 3600) * 1e6)
        assert p.cell.cost_per_mtok == pytest.approx(p.cost_per_mtok)
    assert f.on(INTERACTIVITY, "16/8").frontier, "a real run's cells have interactivity"
    a, b = load_sources([outcome.results_dir, outcome.results_dir], ["A", "B"])
    for c in compare_frontiers(frontier(a), frontier(b)).axes:
        assert all(s.ratio == pytest.approx(1.0) for s in c.samples)


def test_rate_cells_are_points_named_by_their_rate(tmp_path):
    from engine.report.model import OpenLoop

    rated = [
        cell(0, t, u, open_loop=OpenLoop(request_rate=r, arrival="poisson", burstiness=1.0, seed=0))
        for (_, t, u), r in zip(CURVE, (8.0, 4.0, 2.0, 1.0))
    ]
    f = frontier(load_source(write_sweep(tmp_path / "s", {"v": (rated, 4)})))
    top = f.on(INTERACTIVITY, "128/128").frontier[0]
    assert (top.load, top.rate, top.concurrency, top.output_tok_s_per_gpu) == ("r=8", 8.0, None, 250.0)


def test_count_flagged_puts_such_cells_on_the_frontier_and_lists_them(tmp_path):
    from engine.report.model import CLIENT_LIMIT
    from engine.sweep.render import left_off_lines

    noisy = cell(8, 50000.0, 30.0, flags=[Flag(code=CLIENT_LIMIT, reason="event-loop lag p99 8 ms")])
    source = load_source(write_sweep(tmp_path / "s", {"v": ([*curve_cells(), noisy], 1)}))
    strict, counted = frontier(source), frontier(source, frozenset({CLIENT_LIMIT}))
    assert "c=8" not in [p.load for p in strict.on(INTERACTIVITY, "128/128").frontier]
    assert "c=8" in [p.load for p in counted.on(INTERACTIVITY, "128/128").frontier] and not counted.left_off
    assert left_off_lines(counted) == [
        "counted though flagged (client_limit counted on request): v c=8 128/128: client_limit: event-loop lag p99 8 ms"
    ]
