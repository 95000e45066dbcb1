"""The HTML report and the curve images, without a browser: the document's tags balance, every
inline SVG is well-formed XML, text from files is escaped, flags keep their reasons, a report of
two runs carries the comparison's sentence. (benchmarks/check_report.py renders it in Chromium.)"""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pydantic import BaseModel

from engine.compare.ratios import compare, summary_sentence
from engine.compare.sources import Run, load_run
from engine.headless.report import report_main
from engine.report.curves import series, view
from engine.report.model import (
    CLIENT_LIMIT,
    CLIENT_STARVED,
    LENGTH_MISMATCH,
    SERVER_MISMATCH,
    CellResult,
    DatasetLengths,
    DeviceCellStats,
    Flag,
    Goodput,
    OpenLoop,
    RunSummary,
    ServerCellStats,
    TelemetryCellStats,
)
from engine.report.results import read_summary
from engine.report.run_notes import WorkersNote
from engine.share.html import render
from engine.share.svg import SHAPES, chart, nice_ticks
from engine.share.telemetry_html import OVER_TIME, over_time
from engine.share.workers_html import workers_meta
from tests.test_compare import cell as plain_cell
from tests.test_compare import write_run


def cell(conc: int, **fields):
    """A hand-made cell with every curve's figures (interactivity too)."""
    c = plain_cell(conc, **fields)
    c.interactivity = 1000 / c.mean_tpot_ms
    return c


VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "source"}
EVIL = "<script>alert('x')</script>"


class Structure(HTMLParser):
    """Fails on a closing tag that closes nothing open: what a browser would silently repair."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: dict[str, int] = {}

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()


def parse(html: str) -> Structure:
    p = Structure()
    p.feed(html)
    p.close()
    assert not p.errors, p.errors[:5]
    assert not p.stack, f"left open: {p.stack}"
    return p


def svgs(html: str) -> list[ET.Element]:
    found = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    return [ET.fromstring(s) for s in found]


CELLS = [
    cell(1, tput=100.0, e2e=500.0),
    cell(4, tput=300.0, e2e=700.0),
    cell(16, tput=500.0, e2e=1500.0, flags=[Flag(code=CLIENT_STARVED, reason="client waited 85% of the cell")]),
]


def test_one_run_parses_with_tables_svgs_and_flag_reasons(tmp_path):
    folder = write_run(tmp_path, "one", CELLS)
    (folder / "profile.toml").write_text('name = "one"\n')
    html = render([load_run(folder)])
    tags = parse(html).tags
    assert tags["table"] >= 1 and tags["svg"] == 3  # the three curve views
    trees = svgs(html)
    assert len(trees) == 3 and all(t.tag.endswith("svg") for t in trees)
    # The flagged cell's row carries its code and reason; the clean rows carry none.
    rows = re.findall(r"<tr[^>]*>.*?</tr>", html, flags=re.S)
    flagged = [r for r in rows if "client_starved" in r]
    assert len(flagged) == 1 and "client waited 85% of the cell" in flagged[0] and "class=flagged" in flagged[0]
    assert "<td>16</td>" in flagged[0]
    assert "1 of 3 cells flagged" in html
    # The flagged point is labelled "16!" on the curves.
    assert ">16!</text>" in html
    assert 'name = "one"' in html.replace("&quot;", '"')


def test_text_from_files_is_escaped(tmp_path):
    folder = write_run(tmp_path, "evil", CELLS)
    (folder / "profile.toml").write_text(f'name = "{EVIL}"\n')
    run = load_run(folder, name=EVIL)
    run.summary.launch_command = f"vllm serve {EVIL}"
    html = render([run])
    assert "<script" not in html
    assert "&lt;script&gt;" in html
    parse(html)
    svgs(html)  # the run's name is in every chart title: still well-formed


def test_two_runs_carry_the_summary_sentence_and_the_overlay(tmp_path):
    a = load_run(write_run(tmp_path, "A", [cell(c, tput=200.0 * c, e2e=500.0 + 50 * c) for c in (1, 4, 16)]))
    b = load_run(write_run(tmp_path, "B", [cell(c, tput=100.0 * c, e2e=500.0 + 50 * c) for c in (1, 4, 16)]))
    html = render([a, b])
    sentence = summary_sentence(compare(a, b))
    assert "2.00x the output throughput" in sentence
    assert f"<p class=summary>{sentence}</p>" in html.replace("&#x27;", "'")
    assert "At equal mean E2E latency" in html
    tags = parse(html).tags
    assert tags["svg"] == 3 + 3 + 1  # each run's views, and the overlay of both
    overlay = svgs(html)[0]
    labels = [t.text for t in overlay.iter("{http://www.w3.org/2000/svg}text")]
    assert f"{a.name} 128/128" in labels and f"{b.name} 128/128" in labels


def test_cells_counted_though_flagged_are_listed_escaped(tmp_path):
    starved = [Flag(code=CLIENT_STARVED, reason=f"client waited 85% {EVIL}")]
    a = [cell(c, tput=200.0 * c, e2e=500.0 + 50 * c) for c in (1, 4)] + [cell(16, tput=3200.0, flags=starved)]
    b = [cell(c, tput=100.0 * c, e2e=500.0 + 50 * c) for c in (1, 4, 16)]
    ra, rb = load_run(write_run(tmp_path, "A", a)), load_run(write_run(tmp_path, "B", b))
    html = render([ra, rb], count_flagged=frozenset({CLIENT_STARVED}))
    assert "<script" not in html and "across 3 cells" in html
    assert f"<li>counted though flagged ({CLIENT_STARVED} counted on request): concurrency 16, 128/128: " in html
    assert "left out, flagged" not in html
    parse(html)


def test_each_series_has_its_own_marker_shape():
    many = [cell(c, seq=(n, n)) for n in (64, 128, 256, 512) for c in (1, 4)]
    svg = ET.fromstring(chart(series(many, "latency"), view("latency")))
    ns = "{http://www.w3.org/2000/svg}"
    # Legend: per series one marker element; circle, rect, polygon (triangle), polygon (diamond).
    shapes = (f"{ns}circle", f"{ns}rect", f"{ns}polygon")
    kinds = [el.tag.removeprefix(ns) for el in svg if el.tag in shapes and el.get("fill") != "#ffffff"]
    assert kinds[:4] == ["circle", "rect", "polygon", "polygon"]
    assert len(set(SHAPES)) == len(SHAPES)


def test_nice_ticks_start_at_zero_and_cover_the_data():
    assert nice_ticks(7.3) == [0, 2, 4, 6, 8]
    assert nice_ticks(1746)[-1] >= 1746 and nice_ticks(1746)[0] == 0
    assert nice_ticks(0.0) == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])  # nothing to show: still an axis


def test_cli_writes_the_report_and_svg_images(tmp_path, capsys):
    a = write_run(tmp_path, "A", CELLS)
    b = write_run(tmp_path, "B", CELLS)
    out = tmp_path / "r.html"
    assert report_main([str(a), str(b), "--out", str(out), "--svg", str(tmp_path / "img")]) == 0
    assert out.stat().st_size > 1000
    assert "<h2>Comparison (each run relative to B)</h2>" in out.read_text()  # named as `compare` names them
    images = sorted(p.name for p in (tmp_path / "img").iterdir())
    assert "all-runs-latency.svg" in images and len(images) == 7
    for p in (tmp_path / "img").iterdir():
        ET.parse(p)
    assert "wrote" in capsys.readouterr().out


def test_cli_bad_input_exits_2_naming_the_path(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert report_main([str(missing), "--out", str(tmp_path / "r.html")]) == 2
    assert str(missing) in capsys.readouterr().err
    run = write_run(tmp_path, "A", CELLS)
    assert report_main([str(run), "--out", str(tmp_path / "no" / "dir" / "r.html")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert report_main([str(run)]) == 2
    assert "--out" in capsys.readouterr().err


def test_png_without_matplotlib_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    run = write_run(tmp_path, "A", CELLS)
    out = tmp_path / "r.html"
    assert report_main([str(run), "--out", str(out), "--png", str(tmp_path / "png")]) == 2
    assert "pip install 'llmbench-tui[plot]'" in capsys.readouterr().err
    assert not out.exists()  # refused before anything was written


def test_png_images_when_matplotlib_is_there(tmp_path):
    import matplotlib  # noqa: F401 (`make setup` installs the [plot] extra: this test must run)

    a, b = write_run(tmp_path, "A", CELLS), write_run(tmp_path, "B", CELLS)
    assert report_main([str(a), str(b), "--png", str(tmp_path / "png")]) == 0
    images = sorted((tmp_path / "png").iterdir())
    assert len(images) == 7 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in images)


# -- the sections of newer result fields: workload, telemetry, load workers -------------------------


def rich_cells() -> list[CellResult]:
    """Cells with every newer field: a rate cell with goodput, a dataset cell, server and hardware
    telemetry, two load workers on two hosts. Text that came from files or servers holds EVIL."""
    late = Flag(
        code=CLIENT_LIMIT, reason="the client, not the server, may be the limit: requests sent 40.0 ms late (p99)"
    )
    rate = cell(
        16,
        open_loop=OpenLoop(request_rate=4.0, arrival="poisson", burstiness=1.0, seed=3, achieved_rate=3.6),
        goodput=Goodput(slo_ms={"ttft": 500.0, "tpot": 50.0}, good=6, request_goodput=0.75),
        client_send_delay_p99_ms=40.0,
        flags=[late],
        server=ServerCellStats(
            samples=9,
            running_mean=3.5,
            running_max=6.0,
            waiting_mean=0.0,
            waiting_max=1.0,
            kv_cache_usage_mean=0.125,
            kv_cache_usage_max=0.25,
            preemptions=2,
            prompt_tokens=1024,
            generation_tokens=1024,
            token_check="match: the server's prompt and generation token counters equal our counts",
        ),
        telemetry=TelemetryCellStats(
            devices=[
                DeviceCellStats(
                    source="process",
                    name="4 processes",
                    samples=9,
                    cpu_percent_mean=97.0,
                    cpu_percent_max=99.5,
                    rss_max_mib=4096.0,
                )
            ],
            energy_note=f"not available: no power sensor is read on CPU hosts {EVIL}",
        ),
        client_workers=[
            {
                "worker": 0,
                "pid": 101,
                "lag_p99_ms": 1.5,
                "cpu_s": 0.2,
                "run_queue_share": 0.01,
                "start_late_ms": 0.4,
                "host": "node-a",
                "clock_offset_s": 0.0,
            },
            {
                "worker": 1,
                "pid": 102,
                "lag_p99_ms": 9.25,
                "cpu_s": 0.5,
                "run_queue_share": 0.2,
                "start_late_ms": 2.0,
                "host": f"node-b{EVIL}",
                "clock_offset_s": 0.0042,
            },
        ],
    )
    mismatch = Flag(code=SERVER_MISMATCH, reason="the server counted 2,048 output tokens, we 1,024")
    data = cell(
        4,
        input_len=0,
        output_len=0,
        dataset=DatasetLengths(
            name="sharegpt",
            source=f"/data/{EVIL}.json",
            input_len_mean=211.5,
            input_len_min=12,
            input_len_max=980,
            output_len_mean=140.25,
            output_len_min=3,
            output_len_max=512,
        ),
        output_len_mismatches=1,
        flags=[mismatch, Flag(code=LENGTH_MISMATCH, reason="1 output length differs")],
        server=ServerCellStats(samples=4, generation_tokens=2048, token_check=f"differs {EVIL}"),
        telemetry=TelemetryCellStats(energy_note=f"not available: no power sensor is read on CPU hosts {EVIL}"),
    )
    return [rate, data]


SEARCH = [
    {
        "seq": "128/128",
        "kind": "concurrency",
        "slo": {"ttft": 500.0},
        "percentile": 99,
        "best": 8.0,
        "sentence": "128/128: highest concurrency meeting p99_ttft_ms <= 500 ms: concurrency 8 (bracket closed) "
        + EVIL,
        "stopped": "bracket closed",
        "probes": [
            {"level": 1.0, "cell": "c=1 128/128", "miss": None},
            {"level": 16.0, "cell": "c=16 128/128", "miss": "p99_ttft_ms 812.0 ms > 500 ms"},
            {"level": 8.0, "cell": "c=8 128/128", "miss": None},
        ],
    }
]


def write_summary(tmp_path, name: str, cells: list[CellResult], **fields) -> Path:
    d = tmp_path / name
    d.mkdir()
    summary = RunSummary(profile=name, hardware="cpu", status="completed", cells=cells, **fields)
    (d / "summary.json").write_text(summary.model_dump_json())
    return d


def rich_run(tmp_path) -> Path:
    folder = write_summary(
        tmp_path,
        "rich",
        rich_cells(),
        search=SEARCH,
        telemetry={"process": "the launched server's processes", "gpu": f"not read: a CPU host {EVIL}"},
        workers={"count": 2, "auto": True, "why": "c=16 128/128: 3,200 tok/s"},
    )
    # A timeseries as the sampler writes it: the server's counters, a device reading, a broken line.
    lines = [
        {
            "t": 100.0 + i,
            "cell": 0,
            "phase": "measuring",
            "source": "server",
            "values": {"running": 2.0, "generation_tokens_total": 50.0 * i, "kv_cache_usage": 0.01 * i},
        }
        for i in range(20)
    ]
    lines.append({"t": 101.0, "cell": 0, "phase": "measuring", "source": "process", "values": {"cpu_percent": 90.0}})
    lines.append({"t": "soon", "source": "server", "values": {"generation_tokens_total": "many"}})  # foreign: skipped
    text = "\n".join(json.dumps(x) for x in lines) + '\n{"t": 130, "cut sh'
    (folder / "timeseries.jsonl").write_text(text)
    return folder


def as_run(folder: Path) -> Run:
    """The folder as the report reads it. (load_run refuses rate and dataset runs until compare can
    match their cells; the page of one run needs only its summary.)"""
    summary = read_summary(folder / "summary.json")
    return Run(name=folder.name, path=folder, cells=summary.cells, summary=summary)


def section(html: str, heading: str) -> str:
    """The HTML from an <h3> heading up to the next <h3> (or the run's end)."""
    start = html.index(f"<h3>{heading}</h3>")
    end = html.find("<h3>", start + 1)
    return html[start : end if end > 0 else len(html)]


def test_a_plain_grid_gets_no_new_section(tmp_path):
    html = render([load_run(write_run(tmp_path, "plain", CELLS))])
    for heading in ("Workload", "Server and hardware", "Load workers"):
        assert f"<h3>{heading}</h3>" not in html
    assert "<th>rate</th>" not in html and "<th>goodput</th>" not in html and "load workers" not in html
    assert parse(html).tags["svg"] == 3  # no chart over time either


def test_rate_goodput_search_and_dataset_cells_are_shown(tmp_path):
    html = render([as_run(rich_run(tmp_path))])
    parse(html)
    # The cells table gains the console's rate and goodput columns (shown only when a cell has them).
    cells_table = section(html, "Cells")
    assert all(f"<th>{label}</th>" in cells_table for label in ("rate", "sent/s", "goodput"))
    work = section(html, "Workload")
    rows = re.findall(r"<tr[^>]*>.*?</tr>", work, flags=re.S)
    rate_row = next(r for r in rows if "r=4 128/128" in r and "poisson" in r)
    for value in ("<td>4</td>", "<td>3.60</td>", "<td>90%</td>", "<td>none</td>", "<td>40.0</td>", "! client_limit"):
        assert value in rate_row, value
    assert "class='flagged'" in rate_row
    good_row = next(r for r in rows if "ttft ≤ 500, tpot ≤ 50" in r)
    assert "<td>6 / 8</td>" in good_row and "<td>0.75</td>" in good_row and "<td>75%</td>" in good_row
    # The search: its sentence, every probe with why it missed, the best one marked.
    assert "concurrency 8 (bracket closed)" in work
    assert "misses: p99_ttft_ms 812.0 ms &gt; 500 ms" in work
    best = next(r for r in rows if "c=8 128/128" in r)
    assert "class='marked'" in best and "meets the SLOs" in best
    data_row = next(r for r in rows if "sharegpt" in r and "211.5" in r)
    assert "211.5 (12-980)" in data_row and "140.2 (3-512)" in data_row and "0 / 1" in data_row
    assert "! length_mismatch" in data_row


def test_telemetry_shows_server_stats_and_na_with_its_reason(tmp_path):
    html = render([as_run(rich_run(tmp_path))])
    tele = section(html, "Server and hardware")
    assert "not read: a CPU host" in tele  # the run's own account of its sources
    rows = re.findall(r"<tr[^>]*>.*?</tr>", tele, flags=re.S)
    server = next(r for r in rows if "r=4 128/128" in r and "12.5%" in r)
    for value in ("3.5 / 6.0", "0.0 / 1.0", "12.5% / 25.0%", "<td>2</td>", "1,024 / 1,024", ">match</td>"):
        assert value in server, value
    mismatch = next(r for r in rows if "sharegpt" in r and "differs" in r)
    assert "! server_mismatch" in mismatch and "class='flagged'" in mismatch
    assert "2,048 / 1,024" in mismatch and mismatch.count("n/a") >= 4  # not exported: n/a, never 0
    # No cell measured energy, for one reason: said once, as n/a.
    assert (
        "Energy and tokens per joule: n/a in every cell. Why, as the run recorded it: not available: no power sensor"
        in tele
    )
    assert "97.0 / 99.5" in tele and "4.0" in tele  # the server's CPU use and RSS (GiB)
    assert "power W" not in tele  # no device reports power: no column of n/a
    charts = svgs(tele)
    assert len(charts) == 1 and "Output tok/s and KV-cache use over the run" in tele
    polylines = [p for p in charts[0].iter("{http://www.w3.org/2000/svg}polyline")]
    assert len(polylines) == 2  # output tok/s, and KV-cache use on the right axis
    first = polylines[0].get("points").split()
    assert len(first) == 19  # a point per second after the first sample; the cut line is skipped


def test_the_chart_over_time_breaks_where_no_sample_was_taken(tmp_path):
    def sample(t: float, gen: float) -> str:
        values = {"generation_tokens_total": gen, "kv_cache_usage": None}
        return json.dumps({"t": t, "cell": 0, "phase": "measuring", "source": "server", "values": values})

    # Five seconds, an hour without samples (a run resumed later, its server restarted), five more.
    times = [0, 1, 2, 3, 4, 3600, 3601, 3602, 3603]
    gens = [0, 10, 20, 30, 40, 0, 30, 60, 90]
    (tmp_path / "timeseries.jsonl").write_text("\n".join(sample(t, g) for t, g in zip(times, gens)))
    drawn, why = over_time(tmp_path)
    assert why is None and [s.label for s in drawn] == ["output tok/s"]  # KV-cache use not exported: no line
    svg = ET.fromstring(chart(drawn, OVER_TIME))
    lines = [p.get("points").split() for p in svg.iter("{http://www.w3.org/2000/svg}polyline")]
    assert [len(p) for p in lines] == [4, 3]  # 10 tok/s, a gap (and the counter's restart), 30 tok/s
    assert over_time(tmp_path / "missing") == ([], "no timeseries.jsonl with this run")


def test_energy_where_measured_uses_the_tables_labels(tmp_path):
    gpu = DeviceCellStats(
        source="nvidia:0",
        name="H100",
        samples=5,
        utilization_mean=81.0,
        utilization_max=99.0,
        power_mean_w=512.0,
        power_max_w=690.0,
        energy_j=2560.0,
    )
    c = cell(
        8, telemetry=TelemetryCellStats(devices=[gpu], power_mean_w=512.0, energy_j=2560.0, output_tokens_per_joule=0.4)
    )
    idle = cell(
        16, telemetry=TelemetryCellStats(devices=[], energy_note="not available: nvidia:0 gave no power reading")
    )
    html = render([as_run(write_summary(tmp_path, "gpu", [c, idle], telemetry={"nvidia": "1 GPU"}))])
    tele = section(html, "Server and hardware")
    assert "<th>energy (J)</th>" in tele and "<th>out tok/J</th>" in tele
    rows = re.findall(r"<tr[^>]*>.*?</tr>", tele, flags=re.S)
    measured = next(r for r in rows if "c=8 128/128" in r and "2,560" in r)
    assert "<td>512</td>" in measured and "<td>0.40</td>" in measured
    missing = next(r for r in rows if "c=16 128/128" in r and "nvidia:0 gave no power" in r)
    assert missing.count("<td>n/a</td>") == 3  # power, energy, tok/J: n/a beside the reason, never 0
    assert "81.0 / 99.0" in tele and "512.0 / 690.0" in tele
    assert "No chart over time: no timeseries.jsonl with this run." in tele


def test_load_workers_name_the_worst_with_host_and_clock(tmp_path):
    html = render([as_run(rich_run(tmp_path))])
    assert "<dt>load workers</dt><dd>2 (chosen by the tool: c=16 128/128: 3,200 tok/s)</dd>" in html
    work = section(html, "Load workers")
    rows = re.findall(r"<tr[^>]*>.*?</tr>", work, flags=re.S)
    worst = [r for r in rows if "class='marked'" in r]
    assert len(worst) == 1 and "w1 (worst)" in worst[0]
    for value in ("<td>9.2</td>", "<td>50%</td>", "<td>20%</td>", "+4.2", "node-b&lt;script&gt;", "! client_limit"):
        assert value in worst[0], value
    assert "<th class='text'>host</th>" in work and "<th>clock offset (ms)</th>" in work
    set_by_flag = {"count": 4, "auto": False, "why": "set by the profile (load.workers) or --workers"}
    assert workers_meta(WorkersNote.model_validate(set_by_flag)) == "4 (set by the profile (load.workers) or --workers)"
    assert workers_meta(None) is None


def test_newer_text_is_escaped_everywhere(tmp_path):
    html = render([as_run(rich_run(tmp_path))])
    assert "<script" not in html
    assert html.count("&lt;script&gt;") >= 5  # source, sentence, token check, energy note, host, sources
    parse(html)


class TurnFigures(BaseModel):
    turn: int
    completed: int
    failed: int
    input_len: int
    median_ttft_ms: float | None = None
    p99_ttft_ms: float | None = None
    mean_e2el_ms: float | None = None


class CellWithTurns(CellResult):
    """A cell as the multi-turn branch writes it (CellResult gains `turns` there)."""

    turns: list[TurnFigures] | None = None


def test_turns_are_shown_where_a_cell_has_them(tmp_path):
    base = cell(
        4,
        dataset=DatasetLengths(
            name="multiturn:3",
            input_len_mean=300.0,
            input_len_min=100,
            input_len_max=500,
            output_len_mean=64.0,
            output_len_min=64,
            output_len_max=64,
        ),
    )
    turns = [
        TurnFigures(
            turn=t,
            completed=4,
            failed=0,
            input_len=100 * t + 64 * (t - 1),
            median_ttft_ms=10.0 * t,
            p99_ttft_ms=None,
            mean_e2el_ms=900.0,
        )
        for t in (1, 2, 3)
    ]
    multi = CellWithTurns(**{**base.model_dump(), "turns": turns})  # base has turns=None once CellResult does
    run = load_run(write_run(tmp_path, "mt", CELLS))
    run.cells = [multi]
    html = render([run])
    work = section(html, "Workload")
    assert "<h4>Per turn: c=4 multiturn:3</h4>" in work
    assert "<th>TTFT p50</th><th>TTFT p99</th><th>E2E</th>" in work
    assert (
        "<tr><td class='text'>3</td><td>4</td><td>0</td><td>428</td><td>30.0</td><td>n/a</td><td>900</td></tr>" in work
    )
    parse(html)
