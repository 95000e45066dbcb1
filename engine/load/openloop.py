"""The open loop: requests sent on a schedule made before the cell, whatever the server does.

Each request's planned and actual send time is recorded. A send later than planned means the
client, not the server, set the pace (a starved or saturated client, or the optional cap on
requests in flight): `send_delay` holds that lateness, and client health flags the cell.
"""

from __future__ import annotations

import asyncio
import time

from engine.load.client import PhaseSend, PreparedRequest, Target
from engine.load.permits import LocalPermits, Permits
from engine.load.record import RequestRecord
from engine.plan import Cell


async def run_open_loop(
    target: Target,
    cell: Cell,
    requests: list[PreparedRequest],
    offsets: list[float],
    send: PhaseSend,
    *,
    max_in_flight: int | None = None,
    indices: list[int] | None = None,
    origin: float | None = None,
    permits: Permits | None = None,
) -> float:
    """Send request i at `offsets[i]` seconds after the start (or as soon after as a slot frees,
    with `max_in_flight`); return the wall duration until the last answer, in seconds. A worker
    process sending part of a cell's schedule gives its requests' indices in the cell (`indices`)
    and the cell's shared start on its perf_counter (`origin`; default: now), and the cap's permits
    when they are the cell's over several workers (`permits`, engine.load.permits)."""
    if permits is None and max_in_flight:
        permits = LocalPermits(max_in_flight)
    core = send.core(target)

    async def one(request: PreparedRequest, record: RequestRecord) -> None:
        try:
            await core.send(request, record)
        finally:
            if permits is not None:
                permits.release()
        core.finish(record)

    start = time.perf_counter() if origin is None else origin
    tasks = []
    for i, (request, planned) in enumerate(zip(requests, offsets)):
        if permits is not None:
            await _until(start + planned - permits.lead_s)
            held = permits.reserve(planned)
        await _until(start + planned)
        if permits is not None:
            await held
        index = i if indices is None else indices[i]
        record = RequestRecord.for_cell(
            cell, index, send.output_len, send.warmup, request.expected_prompt_tokens, planned_s=planned
        )
        record.sent_s = time.perf_counter() - start
        record.send_delay = max(0.0, record.sent_s - planned)
        tasks.append(asyncio.create_task(one(request, record)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - start


async def _until(when: float) -> None:
    # A while, not an if: uvloop rounds timers to the millisecond and may wake a little early.
    while (delay := when - time.perf_counter()) > 0:
        await asyncio.sleep(delay)


def achieved_rate(records: list[RequestRecord]) -> float | None:
    """Requests actually sent per second, over the span of the sends (None under two sends)."""
    sent = sorted(r.sent_s for r in records if r.sent_s is not None)
    if len(sent) < 2 or sent[-1] <= sent[0]:
        return None
    return (len(sent) - 1) / (sent[-1] - sent[0])


def peak_in_flight(records: list[RequestRecord]) -> int:
    """The most requests in flight at once: each from its send to its last byte (or its failure)."""
    edges = []
    for r in records:
        if r.start_time:
            edges += [(r.start_time, 1), (r.start_time + (r.e2el or 0.0), -1)]
    peak = now = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):  # an end before a start at the same instant
        now += step
        peak = max(peak, now)
    return peak
