"""Entry point of `llmbench-tui`: headless runs go straight to the engine (Textual is never
imported for them); otherwise the TUI opens."""

from __future__ import annotations

import sys
from pathlib import Path

from engine.exits import EXIT_BAD_INPUT, EXIT_OK
from engine.headless.cli import SUBCOMMANDS, build_parser, resolve_args, run_headless
from engine.profiles import ProfileError, apply_overrides, load_part
from engine.server.hardware import detect


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["attach"] and "--no-ui" not in argv and "-h" not in argv and "--help" not in argv:
        return attach_in_tui(argv[1:])
    if argv[:1] and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    args = build_parser().parse_args(argv)
    if getattr(args, "no_ui", False) or getattr(args, "dry_run", False) or getattr(args, "list_profiles", False):
        return run_headless(args)
    try:
        profile = resolve_args(args)
    except ProfileError as exc:
        print(f"llmbench-tui: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not hasattr(args, "profile"):
        # No profile named: the CPU default, with this host's hardware preselected.
        detected = detect()
        if detected != profile.hardware.name:
            profile = apply_overrides(profile, hardware=load_part(detected, "hardware").model_dump())
    from tui.app import LLMBenchApp  # Textual is imported only for the TUI

    LLMBenchApp(profile, getattr(args, "results", Path("results"))).run()
    return EXIT_OK


def attach_in_tui(argv: list[str]) -> int:
    """`llmbench-tui attach [RUN]`: the live screen, following a run started anywhere."""
    from engine.headless.runs import pick_run
    from engine.report.results import load_results

    args, entry = pick_run("attach", argv)
    if entry is None:
        return EXIT_BAD_INPUT
    try:
        profile, _ = load_results(entry.path)
    except (FileNotFoundError, ProfileError, ValueError) as exc:
        print(f"llmbench-tui: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from tui.app import LLMBenchApp

    LLMBenchApp(profile, args.results, attach=entry.path).run()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
