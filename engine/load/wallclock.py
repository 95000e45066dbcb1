"""The wall clock a load worker reads (the send times it records, the shared start it waits for).

It is time.time(), unless LLMBENCH_WORKER_CLOCK_SKEW_S (seconds) sets it off by a known amount:
the tests' stand-in for another host's clock, since every node of a test cluster shares one
kernel and so one CLOCK_REALTIME. Set on a Ray worker node only (`ray start` with it in the
environment), never on the coordinator: the coordinator's clock is the reference.
"""

from __future__ import annotations

import os
import time

SKEW_ENV = "LLMBENCH_WORKER_CLOCK_SKEW_S"
_SKEW_S = float(os.environ.get(SKEW_ENV) or 0.0)


def now() -> float:
    return time.time() + _SKEW_S


def is_kernel_clock() -> bool:
    """Whether now() is the kernel's CLOCK_REALTIME (then one boot id means one clock)."""
    return _SKEW_S == 0.0
