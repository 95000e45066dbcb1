"""Multi-turn conversations (`--dataset multiturn:T`): each turn's prompt holds the turns before it.

A conversation of T turns: user turn k is `turn_len` random tokens (the cell's ISL), each answer
`output_len` tokens (the OSL, exact: `max_tokens = min_tokens` with `ignore_eos`); from a ShareGPT
file, the k-th user message's tokens and the k-th reply's length (engine/load/datasets.py). Turn k+1 is sent
only once turn k has finished, and its prompt is, in token ids, every earlier user turn followed
by the answer the server actually generated for it, then the new user turn. Token ids, not text:
re-tokenising a detokenised answer does not give its tokens back (nor its length), so only ids keep
turn k's input exactly k * turn_len + (k - 1) * output_len tokens (the sum of its parts), which the record holds and the
cell checks against what the server reports. The answer's ids come back with vLLM's
`return_token_ids` (in-process: from the engine's outputs).

Pacing: in a closed loop a conversation holds one of the C slots from its first turn to its last
(C conversations at once, never more than C requests in flight). With a request rate, the rate is
of conversation starts: conversation j's first turn is planned at the schedule's time j (its
planned and actual send times are recorded, so the achieved rate counts first turns) and its later
turns follow their answers at once (no think time); `--max-concurrency` caps conversations at once.

A turn that fails (or brings no answer ids back) ends its conversation: the turns it would have
carried are recorded as failed, not sent, with the reason, so the cell's request count holds.
"""

from __future__ import annotations

import asyncio
import time
from itertools import groupby

from engine.load import wallclock
from engine.load.client import PhaseSend, PreparedRequest, SendCore, Target
from engine.load.prompts import Prompt
from engine.load.record import RequestRecord
from engine.plan import Cell


def conversations_of(requests: list[PreparedRequest]) -> list[list[int]]:
    """Request indices grouped by conversation, each in turn order (requests come conversation by
    conversation, turn by turn: engine/load/datasets.py)."""
    return [[i for i, _ in group] for _, group in groupby(enumerate(requests), key=lambda p: p[1].conversation)]


async def run_conversations(
    target: Target,
    cell: Cell,
    requests: list[PreparedRequest],
    send: PhaseSend,
    *,
    starts: list[float] | None = None,
    max_in_flight: int | None = None,
) -> float:
    """Drive the cell's conversations: `cell.concurrency` at once (closed loop), or each starting at
    `starts[j]` seconds (open loop, at most `max_in_flight` at once). Returns the wall duration."""
    talks = _Conversations(send.core(target), cell, requests, send.output_len, send.warmup)
    if starts is None:
        await talks.closed()
    else:
        await talks.scheduled(starts, max_in_flight)
    return time.perf_counter() - talks.start


class _Conversations:
    """One cell's conversations, each turn sent through the cell's SendCore."""

    def __init__(self, core: SendCore, cell: Cell, requests: list[PreparedRequest], output_len: int, warmup: bool):
        self.core, self.cell, self.requests = core, cell, requests
        self.output_len, self.warmup = output_len, warmup
        self.convs = conversations_of(requests)
        self.start = time.perf_counter()

    async def closed(self) -> None:
        """C slots, each taking the next conversation."""
        pending = iter(self.convs)

        async def slot() -> None:
            for indices in pending:
                await self.conversation(indices, None)

        await asyncio.gather(*(slot() for _ in range(min(max(self.cell.concurrency, 1), len(self.convs)))))

    async def scheduled(self, starts: list[float], max_in_flight: int | None) -> None:
        """Conversation j starts at `starts[j]` seconds; at most `max_in_flight` at once."""
        cap = asyncio.Semaphore(max_in_flight) if max_in_flight else None

        async def one(indices: list[int], planned: float) -> None:
            try:
                await self.conversation(indices, planned)
            finally:
                if cap is not None:
                    cap.release()

        tasks = []
        for indices, planned in zip(self.convs, starts):
            while (delay := self.start + planned - time.perf_counter()) > 0:  # uvloop may wake a little early
                await asyncio.sleep(delay)
            if cap is not None:
                await cap.acquire()
            tasks.append(asyncio.create_task(one(indices, planned)))
        await asyncio.gather(*tasks)

    def new_record(self, i: int) -> RequestRecord:
        r = self.requests[i]
        return RequestRecord(
            cell=self.cell.index,
            index=i,
            concurrency=self.cell.concurrency,
            input_len=r.input_len or 0,
            output_len=r.output_len or self.output_len,
            warmup=self.warmup,
            expected_prompt_tokens=r.expected_prompt_tokens,
            conversation=r.conversation,
            turn=r.turn,
        )

    async def conversation(self, indices: list[int], planned: float | None) -> None:
        """Its turns one after another, each prompt holding the turns before and their answers."""
        history: list[int] = []
        freed = time.perf_counter()
        for pos, i in enumerate(indices):
            request, record = self.requests[i], self.new_record(i)
            ids = history + list(request.body)  # body: this turn's user tokens
            out_len = request.output_len or self.output_len
            real = self.core.target.prepare(Prompt(ids, None, len(ids)), out_len, answer_ids=True)
            if pos == 0 and planned is not None:
                record.planned_s = planned
                record.sent_s = time.perf_counter() - self.start
                record.send_delay = max(0.0, record.sent_s - planned)
            else:
                record.send_delay = time.perf_counter() - freed
            try:
                await self.core.send(real, record)
            finally:
                freed = time.perf_counter()
            answer = record.output_ids or []
            record.output_ids = None
            self.core.finish(record)
            if record.ok and len(answer) != record.output_tokens and pos + 1 < len(indices):
                why = f"turn {record.turn}'s answer came back without its token ids ({len(answer)} of "
                why += f"{record.output_tokens}): the server ignores return_token_ids; multi-turn needs vLLM"
                self.give_up(indices[pos + 1 :], why)
                return
            if not record.ok:
                why = f"not sent: turn {record.turn} of conversation {record.conversation} failed ({record.error})"
                self.give_up(indices[pos + 1 :], why)
                return
            history = ids + answer

    def give_up(self, indices: list[int], why: str) -> None:
        """The rest of a conversation whose turn failed: failed records that say why (never sent)."""
        for i in indices:
            record = self.new_record(i)
            record.ok, record.error, record.start_time = False, why, wallclock.now()
            self.core.finish(record)
