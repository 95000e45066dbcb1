"""Datasets and trace replay (issue 12, items 4 and 5): each request keeps its own exact lengths.

Builders on small hand-made files; with the tiny model's tokenizer (integration tier) the lengths
are checked per request; on the real tiny vLLM server a trace replay and a random-range cell run
end to end with exact token counts per request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.grid import Grid
from engine.headless.cli import main
from engine.load.datafiles import DatasetError, read_jsonl_prompts, read_sharegpt
from engine.load.datasets import build_items, check_files
from engine.load.prompts import PromptFactory
from engine.load.record import RequestRecord
from engine.load.tokenizer import load_tokenizer
from engine.load.trace import BLOCK_TOKENS, BlockPrompts, offsets, read_trace
from engine.plan import Cell, build_plan
from engine.profiles import ProfileError, apply_overrides, load_profile
from engine.report.metrics import summarize_cell
from engine.report.model import LENGTH_MISMATCH


def write_lines(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def grid(**kw) -> Grid:
    return Grid(concurrency=[2], seq=["64/8"], **kw)


# --- the profile, the plan ------------------------------------------------------------------------


def test_dataset_cells_are_labelled_and_take_lengths_per_request(tmp_path):
    plan = build_plan(grid(dataset="random", input_len_range="10:40", output_len_range="4:9"))
    assert [(c.label, c.input_len, c.output_len, c.dataset) for c in plan] == [("c=2 random 10:40/4:9", 0, 0, "random")]
    # A side without a range keeps the grid's lengths, one series per pair.
    plan = build_plan(Grid(concurrency=[1, 4], seq=["64/8", "128/8"], dataset="random", input_len_range="5:9"))
    assert [c.label for c in plan] == ["c=1 random 5:9/8", "c=4 random 5:9/8"]
    assert [c.label for c in build_plan(grid(dataset="sharegpt:/x.json"))] == ["c=2 sharegpt"]
    assert [c.label for c in build_plan(grid(dataset="jsonl:/x.jsonl"))] == ["c=2 jsonl */8"]
    assert [(c.label, c.input_len) for c in build_plan(grid(dataset="prefix:16:3"))] == [("c=2 prefix16 64/8", 64)]
    # The fixed grid's cells are as they were.
    assert build_plan(grid())[0].to_dict() == {
        **dict(index=0, concurrency=2, input_len=64, output_len=8, num_prompts=20),
        **dict(warmup_requests=2, warmup_output_len=8, rate=None),
    }


def test_a_trace_is_one_open_loop_cell_of_its_rows(tmp_path):
    trace = write_lines(
        tmp_path / "t.jsonl", [{"timestamp": i, "input_length": 8, "output_length": 2} for i in range(5)]
    )
    (cell,) = build_plan(Grid(concurrency=[1, 8], seq=["64/8"], trace=str(trace), speedup=2, max_concurrency=3))
    assert (cell.label, cell.num_prompts, cell.concurrency, cell.open_loop) == ("trace x2", 5, 3, True)
    (cell,) = build_plan(Grid(concurrency=[1], seq=["64/8"], trace=str(trace), num_prompts=2))
    assert cell.num_prompts == 2


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"dataset": "random"}, "needs input_len_range"),
        ({"dataset": "random", "input_len_range": "40:10"}, "MIN not above MAX"),
        ({"dataset": "random", "input_len_range": "10-40"}, "not a length range MIN:MAX"),
        ({"dataset": "jsonl"}, "needs a local file: jsonl:PATH"),
        ({"dataset": "prefix:128"}, "needs every ISL above 128"),
        ({"dataset": "prefix:x"}, "prefix:P"),
        ({"dataset": "multiturn:1"}, "multiturn:T, T the turns per conversation"),
        ({"dataset": "alpaca:x"}, "one of random, sharegpt:PATH"),
        ({"input_len_range": "1:4"}, 'apply to dataset = "random" only'),
        ({"trace": "t.jsonl", "dataset": "random", "input_len_range": "1:4"}, "either a trace or a dataset"),
        ({"trace": "t.jsonl", "rates": [2.0]}, "brings its own send times"),
        ({"trace": "t.jsonl", "search": "concurrency"}, "would replay the same trace at every probe"),
        ({"speedup": 2.0}, "speedup applies to a trace"),
        ({"trace": "t.jsonl", "speedup": 0}, "greater than 0"),
    ],
)
def test_bad_workload_settings_say_what_is_wrong(fields, message):
    with pytest.raises(ProfileError, match=message):
        apply_overrides(load_profile("cpu-tiny"), **{f"grid.{k}": v for k, v in fields.items()})


# --- files: what is wrong, where ------------------------------------------------------------------


def test_bad_files_name_the_file_line_and_field(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(DatasetError, match=f"{missing}: no such file"):
        read_trace(str(missing))
    t = write_lines(tmp_path / "t.jsonl", [{"timestamp": 0, "input_length": 4, "output_length": 2}, "{oops"])
    with pytest.raises(DatasetError, match=rf"{t}:2: not valid JSON"):
        read_trace(str(t))
    write_lines(t, [{"timestamp": 0, "input_length": 4, "output_length": 2}, {"timestamp": 5, "input_length": 4}])
    with pytest.raises(DatasetError, match=rf"{t}:2: field 'output_length' is missing"):
        read_trace(str(t))
    write_lines(t, [{"timestamp": 0, "input_length": 0, "output_length": 2}])
    with pytest.raises(DatasetError, match=rf"{t}:1: field 'input_length' must be a whole number of at least 1"):
        read_trace(str(t))
    write_lines(t, [{"input_length": 3, "output_length": 2}])
    with pytest.raises(DatasetError, match=rf"{t}:1: field 'timestamp' is missing"):
        read_trace(str(t))
    write_lines(t, [{"timestamp": 1, "input_length": 3, "output_length": 2, "hash_ids": ["a"]}])
    with pytest.raises(DatasetError, match=rf"{t}:1: field 'hash_ids' must be a list"):
        read_trace(str(t))
    j = write_lines(tmp_path / "p.jsonl", [{"prompt": "hello"}, {"text": "no prompt"}])
    with pytest.raises(DatasetError, match=rf"{j}:2: field 'prompt' is missing"):
        read_jsonl_prompts(str(j))
    write_lines(j, [{"prompt": "hello", "output_len": "many"}])
    with pytest.raises(DatasetError, match=rf"{j}:1: field 'output_len' must be a whole number"):
        read_jsonl_prompts(str(j))
    s = tmp_path / "sg.json"
    s.write_text('[{"conversations": []},\n {"conversations": [}]')
    with pytest.raises(DatasetError, match=rf"{s}:2: not valid JSON"):
        read_sharegpt(str(s))
    s.write_text(json.dumps([{"id": 1}]))
    with pytest.raises(DatasetError, match=rf"{s}: entry 0: field 'conversations' is missing"):
        read_sharegpt(str(s))
    s.write_text(json.dumps([{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt"}]}]))
    with pytest.raises(DatasetError, match=r"entry 0: conversations\[1\]: field 'value' is missing"):
        read_sharegpt(str(s))


def test_a_bad_dataset_file_is_exit_2_before_anything_starts(tmp_path, capsys):
    bad = write_lines(tmp_path / "p.jsonl", [{"prompt": "fine"}, "[1, 2]"])
    code = main(["--no-ui", "--dataset", f"jsonl:{bad}", "--results", str(tmp_path / "r")])
    assert code == 2
    assert f"{bad}:2: each line must be a JSON object, not list" in capsys.readouterr().err
    code = main(["--no-ui", "--trace", str(tmp_path / "none.jsonl"), "--results", str(tmp_path / "r")])
    assert code == 2 and "none.jsonl: no such file" in capsys.readouterr().err
    assert not list((tmp_path / "r").iterdir())  # no run was started
    assert main(["--no-ui", "--dry-run", "--dataset", f"sharegpt:{tmp_path / 'sg.json'}"]) == 2
    assert "sg.json: no such file" in capsys.readouterr().err


# --- traces: send times and shared blocks ---------------------------------------------------------


def test_trace_offsets_start_at_zero_and_divide_by_the_speedup(tmp_path):
    rows = [
        {"timestamp": 3000, "input_length": 5, "output_length": 2},
        {"timestamp": 1000, "input_length": 6, "output_length": 3},  # out of order: sent in timestamp order
        {"timestamp": 1500, "input_length": 7, "output_length": 4},
    ]
    trace = read_trace(str(write_lines(tmp_path / "t.jsonl", rows)))
    assert [r.line for r in trace] == [2, 3, 1]
    assert offsets(trace) == [0.0, 0.5, 2.0]
    assert offsets(trace, 4.0) == [0.0, 0.125, 0.5]
    assert [r.line for r in read_trace(str(tmp_path / "t.jsonl"), limit=2)] == [2, 3]


def test_shared_hash_ids_give_identical_blocks():
    vocab = list(range(10, 5000))
    blocks = BlockPrompts(vocab, seed=1)
    rows = read_rows([([1, 2, 3], 1200), ([1, 2, 9], 1400), ([4], 600), ([1], 100)])
    a, b, c, d = (blocks.token_ids(r) for r in rows)
    assert [len(x) for x in (a, b, c, d)] == [1200, 1400, 600, 100]
    assert a[: 2 * BLOCK_TOKENS] == b[: 2 * BLOCK_TOKENS]  # hash ids 1 and 2 shared
    assert a[2 * BLOCK_TOKENS :] != b[2 * BLOCK_TOKENS : 1200]  # 3 and 9 differ
    assert c[:BLOCK_TOKENS] != a[:BLOCK_TOKENS]
    assert d == a[:100]  # a block cut to the input length
    assert c[BLOCK_TOKENS:] != BlockPrompts(vocab, seed=1).token_ids(rows[0])[BLOCK_TOKENS:600]  # own tail
    assert BlockPrompts(vocab, seed=1).token_ids(rows[1]) == b  # the same run seed: the same prompt
    assert BlockPrompts(vocab, seed=2).token_ids(rows[1]) != b


def read_rows(spec):
    from engine.load.trace import TraceRow

    return [
        TraceRow(line=i + 1, timestamp_ms=i, input_length=n, output_length=1, hash_ids=h)
        for i, (h, n) in enumerate(spec)
    ]


# --- per-request length checks ---------------------------------------------------------------------


def record(i: int, input_len: int, output_len: int, got_in: int, got_out: int) -> RequestRecord:
    return RequestRecord(
        cell=0, index=i, concurrency=1, input_len=input_len, output_len=output_len, ok=True,
        ttft=0.01, e2el=0.1, prompt_tokens=got_in, output_tokens=got_out, chunk_gaps=[0.01], chunk_tokens=[1],
    )  # fmt: skip


def test_each_request_is_checked_against_its_own_lengths():
    cell = Cell(0, 1, 0, 0, 3, 0, 0, dataset="random", seq="random 5:9/2:4")
    ok = [record(0, 5, 2, 5, 2), record(1, 9, 4, 9, 4), record(2, 7, 3, 7, 3)]
    result = summarize_cell(cell, ok, 1.0, 1)
    assert (result.input_len_mismatches, result.output_len_mismatches, result.flags) == (0, 0, [])
    d = result.dataset
    assert (d.name, d.input_len_min, d.input_len_max, d.output_len_min, d.output_len_max) == (
        "random 5:9/2:4",
        5,
        9,
        2,
        4,
    )
    assert d.input_len_mean == 7 and d.output_len_mean == 3 and result.seq == "random 5:9/2:4"
    bad = [record(0, 5, 2, 6, 2), record(1, 9, 4, 9, 3)]
    result = summarize_cell(cell, bad, 1.0, 1)
    assert (result.input_len_mismatches, result.output_len_mismatches) == (1, 1)
    assert [f.reason for f in result.flags if f.code == LENGTH_MISMATCH] == [
        "1 requests did not get their own output length"
    ]
    # The fixed grid: the cell's lengths, as before.
    fixed = summarize_cell(Cell(0, 1, 5, 2, 1, 0, 0), [record(0, 5, 2, 5, 1)], 1.0, 1)
    assert fixed.dataset is None and fixed.seq == "5/2"
    assert [f.reason for f in fixed.flags] == ["1 requests did not get exactly 2 output tokens"]


# --- builders with the tiny model's tokenizer (integration tier) ----------------------------------


@pytest.fixture(scope="module")
def factory(tiny_model) -> PromptFactory:
    return PromptFactory(load_tokenizer(str(tiny_model)), seed=0)


def cell_of(g: Grid, index: int = 0) -> Cell:
    return build_plan(g)[index]


def test_random_lengths_are_seeded_in_range_and_exact(factory):
    g = grid(dataset="random", input_len_range="10:40", output_len_range="4:9")
    items, notes = build_items(g, cell_of(g), factory, "token_ids", 50, seed=3)
    assert notes == [] and len(items) == 50
    assert all(10 <= it.input_len <= 40 and 4 <= it.output_len <= 9 for it in items)
    assert all(len(it.prompt.token_ids) == it.input_len == it.prompt.expected_len for it in items)
    assert len({it.input_len for it in items}) > 10  # lengths spread over the range
    again, _ = build_items(g, cell_of(g), factory, "token_ids", 50, seed=3)
    assert [(a.input_len, a.output_len, a.prompt.token_ids) for a in again] == [
        (a.input_len, a.output_len, a.prompt.token_ids) for a in items
    ]
    other, _ = build_items(g, cell_of(g), factory, "token_ids", 50, seed=4)
    assert [a.input_len for a in other] != [a.input_len for a in items]
    # Over the server's max_model_len: skipped and said.
    kept, notes = build_items(g, cell_of(g), factory, "token_ids", 50, seed=3, max_model_len=30)
    assert all(it.input_len + it.output_len <= 30 for it in kept) and 0 < len(kept) < 50
    assert "requests skipped, longer than the server's max_model_len 30 (first: request" in notes[0]


def test_jsonl_prompts_are_retokenised_to_their_exact_ids(factory, tmp_path):
    tok = factory.tokenizer
    texts = ["the quick brown fox", "hello world, again and again", "a"]
    path = write_lines(
        tmp_path / "p.jsonl",
        [{"prompt": texts[0], "output_len": 5}, {"prompt": texts[1]}, {"prompt": texts[2], "output_len": 2}],
    )
    g = grid(dataset=f"jsonl:{path}")
    items, notes = build_items(g, cell_of(g), factory, "token_ids", 5)
    ids = [tok.encode(t, add_special_tokens=False) for t in texts]
    assert [it.prompt.token_ids for it in items] == [ids[0], ids[1], ids[2], ids[0], ids[1]]  # in order, cycled
    assert [it.input_len for it in items] == [len(ids[i]) for i in (0, 1, 2, 0, 1)]
    assert [it.output_len for it in items] == [5, 8, 2, 5, 8]  # 8: the cell's OSL
    assert [it.where for it in items[:3]] == [f"{path}:1", f"{path}:2", f"{path}:3"]
    assert notes == [
        "cell c=2 jsonl */8: 5 requests from 3 usable jsonl entries: each used up to 2 times "
        "(a prefix cache sees the repeats)"
    ]
    # As text (servers without token-id prompts): the text, its length as our tokenizer counts it.
    items, _ = build_items(g, cell_of(g), factory, "text", 2)
    assert [(it.prompt.text, it.input_len) for it in items] == [(texts[0], len(ids[0])), (texts[1], len(ids[1]))]
    # Warm-up: the same lengths, other tokens, a short output.
    warm, _ = build_items(g, cell_of(g), factory, "token_ids", 2, salt=10**6, warmup_output_len=3)
    assert [(w.input_len, w.output_len) for w in warm] == [(len(ids[0]), 3), (len(ids[1]), 3)]
    assert warm[0].prompt.token_ids != ids[0]


def test_only_notes_of_requests_left_out_go_to_the_runs_skipped_list(factory, tmp_path):
    long_prompt = "word " * 200
    path = write_lines(tmp_path / "p.jsonl", [{"prompt": "short one"}, {"prompt": long_prompt}])
    g = grid(dataset=f"jsonl:{path}")
    _, notes = build_items(g, cell_of(g), factory, "token_ids", 3, max_model_len=100)
    assert [(n.split(": ", 2)[1].split(",")[0], n.skips) for n in notes] == [
        ("1 jsonl entries skipped", True),  # too long for the server
        ("3 requests from 1 usable jsonl entries", False),  # cycled: every request is still sent
    ]


def test_sharegpt_takes_the_first_turn_and_the_answers_length(factory, tmp_path):
    tok = factory.tokenizer
    convs = [
        {
            "conversations": [
                {"from": "human", "value": f"question number {i}"},
                {"from": "gpt", "value": "an answer " * (i + 1)},
            ]
        }
        for i in range(4)
    ] + [
        {"conversations": [{"from": "human", "value": "alone"}]},
        {"conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": ""}]},
    ]
    path = tmp_path / "sg.json"
    path.write_text(json.dumps(convs))
    g = grid(dataset=f"sharegpt:{path}")
    items, notes = build_items(g, cell_of(g), factory, "token_ids", 4, seed=0)
    for it in items:
        i = int(it.where.rsplit(" ", 1)[1])
        assert it.prompt.token_ids == tok.encode(f"question number {i}", add_special_tokens=False)
        assert it.output_len == len(tok.encode("an answer " * (i + 1), add_special_tokens=False))
        assert it.input_len == len(it.prompt.token_ids)
    assert sorted(it.where for it in items) == [f"{path} entry {i}" for i in range(4)]  # shuffled, each once
    assert notes == [
        "cell c=2 sharegpt: 1 sharegpt entries skipped: an empty prompt or answer; "
        "1 conversations of one turn passed over"
    ]


def test_prefix_groups_share_exactly_p_tokens(factory):
    g = grid(dataset="prefix:16:3")
    items, _ = build_items(g, cell_of(g), factory, "token_ids", 7)
    ids = [it.prompt.token_ids for it in items]
    assert all(len(x) == 64 == it.input_len and it.output_len == 8 for x, it in zip(ids, items))
    assert ids[0][:16] == ids[1][:16] == ids[2][:16] != ids[3][:16]
    assert ids[3][:16] == ids[5][:16] != ids[6][:16]
    assert len({tuple(x[16:]) for x in ids}) == 7  # every suffix its own


def test_a_trace_builds_exact_prompts_and_send_times(factory, tmp_path):
    rows = [
        {"timestamp": 0, "input_length": 700, "output_length": 3, "hash_ids": [7, 8]},
        {"timestamp": 250, "input_length": 600, "output_length": 5, "hash_ids": [7, 9]},
        {"timestamp": 1000, "input_length": 4000, "output_length": 6},
    ]
    path = write_lines(tmp_path / "t.jsonl", rows)
    g = Grid(concurrency=[1], seq=["64/8"], trace=str(path), speedup=2.0)
    items, notes = build_items(g, cell_of(g), factory, "token_ids", 10, max_model_len=2048)
    assert [(it.input_len, it.output_len, it.planned_s) for it in items] == [(700, 3, 0.0), (600, 5, 0.125)]
    assert [len(it.prompt.token_ids) for it in items] == [700, 600]
    assert items[0].prompt.token_ids[:BLOCK_TOKENS] == items[1].prompt.token_ids[:BLOCK_TOKENS]
    assert items[0].prompt.token_ids[BLOCK_TOKENS:600] != items[1].prompt.token_ids[BLOCK_TOKENS:]
    assert notes == [
        f"cell trace x2: 1 of 3 requests skipped, longer than the server's max_model_len 2048 "
        f"(first: {path}:3, 4000+6 tokens)"
    ]
    check_files(g)  # a good file passes the check before the run


def test_as_text_trace_and_prefix_prompts_record_the_length_they_re_encode_to(factory, tmp_path):
    """Random ids decoded to text re-encode to another length: the record holds what was sent."""
    path = write_lines(tmp_path / "t.jsonl", [{"timestamp": 0, "input_length": 600, "output_length": 3}])
    for g in (Grid(concurrency=[1], seq=["64/8"], trace=str(path)), grid(dataset="prefix:16:3")):
        items, _ = build_items(g, cell_of(g), factory, "text", 3)
        assert items and all(it.input_len == factory.count(it.prompt.text) for it in items)


# --- end to end on the real tiny vLLM server ------------------------------------------------------


def requests_of(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "requests.jsonl").read_text().splitlines()]


async def test_a_trace_replays_on_vllm_with_exact_counts(vllm_server, tmp_path):
    from engine.run.session import RunSession

    rows = [
        {"timestamp": 0, "input_length": 600, "output_length": 4, "hash_ids": [1, 2]},
        {"timestamp": 400, "input_length": 530, "output_length": 9, "hash_ids": [1, 3]},
        {"timestamp": 900, "input_length": 40, "output_length": 12},
        {"timestamp": 1500, "input_length": 300, "output_length": 7, "hash_ids": [4]},
        {"timestamp": 2000, "input_length": 128, "output_length": 5},
        {"timestamp": 2400, "input_length": 9000, "output_length": 5},  # over max_model_len: skipped, said
    ]
    trace = write_lines(tmp_path / "trace.jsonl", rows)
    profile = apply_overrides(
        load_profile("cpu-tiny"),
        **{"mode": "external", "endpoint": vllm_server.base_url, "grid.trace": str(trace), "grid.speedup": 2.0},
    )
    outcome = await RunSession(profile, lambda e: None, tmp_path / "runs").run()
    assert outcome.exit_code == 0, outcome.error
    (cell,) = outcome.cells
    assert (cell.completed, cell.failed, cell.input_len_mismatches, cell.output_len_mismatches) == (5, 0, 0, 0)
    assert cell.total_input_tokens == 600 + 530 + 40 + 300 + 128 and cell.total_output_tokens == 4 + 9 + 12 + 7 + 5
    assert cell.dataset.source == str(trace) and (cell.dataset.input_len_min, cell.dataset.input_len_max) == (40, 600)
    assert cell.open_loop.arrival == "trace x2" and cell.open_loop.achieved_rate > 0
    measured = [r for r in requests_of(outcome.results_dir) if not r["warmup"]]
    assert sorted((r["input_len"], r["output_len"], r["planned_s"]) for r in measured) == [
        (40, 12, 0.45), (128, 5, 1.0), (300, 7, 0.75), (530, 9, 0.2), (600, 4, 0.0)
    ]  # fmt: skip
    assert all(r["prompt_tokens"] == r["input_len"] and r["output_tokens"] == r["output_len"] for r in measured)
    summary = json.loads((outcome.results_dir / "summary.json").read_text())
    assert any("max_model_len" in s and f"{trace}:6" in s for s in summary["skipped"])


async def test_a_random_range_cell_on_vllm_keeps_each_requests_lengths(vllm_server, tmp_path):
    from engine.run.session import RunSession

    profile = apply_overrides(
        load_profile("cpu-tiny"),
        **{
            "mode": "external",
            "endpoint": vllm_server.base_url,
            "grid.concurrency": [4],
            "grid.prompts_per_concurrency": 3,
            "grid.dataset": "random",
            "grid.input_len_range": "16:200",
            "grid.output_len_range": "2:24",
        },
    )
    outcome = await RunSession(profile, lambda e: None, tmp_path).run()
    assert outcome.exit_code == 0, outcome.error
    (cell,) = outcome.cells
    assert cell.label == "c=4 random 16:200/2:24" and cell.completed == 12 and cell.failed == 0
    # Client health may flag this shared host's cells; the lengths must not be.
    assert (cell.input_len_mismatches, cell.output_len_mismatches) == (0, 0)
    assert LENGTH_MISMATCH not in cell.flag_codes()
    measured = [r for r in requests_of(outcome.results_dir) if not r["warmup"]]
    assert len({r["input_len"] for r in measured}) > 3 and len({r["output_len"] for r in measured}) > 3
    assert all(16 <= r["input_len"] <= 200 and 2 <= r["output_len"] <= 24 for r in measured)
    assert all(r["prompt_tokens"] == r["input_len"] and r["output_tokens"] == r["output_len"] for r in measured)
    assert cell.total_output_tokens == sum(r["output_len"] for r in measured)
    d = cell.dataset
    assert (d.input_len_min, d.input_len_max) == (
        min(r["input_len"] for r in measured),
        max(r["input_len"] for r in measured),
    )
    assert d.output_len_mean == pytest.approx(sum(r["output_len"] for r in measured) / 12)


def test_a_saved_profile_replays_the_workload(tmp_path):
    from engine.profiles import save_profile

    for fields in (
        {"grid.trace": str(tmp_path / "t.jsonl"), "grid.speedup": 2.0, "grid.max_concurrency": 8},
        {"grid.dataset": "random", "grid.input_len_range": "10:20", "grid.rates": [2.0]},
        {"grid.dataset": "prefix:32:4"},
    ):
        profile = apply_overrides(load_profile("cpu-tiny"), **fields)
        save_profile(profile, tmp_path / "profile.toml")
        again = load_profile(str(tmp_path / "profile.toml"))
        assert again.grid == profile.grid and build_plan(again.grid) == build_plan(profile.grid)
    # The fixed grid's saved profile names none of it.
    save_profile(load_profile("cpu-tiny"), tmp_path / "profile.toml")
    text = (tmp_path / "profile.toml").read_text()
    assert not any(k in text for k in ("dataset", "trace", "speedup", "len_range"))


def test_a_finished_trace_cell_is_known_again_on_resume(tmp_path):
    """Its result carries the trace's mean rate; its planned cell has none: both key by the cap."""
    from engine.report.model import CellResult, DatasetLengths, OpenLoop
    from engine.run.resume import cell_key, result_key

    trace = write_lines(
        tmp_path / "t.jsonl", [{"timestamp": i, "input_length": 8, "output_length": 2} for i in range(5)]
    )
    for cap in (None, 3):
        (cell,) = build_plan(Grid(concurrency=[1], seq=["64/8"], trace=str(trace), max_concurrency=cap))
        lengths = dict(input_len_mean=8, input_len_min=8, input_len_max=8, output_len_mean=2, output_len_min=2)
        done = CellResult(
            **dict(duration=4, completed=5, failed=0, num_prompts=5, max_concurrency=cap or 0, total_input_tokens=40),
            **dict(total_output_tokens=10, request_throughput=1, output_throughput=2, total_token_throughput=12),
            input_len=0,
            output_len=0,
            dataset=DatasetLengths(name=cell.seq, output_len_max=2, **lengths),
            open_loop=OpenLoop(request_rate=1.0, arrival="trace x1", burstiness=1, seed=0, max_in_flight=cap),
        )
        assert result_key(done) == cell_key(cell)
