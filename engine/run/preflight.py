"""Bad input found before anything starts (exit code 2): each message names the field or flag
and what to do. Called by the headless command line and by the TUI before a run."""

from __future__ import annotations

import os
import resource
import tempfile
from pathlib import Path

from engine.load.datasets import DatasetError, check_files
from engine.load.rayworkers import RayUnavailable, check_address
from engine.plan import build_plan
from engine.profiles import ResolvedProfile
from engine.server.launcher import NotSupportedError, check_mode

# Besides one socket per request in flight: the server's log, results files, the control plane.
SPARE_FILES = 64


class PreflightError(Exception):
    pass


def preflight(profile: ResolvedProfile, results_root: Path) -> list[str]:
    """Raise PreflightError for input that cannot run; return notes on what was adjusted."""
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
    return _open_file_limit(max(c.concurrency for c in build_plan(profile.grid)))


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


def _open_file_limit(concurrency: int) -> list[str]:
    needed = concurrency + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return []
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise PreflightError(
            f"concurrency {concurrency} needs about {needed} open files, and this shell allows at most {hard} "
            f"(ulimit -Hn): raise the hard limit, or lower --concurrency"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return [f"raised the open-file limit from {soft} to {needed} for concurrency {concurrency}"]
