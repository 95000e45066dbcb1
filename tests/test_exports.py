"""The exports behind one interface (engine/share/exports): `report` and `compare` offer every
format; `report`'s CSV, Markdown and JSON hold a cell table per run, `compare`'s the ratios per
pair; a new format is one new file."""

from __future__ import annotations

import csv
import json
import sys

import engine.share.exports as exports_package
from engine.headless.compare import compare_main
from engine.headless.report import build_parser, report_main
from engine.report.model import CLIENT_STARVED, Flag, OpenLoop
from engine.share.exports import exports
from tests.test_compare import cell, write_run

CELLS = [
    cell(1, tput=100.0, e2e=500.0),
    cell(4, tput=300.0, e2e=700.0, flags=[Flag(code=CLIENT_STARVED, reason="client waited 85% of the cell")]),
]


def test_report_writes_a_cell_table_per_run_as_csv_markdown_and_json(tmp_path, capsys):
    a, b = write_run(tmp_path, "A", CELLS), write_run(tmp_path, "B", [cell(1, tput=50.0), cell(4, tput=150.0)])
    cs, md, js = tmp_path / "r.csv", tmp_path / "r.md", tmp_path / "r.json"
    assert report_main([str(a), str(b), "--csv", str(cs), "--md", str(md), "--json", str(js)]) == 0
    assert capsys.readouterr().out.count("wrote ") == 3
    rows = list(csv.DictReader(cs.open()))
    assert [(r["run"], r["max_concurrency"], r["output_throughput"]) for r in rows] == [
        ("A", "1", "100.0"),
        ("A", "4", "300.0"),
        ("B", "1", "50.0"),
        ("B", "4", "150.0"),
    ]
    assert rows[1]["flags"] == CLIENT_STARVED and rows[0]["flags"] == ""
    assert rows[0]["mean_e2el_ms"] == "500.0" and "request_rate" not in rows[0]  # no rate cell: no rate column
    text = md.read_text()
    assert "## A vs B" in text and "2.00x" in text  # the comparison first, as in the HTML report
    assert "## A\n\n| conc | ISL/OSL |" in text and "## B\n" in text
    assert "| 4 | 128/128 |" in text and "! A: " not in text and "! c=4 128/128: client waited 85%" in text
    data = json.loads(js.read_text())
    assert [r["name"] for r in data["runs"]] == ["A", "B"]
    first = data["runs"][0]
    assert first["cells"][1]["output_throughput"] == 300.0 and first["cells"][1]["flags"][0]["code"] == CLIENT_STARVED
    assert {"key": "median_ttft_ms", "label": "TTFT p50"}.items() <= first["metrics"][7].items()
    assert data["comparisons"][0]["cells"][0]["ratios"]["output_throughput"] == 2.0


def test_report_of_a_rate_cell_has_its_rate_columns(tmp_path):
    rate = cell(0, tput=80.0)
    rate.open_loop = OpenLoop(request_rate=2.0, arrival="poisson", burstiness=1.0, seed=0, achieved_rate=1.9)
    cs = tmp_path / "r.csv"
    assert report_main([str(write_run(tmp_path, "A", [rate])), "--csv", str(cs)]) == 0
    row = next(csv.DictReader(cs.open()))
    assert row["request_rate"] == "2.0" and row["achieved_rate"] == "1.9" and row["peak_in_flight"] == ""


def test_compare_writes_the_html_report_and_images_too(tmp_path, capsys):
    a, b = write_run(tmp_path, "A", CELLS), write_run(tmp_path, "B", CELLS)
    html, img = tmp_path / "c.html", tmp_path / "img"
    assert compare_main([str(a), str(b), "--out", str(html), "--svg", str(img)]) == 0
    assert "<h2>Comparison (each run relative to B)</h2>" in html.read_text()
    assert "all-runs-latency.svg" in {p.name for p in img.iterdir()}
    assert f"wrote {html} (" in capsys.readouterr().out


def test_an_export_path_that_cannot_be_written_is_bad_input_before_anything_is_written(tmp_path, capsys):
    a, b = write_run(tmp_path, "A", CELLS), write_run(tmp_path, "B", CELLS)
    fine, bad = tmp_path / "c.csv", tmp_path / "no" / "c.md"
    assert compare_main([str(a), str(b), "--csv", str(fine), "--md", str(bad)]) == 2
    assert f"{bad}: its folder {bad.parent} does not exist" in capsys.readouterr().err
    assert not fine.exists()


FAKE = """
from engine.share.exports.base import write_text


class LineCount:
    name = "lines"
    flag = "--lines"
    metavar = "FILE"
    help = "how many cells"

    def problem(self, path):
        return None

    def write(self, subject, path):
        return write_text(path, str(sum(len(r.cells) for r in subject.runs)))


EXPORT = LineCount()
"""


def test_a_new_export_is_one_new_file(tmp_path, monkeypatch):
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "to_lines.py").write_text(FAKE)
    monkeypatch.setattr(exports_package, "__path__", [*exports_package.__path__, str(folder)])
    try:
        assert "--lines" in [x.flag for x in exports()]
        assert "--lines" in build_parser().format_help()
        out = tmp_path / "n.txt"
        assert report_main([str(write_run(tmp_path, "A", CELLS)), "--lines", str(out)]) == 0
        assert out.read_text() == "2"
    finally:
        sys.modules.pop(f"{exports_package.__name__}.to_lines", None)
