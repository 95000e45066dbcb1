"""Client isolation: the scheduler figures, the starved-client flag, and a launched server that
really gets the configured priority and CPUs (read back from /proc)."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest

from engine.load.schedstat import (
    CpuFigures,
    CpuSample,
    between,
    parse_involuntary_switches,
    parse_proc_stat,
    parse_schedstat,
    sample,
)
from engine.plan import Cell
from engine.profiles import ProfileError, apply_overrides, load_profile
from engine.report.metrics import ClientFigures, summarize_cell
from engine.report.model import CLIENT_STARVED
from engine.server.isolation import resolve
from engine.server.launcher import LaunchSpec, NotSupportedError, ServerLauncher, check_mode, server_spec
from engine.server.proctree import descendants
from engine.values import format_cpus, parse_cpus
from tests.test_metrics import rec

CELL = Cell(index=0, concurrency=2, input_len=10, output_len=5, num_prompts=1, warmup_requests=0, warmup_output_len=1)


def test_schedstat_status_and_proc_stat_parsing():
    assert parse_schedstat("60000000 2790000000 412\n") == (0.06, 2.79)
    assert parse_involuntary_switches("Name:\tx\nvoluntary_ctxt_switches:\t7\nnonvoluntary_ctxt_switches:\t42\n") == 42
    busy, steal, total = parse_proc_stat("cpu  100 5 20 800 10 1 4 60 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    assert (busy, steal, total) == (130, 60, 1000)
    a = CpuSample(wall=10.0, on_cpu_s=1.0, wait_s=2.0, involuntary=5, host=(100.0, 0.0, 1000.0))
    b = CpuSample(wall=13.0, on_cpu_s=1.06, wait_s=4.79, involuntary=9, host=(1100.0, 100.0, 2200.0))
    f = between(a, b)
    assert f.wall_s == 3.0 and f.on_cpu_s == pytest.approx(0.06) and f.run_queue_share == pytest.approx(0.93)
    assert f.involuntary_switches == 4 and f.host_cpu_util == pytest.approx(1000 / 1200)
    assert f.host_steal == pytest.approx(100 / 1200)


def test_this_kernel_reports_the_threads_figures():
    f = between(sample(), sample())
    assert f.on_cpu_s is not None and f.run_queue_wait_s is not None and f.involuntary_switches is not None


def test_a_starved_client_flags_the_cell_with_the_reason():
    records = [rec(0, 0.1, 0.5, [(0.1, 1), (0.1, 1), (0.2, 2)])]
    starved = CpuFigures(
        wall_s=3.3, on_cpu_s=0.06, run_queue_wait_s=2.79, involuntary_switches=400, host_cpu_util=1.0, host_steal=0.0
    )
    result = summarize_cell(CELL, records, 3.3, 1, ClientFigures(0.06, [0.0001] * 10, starved))
    assert result.flag_codes() == [CLIENT_STARVED]
    assert "waited for a CPU 85% of the cell" in result.flags[0].reason and "100% busy" in result.flags[0].reason
    assert result.client_run_queue_share == pytest.approx(2.79 / 3.3) and result.client_involuntary_switches == 400
    calm = CpuFigures(wall_s=3.3, on_cpu_s=0.06, run_queue_wait_s=0.05, involuntary_switches=3)
    assert not summarize_cell(CELL, records, 3.3, 1, ClientFigures(0.06, [0.0001] * 10, calm)).flags
    # Absent where the kernel does not tell: None, never 0, and no flag.
    absent = summarize_cell(CELL, records, 3.3, 1, ClientFigures(0.06, [0.0001] * 10, CpuFigures(wall_s=3.3)))
    assert absent.client_run_queue_share is None and absent.host_cpu_util is None and not absent.flags


def test_cpu_lists():
    assert (
        parse_cpus("0-3,8, 10-11") == {0, 1, 2, 3, 8, 10, 11} and format_cpus({0, 1, 2, 3, 8, 10, 11}) == "0-3,8,10-11"
    )
    for bad in ("", "a-b", "3-1", "1;2"):
        with pytest.raises(ValueError):
            parse_cpus(bad)
    with pytest.raises(ProfileError, match=r"isolation\.server_cpus"):
        apply_overrides(load_profile("cpu-tiny"), **{"isolation.server_cpus": "x"})


def test_automatic_isolation_by_mode():
    profile = load_profile("cpu-tiny")
    auto = resolve(profile.isolation, "server", False, "cpu")
    assert auto.server_idle and auto.server_nice == 0 and "chrt --idle 0" in server_spec(profile, "m", 1).shell()
    usable = sorted(os.sched_getaffinity(0))
    if len(usable) >= 2:  # a CPU-backend server leaves the first CPU to the client
        assert auto.client_cpus == str(usable[0]) and parse_cpus(auto.server_cpus) == set(usable[1:])
    gpu = resolve(profile.isolation, "server", False, "nvidia")
    assert gpu.server_idle and gpu.server_cpus is None and gpu.client_cpus is None
    for mode, docker in (("external", False), ("server", True)):
        iso = resolve(profile.isolation, mode, docker, "nvidia")
        assert not iso.server_idle and iso.server_nice == 0
    # A nice value given instead: no SCHED_IDLE; 0 turns isolation off.
    assert not resolve(
        apply_overrides(profile, **{"isolation.server_nice": 15}).isolation, "server", False, "cpu"
    ).server_idle
    off = resolve(apply_overrides(profile, **{"isolation.server_nice": 0}).isolation, "server", False, "cpu")
    assert (
        not off.server_idle
        and off.server_nice == 0
        and "chrt" not in server_spec(apply_overrides(profile, **{"isolation.server_nice": 0}), "m", 1).shell()
    )
    chosen = apply_overrides(profile, **{"isolation.server_nice": 5, "isolation.server_cpus": "0"})
    spec = server_spec(chosen, "/models/x", 8000)
    assert "nice -n 5 taskset -c 0 " in spec.shell() and spec.env["VLLM_CPU_OMP_THREADS_BIND"] == "0"
    docker = server_spec(apply_overrides(load_profile("deepseek-r1-mi355x"), **{"isolation.server_cpus": "0"}), "m", 1)
    assert "--cpuset-cpus=0" in docker.command and "nice" not in docker.command


def test_cpus_outside_this_host_are_bad_input():
    usable = os.sched_getaffinity(0)
    profile = apply_overrides(load_profile("cpu-tiny"), **{"isolation.client_cpus": str(max(usable) + 1)})
    with pytest.raises(NotSupportedError, match=r"isolation\.client_cpus"):
        check_mode(profile)


# A stand-in server with a child process (as vLLM's engine core is), both sleeping.
CHILD = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
)


def _nice(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[16])


def test_a_launched_server_and_its_children_get_the_priority_and_cpus(tmp_path):
    cpu = min(os.sched_getaffinity(0))
    profile = apply_overrides(
        load_profile("cpu-tiny"),
        **{"isolation.server_idle": True, "isolation.server_nice": 7, "isolation.server_cpus": str(cpu)},
    )
    iso = resolve(profile.isolation, "server", False, "cpu")
    spec = LaunchSpec([sys.executable, "-c", CHILD], {}, "http://127.0.0.1:9", iso)
    launcher = ServerLauncher(spec, tmp_path / "server.log", timeout_s=30)

    async def start_only():  # the fake never answers /health: start the process, do not wait for it
        launcher._wait_ready = lambda observer: asyncio.sleep(0)
        await launcher.start(lambda e: None)

    asyncio.run(start_only())
    try:
        keeper = launcher.proc.pid  # engine/server/supervisor.py: the server is its child
        deadline = time.monotonic() + 60
        while len(descendants(keeper)) < 2:
            alive = launcher.proc.poll() is None
            log = (tmp_path / "server.log").read_text()[-2000:]
            assert alive and time.monotonic() < deadline, f"no server child (keeper alive: {alive}); log:\n{log}"
            time.sleep(0.05)
        for p in descendants(keeper):
            assert _nice(p) == 7 and os.sched_getaffinity(p) == {cpu} and os.sched_getscheduler(p) == os.SCHED_IDLE
        # The keeper copying the server's log is not starved with it.
        assert os.sched_getscheduler(keeper) != os.SCHED_IDLE and _nice(keeper) == _nice(os.getpid())
        assert f"chrt --idle 0 nice -n 7 taskset -c {cpu}" in (tmp_path / "server.log").read_text()
    finally:
        launcher.stop_sync()
