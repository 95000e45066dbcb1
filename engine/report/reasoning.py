"""A chat cell's reasoning figures from its records (engine.report.cell_workload.ReasoningFigures):
reasoning and answer tokens apart, and the time to the first answer token."""

from __future__ import annotations

from collections.abc import Sequence

from engine.load.record import RequestRecord
from engine.report.metrics import latency_stats
from engine.report.model import CellResult, ReasoningFigures
from engine.report.registry import Latency

# Not a column family of CellResult: its statistics live in ReasoningFigures, named alike.
ANSWER_TTFT = Latency("answer_ttft", "answer TTFT", "time to the first answer token", "{:.1f}", slo=False)


def answer_ttft(r: RequestRecord) -> float | None:
    """Seconds to the answer's first token: the TTFT where no reasoning streamed."""
    return r.answer_ttft if r.reasoning_tokens is not None else r.ttft


def reasoning_figures(records: Sequence[RequestRecord]) -> ReasoningFigures | None:
    """None where no completed request streamed reasoning (a completions cell, a model that does not reason)."""
    ok = [r for r in records if r.ok]
    thought = [r for r in ok if r.reasoning_tokens is not None]
    if not thought:
        return None
    reasoning = sum(r.reasoning_tokens for r in thought)
    answers = [t for r in ok if (t := answer_ttft(r)) is not None]
    return ReasoningFigures(
        requests=len(thought),
        reasoning_tokens=reasoning,
        answer_tokens=sum(r.output_tokens for r in ok) - reasoning,
        mean_reasoning_tokens=reasoning / len(thought),
        answered=len(answers),
        **latency_stats(ANSWER_TTFT, answers),
    )


def with_reasoning(result: CellResult, records: Sequence[RequestRecord]) -> CellResult:
    figures = reasoning_figures(records)
    return result if figures is None else result.model_copy(update={"reasoning": figures})
