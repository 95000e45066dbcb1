"""Load shapes as one abstraction each (engine/shapes): the rest of the engine asks the registry, a
result names its shape, and a result written before results named theirs is still recognised."""

from __future__ import annotations

import json
import re

import pytest

from engine.compare.cells import describe, key
from engine.grid import Grid
from engine.options.table import FORM, OPTIONS
from engine.plan import Cell, build_plan
from engine.report.model import CellResult
from engine.run.resume import cell_key, result_key
from engine.shapes.ramp import Ramp
from engine.shapes.registry import KINDS, kind_of
from engine.workload import WorkloadForm, visible_fields
from tests.conftest import ROOT

FIGURES = dict(
    duration=1.0,
    completed=4,
    failed=0,
    num_prompts=4,
    total_input_tokens=32,
    total_output_tokens=8,
    request_throughput=4.0,
    output_throughput=8.0,
    total_token_throughput=40.0,
    input_len=8,
    output_len=2,
)


def loop(rate: float, arrival: str = "poisson", cap: int | None = None) -> dict:
    return dict(request_rate=rate, arrival=arrival, burstiness=1.0, seed=0, max_in_flight=cap)


RAMP = dict(strategy="linear", start_rps=1.0, end_rps=8.0, slo_ms={}, first_miss=None, slo_failed_at_rps=None)


@pytest.mark.parametrize(
    ("extra", "axis", "label", "words"),
    [
        ({"max_concurrency": 4}, "concurrency", "c=4", "concurrency 4, 8/2"),
        ({"max_concurrency": 0, "open_loop": loop(2.0)}, "rate", "r=2", "rate 2 req/s, 8/2"),
        ({"max_concurrency": 0, "open_loop": loop(3.5), "ramp": RAMP}, "ramp", "ramp 1-8", "ramp up to 8 req/s, 8/2"),
        ({"max_concurrency": 3, "open_loop": loop(1.7, "trace x2", 3)}, "trace", "r=1.7", "8/2, at most 3 in flight"),
    ],
)
def test_a_schema_2_result_is_recognised_by_its_figures_and_a_new_one_names_its_shape(extra, axis, label, words):
    old = CellResult.model_validate({**FIGURES, **extra})  # summary.json of schema 2: no "shape"
    assert old.shape is None and old.load_shape.axis == axis
    assert old.load_label == label and describe(key(old)) == words
    new = CellResult.model_validate(json.loads(old.model_copy(update={"shape": axis}).model_dump_json()))
    assert new.shape == axis and key(new) == key(old)


def test_a_result_is_keyed_for_resume_as_its_cell_was_planned():
    grid = Grid(concurrency=[1], seq=["8/2"], trace=str(ROOT / "tests" / "data" / "events-0.1.jsonl"))
    (cell,) = build_plan(grid)
    # The trace's result carries its mean rate; its plan cell sits at its cap (none: 0), as the result says.
    result = CellResult.model_validate({**FIGURES, "max_concurrency": 0, "open_loop": loop(1.7, "trace x1")})
    assert cell_key(cell)[0] == result_key(result)[0] == 0.0
    ramp = Cell(0, 0, 8, 2, 4, 0, 0, shape=Ramp("linear", 1.0, 8.0))
    ramped = CellResult.model_validate({**FIGURES, "max_concurrency": 0, "open_loop": loop(3.5), "ramp": RAMP})
    assert cell_key(ramp) == result_key(ramped) == (8.0, "8/2")


def test_each_shape_brings_its_fields_options_and_form_rows():
    fields = set(Grid.model_fields)
    for kind in KINDS:
        assert kind.grid_fields is None or set(kind.grid_fields.model_fields) <= fields
        assert all(o in OPTIONS and o.field in FORM for o in kind.options)
        own = {name for row in kind.form_rows for name in row}
        assert own <= visible_fields(WorkloadForm(shape=kind.name))
    # The grid's own fields come first when a profile is written; the shapes' after them.
    assert list(Grid.model_fields)[:3] == ["name", "concurrency", "seq"]


def test_a_grid_chooses_one_shape_by_its_fields():
    base = dict(concurrency=[1], seq=["8/2"])
    assert kind_of(Grid(**base)).name == "grid"
    assert kind_of(Grid(**base, rates=[2])).name == "rates"
    assert kind_of(Grid(**base, rates=[2], search="rate")).name == "search"
    chosen = Grid(**base, ramp_up_strategy="linear", ramp_up_start_rps=1, ramp_up_end_rps=2)
    assert kind_of(chosen).name == "ramp"


# The ramp's names in code: its types, its profile fields, its result's key and form fields, its flags.
RAMP_NAMES = re.compile(r"\bRamp\w*|ramp_up_|\.ramp\b|[\"']ramp\w*[\"']|--ramp-up")


def test_the_ramp_is_named_only_in_its_own_module_and_the_registry():
    """A new load shape touches its module and the registry's list (outside tests and docs); the
    words "ramp-up" elsewhere (a cell's slots filling, engine/report/steady.py) are not the shape."""
    named = {
        str(p.relative_to(ROOT))
        for top in ("engine", "tui")
        for p in (ROOT / top).rglob("*.py")
        if RAMP_NAMES.search(p.read_text())
    }
    assert named == {"engine/shapes/ramp.py", "engine/shapes/registry.py"}
