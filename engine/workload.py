"""The workload as a form: the fields a front end shows for a profile's load shape (concurrency
grid, request rates, a ramp, search, trace replay), its prompts (dataset), service levels and load workers,
and the plan described in words.

The TUI's setup screen shows these fields as text; the headless command line takes the same values
as flags. Each field is an entry of the option table (engine/options/table.py: label, flag, profile field,
parser), so a value means the same wherever it is typed. `form_from_profile` and `apply_form` are
inverses: a profile made from the form, saved and loaded again, gives back the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from engine.options.table import FORM
from engine.plan import build_plan, conversations, per_request
from engine.profiles import ResolvedProfile
from engine.values import dataset_kind

SHAPES: dict[str, str] = {
    "grid": "concurrency grid",
    "rates": "request rates",
    "search": "search (SLOs)",
    "trace": "trace replay",
    "ramp": "ramp-up",
}
RAMPS = ("linear", "exponential")
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


# A profile field's errors are shown beside the form field that sets it. The grid's checks across
# fields (a random dataset without ranges, a prefix longer than an ISL...) all concern the prompts.
_FIELD_OF_PATH = {info.path: name for name, info in FORM.items() if name not in ("shape", "dataset_arg")}
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
    ramp: str = "linear"
    ramp_start: str = ""
    ramp_end: str = ""
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
    repeats: str = "1"


def format_number(x: float) -> str:
    """Exactly, and as a person would write it: 2.0 -> '2', 0.25 -> '0.25'."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def format_slo(slo: dict[str, float]) -> str:
    return ",".join(f"{name}:{format_number(ms)}" for name, ms in slo.items())


# -- the form <-> the profile ----------------------------------------------------------------------
def form_from_profile(profile: ResolvedProfile) -> WorkloadForm:
    g, load = profile.grid, profile.load
    shape = "trace" if g.trace else "search" if g.search else "rates" if g.rates else "grid"
    shape = "ramp" if g.ramp_up_strategy else shape
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
        ramp=g.ramp_up_strategy or "linear",
        ramp_start=format_number(g.ramp_up_start_rps) if g.ramp_up_start_rps else "",
        ramp_end=format_number(g.ramp_up_end_rps) if g.ramp_up_end_rps else "",
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
        repeats=str(load.repeats),
    )


def visible_fields(form: WorkloadForm) -> set[str]:
    """The fields that mean something for the chosen shape, dataset, search axis and arrivals."""
    shown = {"shape", "slo", "workers"} | ({"repeats"} if form.shape != "search" else set())
    rate_cells = form.shape in ("rates", "ramp") or (form.shape == "search" and form.search == "rate")
    if form.shape == "trace":
        return shown | {"trace", "speedup", "num_prompts", "max_concurrency"}
    shown |= {"seq", "dataset"}
    if form.shape == "grid":
        shown |= {"concurrency"}
    if form.shape == "rates":
        shown |= {"rates"}
    if form.shape == "ramp":
        shown |= {"ramp", "ramp_start", "ramp_end"}
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


def _message(name: str, text: str) -> str:
    info = FORM[name]
    return f"{info.label} ({info.flag}): {text}"


def form_overrides(form: WorkloadForm) -> tuple[dict[str, Any], dict[str, str]]:
    """The profile fields the form sets (dotted paths), and the errors by form field.

    Only what the chosen shape shows is read: a hidden field keeps the profile's value (it means
    nothing for this shape), except the fields that choose the shape, which are cleared.
    """
    shown = visible_fields(form)
    overrides: dict[str, Any] = {
        **{"grid.rates": [], "grid.search": None, "grid.trace": None, "grid.speedup": None},
        **{"grid.ramp_up_strategy": None, "grid.ramp_up_start_rps": None, "grid.ramp_up_end_rps": None},
        **{"grid.dataset": None, "grid.input_len_range": None, "grid.output_len_range": None},
    }
    errors: dict[str, str] = {}
    if form.shape != "trace":  # a trace brings its own prompts
        try:
            overrides["grid.dataset"] = _dataset(form)
        except ValueError as exc:
            errors["dataset"] = _message("dataset", str(exc))
    for name, info in FORM.items():
        if name in shown and info.form_parse is not None:
            try:
                overrides[info.path] = info.form_parse(getattr(form, name).strip())
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
    if g.ramp_up_strategy:
        ramp = f"{g.ramp_up_strategy} ramp {g.ramp_up_start_rps:g} -> {g.ramp_up_end_rps:g} req/s ({g.arrival})"
        return f"{n} cells: {ramp} x {lengths}"
    if g.rates:
        return f"{n} cells: rates {', '.join(map(format_number, g.rates))} req/s ({g.arrival}) x {lengths}"
    return f"{n} cells: concurrency {', '.join(map(str, g.concurrency))} x {lengths}"


def cell_lines(profile: ResolvedProfile) -> list[str]:
    """One line per planned cell (none for a search, whose cells are made as it goes)."""
    g = profile.grid
    lines = []
    for cell in [] if g.search else build_plan(g):
        lengths = f"{cell.seq}{per_request(cell)}" if cell.dataset else f"ISL/OSL {cell.input_len}/{cell.output_len}"
        lines.append(
            f"{cell.index + 1:3d}. {cell.pace}  {lengths}  {cell.num_prompts} requests{conversations(cell)} "
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
