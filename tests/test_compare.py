"""Comparison on hand-made runs whose answers are known: ratios, geomean, "up to", crossovers,
iso-latency, excluded cells, vLLM bench files, exports."""

from __future__ import annotations

import json
import math
import re

import pytest

from engine.compare.ratios import compare, interpolate, iso, summary_sentence
from engine.compare.sources import VLLM_REQUIRED, Run, SourceError, load_run, load_runs
from engine.headless.compare import compare_main, overlay_plot
from engine.headless.report import report_main
from engine.report.model import CLIENT_STARVED, CellResult, Flag, RunSummary


def cell(conc: int, seq=(128, 128), tput: float = 100.0, e2e: float = 1000.0, **extra) -> CellResult:
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
        total_token_throughput_per_gpu=2 * tput,
        mean_e2el_ms=e2e,
        p99_e2el_ms=1.5 * e2e,
        median_ttft_ms=e2e / 10,
        mean_tpot_ms=e2e / osl,
    )
    return CellResult(**{**fields, **extra})


def run(name: str, cells: list[CellResult]) -> Run:
    return Run(name=name, path=None, cells=cells)


BASE = [cell(c, tput=100.0 * c, e2e=500.0 + 50 * c) for c in (1, 4, 16, 64)]


def test_a_run_against_itself_is_one_everywhere():
    c = compare(run("A", BASE), run("B", BASE))
    assert len(c.cells) == 4 and not c.excluded and not c.only_a and not c.only_b
    for r in c.cells:
        assert all(v == pytest.approx(1.0) for v in r.ratios.values())
    assert c.overall["output_throughput"].geomean == pytest.approx(1.0)


def test_doubled_throughput_same_latency_gives_half():
    doubled = [cell(c, tput=200.0 * c, e2e=500.0 + 50 * c) for c in (1, 4, 16, 64)]
    c = compare(run("A", BASE), run("B", doubled))
    s = c.overall["output_throughput"]
    assert s.geomean == pytest.approx(0.5) and s.low == pytest.approx(0.5) and s.high == pytest.approx(0.5)
    assert c.cells[0].ratios["mean_e2el_ms"] == pytest.approx(1.0)
    assert "0.50x the output throughput of B across 4 cells" in summary_sentence(c)
    assert "B leads at every concurrency (1 to 64)" in c.crossovers["128/128"]


def test_geomean_up_to_and_crossover():
    # A: 0.5x at c=1, 1x at c=4, 2x at c=16, 4x at c=64 -> geomean sqrt(2), up to 4x at 64, lead turns at 16.
    a = [cell(c, tput=100.0 * c * f) for c, f in ((1, 0.5), (4, 1.0), (16, 2.0), (64, 4.0))]
    b = [cell(c, tput=100.0 * c) for c in (1, 4, 16, 64)]
    c = compare(run("MI355X", a), run("B200", b))
    s = c.overall["output_throughput"]
    assert (
        s.geomean == pytest.approx(math.sqrt(2))
        and s.high == pytest.approx(4.0)
        and s.high_at == ("128/128", "concurrency", 64)
    )
    assert c.crossovers["128/128"] == ["MI355X takes the lead at concurrency 16"]
    text = summary_sentence(c)
    assert "MI355X delivers 1.41x the output throughput of B200 across 4 cells (geomean)" in text
    assert "up to 4.00x at concurrency 64, 128/128" in text and "B200 up to 2.00x at concurrency 1" in text
    assert "MI355X takes the lead at concurrency 16 on 128/128" in text


def test_missing_failed_and_flagged_cells_are_listed_and_left_out():
    starved = cell(16, flags=[Flag(code=CLIENT_STARVED, reason="client waited 85%")])
    failed = cell(4, failed=3, flags=[Flag(code="failed_requests", reason="3 of 8 requests failed")])
    a = [cell(1), failed, starved, cell(128)]
    b = [cell(1), cell(4), cell(16), cell(64)]
    c = compare(run("A", a), run("B", b))
    assert [r.key[2] for r in c.cells] == [1]
    assert [k[2] for k, _ in c.excluded] == [4, 16] and "client waited 85%" in c.excluded[1][1]
    assert c.only_a == [("128/128", "concurrency", 128)] and c.only_b == [("128/128", "concurrency", 64)]
    assert c.overall["output_throughput"].n == 1
    assert "(4 cells left out: see below)" in summary_sentence(c)


def test_flag_codes_counted_on_request_enter_the_statistics_and_stay_listed():
    starved = cell(16, flags=[Flag(code=CLIENT_STARVED, reason="client waited 85%")])
    failed = cell(4, failed=3, flags=[Flag(code="failed_requests", reason="3 of 8 requests failed")])
    a = [cell(1), failed, starved]
    b = [cell(1), cell(4), cell(16, tput=50.0)]
    c = compare(run("A", a), run("B", b), count_flagged=frozenset({CLIENT_STARVED}))
    assert [r.key[2] for r in c.cells] == [1, 16]
    assert [k[2] for k, _ in c.counted] == [16] and [k[2] for k, _ in c.excluded] == [4]
    assert c.overall["output_throughput"].high == pytest.approx(2.0)
    assert "(1 cell flagged client_starved counted on request)" in summary_sentence(c)


def test_iso_latency_interpolates_each_curve():
    # B reaches the same throughput at twice A's latency: at equal latency A delivers more.
    a = [cell(c, tput=100.0 * c, e2e=100.0 * c) for c in (1, 2, 4, 8)]
    b = [cell(c, tput=100.0 * c, e2e=200.0 * c) for c in (1, 2, 4, 8)]
    assert interpolate([(0.0, 0.0), (10.0, 100.0)], 2.5) == pytest.approx(25.0)
    assert interpolate([(0.0, 0.0), (10.0, 100.0)], 11.0) is None
    points = iso(run("A", a), run("B", b), "mean_e2el_ms", "total_token_throughput", [400.0, 800.0])
    assert [p.at for p in points] == [400.0, 800.0]
    assert all(p.ratio == pytest.approx(2.0) for p in points)
    across = iso(run("A", a), run("B", b), "mean_e2el_ms", "total_token_throughput")
    assert across[0].at == pytest.approx(200.0) and across[-1].at == pytest.approx(800.0)


def write_run(tmp_path, name: str, cells: list[CellResult], hardware: str | None = None, profile: str | None = None):
    d = tmp_path / name
    d.mkdir()
    summary = RunSummary(profile=profile or name, hardware=hardware or name, status="completed", cells=cells)
    (d / "summary.json").write_text(summary.model_dump_json())
    return d


def test_runs_are_named_by_what_tells_them_apart(tmp_path):
    mi = write_run(tmp_path, "r1", [cell(1)], hardware="mi355x", profile="llama")
    b2 = write_run(tmp_path, "r2", [cell(1)], hardware="b200", profile="llama")
    same_hw = write_run(tmp_path, "r3", [cell(1)], hardware="b200", profile="llama-tp8")
    same_all = write_run(tmp_path, "r4", [cell(1)], hardware="b200", profile="llama-tp8")
    assert [r.name for r in load_runs([mi, b2])] == ["mi355x", "b200"]
    assert [r.name for r in load_runs([b2, same_hw])] == ["llama", "llama-tp8"]
    assert [r.name for r in load_runs([same_hw, same_all])] == ["r3", "r4"]
    assert [r.name for r in load_runs([mi, b2], ["ours"])] == ["ours", "b200"]
    vllm_file = tmp_path / "vllm-128-128-1.json"
    vllm_file.write_text(json.dumps(cell(1).model_dump(include=set(VLLM_REQUIRED) | {"max_concurrency"})))
    assert [r.name for r in load_runs([mi, vllm_file])] == ["mi355x", "vllm-128-128-1"]


def test_overlaid_curves_tell_runs_apart_without_colour():
    a = [cell(c, tput=100.0 * c, e2e=500.0 + 50 * c) for c in (1, 4)]
    b = [cell(c, tput=200.0 * c, e2e=900.0 + 50 * c) for c in (1, 4)]
    b[1] = cell(4, tput=800.0, e2e=1100.0, flags=[Flag(code=CLIENT_STARVED, reason="waited")])
    text = overlay_plot([run("A", a), run("B", b)])
    assert "o A  + B  (marker+concurrency, ! flagged)" in text
    assert "\x1b[" not in text
    for label in ("o1", "o4", "+1", "+4!"):
        assert label in text


def test_cli_compares_folders_and_a_vllm_bench_file_and_exports(tmp_path, capsys):
    ours = write_run(tmp_path, "ours", [cell(4, seq=(256, 256), tput=400.0, e2e=700.0)])
    vllm_file = tmp_path / "vllm-256-256-4.json"
    vllm_file.write_text(
        json.dumps(
            {
                "date": "20261127",
                "backend": "openai",
                "completed": 8,
                "failed": 0,
                "duration": 2.0,
                "max_concurrency": 4,
                "total_input_tokens": 2048,
                "total_output_tokens": 2048,
                "request_throughput": 4.0,
                "output_throughput": 500.0,
                "total_token_throughput": 1000.0,
                "mean_ttft_ms": 60.0,
                "median_ttft_ms": 55.0,
                "mean_tpot_ms": 2.5,
                "mean_e2el_ms": 700.0,
                "p99_e2el_ms": 900.0,
                "random_input_len": 256,
                "random_output_len": 256,
            }
        )
    )
    theirs = load_run(vllm_file)
    assert theirs.cells[0].input_len == 256 and theirs.cells[0].max_concurrency == 4
    assert theirs.notes == []
    md, js, cs = tmp_path / "c.md", tmp_path / "c.json", tmp_path / "c.csv"
    code = compare_main(
        [
            str(ours),
            str(vllm_file),
            "--name",
            "ours",
            "--name",
            "vllm",
            "--md",
            str(md),
            "--json",
            str(js),
            "--csv",
            str(cs),
            "--plot",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "ours delivers 0.80x the output throughput of vllm across 1 cells" in out
    assert "Total throughput vs E2E latency" in out
    data = json.loads(js.read_text())["comparisons"][0]
    assert data["cells"][0]["ratios"]["output_throughput"] == pytest.approx(0.8)
    assert "| cell |" in md.read_text() and "0.80x" in md.read_text()
    assert cs.read_text().splitlines()[1].startswith("ours,vllm,256/256,concurrency,4,")


def test_cli_count_flagged_counts_the_cells_and_lists_them(tmp_path, capsys):
    starved = [Flag(code=CLIENT_STARVED, reason="client waited 85% for a CPU")]
    a = [cell(c, tput=100.0 * c, e2e=500.0 + 50 * c) for c in (1, 4)]
    a.append(cell(16, tput=1600.0, e2e=1300.0, flags=starved))
    b = [cell(c, tput=200.0 * c, e2e=500.0 + 50 * c) for c in (1, 4, 16)]
    ra, rb, js = write_run(tmp_path, "a", a), write_run(tmp_path, "b", b), tmp_path / "c.json"
    assert compare_main([str(ra), str(rb)]) == 0
    out = capsys.readouterr().out
    assert "  left out, flagged: concurrency 16, 128/128: a: client waited 85% for a CPU" in out
    assert "across 2 cells" in out and "at 1,300 ms" not in out
    assert compare_main([str(ra), str(rb), "--count-flagged", CLIENT_STARVED, "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert (
        f"  counted though flagged ({CLIENT_STARVED} counted on request): concurrency 16, 128/128: "
        "a: client waited 85% for a CPU"
    ) in out
    assert "left out, flagged" not in out and "across 3 cells" in out
    assert "128/128 at 1,300 ms: 3,200 vs 6,400 = 0.50x" in out  # the counted cell is on the iso curves too
    data = json.loads(js.read_text())["comparisons"][0]
    assert [x["cell"] for x in data["counted_flagged"]] == [["128/128", "concurrency", 16]] and data["excluded"] == []
    with pytest.raises(SystemExit) as stop:
        compare_main([str(ra), str(rb), "--count-flagged", "client_starved,nonsense"])
    assert stop.value.code == 2 and "unknown flag code nonsense" in capsys.readouterr().err


def test_a_vllm_file_missing_fields_says_which(tmp_path):
    f = tmp_path / "partial.json"
    f.write_text(
        json.dumps(
            {
                "completed": 4,
                "duration": 1.0,
                "total_input_tokens": 40,
                "total_output_tokens": 40,
                "output_throughput": 40.0,
            }
        )
    )
    r = load_run(f)
    assert "max_concurrency" in r.notes[0] and "mean_tpot_ms" in r.notes[0]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"completed": 4}))
    with pytest.raises(SourceError, match="output_throughput"):
        load_run(bad)


def test_cli_bad_input_exits_2(tmp_path, capsys):
    assert compare_main([str(tmp_path / "nowhere"), str(tmp_path)]) == 2
    assert "neither a results folder" in capsys.readouterr().err


def test_an_export_path_that_cannot_be_written_exits_2_naming_it(tmp_path, capsys):
    a = write_run(tmp_path, "a", [cell(1)], hardware="X")
    b = write_run(tmp_path, "b", [cell(1, tput=50.0)], hardware="Y")
    taken = tmp_path / "taken"
    taken.mkdir()  # a folder where the CSV file should go
    assert compare_main([str(a), str(b), "--csv", str(taken)]) == 2
    assert capsys.readouterr().err == f"llmbench-tui compare: error: cannot write {taken}: Is a directory\n"
    assert report_main([str(a), str(b), "--csv", str(taken)]) == 2
    err = capsys.readouterr().err
    assert err == f"llmbench-tui report: error: cannot write {taken}: Is a directory: choose a writable path\n"


# --- rate, dataset and trace runs ----------------------------------------------------------------


def rate_cell(rate: float, tput: float = 100.0, seq=(128, 32), **extra) -> CellResult:
    from engine.report.model import OpenLoop

    loop = OpenLoop(request_rate=rate, arrival="poisson", burstiness=1.0, seed=0, achieved_rate=rate)
    return cell(0, seq=seq, tput=tput, open_loop=loop, **extra)


def dataset_cell(conc: int, name: str, source: str | None = None, tput: float = 100.0, **extra) -> CellResult:
    from engine.report.model import DatasetLengths

    lengths = dict(input_len_mean=5, input_len_min=5, input_len_max=5, output_len_mean=2, output_len_min=2)
    d = DatasetLengths(name=name, source=source, output_len_max=2, **lengths)
    return cell(conc, seq=(0, 2), tput=tput, dataset=d, **extra)


def test_rate_runs_match_by_rate_and_lengths():
    a = run("A", [rate_cell(r, tput=200.0 * r) for r in (2, 4, 8)])
    b = run("B", [rate_cell(r, tput=100.0 * r) for r in (4, 8, 16)])
    c = compare(a, b)
    assert [r.key for r in c.cells] == [("128/32", "rate", 4.0), ("128/32", "rate", 8.0)]
    assert c.only_a == [("128/32", "rate", 2.0)] and c.only_b == [("128/32", "rate", 16.0)]
    assert c.crossovers["128/32"] == ["A leads at every rate (4 to 8 req/s)"]
    assert "up to 2.00x at rate 8 req/s, 128/32" in summary_sentence(c)


def test_dataset_and_trace_runs_match_by_label_and_load():
    from engine.report.model import OpenLoop

    a = run("A", [dataset_cell(c, "sharegpt", "/a/sg.json") for c in (1, 4)])
    b = run("B", [dataset_cell(4, "sharegpt", "/b/sg.json", tput=50.0)])
    c = compare(a, b)
    assert [(r.key, r.ratios["output_throughput"]) for r in c.cells] == [(("sharegpt", "concurrency", 4.0), 2.0)]
    trace = OpenLoop(request_rate=3.0, arrival="trace x2", burstiness=1.0, seed=0)
    t_a = run("A", [dataset_cell(0, "trace x2", "t.jsonl", open_loop=trace)])
    t_b = run("B", [dataset_cell(0, "trace x2", "t.jsonl", open_loop=trace, tput=25.0)])
    (row,) = compare(t_a, t_b).cells
    assert row.key == ("trace x2", "trace", 0.0) and row.ratios["output_throughput"] == 4.0


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (
            [rate_cell(2), rate_cell(4)],
            [cell(1, seq=(128, 32)), cell(4, seq=(128, 32))],
            "both ran 128/32, but A at rates 2, 4 req/s and B at concurrency 1, 4",
        ),
        (
            [dataset_cell(4, "sharegpt")],
            [cell(4)],
            "A ran sharegpt at concurrency 4 and B ran 128/128 at concurrency 4",
        ),
        (
            [dataset_cell(4, "sharegpt", "/x/one.json")],
            [dataset_cell(4, "sharegpt", "/x/two.json")],
            "both ran 'sharegpt', but from different files (/x/one.json and /x/two.json)",
        ),
    ],
)
def test_only_a_true_mismatch_is_refused_naming_what_differs(tmp_path, a, b, message):
    from engine.report.results import ResultsWriter

    paths = []
    for name, cells in (("A", a), ("B", b)):
        (tmp_path / name).mkdir()
        writer = ResultsWriter(tmp_path / name, "", RunSummary(cells=cells, profile=name))
        writer.write_summary()
        writer.close()
        paths.append(tmp_path / name)
    with pytest.raises(SourceError, match=re.escape(message)):
        load_runs(paths, ["A", "B"])


def test_a_vllm_bench_rate_file_matches_our_rate_cell(tmp_path):
    data = rate_cell(4).model_dump(include=set(VLLM_REQUIRED) | {"max_concurrency"})
    data |= {"request_rate": 4.0, "burstiness": 1.0, "random_input_len": 128, "random_output_len": 32}
    (tmp_path / "r4.json").write_text(json.dumps(data))
    theirs = load_run(tmp_path / "r4.json")
    (row,) = compare(run("ours", [rate_cell(4), rate_cell(8)]), theirs).cells
    assert row.key == ("128/32", "rate", 4.0)


def test_rate_cells_sent_at_another_pace_are_left_out_with_the_reason():
    from engine.report.model import OpenLoop

    capped = OpenLoop(request_rate=4, arrival="poisson", burstiness=1.0, seed=0, max_in_flight=4)
    bursty = OpenLoop(request_rate=4, arrival="gamma", burstiness=0.2, seed=0)
    a = run("A", [cell(0, seq=(128, 32), open_loop=capped)])
    b = run("B", [cell(0, seq=(128, 32), open_loop=bursty, tput=50.0)])
    c = compare(a, b)
    assert c.cells == []
    assert c.excluded == [
        (
            ("128/32", "rate", 4.0),
            "not the same load: A sent poisson, at most 4 in flight, B gamma, burstiness 0.2, no cap",
        )
    ]
