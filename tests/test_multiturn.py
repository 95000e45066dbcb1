"""Multi-turn conversations: the plan, the refusals, each turn's prompt built from the real answers,
and one short run on the real tiny vLLM with exact counts."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from engine.grid import Grid
from engine.load.client import CellLoad, HttpTarget, PhaseSend, PreparedRequest, new_session
from engine.load.conversations import run_conversations
from engine.load.record import RequestRecord
from engine.plan import build_plan
from engine.profiles import apply_overrides, load_profile
from engine.server.launcher import NotSupportedError, check_mode
from tests.fake_openai import FakeConfig, FakeServer


def grid(**kw) -> Grid:
    return Grid(**{"concurrency": [2], "seq": ["16/4"], "dataset": "multiturn:3", **kw})


def test_a_multiturn_cell_holds_whole_conversations_and_knows_its_longest_turn():
    (cell,) = build_plan(grid(prompts_per_concurrency=5))
    assert cell.label == "c=2 multiturn3 16/4" and (cell.turns, cell.turn_len, cell.input_len) == (3, 16, 0)
    assert cell.num_prompts == 12  # 10 requests rounded up to 4 conversations of 3 turns
    assert cell.longest_request == 3 * (16 + 4)
    (wide,) = build_plan(grid(concurrency=[8], prompts_per_concurrency=1))
    assert wide.num_prompts == 8 * 3  # a conversation for each of the 8 slots
    (rate_cell,) = build_plan(grid(rates=[2.0], num_prompts=7))
    assert rate_cell.label == "r=2 multiturn3 16/4" and rate_cell.num_prompts == 9  # requests, rounded up
    (by_default,) = build_plan(grid(rates=[2.0]))
    assert by_default.num_prompts == 40 * 3  # about 20 s of conversation starts, each of 3 turns
    # The fixed grid's saved plan names none of it.
    assert "turns" not in build_plan(Grid(concurrency=[1], seq=["8/8"]))[0].to_dict()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("multiturn:1", "T the turns per conversation"),
        ("multiturn", "multiturn:T"),
        ("multiturn:x", "at least 2"),
        ("multiturn:3:", "multiturn:T:PATH, the first T exchanges"),
    ],
)
def test_bad_multiturn_specs_say_what_is_wrong(spec, message):
    with pytest.raises(ValueError, match=message):
        grid(dataset=spec)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"load.workers": 2}, "use --workers 1"),
        ({"load.api": "chat"}, "text prompts"),
        ({"load.prompt": "text"}, "text prompts"),
    ],
)
def test_what_multiturn_cannot_run_with_is_refused_before_launch(fields, message):
    profile = apply_overrides(load_profile("cpu-tiny"), **{"grid.dataset": "multiturn:3", **fields})
    with pytest.raises(NotSupportedError, match=message):
        check_mode(profile)


def turns(conversations: int, n_turns: int = 3, user: int = 5, answer: int = 4) -> list[PreparedRequest]:
    """Requests conversation by conversation, turn by turn, as the runner prepares them."""
    out = []
    for c in range(conversations):
        for t in range(1, n_turns + 1):
            ids = [100 * c + 10 * t + j for j in range(user)]  # each user turn's own tokens
            length = t * user + (t - 1) * answer
            out.append(PreparedRequest(ids, length, length, answer, conversation=c, turn=t))
    return out


async def drive(server, requests, concurrency=2, starts=None) -> list[RequestRecord]:
    from engine.plan import Cell

    cell = Cell(0, concurrency, 0, 4, len(requests), 0, 0, dataset="multiturn", turns=3, turn_len=5)
    records: list[RequestRecord] = []
    async with new_session(8) as session:
        await run_conversations(
            HttpTarget(session, server.url, "completions", "fake-model"),
            cell,
            requests,
            PhaseSend(output_len=0, warmup=False, on_record=records.append, load=CellLoad(total=len(requests))),
            starts=starts,
        )
    return records


async def test_each_turn_carries_the_earlier_turns_and_their_actual_answers():
    cfg = FakeConfig(token_delay_s=0.01)
    async with FakeServer(cfg) as server:
        records = await drive(server, turns(3))
    assert len(records) == 9 and all(r.ok for r in records)
    assert cfg.max_streams <= 2  # a conversation holds one slot: never more than C in flight
    answer = [1000, 1001, 1002, 1003]  # what the fake server generates
    for c in range(3):
        sent = [b["prompt"] for b in cfg.requests if b["prompt"][0] == 100 * c + 10]
        user = [[100 * c + 10 * t + j for j in range(5)] for t in (1, 2, 3)]
        assert sent == [user[0], user[0] + answer + user[1], user[0] + answer + user[1] + answer + user[2]]
    assert all(b["return_token_ids"] is True for b in cfg.requests)
    for r in records:  # exact lengths, as the server counted them
        assert r.prompt_tokens == r.input_len == r.turn * 5 + (r.turn - 1) * 4 and r.output_tokens == 4
    by_conv = {}
    for r in records:
        by_conv.setdefault(r.conversation, []).append(r)
    for rs in by_conv.values():  # turn k+1 went out only after turn k's last token
        assert [r.turn for r in rs] == [1, 2, 3]
        for a, b in itertools.pairwise(rs):
            assert b.start_time >= a.start_time + a.e2el - 1e-3
    line = json.loads(records[4].to_json())
    assert (line["conversation"], line["turn"]) == (records[4].conversation, records[4].turn)
    assert "output_ids" not in line


async def test_a_failed_turn_ends_its_conversation_and_its_later_turns_are_counted_failed():
    def fail_second_turn_of_conversation_1(body, _n):
        return 500 if body["prompt"][0] == 110 and len(body["prompt"]) > 5 else None

    async with FakeServer(FakeConfig(fail_when=fail_second_turn_of_conversation_1)) as server:
        records = await drive(server, turns(2))
    assert len(records) == 6
    failed = sorted((r.conversation, r.turn) for r in records if not r.ok)
    assert failed == [(1, 2), (1, 3)]
    (never_sent,) = [r for r in records if r.turn == 3 and not r.ok]
    assert "not sent: turn 2 of conversation 1 failed" in never_sent.error


async def test_a_server_that_ignores_return_token_ids_is_named():
    async with FakeServer(FakeConfig(return_token_ids=False)) as server:
        records = await drive(server, turns(1))
    assert [r.ok for r in records] == [True, False, False]
    assert "ignores return_token_ids" in records[1].error


async def test_a_rate_schedules_conversation_starts_and_the_later_turns_follow_their_answers():
    async with FakeServer(FakeConfig(token_delay_s=0.01)) as server:
        records = await drive(server, turns(3), starts=[0.0, 0.2, 0.4])
    assert len(records) == 9 and all(r.ok for r in records)
    firsts = sorted((r for r in records if r.turn == 1), key=lambda r: r.conversation)
    assert [r.planned_s for r in firsts] == [0.0, 0.2, 0.4] and all(r.sent_s >= r.planned_s for r in firsts)
    assert all(r.planned_s is None for r in records if r.turn > 1)


# --- conversations from a ShareGPT file ---------------------------------------------------------


def sharegpt_file(path: Path, conversations: int = 3, messages: int = 6) -> Path:
    convs = [
        {
            "conversations": [
                {
                    "from": "human" if j % 2 == 0 else "gpt",
                    "value": f"question {i} {j}" if j % 2 == 0 else "ok " * (i + j),
                }
                for j in range(messages)
            ]
        }
        for i in range(conversations)
    ]
    convs.append({"conversations": [{"from": "human", "value": "too short"}, {"from": "gpt", "value": "yes"}]})
    path.write_text(json.dumps(convs))
    return path


def test_a_sharegpt_multiturn_cell_is_one_per_load_level(tmp_path):
    g = grid(dataset=f"multiturn:3:{sharegpt_file(tmp_path / 'sg.json')}", seq=["16/4", "32/8"])
    (cell,) = build_plan(g)
    assert cell.label == "c=2 multiturn3 sharegpt" and (cell.turns, cell.input_len, cell.output_len) == (3, 0, 0)
    assert g.multiturn_file() == str(tmp_path / "sg.json") and grid().multiturn_file() is None


def test_a_files_turns_are_its_messages_tokenised_and_each_answers_length(tiny_model, tmp_path):
    from engine.load.datasets import build_items
    from engine.load.prompts import PromptFactory
    from engine.load.tokenizer import load_tokenizer

    factory = PromptFactory(load_tokenizer(str(tiny_model)))
    tok = factory.tokenizer
    path = sharegpt_file(tmp_path / "sg.json")
    g = grid(dataset=f"multiturn:3:{path}")
    (cell,) = build_plan(g)
    items, notes = build_items(g, cell, factory, "token_ids", 6, seed=1)
    assert len(items) == 6 and [it.turn for it in items] == [1, 2, 3, 1, 2, 3]
    assert notes == [
        "cell c=2 multiturn3 sharegpt: 0 conversations with an empty message and 1 with under 3 exchanges passed over"
    ]
    for conv in (items[:3], items[3:]):
        entry = int(conv[0].where.split(" entry ")[1].split()[0])
        user = [tok.encode(f"question {entry} {j}", add_special_tokens=False) for j in (0, 2, 4)]
        answers = [len(tok.encode("ok " * (entry + j), add_special_tokens=False)) for j in (1, 3, 5)]
        assert [it.prompt.token_ids for it in conv] == user
        assert [it.output_len for it in conv] == answers
        assert [it.input_len for it in conv] == [
            len(user[0]),
            len(user[0]) + answers[0] + len(user[1]),
            len(user[0]) + answers[0] + len(user[1]) + answers[1] + len(user[2]),
        ]
    # A conversation whose last turn does not fit the server is passed over, said.
    _, notes = build_items(g, cell, factory, "token_ids", 6, seed=1, max_model_len=40)
    assert "conversations skipped, their last turn longer than the server's max_model_len" in notes[0]


async def test_a_files_conversations_run_end_to_end_with_exact_lengths(tiny_model, tmp_path):
    from engine.run.session import RunSession

    cfg = FakeConfig()
    async with FakeServer(cfg) as server:
        profile = apply_overrides(
            load_profile("cpu-tiny"),
            **{
                "mode": "external",
                "endpoint": server.url,
                "model.tokenizer": str(tiny_model),
                "grid.concurrency": [2],
                "grid.prompts_per_concurrency": 3,
                "grid.min_prompts": 0,
                "grid.warmup_requests": 0,
                "grid.dataset": f"multiturn:3:{sharegpt_file(tmp_path / 'sg.json')}",
            },
        )
        outcome = await RunSession(profile, lambda e: None, tmp_path / "runs").run()
    assert outcome.exit_code == 0, outcome.error
    (cell,) = outcome.cells
    assert (cell.completed, cell.input_len_mismatches, cell.output_len_mismatches) == (6, 0, 0)
    assert cell.dataset.source == str(tmp_path / "sg.json") and [t.turn for t in cell.turns] == [1, 2, 3]
    measured = requests_of(outcome.results_dir)
    assert all(r["prompt_tokens"] == r["input_len"] and r["output_tokens"] == r["output_len"] for r in measured)
    # Turn 3 carries turn 1 and 2's user tokens and the answers the server gave (ids from 1000 on).
    third = [b["prompt"] for b in cfg.requests if b["prompt"].count(1000) == 2]
    assert len(third) == 2


# --- end to end -------------------------------------------------------------------------------


def requests_of(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "requests.jsonl").read_text().splitlines()]


async def test_multiturn_on_vllm_has_exact_lengths_per_turn(vllm_server, tmp_path):
    from engine.run.session import RunSession

    profile = apply_overrides(
        load_profile("cpu-tiny"),
        **{
            "mode": "external",
            "endpoint": vllm_server.base_url,
            "grid.concurrency": [2],
            "grid.seq": ["40/8"],
            "grid.prompts_per_concurrency": 3,
            "grid.min_prompts": 0,
            "grid.dataset": "multiturn:3",
        },
    )
    outcome = await RunSession(profile, lambda e: None, tmp_path).run()
    assert outcome.exit_code == 0, outcome.error
    (cell,) = outcome.cells
    assert cell.label == "c=2 multiturn3 40/8" and (cell.completed, cell.failed) == (6, 0)
    assert (cell.input_len_mismatches, cell.output_len_mismatches) == (0, 0)
    assert cell.total_input_tokens == 2 * (40 + 88 + 136) and cell.total_output_tokens == 6 * 8
    assert [(t.turn, t.input_len, t.completed) for t in cell.turns] == [(1, 40, 2), (2, 88, 2), (3, 136, 2)]
    measured = [r for r in requests_of(outcome.results_dir) if not r["warmup"]]
    assert sorted((r["conversation"], r["turn"], r["input_len"]) for r in measured) == [
        (c, t, 40 * t + 8 * (t - 1)) for c in (0, 1) for t in (1, 2, 3)
    ]
    assert all(r["prompt_tokens"] == r["input_len"] and r["output_tokens"] == 8 for r in measured)


def test_a_resume_tells_multiturn_cells_of_the_same_answer_length_apart():
    from engine.report.model import CellResult, DatasetLengths
    from engine.run.resume import cell_key, result_key

    first, second = build_plan(grid(seq=["16/4", "32/4"]))
    assert cell_key(first) != cell_key(second)  # both have input_len 0 and output_len 4
    lengths = dict(input_len_mean=5, input_len_min=5, input_len_max=5, output_len_mean=4, output_len_min=4)
    done = CellResult(
        **dict(duration=1, completed=1, failed=0, num_prompts=1, max_concurrency=2, total_input_tokens=5),
        **dict(total_output_tokens=4, request_throughput=1, output_throughput=4, total_token_throughput=9),
        input_len=0,
        output_len=4,
        dataset=DatasetLengths(name=first.seq, output_len_max=4, **lengths),
    )
    assert result_key(done) == cell_key(first)
