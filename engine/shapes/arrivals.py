"""Open-loop arrival schedules: when each request of a cell is to be sent, made before the cell.

Drawn from a seeded generator, so a schedule is replayable and recorded, never improvised while
the cell runs. As in `vllm bench serve`: Poisson arrivals have exponential gaps; gamma gaps with a
burstiness factor b have shape b and mean 1/rate (b = 1 is Poisson, b < 1 burstier, b > 1 more
even); constant gaps are exactly 1/rate.
"""

from __future__ import annotations

import random

ARRIVALS = ("poisson", "constant", "gamma")


def schedule(n: int, rate: float, arrival: str = "poisson", burstiness: float = 1.0, seed: int = 0) -> list[float]:
    """Planned send times of `n` requests, in seconds from the cell's start (the first at 0)."""
    if rate <= 0:
        raise ValueError(f"a request rate must be above 0 (got {rate})")
    if arrival not in ARRIVALS:
        raise ValueError(f"unknown arrival {arrival!r}: one of {', '.join(ARRIVALS)}")
    if burstiness <= 0:
        raise ValueError(f"burstiness must be above 0 (got {burstiness})")
    rng = random.Random(seed)
    offsets, t = [], 0.0
    for _ in range(n):
        offsets.append(t)
        if arrival == "constant":
            t += 1.0 / rate
        elif arrival == "poisson":
            t += rng.expovariate(rate)
        else:
            t += rng.gammavariate(burstiness, 1.0 / (rate * burstiness))
    return offsets
