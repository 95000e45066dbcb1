"""The command line's sweeps: `--sweep-flag`, `--sweep-env`, `--sweep-recipes` or a profile's
`[sweep]` table; `--dry-run` lists every variant's environment and command; every variant's flags
are checked with the installed vLLM's parser before anything starts (exit 2 naming the variant and
its flag); then the sweep process runs them (engine/sweep/child.py), followed here or detached.
`--resume SWEEP_DIR` goes on with a stopped or broken sweep. Exit codes as for a run: 0 every
variant done, 1 a variant failed (each listed), 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from engine.headless.follow import EXIT_BY_STATUS, follow_to_the_end, say
from engine.options.table import OVERRIDES
from engine.profiles import ProfileError, ResolvedProfile
from engine.report.catalog import run_process_alive
from engine.report.results import new_run_dir
from engine.run.childbase import PROFILE_FILE
from engine.run.unmask import key_env, load_resumed
from engine.sweep.model import read_sweep
from engine.sweep.variants import VariantPlan, expand
from engine.sweepspec import with_typed


def typed_sweep(args: argparse.Namespace, profile: ResolvedProfile) -> ResolvedProfile:
    """The profile with the typed sweep axes added to its [sweep] table (sweep None: one run)."""
    spec = with_typed(
        profile.sweep,
        getattr(args, "sweep_flag", []),
        getattr(args, "sweep_env", []),
        getattr(args, "sweep_recipes", []),
    )
    return profile.model_copy(update={"sweep": spec})


def check_variants(plans: list[VariantPlan], out=sys.stderr) -> bool:
    """Every variant's flags through its backend's installed parser; False names each one rejected."""
    from engine.server.backends import backend_for

    print(f"checking the flags of {len(plans)} variants with the installed vLLM's parser...", file=out)
    ok = True
    for plan in plans:
        profile = plan.profile
        check = backend_for(profile).check_flags(profile.model.id, profile.recipe.args)
        if check.unavailable:
            print(f"warning: flags not checked: {check.unavailable}", file=out)
            return True
        for line in check.explain():
            ok = False
            print(f"error: variant {plan.name!r} ({plan.run}): {line}", file=out)
    if ok:
        print(f"every variant's flags accepted by vLLM {check.version}", file=out)
    return ok


def dry_run_sweep(profile: ResolvedProfile, plans: list[VariantPlan]) -> int:
    from engine.server.launcher import LaunchError, launch_preview
    from engine.workload import cell_lines, plan_summary

    out = sys.stdout
    print(f"sweep of profile {profile.name}: {len(plans)} variants, each: {plan_summary(profile)}", file=out)
    for line in cell_lines(profile):
        print(f"  {line}", file=out)
    for n, plan in enumerate(plans, 1):
        try:
            preview = launch_preview(plan.profile)
        except LaunchError as exc:
            say(f"llmbench-tui: error: variant {plan.name!r}: {exc}")
            return EXIT_BAD_INPUT
        print(f"variant {n}/{len(plans)}: {plan.name}  (GPUs: {plan.gpus}; run folder {plan.run})", file=out)
        print("  environment: " + (" ".join(f"{k}={v}" for k, v in preview.env.items()) or "(none)"), file=out)
        print(f"  command: {preview.command}", file=out)
    out.flush()
    return EXIT_OK if check_variants(plans, out) else EXIT_BAD_INPUT


def start_sweep(args: argparse.Namespace, profile: ResolvedProfile) -> int:
    """A new sweep: its variants checked, its folder made, its process started and followed."""
    from engine.run.preflight import PreflightError, preflight
    from engine.sweep.process import create_sweep

    try:
        plans = expand(profile)
    except ProfileError as exc:
        say(f"llmbench-tui: error: {exc}")
        return EXIT_BAD_INPUT
    if getattr(args, "dry_run", False):
        return dry_run_sweep(profile, plans)
    results_root = getattr(args, "results", Path("results"))
    try:
        if profile.mode == "external":
            raise PreflightError("a sweep launches a server per variant: it cannot run in external mode")
        for note in preflight(plans[0].profile, results_root):
            say(note)
    except PreflightError as exc:
        say(f"llmbench-tui: error: {exc}")
        return EXIT_BAD_INPUT
    if not check_variants(plans):
        return EXIT_BAD_INPUT
    sweep_dir = new_run_dir(results_root, f"{profile.name}-sweep")
    create_sweep(sweep_dir, profile, plans)
    return _launch(args, profile, sweep_dir, resume=False)


def resume_sweep(args: argparse.Namespace) -> int:
    """Go on with the sweep in args.resume from its first unfinished variant and cell."""
    sweep_dir: Path = args.resume
    typed = sorted(f"--{k.replace('_', '-')}" for k in vars(args) if k in OVERRIDES or k.startswith("sweep_"))
    try:
        if typed or hasattr(args, "profile"):
            raise ProfileError(f"--resume continues {sweep_dir} with its own profile: leave out {', '.join(typed)}")
        sweep = read_sweep(sweep_dir)
        if sweep.status == "running" and run_process_alive(sweep.pid, sweep_dir):
            raise ProfileError(f"--resume {sweep_dir}: the sweep is still running (pid {sweep.pid}): attach to it")
        if all(v.finished for v in sweep.variants):
            raise ProfileError(f"--resume {sweep_dir}: nothing to resume, every variant has finished")
        profile = load_resumed(sweep_dir / PROFILE_FILE, args)
        names = [p.name for p in expand(profile)]
        if names != [v.name for v in sweep.variants]:
            raise ProfileError(f"{sweep_dir / PROFILE_FILE}: its variants are not those of sweep.json")
    except (ProfileError, FileNotFoundError, ValueError) as exc:
        say(f"llmbench-tui: error: {exc}")
        return EXIT_BAD_INPUT
    return _launch(args, profile, sweep_dir, resume=True)


def _launch(args: argparse.Namespace, profile: ResolvedProfile, sweep_dir: Path, resume: bool) -> int:
    from engine.sweep.process import SweepProcess

    detach = getattr(args, "detach", False)
    env = key_env(args)
    handle = SweepProcess.start_sweep(profile, sweep_dir, tied=not detach, resume=resume, env=env)
    if detach:
        print(f"sweep started in the background (pid {handle.pid}); follow it with: llmbench-tui attach {sweep_dir}")
        print(f"results: {sweep_dir}")
        return EXIT_OK
    return print_sweep_outcome(follow_to_the_end(handle, stops_run=True), sweep_dir)


def print_sweep_outcome(final, sweep_dir: Path) -> int:
    """Every variant's status (and why one failed), then the sweep's error and exit code."""
    try:
        sweep = read_sweep(sweep_dir)
        width = max(len(v.name) for v in sweep.variants)
        for v in sweep.variants:
            say(f"  {v.name.ljust(width)}  {v.status:<8} {v.run}" + (f"  {v.reason}" if v.error else ""), sys.stdout)
    except (OSError, ValueError) as exc:
        say(f"llmbench-tui: error: {exc}")
    if final is None:
        return EXIT_OK  # no longer following: the sweep goes on
    if final.error:
        say(f"llmbench-tui: error: {final.error}")
    say(f"results: {sweep_dir}", sys.stdout)
    return final.exit_code if final.exit_code is not None else EXIT_BY_STATUS.get(final.status, EXIT_FAILED)
