"""Is the client, not the server, the limit? Measured per cell while the load runs.

- event-loop lag: a timer that should fire every 20 ms; how late it fires is how late every
  token timestamp and every send can be;
- send delay: in a closed loop a request should leave the moment its slot frees up;
- client CPU: a Python client is one thread; near 100% of a core it cannot keep up.
"""

from __future__ import annotations

import asyncio
import time

from engine.loadgen import RequestRecord
from engine.metrics import percentile

TICK_S = 0.02
# Thresholds for the warning: lag or send delay above this p99, or CPU above this share of a core.
LAG_WARN_MS = 2.0
CPU_WARN = 0.85


class LoopLagMonitor:
    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            due = time.perf_counter() + TICK_S
            await asyncio.sleep(TICK_S)
            self.lags.append(max(0.0, time.perf_counter() - due))

    def __enter__(self) -> "LoopLagMonitor":
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc) -> None:
        self._task.cancel()


def health(lags: list[float], records: list[RequestRecord], cpu_s: float, duration: float, mean_itl_ms: float) -> tuple[dict, str | None]:
    """Per-cell client health figures, and a warning when the client may be the limit."""
    lag_ms = sorted(x * 1000 for x in lags)
    delay_ms = sorted(r.send_delay * 1000 for r in records)
    figures = {
        "client_loop_lag_p99_ms": percentile(lag_ms, 99),
        "client_loop_lag_max_ms": lag_ms[-1] if lag_ms else 0.0,
        "client_send_delay_p99_ms": percentile(delay_ms, 99),
        "client_cpu_util": cpu_s / duration if duration > 0 else 0.0,
    }
    reasons = []
    # Late by a sizeable share of the gap between tokens, timestamps distort ITL and TPOT. The
    # lag is the whole process's: its own work, or CPU taken by others (a server on the same cores).
    limit = max(LAG_WARN_MS, 0.25 * mean_itl_ms)
    if figures["client_loop_lag_p99_ms"] > limit:
        reasons.append(f"event-loop lag p99 {figures['client_loop_lag_p99_ms']:.1f} ms (timestamps may be late by that much)")
    if figures["client_send_delay_p99_ms"] > limit:
        reasons.append(f"requests sent {figures['client_send_delay_p99_ms']:.1f} ms late (p99)")
    if figures["client_cpu_util"] > CPU_WARN:
        reasons.append(f"client at {100 * figures['client_cpu_util']:.0f}% of a CPU core")
    warning = None
    if reasons:
        warning = "the client, not the server, may be the limit: " + ", ".join(reasons)
    return figures, warning
