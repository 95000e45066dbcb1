"""A cell's requests, made ahead of its timed loop (off the event loop), so the loop only sends:
prompts of the cell's lengths, or a dataset's or trace's items, each with its own lengths."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from engine.load.client import PreparedRequest, Target
from engine.load.datasets import build_items
from engine.load.prompts import PromptFactory
from engine.plan import Cell
from engine.profiles import ResolvedProfile
from engine.server.launcher_base import ServerInfo


async def prepare_requests(
    profile: ResolvedProfile,
    target: Target,
    info: ServerInfo,
    factory: PromptFactory,
    cell: Cell,
    n: int,
    output_len: int,
    salt: int,
) -> tuple[list[PreparedRequest], list[str]]:
    """`n` requests of `cell` and notes on dataset requests skipped or cycled (engine.load.datasets).
    `salt` keeps the warm-up's prompts apart from the measurement's."""
    if cell.dataset:
        return await _from_dataset(profile, target, info, factory, cell, n, salt)

    def build() -> list[PreparedRequest]:
        make = factory.token_ids if info.prompt_kind == "token_ids" else factory.text
        return [target.prepare(make(cell.input_len, cell.index, salt + i), output_len) for i in range(n)]

    return await asyncio.get_running_loop().run_in_executor(None, build), []


async def _from_dataset(
    profile: ResolvedProfile,
    target: Target,
    info: ServerInfo,
    factory: PromptFactory,
    cell: Cell,
    n: int,
    salt: int,
) -> tuple[list[PreparedRequest], list[str]]:
    """A dataset or trace cell's requests, each with its own lengths."""
    warmup = salt != 0
    items, notes = await asyncio.get_running_loop().run_in_executor(
        None,
        lambda: build_items(
            profile.grid,
            cell,
            factory,
            info.prompt_kind,
            n,
            seed=profile.load.seed,
            salt=salt,
            max_model_len=info.max_model_len,
            warmup_output_len=cell.warmup_output_len if warmup else None,
        ),
    )
    out = []
    for it in items:
        if it.conversation is not None:  # a turn: made into a request once the turns before it are answered
            request = PreparedRequest(it.prompt.token_ids, it.input_len, conversation=it.conversation, turn=it.turn)
        else:
            request = target.prepare(it.prompt, it.output_len)
        out.append(replace(request, input_len=it.input_len, output_len=it.output_len, planned_s=it.planned_s))
    return out, [] if warmup else notes
