"""A cell's load shape: how its requests are paced. One type per shape; the cell carries it, and
everything that depends on the pacing asks the shape (its label, its place on the load axis, its
send times, its highest planned rate, what it planned, for the results), never the cell's fields.

- ClosedLoop: the cell's concurrency C in flight, a new request as one finishes.
- Rate: requests on a seeded arrival schedule at a fixed rate (Poisson, constant or gamma).
- Ramp: like Rate, but the rate climbs from a start to an end rate over the cell's requests,
  linearly or exponentially (vLLM bench serve's --ramp-up-strategy, same formula).
- Trace: a trace's own timestamps, divided by its speedup.

An open-loop shape's cell uses its concurrency as the cap on requests in flight (0: none).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar, Literal

from engine.plan.arrivals import schedule


@dataclass(frozen=True)
class ClosedLoop:
    kind: ClassVar[str] = "concurrency"
    open_loop: ClassVar[bool] = False

    def level_label(self, concurrency: int) -> str:
        return f"c={concurrency}"

    def level(self, concurrency: int) -> float:
        return float(concurrency)

    def pace(self, concurrency: int, unit: str) -> str:
        return f"concurrency {concurrency}"

    def send_times(self, sends: int, planned: list[float | None], seed: int) -> list[float] | None:
        return None  # a closed loop sends as slots free up

    def peak_rate(self) -> float | None:
        return None

    def planned(self, planned: list[float | None]) -> dict | None:
        return None

    def plan_keys(self) -> dict:
        return {"rate": None}

    def climb(self, first_miss: int | None, n: int) -> dict | None:
        """A shape whose rate climbs: where it was when a request first missed (None: not such a shape)."""
        return None


@dataclass(frozen=True)
class Rate:
    rate: float  # req/s (of conversation starts, for a multi-turn cell)
    arrival: str = "poisson"
    burstiness: float = 1.0
    kind: ClassVar[str] = "rate"
    open_loop: ClassVar[bool] = True

    def level_label(self, concurrency: int) -> str:
        return f"r={self.rate:g}"

    def level(self, concurrency: int) -> float:
        return self.rate

    def pace(self, concurrency: int, unit: str) -> str:
        return f"rate {self.rate:g} {unit} ({self.arrival}{_cap(concurrency)})"

    def send_times(self, sends: int, planned: list[float | None], seed: int) -> list[float] | None:
        return schedule(sends, self.rate, self.arrival, self.burstiness, seed)

    def peak_rate(self) -> float | None:
        return self.rate

    def planned(self, planned: list[float | None]) -> dict | None:
        return dict(request_rate=self.rate, arrival=self.arrival, burstiness=self.burstiness)

    def plan_keys(self) -> dict:
        return {"rate": self.rate}

    def climb(self, first_miss: int | None, n: int) -> dict | None:
        return None


@dataclass(frozen=True)
class Ramp:
    strategy: Literal["linear", "exponential"]
    start_rps: float
    end_rps: float
    arrival: str = "poisson"
    burstiness: float = 1.0
    kind: ClassVar[str] = "ramp"
    open_loop: ClassVar[bool] = True

    def level_label(self, concurrency: int) -> str:
        return f"ramp {self.start_rps:g}-{self.end_rps:g}"

    def level(self, concurrency: int) -> float:
        return max(self.start_rps, self.end_rps)  # as its result names it (OpenLoop.request_rate)

    def pace(self, concurrency: int, unit: str) -> str:
        climb = f"{self.start_rps:g} -> {self.end_rps:g} {unit}"
        return f"{self.strategy} ramp {climb} ({self.arrival}{_cap(concurrency)})"

    def rate_at(self, i: int, n: int) -> float:
        """The planned rate at request i of n: vLLM bench serve's _get_current_request_rate."""
        progress = i / max(n - 1, 1)
        if self.strategy == "linear":
            return self.start_rps + (self.end_rps - self.start_rps) * progress
        return self.start_rps * (self.end_rps / self.start_rps) ** progress

    def send_times(self, sends: int, planned: list[float | None], seed: int) -> list[float] | None:
        """The first at 0; each next one a gap drawn at the rate the ramp has reached (seeded)."""
        rng, out, t = random.Random(seed), [], 0.0
        for i in range(sends):
            out.append(t)
            rate = self.rate_at(i, sends)
            if self.arrival == "constant":
                t += 1.0 / rate
            elif self.arrival == "poisson":
                t += rng.expovariate(rate)
            else:
                t += rng.gammavariate(self.burstiness, 1.0 / (rate * self.burstiness))
        return out

    def peak_rate(self) -> float | None:
        return max(self.start_rps, self.end_rps)

    def planned(self, planned: list[float | None]) -> dict | None:
        """Its mean planned rate over the span of its sends (the ramp's own figures: engine.run.assemble)."""
        return dict(request_rate=_mean_rate(planned), arrival=self.arrival, burstiness=self.burstiness)

    def plan_keys(self) -> dict:
        return {"rate": None, "ramp": {"strategy": self.strategy, "start_rps": self.start_rps, "end_rps": self.end_rps}}

    def climb(self, first_miss: int | None, n: int) -> dict | None:
        at = None if first_miss is None else float(f"{self.rate_at(first_miss, n):.4g}")
        ends = dict(strategy=self.strategy, start_rps=self.start_rps, end_rps=self.end_rps)
        return dict(**ends, first_miss=first_miss, slo_failed_at_rps=at)


@dataclass(frozen=True)
class Trace:
    speedup: float = 1.0
    kind: ClassVar[str] = "trace"
    open_loop: ClassVar[bool] = True

    def level_label(self, concurrency: int) -> str:
        return ""  # the cell's seq ("trace x2") says it all

    def level(self, concurrency: int) -> float:
        return float(concurrency)  # the trace sets the pace: its cap on requests in flight places it

    def pace(self, concurrency: int, unit: str) -> str:
        return f"trace on its timestamps / {self.speedup:g}{_cap(concurrency)}"

    def send_times(self, sends: int, planned: list[float | None], seed: int) -> list[float] | None:
        return [p or 0.0 for p in planned]

    def peak_rate(self) -> float | None:
        return None  # known only per request

    def planned(self, planned: list[float | None]) -> dict | None:
        return dict(request_rate=_mean_rate(planned), arrival=f"trace x{self.speedup:g}", burstiness=1.0)

    def plan_keys(self) -> dict:
        return {"rate": None}

    def climb(self, first_miss: int | None, n: int) -> dict | None:
        """A shape whose rate climbs: where it was when a request first missed (None: not such a shape)."""
        return None


LoadShape = ClosedLoop | Rate | Ramp | Trace


def _mean_rate(planned: list[float | None]) -> float:
    """Requests per second over the span of their planned send times (0 with fewer than two)."""
    times = [p for p in planned if p is not None]
    span = max(times, default=0.0) - min(times, default=0.0)
    return float(f"{(len(times) - 1) / span:.3g}") if span > 0 else 0.0


def _cap(concurrency: int) -> str:
    return f", at most {concurrency} in flight" if concurrency else ""
