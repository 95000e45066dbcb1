"""Entry point of `llmbench-tui`: headless runs go straight to the engine (Textual is never
imported for them); otherwise the TUI opens."""

from __future__ import annotations

import sys

from engine.cli import build_parser, run_headless, selftest_main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["selftest"]:
        return selftest_main(argv[1:])
    args = build_parser().parse_args(argv)
    if getattr(args, "no_ui", False) or getattr(args, "dry_run", False) or getattr(args, "list_profiles", False):
        return run_headless(args)
    print(
        "llmbench-tui: the interactive TUI is not built yet; run headless with --no-ui "
        "(e.g. llmbench-tui --no-ui --profile cpu-tiny)",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
