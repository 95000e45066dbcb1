"""The workload as form fields (engine.workload): every shape the command line has, parsed by the
engine's parsers, errors named by field, and profile -> form -> profile -> TOML -> form exact."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.headless.cli import OVERRIDES, build_parser, main
from engine.profiles import apply_overrides, load_profile, save_profile
from engine.workload import (
    WorkloadForm,
    apply_form,
    cell_lines,
    form_from_profile,
    plan_summary,
    visible_fields,
    workload_notes,
)


def flags(*argv: str):
    """The profile the headless command line makes of these flags."""
    args = build_parser().parse_args(list(argv))
    typed = {OVERRIDES[k]: v for k, v in vars(args).items() if k in OVERRIDES}
    return apply_overrides(load_profile("cpu-tiny"), **typed)


CLI_WORKLOADS = {
    "grid": ["--concurrency", "1,4", "--seq", "64/64,128/32", "--slo", "ttft:500"],
    "rates": [
        *("--rate", "2,5.5,10", "--arrival", "gamma", "--burstiness", "0.25", "--num-prompts", "40"),
        *("--max-concurrency", "16", "--workers", "3", "--slo", "ttft:500,tpot:50,e2el:10000"),
    ],
    "search-rate": [
        *("--search", "rate", "--slo", "tpot:40", "--percentile", "90", "--search-start", "2.5"),
        *("--arrival", "constant", "--num-prompts", "30"),
    ],
    "search-conc": ["--search", "concurrency", "--slo", "e2el:900", "--percentile", "50"],
    "random": ["--dataset", "random", "--input-len-range", "100:400", "--output-len-range", "50:200"],
    "sharegpt": ["--dataset", "sharegpt:/data/sg.json", "--concurrency", "4,16", "--workers", "2"],
    "jsonl": ["--dataset", "jsonl:prompts.jsonl", "--seq", "1/128"],
    "prefix": ["--dataset", "prefix:512:8", "--seq", "2048/128"],
    "multiturn": ["--dataset", "multiturn:4", "--seq", "128/32", "--concurrency", "2", "--workers", "1"],
    "trace": ["--trace", "mooncake.jsonl", "--speedup", "2", "--max-concurrency", "64", "--num-prompts", "500"],
}


@pytest.mark.parametrize("name", CLI_WORKLOADS)
def test_the_form_expresses_every_command_line_workload_and_a_saved_profile_replays_it(name, tmp_path):
    made = flags(*CLI_WORKLOADS[name])
    form = form_from_profile(made)
    # From the default profile, the form alone gives the command line's workload, field for field.
    again, errors = apply_form(load_profile("cpu-tiny"), form)
    assert not errors
    assert again.grid == made.grid
    assert again.load.slo == made.load.slo and again.load.workers == made.load.workers
    # Saved and loaded, the profile gives back the same form.
    save_profile(again, tmp_path / "p.toml")
    loaded = load_profile(str(tmp_path / "p.toml"))
    assert form_from_profile(loaded) == form
    assert loaded.grid == again.grid and loaded.load == again.load


def test_hidden_fields_keep_the_profile_and_the_shape_clears_the_others():
    rates = flags(*CLI_WORKLOADS["rates"])
    form = replace(form_from_profile(rates), shape="grid", rates="not shown, so not read")
    profile, errors = apply_form(rates, form)
    assert not errors and profile.grid.rates == [] and profile.grid.num_prompts == 40  # inert, kept
    assert "rates" not in visible_fields(form) and "concurrency" in visible_fields(form)
    trace = replace(form_from_profile(flags(*CLI_WORKLOADS["random"])), shape="trace", trace="t.jsonl")
    profile, errors = apply_form(load_profile("cpu-tiny"), trace)
    assert not errors and profile.grid.dataset is None and profile.grid.input_len_range is None


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"shape": "rates", "rates": "2, fast"}, "rates", "Rates (req/s) (--rate): '2, fast' is not a list"),
        ({"shape": "rates", "rates": ""}, "rates", "give request rates above 0"),
        ({"concurrency": "2, eight"}, "concurrency", "Concurrency (--concurrency)"),
        ({"concurrency": "0"}, "concurrency", "every concurrency must be at least 1"),
        ({"seq": "64x64"}, "seq", "is not ISL/OSL"),
        ({"slo": "ttft=500"}, "slo", "SLO (ms) (--slo): SLO 'ttft=500': write METRIC:MS"),
        ({"workers": "0"}, "workers", "workers (--workers)"),
        ({"dataset": "sharegpt"}, "dataset", "sharegpt needs PATH"),
        ({"dataset": "multiturn"}, "dataset", "multiturn needs T[:PATH]"),
        ({"dataset": "prefix", "dataset_arg": "256"}, "dataset", "prefix:256 needs every ISL above 256"),
        ({"dataset": "random"}, "dataset", 'dataset "random" needs input_len_range'),
        ({"dataset": "random", "input_len_range": "9:3"}, "input_len_range", "MIN not above MAX"),
        ({"shape": "trace"}, "trace", "give the trace file's path"),
        ({"shape": "search", "search_start": "0"}, "search_start", "greater than 0"),
    ],
)
def test_a_bad_field_is_named_with_what_to_write(change, field, words):
    base = load_profile("cpu-tiny").model_copy()
    form = replace(form_from_profile(apply_overrides(base, **{"grid.seq": ["64/64"]})), **change)
    profile, errors = apply_form(base, form)
    assert profile is None and field in errors, errors
    assert words in errors[field]


def test_the_plan_in_words():
    assert plan_summary(flags("--concurrency", "1,4", "--seq", "64/64")) == "2 cells: concurrency 1, 4 x ISL/OSL 64/64"
    rates = flags(*CLI_WORKLOADS["rates"])
    assert plan_summary(rates).startswith("6 cells: rates 2, 5.5, 10 req/s (gamma) x ISL/OSL 128/128, 512/32")
    assert "rate 5.5 req/s (gamma, at most 16 in flight)" in cell_lines(rates)[1]
    notes = workload_notes(rates)
    assert "SLO: ttft <= 500 ms, tpot <= 50 ms, e2el <= 10000 ms (goodput per cell)" in notes
    assert "load: 3 worker processes" in notes and "arrivals: gamma, burstiness 0.25" in notes
    assert plan_summary(flags(*CLI_WORKLOADS["search-conc"])).startswith("a search over concurrency")
    assert workload_notes(flags(*CLI_WORKLOADS["sharegpt"]))[0] == "prompts: dataset sharegpt:/data/sg.json"
    assert workload_notes(load_profile("cpu-tiny")) == []  # the default adds nothing to the preview
    assert WorkloadForm().shape == "grid"


def test_the_dry_run_describes_the_workload(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMBENCH_CACHE", str(tmp_path))  # the tiny model must not be built
    argv = ["--rate", "2,5", "--slo", "ttft:500", "--workers", "2", "--dataset", "random", "--input-len-range", "10:20"]
    assert main(["--no-ui", "--dry-run", *argv]) == 0
    out = capsys.readouterr().out
    assert "plan: 4 cells: rates 2, 5 req/s (poisson) x ISL/OSL 128/128, 512/32" in out
    assert "rate 5 req/s (poisson)" in out
    assert "SLO: ttft <= 500 ms (goodput per cell)" in out and "load: 2 worker processes" in out
    assert "prompts: random lengths per request (input 10:20, output from OSL; a seed drawn per run)" in out
