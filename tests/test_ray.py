"""Load workers as Ray actors (engine.load.rayworkers): the clock-offset estimate, the address checks
and messages without a cluster (fast tier); then a real local Ray cluster (`ray start --head` on
127.0.0.1, two CPUs) driving the real vLLM: exact token counts, and a worker actor killed mid-cell
giving failed records that say why, the run going on to its next cell (integration)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.events import LoadProgress
from engine.headless.cli import main
from engine.load import rayworkers
from engine.load.prompts import Endpoint
from engine.load.rayactor import reach
from engine.load.rayreach import Reach
from engine.load.rayworkers import (
    RayPool,
    RayUnavailable,
    _RayWorker,
    _Relay,
    check_address,
    drift_ppm,
    estimate_offset,
    ray_death,
)
from engine.load.worker import WorkerConfig
from engine.profiles import apply_overrides, load_profile
from engine.run.session import RunSession
from engine.workload import workload_notes

SAFETY_S = 300  # only a hang reaches this: every wait below is on state


# -- fast: no cluster ------------------------------------------------------------------


def test_the_clock_offset_is_the_shortest_round_trips_midpoint():
    true_offset = 2.5  # the remote clock runs 2.5 s ahead of ours
    samples = []
    for t0, out_s, back_s in [(100.0, 0.004, 0.001), (101.0, 0.0004, 0.0002), (102.0, 0.010, 0.030)]:
        remote = t0 + out_s + true_offset  # read when the call arrived
        samples.append((t0, remote, t0 + out_s + back_s))
    offset, uncertainty = estimate_offset(samples)
    assert uncertainty == pytest.approx(0.0003)  # half the shortest round trip (0.6 ms)
    assert offset == pytest.approx(true_offset + 0.0001)  # midpoint: off by the asymmetry (0.2 ms) / 2
    assert abs(offset - true_offset) <= uncertainty  # the truth lies within the bound
    with pytest.raises(ValueError):
        estimate_offset([])


def test_a_ray_actors_death_in_one_line():
    text = (
        "The actor died unexpectedly before finishing this task.\n\tclass_name: _Relay\n\tpid: 42\n"
        "The actor is dead because its worker process has died. Worker exit type: SYSTEM_ERROR Worker exit "
        "detail: Worker unexpectedly exits with a connection error code 2. End of file. Some common causes..."
    )
    assert ray_death(text) == ("its worker process has died: Worker unexpectedly exits with a connection error code 2")
    assert ray_death("The actor is dead because its node has died.") == "its node has died"


async def test_a_relay_hands_messages_to_its_loop_in_the_order_sent():
    relay, got = _Relay(), []

    class Serving:
        dispatch = got.append

    relay.loop, relay.serving = asyncio.get_running_loop(), Serving()
    relay.deliver(1, ("deal", 7, [3], False))  # a threaded actor may run calls out of order
    relay.deliver(2, ("stop",))
    assert got == [] and not relay.early.keys() - {1, 2}
    relay.deliver(0, ("deal", 7, [2], False))
    await asyncio.sleep(0)
    assert got == [("deal", 7, [2], False), ("deal", 7, [3], False), ("stop",)]


def _free_port() -> int:
    """A free port outside Ray's default range for its worker processes (10002-19999)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not 10000 <= port <= 20000:
            return port


def test_without_ray_installed_ray_is_bad_input_naming_the_extra(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(rayworkers, "ray_installed", lambda: False)
    argv = ["--no-ui", "--endpoint", "http://127.0.0.1:1", "--ray", "auto", "--results", str(tmp_path / "runs")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--ray auto: Ray is not installed" in err and "pip install 'llmbench-tui[ray]'" in err
    assert not (tmp_path / "runs").exists()  # refused before anything was made
    assert main(["selftest", "--ray", "auto", "--no-compare"]) == 2
    assert "pip install 'llmbench-tui[ray]'" in capsys.readouterr().err


def test_an_unreachable_ray_address_is_bad_input_with_advice(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(rayworkers, "ray_installed", lambda: True)
    port = _free_port()  # nothing listens there
    argv = ["--no-ui", "--endpoint", "http://127.0.0.1:1", "--ray", f"127.0.0.1:{port}"]
    assert main([*argv, "--results", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert f"--ray 127.0.0.1:{port}: nothing answers at 127.0.0.1:{port}" in err and "ray start --head" in err
    with pytest.raises(RayUnavailable, match="not an address"):
        check_address("my-cluster")


def test_workers_that_cannot_reach_the_server_refuse_its_address_whatever_their_kernel():
    """Each worker's own connect decides, not its boot id: a worker in another network namespace
    shares the coordinator's kernel and not its loopback."""
    pool = RayPool(
        2, WorkerConfig(Endpoint("http://127.0.0.1:8000", "completions", "m", False), {}, 60.0, 8), "10.0.0.1:6379"
    )
    refused = reach("127.0.0.1", _free_port())  # a real refused connect: nothing listens there
    assert refused is not None and "refused" in refused.lower()
    pool.workers = [
        _RayWorker(0, None, None, host="here", same_kernel=True, reach=Reach("here", "10.0.0.1", None)),
        _RayWorker(1, None, None, host="vm", same_kernel=True, reach=Reach("vm", "10.231.0.2", refused)),
    ]
    with pytest.raises(RayUnavailable) as caught:
        pool._check_reach()
    message = str(caught.value)
    assert "http://127.0.0.1:8000 cannot be reached from 1 of the 2 load workers (vm (10.231.0.2): " in message
    assert "--endpoint http://" in message and "each worker's own loopback" in message
    pool.workers[1].reach = Reach("vm", "10.231.0.2", None)
    pool._check_reach()  # every worker connected


def test_the_dry_runs_notes_say_the_workers_are_ray_actors():
    profile = apply_overrides(load_profile("cpu-tiny"), **{"load.workers": 2, "load.ray_address": "auto"})
    assert "load: 2 workers as Ray actors on the cluster at auto (one CPU each)" in workload_notes(profile)


def test_inprocess_mode_refuses_ray(capsys, tmp_path):
    assert main(["--no-ui", "--mode", "inprocess", "--ray", "auto", "--results", str(tmp_path / "runs")]) == 2
    assert "load.ray_address = 'auto' (--ray): in-process mode" in capsys.readouterr().err


# -- a real local Ray cluster ----------------------------------------------------------


def _ray_bin() -> str:
    return str(Path(sys.executable).parent / "ray")


def _tree(pgid: int) -> set[int]:
    """The cluster's processes: those in its process group (every daemon `ray start` left), and
    every descendant of those (worker processes, which take process groups of their own)."""
    parents: dict[int, int] = {}
    group: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid, pg = int(entry), int(fields[1]), int(fields[2])
        parents[pid] = ppid
        if pg == pgid:
            group.add(pid)
    found = set(group)
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    return found


@dataclass
class Cluster:
    address: str
    pgid: int


@pytest.fixture(scope="module")
def ray_cluster():
    """A Ray head on 127.0.0.1 with two CPUs, its own ports and a short temp dir (Ray's unix socket
    paths must stay short). Stopped by killing its own processes only: `ray stop` would stop every
    Ray cluster of every user on the host."""
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'llmbench-tui[ray]'")
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    port = _free_port()
    cmd = [
        _ray_bin(),
        "start",
        "--head",
        "--node-ip-address",
        "127.0.0.1",
        "--port",
        str(port),
        "--num-cpus",
        "2",
        "--include-dashboard=false",
        "--disable-usage-stats",
        "--temp-dir",
        temp,
        "--ray-client-server-port",
        str(_free_port()),
        "--dashboard-port",
        str(_free_port()),
        "--dashboard-agent-listen-port",
        str(_free_port()),
        "--metrics-export-port",
        str(_free_port()),
        "--runtime-env-agent-port",
        str(_free_port()),
    ]
    # Ray 2.60 turns token authentication on for a new cluster when ~/.ray/auth_token exists (any
    # earlier local ray.init may have written one), and the driver must then hold the same token:
    # this test cluster and its drivers (the runs below, in this process) both say disabled.
    auth = pytest.MonkeyPatch()
    auth.setenv("RAY_AUTH_MODE", "disabled")
    started = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    pgid = started.pid
    try:
        out, _ = started.communicate(timeout=SAFETY_S)
        assert started.returncode == 0, out[-3000:]
        yield Cluster(f"127.0.0.1:{port}", pgid)
    finally:
        for sig, wait_s in ((signal.SIGTERM, 5), (signal.SIGKILL, 15)):
            for pid in _tree(pgid):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait_s
            while _tree(pgid) and time.monotonic() < deadline:
                time.sleep(0.2)
        left = _tree(pgid)
        auth.undo()
        shutil.rmtree(temp, ignore_errors=True)
        assert not left, f"Ray processes left behind: {sorted(left)}"


def _profile(server, cluster: Cluster, **more):
    return apply_overrides(
        load_profile("cpu-tiny"),
        **{
            "mode": "external",
            "endpoint": server.base_url,
            "load.workers": 2,
            "load.ray_address": cluster.address,
            **more,
        },
    )


def _measured(run_dir: Path) -> list[dict]:
    lines = (run_dir / "requests.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if not r["warmup"]]


@pytest.mark.integration
async def test_two_ray_workers_on_vllm_give_exact_counts(vllm_server, ray_cluster, tmp_path):
    profile = _profile(
        vllm_server,
        ray_cluster,
        **{"grid.concurrency": [4], "grid.seq": ["64/32"], "grid.prompts_per_concurrency": 3, "grid.min_prompts": 4},
    )
    notes: list[str] = []
    outcome = await asyncio.wait_for(
        RunSession(profile, lambda e: notes.append(getattr(e, "message", "")), tmp_path).run(), SAFETY_S
    )
    assert outcome.exit_code == 0, outcome.error
    (cell,) = outcome.cells
    assert cell.failed == 0 and cell.completed == cell.num_prompts == 12
    assert cell.total_output_tokens == 12 * 32 and cell.total_input_tokens == 12 * 64
    assert cell.output_len_mismatches == 0 and cell.input_len_mismatches == 0
    workers = cell.client_workers
    assert [w.worker for w in workers] == [0, 1] and len({w.pid for w in workers}) == 2
    # This host, and the address Ray knows its node by (hosts may share a name: containers, namespaces).
    assert all(w.host.startswith(f"{socket.gethostname()} (") for w in workers), workers
    # The same kernel as the coordinator: one clock, offset 0 exactly (the estimate is in the notes).
    assert all(w.clock_offset_s == 0.0 and w.clock_uncertainty_s == 0.0 for w in workers)
    assert any("Ray cluster at" in n for n in notes) and sum("Ray worker" in n for n in notes) == 2
    measured = _measured(outcome.results_dir)
    assert sorted(r["index"] for r in measured) == list(range(12))
    assert all(r["output_tokens"] == 32 and r["prompt_tokens"] == 64 for r in measured)
    assert not _no_relays_left(ray_cluster)  # the run killed its actors


@pytest.mark.integration
async def test_a_ray_worker_killed_mid_cell_fails_what_it_held_and_the_run_goes_on(vllm_server, ray_cluster, tmp_path):
    profile = _profile(
        vllm_server,
        ray_cluster,
        **{
            "grid.concurrency": [2, 4],  # one slot per worker, then two
            "grid.seq": ["32/48"],
            "grid.prompts_per_concurrency": 4,
            "grid.min_prompts": 4,
            "load.max_failed_share": 1.0,  # a failed request does not fail the run: it goes on
        },
    )
    runner: RunSession
    killed: list[int] = []
    relays_seen: list[set[int]] = []

    def observe(event) -> None:
        # Once the first cell's measurement has records, kill worker 1's actor process, at a moment
        # it holds requests (between a finished request and its next deal it may hold none).
        if isinstance(event, LoadProgress) and event.cell.index == 0 and event.done >= 1 and not killed:
            phase = runner.pool._phase
            if phase is None or not phase.held.get(1):
                return  # the next progress event tries again
            victim = runner.pool.workers[1]
            if victim.pid <= 0:
                return  # not known yet (os.kill(0, ...) would kill this test's own process group)
            relays_seen.append(_relays(ray_cluster))  # the check below finds the actors it should
            os.kill(victim.pid, signal.SIGKILL)
            killed.append(victim.pid)

    runner = RunSession(profile, observe, tmp_path)
    outcome = await asyncio.wait_for(runner.run(), SAFETY_S)
    assert killed, "the first cell ended before worker 1 was seen holding requests"
    assert victim_seen(killed[0], relays_seen)
    assert outcome.exit_code == 0, outcome.error
    first, second = outcome.cells
    failed = [r for r in _measured(outcome.results_dir) if r["cell"] == 0 and not r["ok"]]
    assert failed and first.failed == len(failed)
    reason = f"Ray worker 1 (pid {killed[0]}) on host {socket.gethostname()} ("
    assert all(r["error"].startswith(reason) and ") died (" in r["error"] for r in failed)
    assert all("worker process has died" in r["error"] for r in failed)
    assert any(f.code == "failed_requests" for f in first.flags)
    assert first.completed + first.failed == first.num_prompts == 8  # every request accounted for, once
    assert sorted(r["index"] for r in _measured(outcome.results_dir) if r["cell"] == 0) == list(range(8))
    # The next cell started the dead worker again, as a new actor.
    assert second.failed == 0 and second.completed == second.num_prompts == 16
    assert second.total_output_tokens == 16 * 48 and second.output_len_mismatches == 0
    assert killed[0] not in {w.pid for w in second.client_workers}
    assert not _no_relays_left(ray_cluster)


def victim_seen(pid: int, seen: list[set[int]]) -> bool:
    """The process scan finds our actors (else the 'none left' checks would prove nothing)."""
    return bool(seen) and pid in seen[0]


def _relays(cluster: Cluster) -> set[int]:
    """Our worker actors' processes on the cluster (Ray names an actor's process ray::CLASS)."""
    found = set()
    for pid in _tree(cluster.pgid):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::_Relay"):
                found.add(pid)
        except OSError:
            pass
    return found


def _no_relays_left(cluster: Cluster) -> set[int]:
    """Wait (bounded) until the run's actors are gone: the run kills them as it ends."""
    deadline = time.monotonic() + 30
    while (left := _relays(cluster)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_a_clocks_drift_counts_only_the_offset_change_beyond_both_estimates_uncertainty():
    # Two estimates 1 s apart, each ±0.5 ms: a 0.7 ms change is noise, not 700 ppm.
    assert drift_ppm((100.0, 2.5, 0.0005), (101.0, 2.5007, 0.0005)) == 0.0
    # 100 s apart, the offset grew 5 ms: 4 ms of it beyond the uncertainties, 40 ppm at least.
    assert drift_ppm((100.0, 2.5, 0.0005), (200.0, 2.505, 0.0005)) == pytest.approx(40.0)
    assert drift_ppm((100.0, 2.5, 0.0005), (200.0, 2.495, 0.0005)) == pytest.approx(-40.0)
