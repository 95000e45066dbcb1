"""Two hosts for real: two Linux network namespaces joined by a veth pair stand for two machines.

Namespace A holds the Ray head (no CPUs: no worker can run there), the runs (the coordinator) and
the real vLLM server (started once, on every address of A); namespace B holds a Ray worker node,
so every load worker runs on the second "host", which shares the kernel (one boot id, one clock)
but not the network: 127.0.0.1 in B is B's own. Every packet stays inside the two namespaces this
test makes.

Needs root (the test machines are) and iproute2; skipped with the reason elsewhere. Every process
this test starts lives in one of its namespaces: cleanup kills exactly those (`ip netns pids`),
never `ray stop`, which would stop every Ray cluster on the host, and deletes the namespaces.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.load.openloop import peak_in_flight
from engine.load.record import RequestRecord
from engine.load.wallclock import SKEW_ENV
from engine.profiles import apply_overrides, load_profile
from engine.server.launcher import server_spec

ROOT = Path(__file__).resolve().parent.parent
RAY = str(Path(sys.executable).parent / "ray")
A_IP, B_IP, C_IP = "10.231.0.1", "10.231.0.2", "10.231.1.2"  # inside the test's own namespaces: they clash with nothing
HEAD_PORT = 6379
# The worker node's clock, set this far ahead of the kernel's (engine.load.wallclock): one kernel
# serves both namespaces, so another host's clock is played by a known offset.
SKEW_S = 3600.25
SAFETY_S = 400  # only a hang reaches this: every wait below is on a process's end

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class TwoHosts:
    a: str  # the head, the coordinator and the server
    b: str  # the worker node
    temp: str
    port: int  # the vLLM server's, in A

    @property
    def head(self) -> str:
        return f"{A_IP}:{HEAD_PORT}"


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


def _env() -> dict[str, str]:
    # Ray 2.60 turns token authentication on when ~/.ray/auth_token exists: this cluster and its driver say no.
    return {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def _in(ns: str, *argv: str, timeout: float = SAFETY_S, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, env=_env() | env, timeout=timeout
    )


def _make(a: str, b: str) -> str | None:
    """The two namespaces and their link; why not, where they cannot be made."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    for ns in (a, b):
        if (made := _ip("netns", "add", ns)).returncode != 0:
            return f"cannot make a network namespace: {made.stderr.strip()}"
    steps = [
        ("link", "add", f"{a}v", "type", "veth", "peer", "name", f"{b}v"),
        ("link", "set", f"{a}v", "netns", a),
        ("link", "set", f"{b}v", "netns", b),
        ("-n", a, "addr", "add", f"{A_IP}/24", "dev", f"{a}v"),
        ("-n", b, "addr", "add", f"{B_IP}/24", "dev", f"{b}v"),
        *[("-n", ns, "link", "set", dev, "up") for ns in (a, b) for dev in (f"{ns}v", "lo")],
    ]
    for step in steps:
        if (done := _ip(*step)).returncode != 0:
            return f"cannot link the namespaces (ip {' '.join(step)}): {done.stderr.strip()}"
    return None


def _pids(ns: str) -> set[int]:
    out = _ip("netns", "pids", ns)
    return {int(p) for p in out.stdout.split()} if out.returncode == 0 else set()


def _empty(ns: str) -> None:
    """Every process in the namespace is this test's: end them, politely first."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 15)):
        for pid in _pids(ns):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while _pids(ns) and time.monotonic() < deadline:
            time.sleep(0.2)


def _start(ns: str, *args: str, temp: str, **env: str) -> None:
    argv = [RAY, "start", *args, "--disable-usage-stats", "--temp-dir", temp]
    started = _in(ns, *argv, timeout=180, **env)
    assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]


def _serve(ns: str, temp: str, model: Path, port: int = 8000) -> int:
    """The real vLLM on the tiny model in namespace `ns`, on all its addresses: ready when /health answers."""
    spec = server_spec(apply_overrides(load_profile("cpu-tiny"), host="0.0.0.0"), str(model), port)
    log = open(Path(temp) / "server.log", "wb")  # noqa: SIM115 (the server holds it until the namespace is emptied)
    subprocess.Popen(
        ["ip", "netns", "exec", ns, *spec.command],
        env=_env() | spec.env | {"VLLM_RPC_BASE_PATH": temp},  # its sockets go with the fixture's folder
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    probe = f"import urllib.request as u; u.urlopen('http://{A_IP}:{port}/health', timeout=2)"
    deadline = time.monotonic() + SAFETY_S
    while _in(ns, sys.executable, "-c", probe, timeout=30).returncode != 0:
        assert time.monotonic() < deadline, (Path(temp) / "server.log").read_text()[-3000:]
        time.sleep(1)
    return port


@pytest.fixture(scope="module")
def two_hosts(tiny_model):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'llmbench-tui[ray]'")
    tag = f"lbh{os.getpid() % 100000}"
    a, b = f"{tag}a", f"{tag}b"  # namespace names, and with a "v" their veth ends (15 characters at most)
    temp = tempfile.mkdtemp(prefix="r2", dir="/tmp")  # Ray's socket paths must stay short
    try:
        if (why := _make(a, b)) is not None:
            pytest.skip(why)
        head = ("--head", "--node-ip-address", A_IP, "--port", str(HEAD_PORT), "--num-cpus", "0")
        _start(a, *head, "--include-dashboard=false", temp=temp)
        skew = {SKEW_ENV: str(SKEW_S)}  # the node's worker processes inherit it
        port = _serve(a, temp, tiny_model)
        _start(b, "--address", f"{A_IP}:{HEAD_PORT}", "--node-ip-address", B_IP, "--num-cpus", "3", temp=temp, **skew)
        yield TwoHosts(a, b, temp, port)
    finally:
        for ns in (b, a):
            _empty(ns)
        left = {ns: _pids(ns) for ns in (a, b)}
        for ns in (a, b):
            _ip("netns", "del", ns)
        shutil.rmtree(temp, ignore_errors=True)
        assert not any(left.values()), f"processes left in the test's namespaces: {left}"


def _run(hosts: TwoHosts, tmp_path: Path, server_host: str, *flags: str) -> tuple[subprocess.CompletedProcess, Path]:
    """A headless run in namespace A, its workers on B: against the module's server at `server_host`,
    or (with --mode server) launching its own there."""
    external = ("--mode", "external", "--endpoint", f"http://{server_host}:{hosts.port}")
    flags = flags if "--mode" in flags else (*external, *flags)
    profile = apply_overrides(load_profile("cpu-tiny"), host=server_host)
    path = tmp_path / "two-hosts.toml"
    path.write_text(profile.to_toml())
    results = tmp_path / "runs"
    argv = [sys.executable, "-m", "engine.headless.cli", "--no-ui", "--profile", str(path), "--results", str(results)]
    done = _in(hosts.a, *argv, "--ray", hosts.head, *flags)
    runs = sorted(results.iterdir()) if results.exists() else []
    return done, runs[-1] if runs else results


def test_load_workers_on_the_second_host_give_exact_counts(two_hosts, tmp_path):
    flags = ["--workers", "2", "--concurrency", "2,4", "--seq", "64/32", "--prompts-per-concurrency", "3"]
    done, run_dir = _run(two_hosts, tmp_path, A_IP, *flags)
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"reached from vm ({B_IP})".replace("vm", os.uname().nodename) in done.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [c["max_concurrency"] for c in summary["cells"]] == [2, 4]
    for cell in summary["cells"]:
        n = cell["completed"]
        assert cell["failed"] == 0 and n == cell["num_prompts"] >= 3 * cell["max_concurrency"]
        assert cell["total_output_tokens"] == 32 * n and cell["total_input_tokens"] == 64 * n
        workers = cell["client_workers"]
        assert [w["worker"] for w in workers] == [0, 1]
        # The second host: B's address, recorded per worker, and its clock's offset as estimated.
        assert all(w["host"] == f"{os.uname().nodename} ({B_IP})" for w in workers), workers
        assert all(0 < w["clock_uncertainty_s"] < 0.05 for w in workers)
        assert all(abs(w["clock_offset_s"] - SKEW_S) <= w["clock_uncertainty_s"] + 0.002 for w in workers)
    records = [json.loads(line) for line in (run_dir / "requests.jsonl").read_text().splitlines()]
    measured = [r for r in records if not r["warmup"]]
    assert all(r["ok"] and r["output_tokens"] == 32 and r["prompt_tokens"] == 64 for r in measured)


def test_a_server_address_the_workers_cannot_reach_is_refused_before_the_server_launches(two_hosts, tmp_path):
    # 127.0.0.1 reaches the coordinator's own namespace (A), not the workers' (B): a server launched
    # there would answer the coordinator and refuse every worker.
    flags = ["--mode", "server", "--workers", "2", "--concurrency", "2", "--seq", "64/32"]
    done, run_dir = _run(two_hosts, tmp_path, "127.0.0.1", *flags)
    assert done.returncode == 2, done.stderr[-4000:]
    assert "cannot be reached from 2 of the 2 load workers" in done.stderr
    assert f"this host's address toward the cluster is {A_IP}" in done.stderr
    assert f'host = "{A_IP}"' in done.stderr
    assert not (run_dir / "server.log").exists()  # refused before the server was launched


def test_a_running_server_the_coordinator_reaches_and_the_workers_do_not_is_refused(two_hosts, tmp_path):
    # The case: the server answers on 127.0.0.1 in A (so the coordinator reaches it), and
    # 8 of 8 requests failed with "Connection refused" before: now exit 2, before the first cell.
    done, run_dir = _run(two_hosts, tmp_path, "127.0.0.1", "--workers", "2", "--concurrency", "2", "--seq", "64/32")
    assert done.returncode == 2, done.stderr[-4000:]
    assert f"http://127.0.0.1:{two_hosts.port} cannot be reached from 2 of the 2 load workers" in done.stderr
    assert "Connection refused" in done.stderr and f"--endpoint http://{A_IP}:PORT" in done.stderr
    assert not (run_dir / "requests.jsonl").exists() or not (run_dir / "requests.jsonl").read_text()


def test_a_worker_clock_set_off_by_a_known_offset_keeps_the_schedule_and_the_records_right(two_hosts, tmp_path):
    """B's workers read a clock SKEW_S ahead. The shared start goes to them in their clock and their
    send times come back in ours: an offset not taken off would start them an hour late (every send
    at once) and put every record an hour into the future."""
    before = time.time()
    flags = ["--workers", "3", "--rate", "8", "--num-prompts", "24", "--seq", "64/16", "--warmup", "0"]
    flags += ["--max-concurrency", "2"]  # one cap over the three workers
    done, run_dir = _run(two_hosts, tmp_path, A_IP, *flags)
    after = time.time()
    assert done.returncode == 0, done.stderr[-4000:]
    (cell,) = json.loads((run_dir / "summary.json").read_text())["cells"]
    assert cell["completed"] == cell["num_prompts"] == 24 and cell["failed"] == 0
    workers = cell["client_workers"]
    assert len(workers) == 3 and all(abs(w["clock_offset_s"] - SKEW_S) < 0.05 for w in workers)
    assert all(w["start_late_ms"] < 500 for w in workers), workers  # they began at the shared start
    assert cell["client_send_delay_p99_ms"] < 10_000  # on schedule (or the cap's), not all at once an hour late
    records = [json.loads(line) for line in (run_dir / "requests.jsonl").read_text().splitlines()]
    assert sorted(r["index"] for r in records) == list(range(24))
    # Send times in the coordinator's clock: inside the run, and every one the same shared start
    # plus its own offset into the schedule, whichever worker (two clocks estimated apart) sent it.
    assert all(before < r["start_time"] < after for r in records)
    starts = [r["start_time"] - r["sent_s"] for r in records]
    assert max(starts) - min(starts) < 0.25, starts
    # The cap held over the three workers, their requests put on one timeline by their clocks' offsets
    # (a request's end shortened by CLOCK_SLACK_S: two workers' clocks agree only to their uncertainty).
    assert peak_in_flight([_record(r) for r in records]) <= 2


CLOCK_SLACK_S = 0.005


def _record(d: dict) -> RequestRecord:
    e2el = max(0.0, d["e2el"] - CLOCK_SLACK_S)
    return RequestRecord(d["cell"], d["index"], 0, 0, 0, start_time=d["start_time"], e2el=e2el)


def _relays(ns: str) -> set[int]:
    """The load worker actors' processes in a namespace (Ray names an actor's process ray::CLASS)."""
    found = set()
    for pid in _pids(ns):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::_Relay"):
                found.add(pid)
    return found


def _measured_ok(run_dir: Path, cell: int) -> int:
    path = run_dir / "requests.jsonl"
    if not path.exists():
        return 0
    count = 0
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):  # a line being written
            r = json.loads(line)
            count += r["cell"] == cell and r["ok"] and not r["warmup"]
    return count


def test_a_worker_node_removed_mid_cell_fails_what_its_worker_held_and_the_next_cell_goes_on(two_hosts, tmp_path):
    """A third namespace C joins as a worker node with one CPU; the two workers spread over B and C.
    Mid-cell, every process of C is killed (the node is gone): its worker's requests fail saying so,
    and the next cell starts that worker again on B, with exact counts."""
    c = f"{two_hosts.a[:-1]}c"
    steps = [
        ("netns", "add", c),
        ("link", "add", f"{c}v", "type", "veth", "peer", "name", f"{two_hosts.a}w"),
        ("link", "set", f"{c}v", "netns", c),
        ("link", "set", f"{two_hosts.a}w", "netns", two_hosts.a),
        ("-n", two_hosts.a, "addr", "add", "10.231.1.1/24", "dev", f"{two_hosts.a}w"),
        ("-n", c, "addr", "add", f"{C_IP}/24", "dev", f"{c}v"),
        ("-n", two_hosts.a, "link", "set", f"{two_hosts.a}w", "up"),
        *[("-n", c, "link", "set", dev, "up") for dev in (f"{c}v", "lo")],
        ("-n", c, "route", "add", "default", "via", "10.231.1.1"),  # the head's address is A's other one
    ]
    try:
        for step in steps:
            assert (done := _ip(*step)).returncode == 0, f"ip {' '.join(step)}: {done.stderr}"
        args = ("--address", two_hosts.head, "--node-ip-address", C_IP, "--num-cpus", "1")
        _start(c, *args, temp=two_hosts.temp, **{SKEW_ENV: str(SKEW_S)})
        results = tmp_path / "runs"
        profile = tmp_path / "p.toml"
        profile.write_text(apply_overrides(load_profile("cpu-tiny"), host=A_IP).to_toml())
        argv = [sys.executable, "-m", "engine.headless.cli", "--no-ui", "--profile", str(profile)]
        argv += ["--results", str(results), "--ray", two_hosts.head, "--mode", "external"]
        argv += ["--endpoint", f"http://{A_IP}:{two_hosts.port}", "--workers", "2", "--concurrency", "2,4"]
        argv += ["--seq", "64/64", "--prompts-per-concurrency", "12", "--max-failed-share", "1.0"]
        run = subprocess.Popen(
            ["ip", "netns", "exec", two_hosts.a, *argv],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + SAFETY_S
        # Wait (on state) for a worker on C and for the first cell's first answers, then remove C.
        while not (_relays(c) and (runs := sorted(results.glob("*"))) and _measured_ok(runs[-1], 0) >= 2):
            assert run.poll() is None, run.communicate()[1][-4000:]
            assert time.monotonic() < deadline, "no worker on C, or no answers in the first cell"
            time.sleep(0.05)
        _empty(c)
        _, err = run.communicate(timeout=SAFETY_S)
    finally:
        _empty(c)
        _ip("netns", "del", c)
    assert run.returncode == 0, err[-4000:]
    summary = json.loads((runs[-1] / "summary.json").read_text())
    first, second = summary["cells"]
    records = [json.loads(line) for line in (runs[-1] / "requests.jsonl").read_text().splitlines()]
    failed = [r for r in records if r["cell"] == 0 and not r["ok"] and not r["warmup"]]
    assert failed and first["failed"] == len(failed) and first["completed"] + first["failed"] == first["num_prompts"]
    assert all(f"({C_IP}) died (" in r["error"] for r in failed), failed[0]["error"]
    dead = [w for w in first["client_workers"] if w.get("died")]
    assert len(dead) == 1 and f"({C_IP}) died" in dead[0]["died"]  # its last health, kept in the cell
    assert second["failed"] == 0 and second["completed"] == second["num_prompts"]
    assert second["total_output_tokens"] == 64 * second["num_prompts"]
    assert all(w["host"].endswith(f"({B_IP})") for w in second["client_workers"])
