"""The open loop's cap on requests in flight (--max-concurrency): one cap over every sender.

A send holds a permit from just before it goes until its answer ends. In one process the permits
are a semaphore (`LocalPermits`). With several load workers the cap is still one: the coordinator
holds the permits (`PermitPool`) and each worker asks for one per send (`RemotePermits`), a little
ahead of its planned time (LEAD_S, so the round trip is not a lateness when the cap is not
reached) and gives it back when the answer ends. The pool grants in order of planned send time
over all workers, as one process's semaphore would in order of arrival; a worker that dies gives
back every permit it held. Permits granted never exceed the cap, so neither do requests in flight,
across all workers together (a per-worker share would leave one worker's slots idle while another's
requests wait).
"""

from __future__ import annotations

import asyncio
import collections
import heapq
from collections.abc import Awaitable
from typing import Protocol

LEAD_S = 0.01  # a worker asks for a send's permit this long before its planned time


class Permits(Protocol):
    lead_s: float

    def reserve(self, planned_s: float) -> Awaitable[object]:
        """Ask now for the permit of a send planned at `planned_s`; the awaitable is done once it is held."""

    def release(self) -> None:
        """A permit given back (its request ended)."""


class LocalPermits:
    """One process's cap: a semaphore, taken at the planned time."""

    lead_s = 0.0

    def __init__(self, cap: int):
        self.slots = asyncio.Semaphore(cap)

    def reserve(self, planned_s: float) -> Awaitable[object]:
        return self.slots.acquire()

    def release(self) -> None:
        self.slots.release()


class RemotePermits:
    """A worker's side: asks the coordinator ("want", phase, planned), is granted ("grant", phase, k)
    in its own order of asking, gives back ("free", phase, 1)."""

    lead_s = LEAD_S

    def __init__(self, out, phase: int):
        self.out, self.phase = out, phase
        self.waiting: collections.deque[asyncio.Future] = collections.deque()

    def reserve(self, planned_s: float) -> Awaitable[object]:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        self.out.send(("want", self.phase, planned_s))
        return future

    def grant(self, k: int) -> None:
        for _ in range(k):
            if self.waiting:
                future = self.waiting.popleft()
                if not future.done():
                    future.set_result(None)

    def release(self) -> None:
        self.out.send(("free", self.phase, 1))


class PermitPool:
    """The coordinator's side: `cap` permits over every worker of one phase."""

    def __init__(self, cap: int):
        self.cap = self.free = cap
        self.wants: list[tuple[float, int, int]] = []  # (planned time, order of asking, worker)
        self.held: dict[int, int] = collections.Counter()  # worker -> permits granted, not given back
        self.asked = 0
        self.most_held = 0  # the most permits out at once: never above the cap

    def want(self, worker: int, planned_s: float) -> dict[int, int]:
        heapq.heappush(self.wants, (planned_s, self.asked, worker))
        self.asked += 1
        return self._grant()

    def give_back(self, worker: int, k: int = 1) -> dict[int, int]:
        k = min(k, self.held[worker])
        self.held[worker] -= k
        self.free += k
        return self._grant()

    def drop(self, worker: int) -> dict[int, int]:
        """A worker died: its permits come back, its wishes go."""
        self.wants = [w for w in self.wants if w[2] != worker]
        heapq.heapify(self.wants)
        return self.give_back(worker, self.held[worker])

    def _grant(self) -> dict[int, int]:
        """Permits to hand out now, per worker, earliest planned send first."""
        grants: dict[int, int] = collections.Counter()
        while self.free and self.wants:
            _, _, worker = heapq.heappop(self.wants)
            self.free -= 1
            self.held[worker] += 1
            grants[worker] += 1
        self.most_held = max(self.most_held, self.cap - self.free)
        return grants
