"""The parts of summary.json that describe the run rather than a cell: the server found, the
isolation applied, the load's workers, each resume, the cell an interrupt cut short, and what a
search found. Their JSON keys are those older files carry, and every field has a default, so every summary.json
still opens."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Note(BaseModel):
    # Files are read by later versions: unknown keys are ignored rather than refused.
    model_config = ConfigDict(extra="ignore")


class ServerNote(Note):
    """What the run found the server to serve (engine.server.launcher_base.ServerInfo)."""

    model: str = ""
    root: str | None = None
    max_model_len: int | None = None
    version: str | None = None
    api: str = "completions"
    prompt_kind: str = "text"
    usage_reported: bool = True
    tokenizer: str = ""


class IsolationNote(Note):
    """The isolation the run applied between server and client (engine.server.isolation)."""

    server_nice: int = 0
    server_idle: bool = False
    server_cpus: str | None = None
    client_cpus: str | None = None
    notes: list[str] = []


class WorkersNote(Note):
    """How many worker processes sent the load, whether the tool chose that number, and why."""

    count: int | None = None  # None: a file that did not record it
    auto: bool = False
    why: str | None = None


class InterruptedCell(Note):
    """The cell an interrupt cut short: its requests stay in requests.jsonl, unsummarised."""

    cell: str = ""
    index: int = 0
    recorded: int = 0


class Resumed(Note):
    """One --resume: when, after which status, how many cells were left, which was cut short."""

    at: str = ""
    after: str = ""
    cells_left: int = 0
    cut_short: InterruptedCell | None = None


class SearchProbe(Note):
    level: float = 0.0
    cell: str = ""
    miss: str | None = None


class SearchFound(Note):
    """Per ISL/OSL, what a --search found: the best level meeting the SLOs and why it stopped."""

    seq: str = ""
    kind: str = ""
    slo: dict[str, float] = {}
    percentile: int = 99
    best: float | None = None
    sentence: str = ""
    stopped: str = ""
    probes: list[SearchProbe] = []


class PromptSeed(Note):
    """What the run's prompts, dataset draws and arrivals were drawn from (engine/run/seed.py):
    drawn per run, or explicit (`load.seed`, --seed), when the prompts repeat."""

    value: int = 0
    explicit: bool = False

    def describe(self) -> str:
        if self.explicit:
            return (
                f"seed {self.value} (explicit: the same prompts as every run with this seed; a server "
                "with prefix caching serves repeats from its cache)"
            )
        return (
            f"seed {self.value} (drawn for this run: prompts differ from other runs'; --seed {self.value} repeats them)"
        )


class RoundsNote(Note):
    """A run of several rounds (--repeat N): each round measures every cell once, in `orders[r]`
    (cell indices: the plan rotated, from the run's seed, so drift spreads over all cells); a cell's
    figures are the means over its rounds with a 95% interval by `method`."""

    repeats: int = 1
    orders: list[list[int]] = []
    method: str = ""
