"""What a cell's workload adds to its result beyond the closed loop's figures: how an open loop's
requests were sent, goodput under SLOs, a dataset's realised lengths, a multi-turn cell's figures
per turn (a load shape's own figures come with its module of engine/shapes), the steady state in
which the load held its target, and a chat cell's reasoning."""

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


class SteadyState(Reading):
    """The part of a cell in which the load held its target (engine.report.steady says how each
    shape's target is judged), and the figures over it beside the whole cell's. Times in seconds
    from the cell's first send; latencies in ms over the completed requests that ran wholly inside
    the window (None: none did); throughput over the window's span."""

    target: str  # what was held: "4 in flight", "2 req/s on schedule, in flight past its climb"
    start_s: float | None = None  # None: the load never held its target
    end_s: float | None = None
    duration_s: float = 0.0
    share: float = 0.0  # of the cell's duration
    requests: int = 0
    output_throughput: float | None = None
    mean_ttft_ms: float | None = None
    median_ttft_ms: float | None = None
    std_ttft_ms: float | None = None
    p90_ttft_ms: float | None = None
    p99_ttft_ms: float | None = None
    mean_tpot_ms: float | None = None
    median_tpot_ms: float | None = None
    std_tpot_ms: float | None = None
    p90_tpot_ms: float | None = None
    p99_tpot_ms: float | None = None


class ReasoningFigures(Reading):
    """A chat cell whose answers streamed reasoning (engine.load.chunk): its tokens counted apart
    from the answer's (the cell's output tokens hold both, as its OSL check does), and the time to
    the first answer token beside the TTFT (the first token of either), in ms over the completed
    requests whose answer began (a request that streamed no reasoning: its TTFT)."""

    requests: int  # completed requests that streamed reasoning
    reasoning_tokens: int
    answer_tokens: int
    mean_reasoning_tokens: float  # per completed request that streamed reasoning
    answered: int  # completed requests whose answer began (others spent every token reasoning)
    mean_answer_ttft_ms: float | None = None
    median_answer_ttft_ms: float | None = None
    std_answer_ttft_ms: float | None = None
    p90_answer_ttft_ms: float | None = None
    p99_answer_ttft_ms: float | None = None
