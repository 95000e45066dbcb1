"""A cell's requests, made ahead of its timed loop (off the event loop), so the loop only sends:
prompts of the cell's lengths, or a dataset's or trace's items, each with its own lengths."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Protocol

from engine.load.client import PreparedRequest, Target
from engine.load.datasets import Note, build_items
from engine.load.prompts import PromptFactory
from engine.plan import Cell
from engine.profiles import ResolvedProfile
from engine.server.launcher_base import ServerInfo

WARMUP_SALT = 10**6  # keeps the warm-up's prompts apart from the measurement's


class RequestContext(Protocol):
    """What a run's requests are made with (the cell executor's CellContext is one)."""

    profile: ResolvedProfile
    target: Target
    info: ServerInfo
    factory: PromptFactory


@dataclass(frozen=True)
class Phase:
    """One load phase of a cell: its warm-up (unmeasured, short answers) or its measurement."""

    n: int  # requests
    output_len: int  # the cell's answer length in this phase (a dataset request has its own)
    warmup: bool

    @classmethod
    def of(cls, cell: Cell, warmup: bool) -> Phase:
        if warmup:
            return cls(cell.warmup_requests, cell.warmup_output_len, True)
        return cls(cell.num_prompts, cell.output_len, False)

    @property
    def salt(self) -> int:
        return WARMUP_SALT if self.warmup else 0


async def prepare_requests(ctx: RequestContext, cell: Cell, phase: Phase) -> tuple[list[PreparedRequest], list[Note]]:
    """The phase's requests of `cell` and notes on dataset requests skipped or cycled (engine.load.datasets)."""
    if cell.dataset:
        return await _from_dataset(ctx, cell, phase)
    make, salt = ctx.factory.maker(ctx.info.prompt_kind), phase.salt

    def build() -> list[PreparedRequest]:
        return [
            ctx.target.prepare(make(cell.input_len, cell.index, salt + i), phase.output_len) for i in range(phase.n)
        ]

    return await asyncio.get_running_loop().run_in_executor(None, build), []


async def _from_dataset(ctx: RequestContext, cell: Cell, phase: Phase) -> tuple[list[PreparedRequest], list[Note]]:
    """A dataset or trace cell's requests, each with its own lengths."""
    items, notes = await asyncio.get_running_loop().run_in_executor(
        None,
        lambda: build_items(
            ctx.profile.grid,
            cell,
            ctx.factory,
            ctx.info.prompt_kind,
            phase.n,
            seed=ctx.profile.load.seed,
            salt=phase.salt,
            max_model_len=ctx.info.max_model_len,
            warmup_output_len=cell.warmup_output_len if phase.warmup else None,
        ),
    )
    out = []
    for it in items:
        if it.conversation is not None:  # a turn: made into a request once the turns before it are answered
            request = PreparedRequest(it.prompt.token_ids, it.input_len, conversation=it.conversation, turn=it.turn)
        else:
            request = ctx.target.prepare(it.prompt, it.output_len)
        out.append(replace(request, input_len=it.input_len, output_len=it.output_len, planned_s=it.planned_s))
    return out, [] if phase.warmup else notes
