"""Datasets: the requests of a dataset or trace cell, each with its own exact lengths (with token-id
prompts; as text, a prompt's length is what our tokenizer counts in the text sent, checked per
request against the server's count).

- `random`: lengths drawn per request from `input_len_range` / `output_len_range` (both ends
  included; a side without a range keeps the cell's length), seeded per run and cell.
- `jsonl:PATH`: one `{"prompt": "...", "output_len": 128}` a line, in file order; the prompt is
  tokenised with the model's tokenizer (its token ids are sent, so the input length is exact);
  `output_len` defaults to the cell's OSL.
- `sharegpt:PATH`: ShareGPT JSON, as `vllm bench serve` reads it: the first turn of each
  conversation is the prompt, the token length of the second (the answer) is the output length;
  shuffled with the run's seed.
- `prefix:P[:G]`: groups of G requests (default 4) share a prefix of P random tokens, each then
  has its own suffix up to the cell's ISL (prefix-cache studies).
- `multiturn:T`: conversations of T turns, each user turn the cell's ISL in random tokens, each
  answer its OSL; turn k's prompt is made when it is sent, from the turns before it and their
  actual answers (engine/load/conversations.py), so its items carry only the user turn.
  `multiturn:T:PATH`: the same with a ShareGPT file's first T exchanges (user messages tokenised,
  each answer's length its reply's token count).
- a trace (engine/load/trace.py): its rows, prompts built from shared blocks, sent on its timestamps.

Every request is sent with `max_tokens = min_tokens = ` its own output length, and its record holds
its own lengths, which the cell's checks compare with what the server reports. Requests longer
than the server's `max_model_len` are skipped, each skip counted and named in a note (the run goes
on with the rest; a cell left with none has no requests). Where the dataset has fewer entries than
the cell has requests, it is cycled and a note says so (a prefix cache sees the repeats).

Warm-up requests have the lengths of the cell's first requests but random tokens of their own, so
they warm the server without caching any measured prompt.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from engine.grid import Grid
from engine.load.datafiles import DatasetError, read_jsonl_prompts, read_sharegpt, read_sharegpt_exchanges
from engine.load.prompts import Prompt, PromptFactory
from engine.load.trace import BlockPrompts, offsets, read_trace
from engine.plan import Cell
from engine.values import dataset_kind, parse_range

DEFAULT_GROUP = 4

__all__ = ["DatasetError", "Item", "Note", "build_items", "check_files"]


class Note(str):
    """A note on a cell's dataset requests, as the user reads it. `skips`: requests were left out
    (too long for the server, or empty), which the run's summary lists; else entries were only
    cycled or passed over."""

    skips: bool

    def __new__(cls, text: str, skips: bool = False) -> Note:
        note = super().__new__(cls, text)
        note.skips = skips
        return note


@dataclass
class Item:
    """One request of a dataset cell: its prompt and its own lengths."""

    prompt: Prompt
    input_len: int
    output_len: int
    where: str = ""  # its source (file:line, entry), for notes
    planned_s: float | None = None  # a trace's send time, seconds from the cell's start
    conversation: int | None = None  # multiturn: the prompt is this turn's user tokens only
    turn: int | None = None


def check_files(grid: Grid) -> None:
    """Read the grid's dataset or trace file: DatasetError (file, line, field) before anything starts."""
    kind = dataset_kind(grid.dataset)
    if grid.trace is not None:
        read_trace(grid.trace)
    elif kind == "jsonl":
        read_jsonl_prompts(grid.dataset.split(":", 1)[1])
    elif kind == "sharegpt":
        read_sharegpt(grid.dataset.split(":", 1)[1])
    elif grid.multiturn_file():
        read_sharegpt_exchanges(grid.multiturn_file(), grid.turns())


def _prompt(factory: PromptFactory, prompt_kind: str, ids: list[int] | None = None, text: str | None = None) -> Prompt:
    """Token ids (exact) where the server takes them, else text and its length as our tokenizer counts it."""
    tok = factory.tokenizer
    if prompt_kind == "token_ids":
        if ids is None:
            ids = tok.encode(text, add_special_tokens=False)
        return Prompt(token_ids=ids, text=None, expected_len=len(ids))
    if text is None:
        text = tok.decode(ids, skip_special_tokens=True)
    return Prompt(token_ids=None, text=text, expected_len=factory.count(text))


def build_items(
    grid: Grid,
    cell: Cell,
    factory: PromptFactory,
    prompt_kind: str,
    n: int,
    *,
    seed: int = 0,
    salt: int = 0,
    max_model_len: int | None = None,
    warmup_output_len: int | None = None,
) -> tuple[list[Item], list[Note]]:
    """The cell's `n` requests (or a trace's rows, up to `n`) and notes on what was skipped or cycled.
    With `warmup_output_len`: warm-up requests, the lengths of the first `n` (output capped), random tokens."""
    kind, notes = cell.dataset, []
    fits = (lambda i, o: i + o <= max_model_len) if max_model_len else (lambda i, o: True)
    if kind == "trace":
        items, notes = _trace(grid, factory, prompt_kind, n, seed, fits)
    elif kind == "random":
        items = _random(grid, cell, factory, prompt_kind, n, seed, salt)
    elif kind == "prefix":
        items = _prefix(grid, cell, factory, prompt_kind, n, seed, salt)
    elif kind == "multiturn":
        if grid.multiturn_file():
            items, notes = _multiturn_file(grid, cell, factory, n, seed, fits)
        else:
            items = _multiturn(cell, factory, n, salt)
        items = items[:n] if warmup_output_len is not None else items  # warm-up: n plain requests
    elif kind in ("jsonl", "sharegpt"):
        return _from_file(grid, cell, factory, prompt_kind, n, seed, salt, fits, warmup_output_len)
    else:
        raise ValueError(f"cell {cell.label} is not a dataset cell")
    kept = [it for it in items if fits(it.input_len, it.output_len)]
    if len(kept) < len(items):
        first = next(it for it in items if not fits(it.input_len, it.output_len))
        notes.append(
            Note(
                f"cell {cell.label}: {len(items) - len(kept)} of {len(items)} requests skipped, longer than the "
                f"server's max_model_len {max_model_len} (first: {first.where}, {first.input_len}+{first.output_len} "
                "tokens)",
                skips=True,
            )
        )
    if warmup_output_len is not None:
        kept = _warmup(kept, cell, factory, prompt_kind, salt, warmup_output_len)
    return kept, notes


def _warmup(items: list[Item], cell: Cell, factory, prompt_kind: str, salt: int, cap: int) -> list[Item]:
    out = []
    for i, it in enumerate(items):
        make = factory.maker(prompt_kind)
        prompt = make(it.input_len, cell.index, salt + i)
        out.append(Item(prompt, it.input_len, min(cap, it.output_len), f"warm-up {i}"))
    return out


def _random(grid: Grid, cell: Cell, factory, prompt_kind: str, n: int, seed: int, salt: int) -> list[Item]:
    rng = random.Random(f"{seed}:lengths:{cell.index}:{salt}")
    in_range = parse_range(grid.input_len_range) if grid.input_len_range else None
    out_range = parse_range(grid.output_len_range) if grid.output_len_range else None
    make = factory.maker(prompt_kind)
    items = []
    for i in range(n):
        isl = rng.randint(*in_range) if in_range else cell.input_len
        osl = rng.randint(*out_range) if out_range else cell.output_len
        items.append(Item(make(isl, cell.index, salt + i), isl, osl, f"request {i}"))
    return items


def _multiturn(cell: Cell, factory: PromptFactory, n: int, salt: int) -> list[Item]:
    """Whole conversations, turn by turn: each item the user turn's own tokens, with the full
    length the turn's prompt will have once the earlier turns and their answers precede it."""
    items = []
    for i in range(-(-n // cell.turns) * cell.turns):
        conv, turn = divmod(i, cell.turns)
        turn += 1
        user = factory.token_ids(cell.turn_len, cell.index, salt + i)
        input_len = turn * cell.turn_len + (turn - 1) * cell.output_len
        items.append(Item(user, input_len, cell.output_len, f"conversation {conv} turn {turn}", None, conv, turn))
    return items


def _multiturn_file(grid: Grid, cell: Cell, factory: PromptFactory, n: int, seed: int, fits):
    """Conversations of a ShareGPT file, shuffled with the run's seed: each turn's user tokens (the
    human message, tokenised) and its answer's length (the reply's token count; the server's own
    answer of that length is what the next turn carries). A conversation whose last turn would not
    fit the server's max_model_len is passed over, said in a note; too few are cycled, said too."""
    path, turns = grid.multiturn_file(), cell.turns
    convs, short = read_sharegpt_exchanges(path, turns)
    random.Random(seed).shuffle(convs)
    tok, wanted = factory.tokenizer, -(-n // turns)
    chosen, too_long, empty, notes = [], 0, 0, []
    for entry, texts in convs:  # tokenised lazily: a large file needs only its first usable conversations
        if len(chosen) >= wanted:
            break
        user = [tok.encode(t, add_special_tokens=False) for t in texts[0::2]]
        answers = [len(tok.encode(t, add_special_tokens=False)) for t in texts[1::2]]
        if not all(user) or not all(answers):
            empty += 1
            continue
        if not fits(sum(map(len, user)) + sum(answers[:-1]), answers[-1]):
            too_long += 1
            continue
        chosen.append((entry, user, answers))
    label = f"cell {cell.label}"
    if too_long:
        notes.append(
            Note(
                f"{label}: {too_long} conversations skipped, their last turn longer than the server's max_model_len",
                skips=True,
            )
        )
    if empty or short:
        passed = f"{empty} conversations with an empty message and {short} with under {turns} exchanges passed over"
        notes.append(Note(f"{label}: {passed}"))
    if not chosen:
        return [], notes
    if len(chosen) < wanted:
        notes.append(
            Note(
                f"{label}: {wanted} conversations from {len(chosen)} usable ones: each used up to "
                f"{-(-wanted // len(chosen))} times (a prefix cache sees the repeats)"
            )
        )
    items = []
    for conv in range(wanted):
        entry, user, answers = chosen[conv % len(chosen)]
        input_len = 0
        for k in range(turns):
            input_len += len(user[k]) + (answers[k - 1] if k else 0)
            prompt = Prompt(user[k], None, len(user[k]))
            items.append(Item(prompt, input_len, answers[k], f"{path} entry {entry} turn {k + 1}", None, conv, k + 1))
    return items, notes


def _prefix(grid: Grid, cell: Cell, factory, prompt_kind: str, n: int, seed: int, salt: int) -> list[Item]:
    parts = grid.dataset.split(":")
    plen, group = int(parts[1]), int(parts[2]) if len(parts) > 2 else DEFAULT_GROUP
    items, prefix = [], []
    for i in range(n):
        if i % group == 0:  # a new group: a new shared prefix (different per cell, so cells do not share)
            prefix = random.Random(f"{seed}:prefix:{cell.index}:{salt}:{i // group}").choices(factory.vocab, k=plen)
        suffix = factory.token_ids(cell.input_len - plen, cell.index, salt + i).token_ids
        prompt = _prompt(factory, prompt_kind, ids=prefix + suffix)
        # Text re-encodes to its own length, not the ids': record what was sent (exact with token ids).
        items.append(Item(prompt, prompt.expected_len, cell.output_len, f"request {i} (group {i // group})"))
    return items


def _trace(grid: Grid, factory, prompt_kind: str, n: int, seed: int, fits) -> tuple[list[Item], list[Note]]:
    rows = read_trace(grid.trace, n)
    blocks = BlockPrompts(factory.vocab, seed)
    items = []
    for row, at in zip(rows, offsets(rows, grid.speedup or 1.0)):
        prompt = _prompt(factory, prompt_kind, ids=blocks.token_ids(row)) if fits(row.input_length, 0) else None
        where = f"{grid.trace}:{row.line}"
        # As text, the blocks re-encode to their own length, not the row's: record (and fit) what is sent.
        length = prompt.expected_len if prompt is not None else row.input_length
        items.append(Item(prompt or Prompt([], None, 0), length, row.output_length, where, at))
    return items, []


def _from_file(
    grid: Grid, cell: Cell, factory, prompt_kind: str, n: int, seed: int, salt: int, fits, warmup_output_len
) -> tuple[list[Item], list[Note]]:
    kind, path = grid.dataset.split(":", 1)
    tok = factory.tokenizer
    if kind == "jsonl":
        entries = [(f"{path}:{line}", text, osl or cell.output_len) for line, text, osl in read_jsonl_prompts(path)]
        short_note = ""
    else:
        convs, short = read_sharegpt(path)
        random.Random(seed).shuffle(convs)
        entries = [(f"{path} entry {i}", prompt, answer) for i, prompt, answer in convs]
        short_note = f"; {short} conversations of one turn passed over" if short else ""
    items: list[Item] = []
    too_long, empty, first_long = 0, 0, ""
    for where, text, out in entries:  # tokenised lazily: a large file needs only its first n usable entries
        if len(items) >= n:
            break
        prompt = _prompt(factory, prompt_kind, text=text)
        osl = out if isinstance(out, int) else len(tok.encode(out, add_special_tokens=False))
        if prompt.expected_len < 1 or osl < 1:
            empty += 1
            continue
        if not fits(prompt.expected_len, osl):
            too_long += 1
            first_long = first_long or f"{where}, {prompt.expected_len}+{osl} tokens"
            continue
        items.append(Item(prompt, prompt.expected_len, osl, where))
    notes: list[Note] = []
    if too_long:
        notes.append(
            Note(
                f"cell {cell.label}: {too_long} {kind} entries skipped, longer than the server's max_model_len "
                f"(first: {first_long})",
                skips=True,
            )
        )
    if empty:
        text = f"cell {cell.label}: {empty} {kind} entries skipped: an empty prompt or answer{short_note}"
        notes.append(Note(text, skips=True))
    if not items:
        return [], notes
    if len(items) < n:
        notes.append(
            Note(
                f"cell {cell.label}: {n} requests from {len(items)} usable {kind} entries: each used up to "
                f"{-(-n // len(items))} times (a prefix cache sees the repeats)"
            )
        )
        items = [items[i % len(items)] for i in range(n)]
    if warmup_output_len is not None:
        items = _warmup(items, cell, factory, prompt_kind, salt, warmup_output_len)
    return items, notes
