"""The workload as a form: the fields a front end shows for a profile's load shape (concurrency
grid, request rates, search, trace replay), its prompts (dataset), service levels and load workers,
and the plan described in words.

The TUI's setup screen shows these fields as text; the headless command line takes the same values
as flags. Both parse them with the parsers here (and the profile's own), so a value means the same
wherever it is typed. `form_from_profile` and `apply_form` are inverses: a profile made from the
form, saved and loaded again, gives back the same fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from pydantic import ValidationError

from engine.plan import build_plan, conversations, per_request
from engine.profiles import ResolvedProfile, dataset_kind, parse_range, parse_seq
from engine.report.goodput import parse_slo

SHAPES: dict[str, str] = {
    "grid": "concurrency grid",
    "rates": "request rates",
    "search": "search (SLOs)",
    "trace": "trace replay",
}
DATASETS: dict[str, str] = {
    "fixed": "fixed ISL/OSL",
    "random": "random lengths",
    "sharegpt": "ShareGPT file",
    "jsonl": "JSONL file",
    "prefix": "shared prefix",
    "multiturn": "multi-turn",
}
ARRIVALS = ("poisson", "constant", "gamma")
SEARCH_AXES = ("concurrency", "rate")
PERCENTILES = ("50", "90", "99")


@dataclass(frozen=True)
class FieldInfo:
    """How a field is named on the form, on the command line and in the profile."""

    label: str
    flag: str
    path: str  # the dotted profile field it sets
    example: str = ""


FIELDS: dict[str, FieldInfo] = {
    "shape": FieldInfo("Load shape", "--rate/--search/--trace", "grid"),
    "concurrency": FieldInfo("Concurrency", "--concurrency", "grid.concurrency", "1, 4, 16, 64"),
    "seq": FieldInfo("ISL/OSL", "--seq", "grid.seq", "1024/1024, 8192/1024"),
    "prompts": FieldInfo("Prompts x conc", "--prompts-per-concurrency", "grid.prompts_per_concurrency", "10"),
    "rates": FieldInfo("Rates (req/s)", "--rate", "grid.rates", "2, 5, 10"),
    "arrival": FieldInfo("Arrival", "--arrival", "grid.arrival"),
    "burstiness": FieldInfo("burstiness", "--burstiness", "grid.burstiness", "0.5"),
    "num_prompts": FieldInfo("Requests", "--num-prompts", "grid.num_prompts", "200"),
    "max_concurrency": FieldInfo("max in flight", "--max-concurrency", "grid.max_concurrency", "64"),
    "search": FieldInfo("Search", "--search", "grid.search"),
    "percentile": FieldInfo("percentile", "--percentile", "grid.search_percentile"),
    "search_start": FieldInfo("from", "--search-start", "grid.search_start", "1"),
    "dataset": FieldInfo("Dataset", "--dataset", "grid.dataset"),
    "dataset_arg": FieldInfo("Dataset", "--dataset", "grid.dataset", "PATH, P[:G] for prefix, T[:PATH] for multi-turn"),
    "input_len_range": FieldInfo("input", "--input-len-range", "grid.input_len_range", "100:400"),
    "output_len_range": FieldInfo("output", "--output-len-range", "grid.output_len_range", "50:200"),
    "trace": FieldInfo("Trace", "--trace", "grid.trace", "mooncake_trace.jsonl"),
    "speedup": FieldInfo("speedup", "--speedup", "grid.speedup", "2"),
    "slo": FieldInfo("SLO (ms)", "--slo", "load.slo", "ttft:500,tpot:50,e2el:10000"),
    "workers": FieldInfo("workers", "--workers", "load.workers", "4"),
}
# A profile field's errors are shown beside the form field that sets it. The grid's checks across
# fields (a random dataset without ranges, a prefix longer than an ISL...) all concern the prompts.
_FIELD_OF_PATH = {info.path: name for name, info in FIELDS.items() if name not in ("shape", "dataset_arg")}
_FIELD_OF_PATH["grid"] = "dataset"


@dataclass(frozen=True)
class WorkloadForm:
    """Every workload field as the form holds it: text, or the chosen option of a list."""

    shape: str = "grid"
    concurrency: str = ""
    seq: str = ""
    prompts: str = ""
    rates: str = ""
    arrival: str = "poisson"
    burstiness: str = ""
    num_prompts: str = ""
    max_concurrency: str = ""
    search: str = "concurrency"
    percentile: str = "99"
    search_start: str = ""
    dataset: str = "fixed"
    dataset_arg: str = ""
    input_len_range: str = ""
    output_len_range: str = ""
    trace: str = ""
    speedup: str = ""
    slo: str = ""
    workers: str = "auto"


FORM_FIELDS = tuple(f.name for f in fields(WorkloadForm))


# -- parsers shared with the command line (ValueError says what is wrong and what to write) ----
def parse_workers(text: str) -> int | str:
    """'auto' or a number of load worker processes from 1 to 512."""
    if text == "auto":
        return text
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= 512:
        raise ValueError(f"{text!r}: give a number of load workers from 1 to 512, or auto")
    return n


def parse_int_list(text: str) -> list[int]:
    """'1, 4 16' -> [1, 4, 16] (commas or spaces between); the profile checks the values."""
    parts = [p for p in re.split(r"[,\s]+", text) if p]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"{text!r} is not a list of whole numbers: write them with commas, e.g. 4, 8, 16") from None
    if not values:
        raise ValueError("give at least one, e.g. 4, 8, 16")
    return values


def parse_rates(text: str) -> list[float]:
    """'2, 5, 10' -> [2.0, 5.0, 10.0] requests per second, each above 0."""
    parts = [p for p in re.split(r"[,\s]+", text) if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"{text!r} is not a list of request rates: write req/s with commas, e.g. 2, 5, 10") from None
    if not values or any(v <= 0 for v in values):
        raise ValueError("give request rates above 0 req/s, e.g. 2, 5, 10")
    return values


def parse_seq_list(text: str) -> list[str]:
    """'1024/1024, 8192/1024' -> ['1024/1024', '8192/1024'], each checked."""
    pairs = [s.strip() for s in text.split(",") if s.strip()]
    if not pairs:
        raise ValueError("give at least one ISL/OSL pair, e.g. 1024/1024")
    for pair in pairs:
        parse_seq(pair)
    return pairs


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


def _optional(parse):
    return lambda text: parse(text) if text else None


def _checked(parse):
    """The text itself (the profile keeps it as written), once `parse` accepts it."""

    def check(text: str) -> str:
        parse(text)
        return text

    return check


def _required(parse, what: str):
    def checked(text: str):
        if not text:
            raise ValueError(f"give {what}")
        return parse(text)

    return checked


def format_number(x: float) -> str:
    """Exactly, and as a person would write it: 2.0 -> '2', 0.25 -> '0.25'."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def format_slo(slo: dict[str, float]) -> str:
    return ",".join(f"{name}:{format_number(ms)}" for name, ms in slo.items())


# -- the form <-> the profile ----------------------------------------------------------------------
def form_from_profile(profile: ResolvedProfile) -> WorkloadForm:
    g, load = profile.grid, profile.load
    shape = "trace" if g.trace else "search" if g.search else "rates" if g.rates else "grid"
    kind, _, arg = (g.dataset or "fixed").partition(":")
    return WorkloadForm(
        shape=shape,
        concurrency=", ".join(map(str, g.concurrency)),
        seq=", ".join(g.seq),
        prompts=str(g.prompts_per_concurrency),
        rates=", ".join(map(format_number, g.rates)),
        arrival=g.arrival,
        burstiness=format_number(g.burstiness),
        num_prompts=str(g.num_prompts or ""),
        max_concurrency=str(g.max_concurrency or ""),
        search=g.search or "concurrency",
        percentile=str(g.search_percentile),
        search_start=format_number(g.search_start),
        dataset=kind,
        dataset_arg=arg,
        input_len_range=g.input_len_range or "",
        output_len_range=g.output_len_range or "",
        trace=g.trace or "",
        speedup=format_number(g.speedup) if g.speedup else "",
        slo=format_slo(load.slo),
        workers=str(load.workers),
    )


def visible_fields(form: WorkloadForm) -> set[str]:
    """The fields that mean something for the chosen shape, dataset, search axis and arrivals."""
    shown = {"shape", "slo", "workers"}
    rate_cells = form.shape == "rates" or (form.shape == "search" and form.search == "rate")
    if form.shape == "trace":
        return shown | {"trace", "speedup", "num_prompts", "max_concurrency"}
    shown |= {"seq", "dataset"}
    if form.shape == "grid":
        shown |= {"concurrency"}
    if form.shape == "rates":
        shown |= {"rates"}
    if form.shape == "search":
        shown |= {"search", "percentile", "search_start"}
    if rate_cells:
        shown |= {"arrival", "num_prompts", "max_concurrency"} | ({"burstiness"} if form.arrival == "gamma" else set())
    else:
        shown |= {"prompts"}
    if form.dataset in ("sharegpt", "jsonl", "prefix", "multiturn"):
        shown |= {"dataset_arg"}
    if form.dataset == "random":
        shown |= {"input_len_range", "output_len_range"}
    return shown


def _dataset(form: WorkloadForm) -> str | None:
    arg = form.dataset_arg.strip()
    if form.dataset == "fixed":
        return None
    if form.dataset == "random":
        return "random"
    if not arg:
        what = {
            "prefix": "P[:G], the shared prefix in tokens and the requests per group",
            "multiturn": "T[:PATH], the turns per conversation (and a ShareGPT file of them)",
        }.get(form.dataset, "PATH")
        raise ValueError(f"{form.dataset} needs {what}: write it in the box beside")
    return f"{form.dataset}:{arg}"


_PARSERS = {
    "concurrency": parse_int_list,
    "seq": parse_seq_list,
    "prompts": _required(_whole, "requests per concurrency level, e.g. 10"),
    "rates": parse_rates,
    "arrival": str,
    "burstiness": _required(_number, "gamma's shape, e.g. 0.5 (burstier) or 2 (more even)"),
    "num_prompts": _optional(_whole),
    "max_concurrency": _optional(_whole),
    "search": str,
    "percentile": int,
    "search_start": _required(_number, "the first probe's load, e.g. 1"),
    "input_len_range": _optional(_checked(parse_range)),
    "output_len_range": _optional(_checked(parse_range)),
    "trace": _required(str, "the trace file's path (Mooncake-style JSONL)"),
    "speedup": _optional(_number),
    "slo": lambda text: parse_slo(text) if text else {},
    "workers": lambda text: parse_workers(text or "auto"),
}


def _message(name: str, text: str) -> str:
    info = FIELDS[name]
    return f"{info.label} ({info.flag}): {text}"


def form_overrides(form: WorkloadForm) -> tuple[dict[str, Any], dict[str, str]]:
    """The profile fields the form sets (dotted paths), and the errors by form field.

    Only what the chosen shape shows is read: a hidden field keeps the profile's value (it means
    nothing for this shape), except the fields that choose the shape, which are cleared.
    """
    shown = visible_fields(form)
    overrides: dict[str, Any] = {
        **{"grid.rates": [], "grid.search": None, "grid.trace": None, "grid.speedup": None},
        **{"grid.dataset": None, "grid.input_len_range": None, "grid.output_len_range": None},
    }
    errors: dict[str, str] = {}
    if form.shape != "trace":  # a trace brings its own prompts
        try:
            overrides["grid.dataset"] = _dataset(form)
        except ValueError as exc:
            errors["dataset"] = _message("dataset", str(exc))
    for name, parse in _PARSERS.items():
        if name in shown:
            try:
                overrides[FIELDS[name].path] = parse(getattr(form, name).strip())
            except ValueError as exc:
                errors[name] = _message(name, str(exc))
    return overrides, errors


def apply_form(profile: ResolvedProfile, form: WorkloadForm) -> tuple[ResolvedProfile | None, dict[str, str]]:
    """The profile with the form's workload, validated as a whole; or None and the errors by form
    field ("" for an error no workload field explains)."""
    overrides, errors = form_overrides(form)
    if errors:
        return None, errors
    data = profile.model_dump()
    for dotted, value in overrides.items():
        section, leaf = dotted.split(".")
        data[section][leaf] = value
    try:
        return ResolvedProfile.model_validate(data), {}
    except ValidationError as exc:
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            name = _FIELD_OF_PATH.get(".".join(loc[:2])) or _FIELD_OF_PATH.get(loc[0], "")
            text = err["msg"].removeprefix("Value error, ")
            errors.setdefault(name, _message(name, text) if name else f"{'.'.join(loc)}: {text}")
        return None, errors


# -- the plan in words (the dry run and the TUI's preview) -----------------------------------------
def _limits(slo: dict[str, float]) -> str:
    return ", ".join(f"{name} <= {format_number(ms)} ms" for name, ms in slo.items())


def plan_summary(profile: ResolvedProfile) -> str:
    """One line: how many cells, of what load, over which lengths."""
    g, slo = profile.grid, profile.load.slo
    if g.search:
        return (
            f"a search over {g.search} per ISL/OSL ({', '.join(g.seq)}) for the highest load whose "
            f"p{g.search_percentile} meets {_limits(slo) if slo else '(no --slo given)'}, from {g.search_start:g}, "
            f"at most {g.search_max_probes} probes each"
        )
    n = len(build_plan(g))
    lengths = f"ISL/OSL {', '.join(g.seq)}"
    if g.trace:
        return f"{n} cells: trace {g.trace} on its timestamps / {g.speedup or 1:g}"
    if g.rates:
        return f"{n} cells: rates {', '.join(map(format_number, g.rates))} req/s ({g.arrival}) x {lengths}"
    return f"{n} cells: concurrency {', '.join(map(str, g.concurrency))} x {lengths}"


def cell_lines(profile: ResolvedProfile) -> list[str]:
    """One line per planned cell (none for a search, whose cells are made as it goes)."""
    g = profile.grid
    lines = []
    for cell in [] if g.search else build_plan(g):
        cap = f", at most {cell.concurrency} in flight" if cell.concurrency else ""
        if cell.dataset == "trace":
            pace = f"trace {g.trace} on its timestamps / {g.speedup or 1:g}{cap}"
        elif cell.rate:
            unit = "conversations/s" if cell.turns else "req/s"
            pace = f"rate {cell.rate:g} {unit} ({g.arrival}{cap})"
        else:
            pace = f"concurrency {cell.concurrency:4d}"
        lengths = f"{cell.seq}{per_request(cell)}" if cell.dataset else f"ISL/OSL {cell.input_len}/{cell.output_len}"
        lines.append(
            f"{cell.index + 1:3d}. {pace}  {lengths}  {cell.num_prompts} requests{conversations(cell)} "
            f"(+{cell.warmup_requests} warm-up)"
        )
    return lines


def workload_notes(profile: ResolvedProfile) -> list[str]:
    """What else shapes the load beyond the plan line: prompts, SLOs, workers ([] for the defaults)."""
    g, load = profile.grid, profile.load
    notes = []
    kind = dataset_kind(g.dataset)
    seed = "a seed drawn per run" if load.seed is None else f"seed {load.seed}"
    if kind == "random":
        ranges = f"input {g.input_len_range or 'from ISL'}, output {g.output_len_range or 'from OSL'}"
        notes.append(f"prompts: random lengths per request ({ranges}; {seed})")
    elif kind is not None:
        notes.append(f"prompts: dataset {g.dataset}")
    if load.seed is not None:
        notes.append(
            f"seed: {load.seed}, explicit: every run with it sends the same prompts (a prefix cache serves repeats)"
        )
    if not load.reset_prefix_cache:
        notes.append("prefix cache: not reset between cells (load.reset_prefix_cache = false)")
    if g.rates and g.arrival == "gamma":
        notes.append(f"arrivals: gamma, burstiness {g.burstiness:g}")
    if load.slo and not g.search:
        notes.append(f"SLO: {_limits(load.slo)} (goodput per cell)")
    if load.ray_address:
        count = "workers" if load.workers == "auto" else f"{load.workers} workers"
        notes.append(f"load: {count} as Ray actors on the cluster at {load.ray_address} (one CPU each)")
    elif load.workers != "auto" and load.workers > 1:
        notes.append(f"load: {load.workers} worker processes")
    return notes
