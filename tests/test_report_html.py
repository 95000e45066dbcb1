"""The HTML report and the curve images, without a browser: the document's tags balance, every
inline SVG is well-formed XML, text from files is escaped, flags keep their reasons, a report of
two runs carries the comparison's sentence. (benchmarks/check_report.py renders it in Chromium.)"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from engine.compare.ratios import compare, summary_sentence
from engine.compare.sources import load_run
from engine.headless.report import report_main
from engine.report.curves import series, view
from engine.report.model import CLIENT_STARVED, Flag
from engine.share.html import render
from engine.share.svg import SHAPES, chart, nice_ticks
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
