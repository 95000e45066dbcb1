"""The workload as a form: the fields a front end shows for a profile's load shape (each shape's
own: engine/shapes), its prompts (dataset), service levels and load workers, and the plan described
in words.

The TUI's setup screen shows these fields as text; the headless command line takes the same values
as flags. Each field is an entry of the option table (engine/options/table.py: label, flag, profile field,
parser, and the text a profile's value is written as), so a value means the same wherever it is typed.
`form_from_profile` and `apply_form` are inverses: a profile made from the form, saved and loaded
again, gives back the same fields.
"""

from __future__ import annotations

from dataclasses import field, make_dataclass
from typing import Any

from pydantic import ValidationError

from engine.options.parse import format_number
from engine.options.table import FORM
from engine.plan import build_plan, conversations, per_request
from engine.profiles import ResolvedProfile
from engine.shapes.registry import KINDS, by_name, kind_of
from engine.values import dataset_kind

DATASETS: dict[str, str] = {
    "fixed": "fixed ISL/OSL",
    "random": "random lengths",
    "sharegpt": "ShareGPT file",
    "jsonl": "JSONL file",
    "prefix": "shared prefix",
    "multiturn": "multi-turn",
}
# The form fields read apart from the table: the shape (a choice of engine/shapes), and the dataset
# written as two fields (its kind, and its argument).
_OWN = ("shape", "dataset", "dataset_arg")


# A profile field's errors are shown beside the form field that sets it. The grid's checks across
# fields (a random dataset without ranges, a prefix longer than an ISL...) all concern the prompts.
_FIELD_OF_PATH = {info.path: name for name, info in FORM.items() if name not in ("shape", "dataset_arg")}
_FIELD_OF_PATH["grid"] = "dataset"

# Every workload field as the form holds it: text, or the chosen option of a list (one per form
# field of the option table, the load shapes' included).
WorkloadForm = make_dataclass(
    "WorkloadForm", [(name, str, field(default=info.form_default)) for name, info in FORM.items()], frozen=True
)
WorkloadForm.__doc__ = "Every workload field as the form holds it: text, or the chosen option of a list."


def _profile_value(profile: ResolvedProfile, path: str) -> Any:
    """The value at a dotted profile path of the option table ("grid.seq")."""
    section, leaf = path.split(".")
    return getattr(getattr(profile, section), leaf)


# -- the form <-> the profile ----------------------------------------------------------------------
def form_from_profile(profile: ResolvedProfile) -> WorkloadForm:
    """The form showing a profile's workload (each field as its option writes the value back)."""
    values = {}
    for name, info in FORM.items():
        if name not in _OWN:
            value = _profile_value(profile, info.path)
            values[name] = info.form_default if value is None else info.form_text(value)
    kind, _, arg = (profile.grid.dataset or "fixed").partition(":")
    return WorkloadForm(**values, shape=kind_of(profile.grid).name, dataset=kind, dataset_arg=arg)


def visible_fields(form: WorkloadForm) -> set[str]:
    """The fields that mean something for the chosen shape, dataset, search axis and arrivals."""
    shown = {"shape", "slo", "workers"} | by_name(form.shape).visible(form)
    if form.shape != "search":  # a search's probes follow each other: no rounds (load.repeats)
        shown.add("repeats")
    if "dataset" in shown and form.dataset in ("sharegpt", "jsonl", "prefix", "multiturn"):
        shown |= {"dataset_arg"}
    if "dataset" in shown and form.dataset == "random":
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
    overrides: dict[str, Any] = {path: value for kind in KINDS for path, value in kind.clears.items()}
    overrides |= {"grid.dataset": None, "grid.input_len_range": None, "grid.output_len_range": None}
    errors: dict[str, str] = {}
    if "dataset" in shown:  # (a shape that brings its own prompts does not show it)
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
    kind = kind_of(g)
    n = len(build_plan(g)) if kind.plans_ahead else 0
    return kind.summary(g, n, f"ISL/OSL {', '.join(g.seq)}", _limits(slo))


def cell_lines(profile: ResolvedProfile) -> list[str]:
    """One line per planned cell (none for a search, whose cells are made as it goes)."""
    g = profile.grid
    lines = []
    for cell in build_plan(g) if kind_of(g).plans_ahead else []:
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
    if load.repeats > 1:
        notes.append(
            f"rounds: every cell measured {load.repeats} times, the cell order rotated each round (seeded); "
            "figures are means over the rounds with 95% confidence intervals"
        )
    if load.ray_address:
        count = "workers" if load.workers == "auto" else f"{load.workers} workers"
        notes.append(f"load: {count} as Ray actors on the cluster at {load.ray_address} (one CPU each)")
    elif load.workers != "auto" and load.workers > 1:
        notes.append(f"load: {load.workers} worker processes")
    return notes
