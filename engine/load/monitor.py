"""Is the client, not the server, the limit? Measured while a cell's load runs.

- event-loop lag: a timer that should fire every 20 ms; how late it fires is how late every
  token timestamp and every send can be. The figures and the flag are computed in
  engine.report.metrics.client_health, with the send delay and the client's CPU.
"""

from __future__ import annotations

import asyncio
import time

TICK_S = 0.02


class LoopLagMonitor:
    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            due = time.perf_counter() + TICK_S
            await asyncio.sleep(TICK_S)
            self.lags.append(max(0.0, time.perf_counter() - due))

    def __enter__(self) -> LoopLagMonitor:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc) -> None:
        if self._task is not None:
            self._task.cancel()
