"""Command line: the parser shared with the TUI's entry point, and the headless run.

Exit codes: 0 success; 1 the run failed; 2 bad input, before anything is launched; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.exits import EXIT_BAD_INPUT, EXIT_OK
from engine.options.argv import add_options, flag_value, typed_overrides
from engine.options.parse import parse_int_list
from engine.options.table import DEFAULT_PROFILE, OVERRIDES
from engine.profiles import ProfileError, ResolvedProfile, apply_overrides, bundled_names, load_profile
from engine.run.unmask import key_env, load_resumed
from engine.workload import cell_lines, plan_summary, workload_notes

# The run's machinery (backends, the launcher, httpx, the run process, the console) is imported by
# the functions that use it: `--help`, the parser and the TUI's start load none of it.

_int_list = flag_value(parse_int_list)


def _worker_counts(text: str) -> list[int]:
    """selftest --workers 1,2,4: each a number of load workers from 1 to 512."""
    counts = _int_list(text)
    if any(not 1 <= n <= 512 for n in counts):
        raise argparse.ArgumentTypeError(f"{text!r}: each number of load workers must be from 1 to 512, e.g. 1,2,4")
    return counts


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llmbench-tui",
        description="Benchmark vLLM: launch it, drive a concurrency x ISL/OSL grid, save and plot the results.",
        argument_default=argparse.SUPPRESS,  # a flag overrides the profile only when typed
    )
    add_options(p)  # engine/options/table.py: every option, declared once
    return p


def resolve_args(args: argparse.Namespace) -> ResolvedProfile:
    """The profile the flags name, with the flags typed applied; an error names the flag."""
    profile = load_profile(getattr(args, "profile", DEFAULT_PROFILE))
    typed, typed_as = typed_overrides(args)
    if "endpoint" in typed and "mode" not in typed:
        typed["mode"] = "external"
    return apply_overrides(profile, typed_as, **typed) if typed else profile


def _err(message: str) -> None:
    print(f"llmbench-tui: error: {message}", file=sys.stderr)


def check_recipe(profile: ResolvedProfile, out=sys.stderr) -> bool:
    """Check the recipe's flags with its backend's installed parser. False when the run must not go ahead."""
    from engine.server.backends import backend_for

    recipe, backend = profile.recipe, backend_for(profile)
    name = backend.label
    in_image = profile.docker and recipe.docker_image
    written = f"written for {name} {recipe.vllm_version}"
    print(f"checking recipe {recipe.name} ({written}) with the installed {name}'s parser...", file=out)
    check = backend.check_flags(profile.model.id, recipe.args)
    if check.unavailable:
        print(f"warning: flags not checked: {check.unavailable}", file=out)
        return True
    if check.ok:
        print(f"recipe flags accepted by {name} {check.version}", file=out)
        return True
    for line in check.explain():
        level = "warning" if in_image else "error"
        print(f"{level}: recipe {recipe.name}: {line}", file=out)
    if in_image:
        print(
            f"warning: these flags are fine in the recipe's own image {recipe.docker_image} "
            f"({name} {recipe.vllm_version}), but not on the installed {name} {check.version}",
            file=out,
        )
        return True
    variant = f"{recipe.name}-{backend.name}{'.'.join(check.version.split('.')[:2])}"
    print(
        f"error: the recipe would run on the installed {name} {check.version}, which rejects it: "
        f"use --docker to run its image, or a profile whose recipe targets this vLLM (e.g. {variant})",
        file=out,
    )
    return False


def dry_run(profile: ResolvedProfile) -> int:
    from engine.load.datasets import DatasetError, check_files
    from engine.server.launcher import LaunchError, check_mode, launch_preview

    out = sys.stdout
    print(f"profile: {profile.name} — {profile.description}", file=out)
    print(
        f"model: {profile.model.id}   hardware: {profile.hardware.name} ({profile.hardware.accelerator})   "
        f"recipe: {profile.recipe.name} (vLLM {profile.recipe.vllm_version})   mode: {profile.mode}",
        file=out,
    )
    for note in profile.recipe.corrections:
        print(f"  correction: {note}", file=out)
    print(f"plan: {plan_summary(profile)}", file=out)
    for line in cell_lines(profile):
        print(f"  {line}", file=out)
    for note in workload_notes(profile):
        print(note, file=out)
    try:  # a dataset or trace file that a real run would refuse
        check_files(profile.grid)
    except DatasetError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    if profile.mode == "external":
        print(
            f"endpoint: {profile.endpoint or '(none: give --endpoint URL)'}; nothing is launched in external mode",
            file=out,
        )
        return EXIT_OK if profile.endpoint else EXIT_BAD_INPUT
    check_mode(profile)
    try:
        preview = launch_preview(profile, resolve_engine_args=profile.mode == "inprocess")
    except LaunchError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    where = " (passed into the container with -e):" if profile.docker else ":"
    print(f"environment set by the profile{where}", file=out)
    for k, v in preview.env.items():
        print(f"  {k}={v}", file=out)
    if not preview.env:
        print("  (none)", file=out)
    print(preview.isolation.describe(), file=out)
    in_process = "in-process engine (vLLM's AsyncLLM in the run process, its engine core a child process):"
    print(in_process if profile.mode == "inprocess" else "command:", file=out)
    print(f"  {preview.command}", file=out)
    out.flush()
    return EXIT_OK if check_recipe(profile, out) else EXIT_BAD_INPUT


def resume_profile(args: argparse.Namespace) -> ResolvedProfile:
    """The profile of the run to resume; refuses what cannot be resumed (exit 2)."""
    from engine.report.catalog import find_run

    run_dir = args.resume
    typed = sorted(
        f"--{k.replace('_', '-')}" for k in vars(args) if k in OVERRIDES or k == "profile" or k.startswith("sweep_")
    )
    if typed:
        raise ProfileError(f"--resume continues {run_dir} with its own profile: leave out {', '.join(typed)}")
    entry = find_run(run_dir.parent, str(run_dir))
    if entry is None or entry.summary is None:
        why = entry.problem if entry else "it holds no summary.json"
        raise ProfileError(f"--resume {run_dir}: not a results folder ({why})")
    if entry.running:
        raise ProfileError(f"--resume {run_dir}: the run is still running (pid {entry.summary.pid}): attach to it")
    if entry.status == "completed":
        raise ProfileError(f"--resume {run_dir}: nothing to resume, the run completed")
    # Its secrets were masked when saved: the resuming command gives them again (--api-key, its environment).
    return load_resumed(run_dir / "profile.toml", args)


def run_headless(args: argparse.Namespace) -> int:
    from engine.headless.follow import follow_to_the_end, print_outcome
    from engine.run.preflight import PreflightError, preflight
    from engine.run.process import RunProcess
    from engine.server.backends import backend_for
    from engine.server.launcher import NotSupportedError, check_mode

    if getattr(args, "list_profiles", False):
        for name in bundled_names("run"):
            print(name)
        return EXIT_OK
    from engine.headless.sweep import resume_sweep, start_sweep, typed_sweep
    from engine.sweep.model import is_sweep

    if hasattr(args, "resume") and is_sweep(args.resume):
        return resume_sweep(args)
    try:
        profile = resume_profile(args) if hasattr(args, "resume") else typed_sweep(args, resolve_args(args))
    except ProfileError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    if profile.sweep is not None:  # many server variants, each a run (engine/sweep)
        return start_sweep(args, profile)
    try:
        if getattr(args, "dry_run", False):
            return dry_run(profile)
        results_root = getattr(args, "results", Path("results"))
        for note in preflight(profile, results_root, getattr(args, "resume", None)):
            print(note, file=sys.stderr)
        # Importing vLLM's parser costs ~20 s: a real run checks only a recipe written for another
        # vLLM release. One written for this release meets the server's own parser, whose
        # rejection ends the run with exit code 2 all the same.
        launched = profile.mode in ("server", "inprocess")
        other_release = launched and profile.recipe.vllm_version != backend_for(profile).installed_version()
        if other_release and not check_recipe(profile):
            return EXIT_BAD_INPUT
        check_mode(profile)
    except (NotSupportedError, PreflightError) as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    detach = getattr(args, "detach", False)
    env = key_env(args)
    resume_dir = getattr(args, "resume", None)
    handle = RunProcess.start(profile, results_root, tied=not detach, resume_dir=resume_dir, env=env)
    if detach:
        print(f"started in the background (pid {handle.pid}); follow it with: llmbench-tui attach {handle.run_dir}")
        print(f"results: {handle.run_dir}")
        return EXIT_OK
    return print_outcome(follow_to_the_end(handle, stops_run=True))


def _selftest_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llmbench-tui selftest",
        description="How much load this host's client measures truthfully: a local endpoint streams tokens on an "
        "exact schedule; the client's error on every inter-token gap is measured at rising concurrency.",
    )
    p.add_argument("--levels", type=_int_list, default=[1, 4, 16, 64, 128, 256, 512], help="concurrency levels")
    p.add_argument("--itl-ms", type=float, default=10.0, help="gap between tokens on the schedule")
    p.add_argument("--ttft-ms", type=float, default=20.0)
    p.add_argument("--output-len", type=int, default=64, help="tokens per request")
    p.add_argument("--threshold-ms", type=float, default=0.1, help="p99 |ITL error| a level must stay under")
    p.add_argument(
        "--compare",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure `vllm bench serve` (needs vLLM and --tokenizer or the tiny model)",
    )
    p.add_argument(
        "--tokenizer", help="tokenizer folder for vllm bench serve (default: the tiny model, built if needed)"
    )
    p.add_argument(
        "--contend",
        type=int,
        default=0,
        metavar="N",
        help="run each level beside N CPU-burning processes, as equals and under SCHED_IDLE (isolated)",
    )
    p.add_argument(
        "--workers",
        type=_worker_counts,
        default=[1],
        metavar="N[,N...]",
        help="measure our client with each number of load worker processes, e.g. 1,2,4",
    )
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run those workers as Ray actors on this cluster (HOST:PORT, or auto for one on this host)",
    )
    return p


def selftest_main(argv: list[str]) -> int:
    from engine.bench.selftest import run_selftest

    args = _selftest_parser().parse_args(argv)
    if args.ray:
        from engine.load.rayworkers import RayUnavailable, check_address

        try:
            check_address(args.ray)
        except RayUnavailable as exc:
            print(f"llmbench-tui selftest: error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    tokenizer = args.tokenizer
    if args.compare and not tokenizer:
        from engine.server.tinymodel import ensure_tiny_model

        tokenizer = str(ensure_tiny_model(lambda m: print(m, file=sys.stderr)))
    from engine.load.rayworkers import RayUnavailable

    try:
        return run_selftest(
            args.levels,
            args.itl_ms,
            args.ttft_ms,
            args.output_len,
            args.threshold_ms,
            args.compare,
            tokenizer,
            contend=args.contend,
            workers=args.workers,
            ray_address=args.ray,
        )
    except RayUnavailable as exc:  # no Ray, no cluster at the address, too few CPUs: bad input
        print(f"llmbench-tui selftest: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def compare_entry(argv: list[str]) -> int:
    from engine.headless.compare import compare_main

    return compare_main(argv)


def report_entry(argv: list[str]) -> int:
    from engine.headless.report import report_main

    return report_main(argv)


def runs_entry(name: str):
    """A subcommand of engine/headless/runs.py, imported only when it runs (the CLI starts fast)."""

    def entry(argv: list[str]) -> int:
        from engine.headless import runs

        return runs.COMMANDS[name](argv)

    return entry


SUBCOMMANDS = {
    "selftest": selftest_main,
    "compare": compare_entry,
    "report": report_entry,
    "ls": runs_entry("ls"),
    "attach": runs_entry("attach"),
    "stop": runs_entry("stop"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    args = build_parser().parse_args(argv)
    return run_headless(args)


if __name__ == "__main__":  # `python -m engine.headless.cli`: headless runs and subcommands, no TUI
    sys.exit(main())
