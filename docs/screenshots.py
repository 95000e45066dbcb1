"""Makes the pictures in README.md and docs/: the TUI's setup screen, and the results screen of
a real run folder (`python docs/screenshots.py [RUN_DIR]`, SVG files into docs/img/)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from engine.profiles import load_profile
from engine.report.results import load_results
from tui.app import LLMBenchApp
from tui.screens.results import ResultsScreen

OUT = Path(__file__).resolve().parent / "img"
SIZE = (132, 44)


async def shoot(run_dir: Path | None) -> None:
    app = LLMBenchApp(load_profile("cpu-tiny"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.save_screenshot("tui-setup.svg", str(OUT))
        if run_dir is not None:
            _, summary = load_results(run_dir)
            await app.push_screen(ResultsScreen(summary.cells, f"{summary.profile}: {summary.status}", str(run_dir)))
            await pilot.pause()
            app.save_screenshot("tui-results.svg", str(OUT))


if __name__ == "__main__":
    asyncio.run(shoot(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
