"""A results folder that fills up: the run stops with exit 1 and the reason (on the console, in
summary.json and in `ls`), keeping every request written before the fault; and the free-space check
before a run. The full disk is a real one: a small tmpfs the test mounts (as root), filled by
another writer while the run goes, as a disk shared with others fills."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import subprocess
from pathlib import Path

import pytest

from engine.report.diskspace import AppendFile, FaultLatch, Reserve, plan_bytes, request_bytes
from tests.fake_openai import FakeConfig, FakeServer
from tests.test_runs import only_run, run_args, start, until


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs mounted for the test; skipped (saying why) where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the AppendFile tests below cover the writer alone)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> int:
    """Write zeros into folder/filler until the disk is full; returns the bytes written."""
    written = 0
    with open(folder / "filler", "wb", buffering=0) as f:
        try:
            while True:
                written += f.write(bytes(64 * 1024))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    with open(folder / "filler", "ab", buffering=0) as f:  # the last partial block too
        try:
            while True:
                written += f.write(b"\0")
        except OSError:
            pass
    return written


async def test_a_full_disk_ends_the_run_with_the_reason_and_keeps_the_requests(tiny_model, small_disk):
    results = small_disk / "results"
    async with FakeServer(FakeConfig(token_delay_s=0.01)) as server:
        args = run_args(server, tiny_model, results, "--concurrency", "2", "--prompts-per-concurrency", "200")
        proc = await start("--no-ui", *args)
        stderr = asyncio.ensure_future(proc.stderr.read())
        await until(lambda: results.is_dir() and any(results.iterdir()), "the run's folder")
        run_dir = only_run(results)
        requests = run_dir / "requests.jsonl"
        await until(lambda: requests.exists() and requests.stat().st_size > 0, "the first request written")
        fill(small_disk)
        out, err = await asyncio.wait_for(asyncio.gather(proc.stdout.read(), stderr), 120)
        await proc.wait()
    err = err.decode()
    assert proc.returncode == 1, err[-3000:]
    lines = requests.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line whole: the faulted one was cut back
    assert 0 < len(records) < 400 and all(r["ok"] for r in records)
    reason = f"no space left on device in {run_dir} after {len(records)} requests of cell c=2 16/40"
    assert reason in err, err[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and reason in summary["error"] and summary["pid"] is None
    assert summary["interrupted_cell"]["cell"] == "c=2 16/40"
    assert not (run_dir / "summary.json.tmp").exists() and not (run_dir / ".llmbench-reserve").exists()
    listing = await start("ls", "--results", str(results))
    out, _ = await listing.communicate()
    assert f"{run_dir.name}: failed: {reason}" in out.decode()


async def test_a_run_that_cannot_fit_is_refused_before_it_starts(tiny_model, small_disk):
    results = small_disk / "results"
    async with FakeServer(FakeConfig()) as server:
        args = run_args(server, tiny_model, results, "--concurrency", "4", "--prompts-per-concurrency", "2000")
        proc = await start("--no-ui", *args)
        _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 2, err.decode()[-2000:]
    assert f"the results folder {results} has" in err.decode() and "this run writes about" in err.decode()
    assert not any(results.iterdir())  # nothing launched, no run folder made


# -- the writer alone (runs anywhere) ---------------------------------------------------------


class FullAfter:
    """os.write that fails with ENOSPC once `budget` bytes have gone through, after a partial write."""

    def __init__(self, budget: int):
        self.budget, self.real = budget, os.write

    def __call__(self, fd: int, data) -> int:
        if self.budget <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = min(len(data), self.budget)
        self.budget -= n
        return self.real(fd, data[:n])


def test_a_failed_append_is_cut_back_to_the_last_whole_line_and_reported(tmp_path, monkeypatch):
    faults = FaultLatch()
    heard = []
    faults.listener = lambda: heard.append(faults.fault)
    f = AppendFile(tmp_path / "requests.jsonl", faults)
    assert f.write('{"a":1}\n') and f.write('{"a":2}\n')
    monkeypatch.setattr(os, "write", FullAfter(5))
    assert not f.write('{"a":3}\n')  # 5 bytes landed, then the disk was full
    assert not f.write('{"a":4}\n')
    monkeypatch.undo()
    assert (tmp_path / "requests.jsonl").read_text() == '{"a":1}\n{"a":2}\n'
    assert len(heard) == 1 and heard[0].what == "no space left on device"
    assert "no space left on device in" in heard[0].describe("after 2 requests of cell c=1 16/16")
    assert f.write('{"a":5}\n')  # space again (the reserve released): writes land
    f.close()
    assert (tmp_path / "requests.jsonl").read_text().splitlines()[-1] == '{"a":5}'


def test_the_reserve_holds_space_until_released(tmp_path):
    reserve = Reserve(tmp_path)
    reserve.hold(100_000)
    reserve.hold(50_000)  # never shrinks
    assert reserve.path.stat().st_size == 100_000
    reserve.release()
    assert not reserve.path.exists()


def test_the_estimate_grows_with_output_tokens():
    from engine.plan import Cell

    per_token = (request_bytes(8192) - request_bytes(128)) / (8192 - 128)
    assert 4 < per_token < 20  # the record's per-token gaps, as serialised
    small = Cell(0, 4, 16, 128, 400, 0, 0)
    large = Cell(0, 4, 16, 8192, 400, 0, 0)
    assert plan_bytes([large]) - plan_bytes([small]) == 400 * (request_bytes(8192) - request_bytes(128))


async def test_the_run_browser_shows_why_a_run_failed(tmp_path, stable_paths):
    from tests.test_compare import cell
    from tests.test_tui import tiny_profile
    from tests.test_tui_compare import write_run
    from tui.app import LLMBenchApp

    root = tmp_path / "results"
    why = f"no space left on device in {root / 'full'} after 12 requests of cell c=4 16/128 (writing requests.jsonl)"
    write_run(root, "full", [cell(1)], 2, status="failed", error=why, started_at="2026-01-04T10:00:00+0000")
    app = LLMBenchApp(tiny_profile(), root)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert f"error: {why}" in str(app.screen.query_one("#run-detail").render())


def test_a_run_whose_last_events_were_lost_is_reported_from_its_summary(tmp_path):
    """The final summary.json was written but the last events were not: the follower says why."""
    from engine.report.model import RunSummary
    from engine.report.results import SummaryFile
    from engine.run.process import RunProcess

    why = "no space left on device in X after 3 requests of cell c=1 16/16 (writing events.jsonl)"
    SummaryFile(tmp_path).write(RunSummary(profile="p", status="failed", error=why))
    (tmp_path / "events.jsonl").write_text("")
    seen = []
    final = RunProcess(tmp_path, None).follow(seen.append)
    assert (final.status, final.error, final.exit_code) == ("failed", why, 1) and seen == [final]
