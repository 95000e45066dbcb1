"""Bad input found before anything starts (exit code 2): each message names the field or flag
and what to do. Called by the headless command line and by the TUI before a run."""

from __future__ import annotations

import math
import os
import resource
import tempfile
from pathlib import Path

from engine.load.datasets import DatasetError, check_files
from engine.load.rayworkers import RayUnavailable, check_address
from engine.plan import Cell, build_plan
from engine.profiles import ResolvedProfile
from engine.report.diskspace import free_bytes, human, plan_bytes
from engine.report.results import read_summary
from engine.run.resume import cell_key, result_key
from engine.server.launcher import NotSupportedError, check_mode
from engine.values import parse_range

# Besides one socket per request in flight: the server's log, results files, the control plane.
SPARE_FILES = 64
# Poisson arrivals bunch: over a deadline's window, allow this much above rate x deadline.
BURST_MARGIN = 1.25
# A dataset whose answers' lengths are not known ahead (sharegpt, jsonl): tokens assumed per answer.
DATASET_OUTPUT_GUESS = 1024
# Free space below this many times the estimate: a warning (the estimate is of requests.jsonl and the
# summary; a launched server's log and the telemetry add to it).
SPACE_MARGIN = 2


class PreflightError(Exception):
    pass


def preflight(profile: ResolvedProfile, results_root: Path, resume_dir: Path | None = None) -> list[str]:
    """Raise PreflightError for input that cannot run; return notes on what was adjusted. A resume
    (`resume_dir`) writes into its own folder, only the cells it has not finished."""
    try:
        check_mode(profile)
    except NotSupportedError as exc:
        raise PreflightError(str(exc)) from None
    if profile.load.ray_address:
        try:  # ray.init waits minutes for a cluster that is not there: find out now
            check_address(profile.load.ray_address)
        except RayUnavailable as exc:
            raise PreflightError(str(exc)) from None
    _check_results_root(results_root)
    _check_tokenizer(profile)
    try:  # a dataset or trace file: read now, so a bad line is exit 2 before anything is launched
        check_files(profile.grid)
    except DatasetError as exc:
        raise PreflightError(str(exc)) from None
    plan = build_plan(profile.grid)
    if not plan:  # a search makes its cells as it goes, doubling: give it every socket allowed
        return _search_file_limit()
    if resume_dir is not None:
        done = {result_key(c) for c in read_summary(resume_dir / "summary.json").cells}
        todo, results_root = [c for c in plan if cell_key(c) not in done], resume_dir
    notes = _free_space(todo if resume_dir is not None else plan, profile, results_root)
    return notes + _open_file_limit(max(plan, key=lambda c: worst_in_flight(c, profile)[0]), profile)


def _free_space(plan: list[Cell], profile: ResolvedProfile, root: Path) -> list[str]:
    """Refuse a run whose results cannot fit in the results folder's free space; warn when they
    leave little margin. The estimate serialises a request record as the run writes it
    (engine/report/diskspace.py: about 12 bytes per output token and 0.4 KB per request)."""
    g = profile.grid
    guess = parse_range(g.output_len_range)[1] if g.output_len_range else DATASET_OUTPUT_GUESS
    need = plan_bytes(plan, guess)
    free = free_bytes(root)
    requests = sum(c.num_prompts + c.warmup_requests for c in plan)
    what = f"this run writes about {human(need)} ({requests} requests in {len(plan)} cells)"
    if free < need:
        raise PreflightError(
            f"the results folder {root} has {human(free)} free and {what}: free space there, choose another "
            "folder with --results, or run fewer requests (--prompts-per-concurrency, fewer cells)"
        )
    if free < SPACE_MARGIN * need:
        return [f"warning: the results folder {root} has {human(free)} free and {what}: little room to spare"]
    return []


def _search_file_limit() -> list[str]:
    """A search's probes can double far: raise the soft open-file limit to the hard one; the search
    stops, naming the client's limit, before a probe that would need more (open_files_left)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = 1 << 20 if hard == resource.RLIM_INFINITY else hard  # Linux caps it at fs.nr_open anyway
    if soft == resource.RLIM_INFINITY or soft >= target:
        return []
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return []  # kept as it was: the search stops at it, saying so
    return [f"raised the open-file limit from {soft} to {target} (ulimit -Hn) for the search's probes"]


def open_files_left() -> int | None:
    """Requests in flight the open-file limit allows (one socket each, beside SPARE_FILES); None: no limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else max(0, soft - SPARE_FILES)


def worst_in_flight(cell: Cell, profile: ResolvedProfile) -> tuple[int, str]:
    """The most requests a cell can have in flight (one socket each), and how that was bounded.

    A closed loop: its concurrency. An open loop with a cap (--max-concurrency): the cap. Uncapped,
    a server that stalls lets every scheduled request pile up until the request deadline gives the
    oldest up: at most the cell's requests, and at most about its highest rate x deadline (with a margin
    for Poisson bursts). A trace has no single rate: its rows."""
    if not cell.open_loop:
        return cell.concurrency, f"concurrency {cell.concurrency}"
    if cell.concurrency:
        return cell.concurrency, f"cell {cell.label}'s cap of {cell.concurrency} in flight (--max-concurrency)"
    why = f"cell {cell.label} (no cap on requests in flight: up to all its {cell.num_prompts} requests"
    g = profile.grid
    # The longest answer sets the request deadline; a dataset's lengths are per request: its range's
    # top, else unknown (then only the cell's request count bounds it).
    longest = cell.output_len or (parse_range(g.output_len_range)[1] if g.output_len_range else 0)
    if (rate := cell.shape.peak_rate()) and longest:
        deadline = profile.load.deadline_s(longest)
        # Multi-turn: the rate is of conversations, each holding a request for up to T turns.
        by_deadline = math.ceil(rate * max(1, cell.turns) * deadline * BURST_MARGIN)
        if by_deadline < cell.num_prompts:
            return by_deadline, f"{why}, about rate x request deadline {deadline:.0f} s = {by_deadline})"
    return cell.num_prompts, why + ")"


def _check_results_root(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".llmbench-probe-"):
            pass
    except OSError as exc:
        raise PreflightError(
            f"the results folder {root} cannot be written ({exc.strerror or exc}): choose another with --results"
        ) from None


def _check_tokenizer(profile: ResolvedProfile) -> None:
    tok = profile.model.tokenizer
    # A path, not a Hugging Face id (which has one slash, org/name, and no leading dot, tilde or slash).
    looks_like_path = tok and (tok.startswith((".", "~", os.sep)) or tok.count("/") > 1)
    if looks_like_path and not Path(tok).expanduser().exists():
        raise PreflightError(
            f"model.tokenizer (--tokenizer): {tok} does not exist; give a folder that holds tokenizer files"
        )


def _open_file_limit(cell: Cell, profile: ResolvedProfile) -> list[str]:
    in_flight, why = worst_in_flight(cell, profile)
    needed = in_flight + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return []
    if hard != resource.RLIM_INFINITY and hard < needed:
        if cell.open_loop and not cell.concurrency:
            what = f"cap the requests in flight with --max-concurrency {max(1, hard - SPARE_FILES)} or lower"
        elif cell.open_loop:
            what = "lower --max-concurrency"
        else:
            what = "lower --concurrency"
        raise PreflightError(
            f"{why} needs about {needed} open files, and this shell allows at most {hard} (ulimit -Hn): "
            f"raise the hard limit, or {what}"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return [f"raised the open-file limit from {soft} to {needed} for {why}"]
