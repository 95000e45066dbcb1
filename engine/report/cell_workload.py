"""What a cell's workload adds to its result beyond the closed loop's figures: how an open loop's
requests were sent, goodput under SLOs, a dataset's realised lengths, and a multi-turn cell's
figures per turn (a load shape's own figures come with its module of engine/shapes)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Reading(BaseModel):
    # Results files are read by later versions (and other tools write more): unknown keys are ignored.
    model_config = ConfigDict(extra="ignore")


class OpenLoop(Reading):
    """How a rate cell's requests were sent: the target, the arrivals, what was achieved."""

    request_rate: float  # req/s planned
    arrival: str
    burstiness: float
    seed: int
    achieved_rate: float | None = None  # req/s actually sent, over the span of the sends
    max_in_flight: int | None = None  # the cap (--max-concurrency); None: no cap
    peak_in_flight: int | None = None  # the most requests seen in flight at once


class DatasetLengths(Reading):
    """A dataset or trace cell: what made its prompts, and the lengths its requests were given, per
    request (each checked against what the server reported: the cell's length mismatches)."""

    name: str  # the cell's seq label: "sharegpt", "random 100:400/50:200", "prefix256 1024/128", "trace x2"
    source: str | None = None  # the file
    input_len_mean: float
    input_len_min: int
    input_len_max: int
    output_len_mean: float
    output_len_min: int
    output_len_max: int


class TurnFigures(Reading):
    """One turn of a multi-turn cell, over its conversations: how latency grows with the context."""

    turn: int
    completed: int
    failed: int
    input_len: int  # the turn's prompt: k user turns and the k - 1 answers before it (from a file: the mean)
    mean_ttft_ms: float | None = None
    median_ttft_ms: float | None = None
    p99_ttft_ms: float | None = None
    mean_e2el_ms: float | None = None


class Goodput(Reading):
    """vLLM bench's `request_goodput`: req/s of the requests that met every SLO."""

    slo_ms: dict[str, float]
    good: int
    request_goodput: float | None = None
