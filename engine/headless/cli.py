"""Command line: the parser shared with the TUI's entry point, and the headless run.

Exit codes: 0 success; 1 the run failed; 2 bad input, before anything is launched; 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from engine.headless.console import ConsoleObserver, curve, summary_table
from engine.loop import run as run_loop
from engine.plan import build_plan
from engine.profiles import ProfileError, ResolvedProfile, apply_overrides, bundled_names, load_profile
from engine.run.preflight import PreflightError, preflight
from engine.run.runner import EXIT_BAD_INPUT, Runner
from engine.server.launcher import LaunchError, NotSupportedError, check_mode, launch_preview
from engine.server.recipe_check import check_args, installed_vllm_version

DEFAULT_PROFILE = "cpu-tiny"


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers (e.g. 4,8,16)") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one concurrency")
    return values


def _seq_list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llmbench-tui",
        description="Benchmark vLLM: launch it, drive a concurrency x ISL/OSL grid, save and plot the results.",
        argument_default=argparse.SUPPRESS,  # a flag overrides the profile only when typed
    )
    p.add_argument("--no-ui", action="store_true", help="run headless: progress on stderr, summary on stdout")
    p.add_argument("--profile", help=f"bundled run profile name or path to a .toml (default {DEFAULT_PROFILE})")
    p.add_argument("--list-profiles", action="store_true", help="list the bundled run profiles and exit")
    p.add_argument(
        "--dry-run", action="store_true", help="print the plan, environment and launch command; launch nothing"
    )
    p.add_argument("--concurrency", type=_int_list, help="concurrency levels, e.g. 4,8,16")
    p.add_argument("--seq", type=_seq_list, help="ISL/OSL pairs, e.g. 1024/1024,8192/1024")
    p.add_argument(
        "--mode", choices=["server", "inprocess", "external"], help="launch vLLM, run it in-process, or attach"
    )
    p.add_argument("--endpoint", help="base URL of a running OpenAI-compatible server (implies --mode external)")
    p.add_argument("--model", help="name of the model to request (external mode, when the server serves several)")
    p.add_argument("--tokenizer", help="tokenizer folder or id, for servers that take text prompts")
    p.add_argument(
        "--results", type=Path, help="folder under which each run's results folder is made (default ./results)"
    )
    p.add_argument("--prompts-per-concurrency", type=int, help="requests per cell = concurrency x this")
    p.add_argument("--warmup", type=int, help="unmeasured warm-up requests before each cell")
    p.add_argument("--port", type=int, help="port for the launched server (default: a free one)")
    p.add_argument("--docker", action=argparse.BooleanOptionalAction, help="run the recipe's docker image")
    p.add_argument("--api", choices=["auto", "completions", "chat"], help="which OpenAI API to load")
    p.add_argument(
        "--prompt-format", choices=["auto", "token_ids", "text"], help="how prompts of exact length are made"
    )
    p.add_argument(
        "--request-timeout",
        type=float,
        metavar="S",
        help="give up a request after S seconds (default: 300 + 1 per output token)",
    )
    p.add_argument(
        "--max-failed-share",
        type=float,
        metavar="F",
        help="a cell with a larger share of failed requests fails the run (default 0.05)",
    )
    p.add_argument(
        "--server-nice",
        type=int,
        help="priority (nice 0-19) of a launched server, so the client gets a CPU when it needs one "
        "(default: 15 when launched on this host; 0 turns it off)",
    )
    p.add_argument(
        "--server-idle",
        action=argparse.BooleanOptionalAction,
        help="run a launched server under SCHED_IDLE (only CPU time no ordinary process wants)",
    )
    p.add_argument("--server-cpus", help="CPUs of a launched server, e.g. 2-63 (default: any)")
    p.add_argument("--client-cpus", help="CPUs of the load's thread, e.g. 0-1 (default: any)")
    return p


OVERRIDES = {
    "concurrency": "grid.concurrency",
    "seq": "grid.seq",
    "mode": "mode",
    "endpoint": "endpoint",
    "model": "model.name",
    "tokenizer": "model.tokenizer",
    "prompts_per_concurrency": "grid.prompts_per_concurrency",
    "warmup": "grid.warmup_requests",
    "port": "port",
    "docker": "docker",
    "api": "load.api",
    "prompt_format": "load.prompt",
    "request_timeout": "load.request_timeout_s",
    "max_failed_share": "load.max_failed_share",
    "server_nice": "isolation.server_nice",
    "server_idle": "isolation.server_idle",
    "server_cpus": "isolation.server_cpus",
    "client_cpus": "isolation.client_cpus",
}


def resolve_args(args: argparse.Namespace) -> ResolvedProfile:
    profile = load_profile(getattr(args, "profile", DEFAULT_PROFILE))
    typed = {OVERRIDES[k]: v for k, v in vars(args).items() if k in OVERRIDES}
    if "endpoint" in typed and "mode" not in typed:
        typed["mode"] = "external"
    return apply_overrides(profile, **typed) if typed else profile


def _err(message: str) -> None:
    print(f"llmbench-tui: error: {message}", file=sys.stderr)


def check_recipe(profile: ResolvedProfile, out=sys.stderr) -> bool:
    """Check the recipe's flags with the installed vLLM. False when the run must not go ahead."""
    recipe = profile.recipe
    in_image = profile.docker and recipe.docker_image
    print(
        f"checking recipe {recipe.name} (written for vLLM {recipe.vllm_version}) with the installed vLLM's parser...",
        file=out,
    )
    check = check_args(profile.model.id, recipe.args)
    if check.unavailable:
        print(f"warning: flags not checked: {check.unavailable}", file=out)
        return True
    if check.ok:
        print(f"recipe flags accepted by vLLM {check.vllm_version}", file=out)
        return True
    for line in check.explain():
        level = "warning" if in_image else "error"
        print(f"{level}: recipe {recipe.name}: {line}", file=out)
    if in_image:
        print(
            f"warning: these flags are fine in the recipe's own image {recipe.docker_image} "
            f"(vLLM {recipe.vllm_version}), but not on the installed vLLM {check.vllm_version}",
            file=out,
        )
        return True
    variant = f"{recipe.name}-vllm{'.'.join(check.vllm_version.split('.')[:2])}"
    print(
        f"error: the recipe would run on the installed vLLM {check.vllm_version}, which rejects it: "
        f"use --docker to run its image, or a profile whose recipe targets this vLLM (e.g. {variant})",
        file=out,
    )
    return False


def dry_run(profile: ResolvedProfile) -> int:
    out = sys.stdout
    plan = build_plan(profile.grid)
    print(f"profile: {profile.name} — {profile.description}", file=out)
    print(
        f"model: {profile.model.id}   hardware: {profile.hardware.name} ({profile.hardware.accelerator})   "
        f"recipe: {profile.recipe.name} (vLLM {profile.recipe.vllm_version})   mode: {profile.mode}",
        file=out,
    )
    for note in profile.recipe.corrections:
        print(f"  correction: {note}", file=out)
    print(f"plan: {len(plan)} cells", file=out)
    for cell in plan:
        print(
            f"  {cell.index + 1:3d}. concurrency {cell.concurrency:4d}  ISL/OSL {cell.input_len}/{cell.output_len}  "
            f"{cell.num_prompts} requests (+{cell.warmup_requests} warm-up)",
            file=out,
        )
    if profile.mode == "external":
        print(
            f"endpoint: {profile.endpoint or '(none: give --endpoint URL)'}; nothing is launched in external mode",
            file=out,
        )
        return 0 if profile.endpoint else EXIT_BAD_INPUT
    check_mode(profile)
    preview = launch_preview(profile)
    where = " (passed into the container with -e):" if profile.docker else ":"
    print(f"environment set by the profile{where}", file=out)
    for k, v in preview.env.items():
        print(f"  {k}={v}", file=out)
    if not preview.env:
        print("  (none)", file=out)
    print(preview.isolation.describe(), file=out)
    print("command:", file=out)
    print(f"  {preview.command}", file=out)
    out.flush()
    return 0 if check_recipe(profile, out) else EXIT_BAD_INPUT


async def _run_with_signals(runner: Runner):
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def interrupt(sig: signal.Signals) -> None:
        print(f"\n{sig.name}: stopping the load, saving partial results, stopping the server...", file=sys.stderr)
        task.cancel()
        for s in STOP_SIGNALS:  # a second signal must not cut the clean-up short
            loop.add_signal_handler(s, lambda: print("still stopping, please wait", file=sys.stderr))

    # SIGHUP: the terminal (an SSH session) went away; the run ends as on Ctrl-C, results saved.
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, interrupt, sig)
    return await runner.run()


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run_headless(args: argparse.Namespace) -> int:
    if getattr(args, "list_profiles", False):
        for name in bundled_names("run"):
            print(name)
        return 0
    try:
        profile = resolve_args(args)
    except ProfileError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    try:
        if getattr(args, "dry_run", False):
            return dry_run(profile)
        results_root = getattr(args, "results", Path("results"))
        for note in preflight(profile, results_root):
            print(note, file=sys.stderr)
        # Importing vLLM's parser costs ~20 s: a real run checks only a recipe written for another
        # vLLM release. One written for this release meets the server's own parser, whose
        # rejection ends the run with exit code 2 all the same.
        other_release = profile.mode == "server" and profile.recipe.vllm_version != installed_vllm_version()
        if other_release and not check_recipe(profile):
            return EXIT_BAD_INPUT
        runner = Runner(profile, ConsoleObserver(), results_root)
        outcome = run_loop(_run_with_signals(runner))
    except (NotSupportedError, PreflightError) as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    except LaunchError as exc:
        _err(str(exc))
        return exc.exit_code
    if outcome.cells:
        print(summary_table(outcome.cells))
        print(curve(outcome.cells))
    if outcome.error:
        _err(outcome.error)
    print(f"results: {outcome.results_dir}")
    return outcome.exit_code


def selftest_main(argv: list[str]) -> int:
    from engine.bench.selftest import run_selftest

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
    args = p.parse_args(argv)
    tokenizer = args.tokenizer
    if args.compare and not tokenizer:
        from engine.server.tinymodel import ensure_tiny_model

        tokenizer = str(ensure_tiny_model(lambda m: print(m, file=sys.stderr)))
    return run_selftest(
        args.levels,
        args.itl_ms,
        args.ttft_ms,
        args.output_len,
        args.threshold_ms,
        args.compare,
        tokenizer,
        contend=args.contend,
    )


def compare_entry(argv: list[str]) -> int:
    from engine.headless.compare import compare_main

    return compare_main(argv)


def report_entry(argv: list[str]) -> int:
    from engine.headless.report import report_main

    return report_main(argv)


SUBCOMMANDS = {"selftest": selftest_main, "compare": compare_entry, "report": report_entry}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    args = build_parser().parse_args(argv)
    return run_headless(args)


if __name__ == "__main__":  # `python -m engine.headless.cli`: headless runs and subcommands, no TUI
    sys.exit(main())
