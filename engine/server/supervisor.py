"""The launched server's keeper: a small process between the run and the server that outlives us.

Why not only a process group and PR_SET_PDEATHSIG: a SIGKILL of the run process cannot run any
clean-up, the death signal reaches only the server's first process, and an engine child that
ignores SIGTERM (or leaves the group) would be orphaned holding the accelerator's memory. cgroups
would track every descendant, but need a delegated cgroup tree most hosts do not give a user.

So the run starts this keeper, which
- becomes a child subreaper: every descendant of the server that loses its parent is re-parented
  to it, so it can always find and kill the whole tree (also processes that left the group);
- holds a lifeline, its stdin, a pipe from the run process: the pipe closes when the run process
  ends in any way, SIGKILL included, and the keeper then stops the server;
- stops the tree in steps: SIGTERM to the server's group, a grace period, then SIGKILL to every
  descendant that is left (and `docker rm -f` of a container);
- removes the server's scratch directory, where vLLM leaves its sockets (engine/server/scratch.py);
- copies the server's output to server.log with secret values masked (vLLM prints its arguments);
- exits with the server's exit code, so the run still tells "rejected its arguments" (2).

`python -m engine.server.supervisor --log PATH [--grace S] [--container NAME]
 [--isolation JSON] [--scratch DIR] -- COMMAND...`; it imports nothing heavy, to start in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

from engine.redact import Redactor, secret_values
from engine.server import scratch
from engine.server.isolation import Isolation, server_preexec
from engine.server.proctree import descendants

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36


def _prctl(option: int, value: int) -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(option, value)
    except (OSError, AttributeError):
        pass  # not Linux: the lifeline and the process group still stop the server


class Keeper:
    def __init__(self, args: argparse.Namespace, command: list[str]):
        self.command, self.log_path, self.grace_s = command, args.log, args.grace
        self.container, self.scratch = args.container, args.scratch
        self.iso = Isolation(**json.loads(args.isolation))
        self.stop_requested = threading.Event()
        self.redact = Redactor(secret_values(command, dict(os.environ)))

    def run(self) -> int:
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: self.stop_requested.set())
        log = open(self.log_path, "ab", buffering=0)  # noqa: SIM115 (open while the server runs)
        docker = self.command[0] == "docker"
        try:
            server = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                process_group=0,  # its own group: SIGTERM reaches the engine core with it
                preexec_fn=self._server_preexec(docker),
            )
        except OSError as exc:
            log.write(f"# llmbench-tui: cannot start {self.command[0]}: {exc}\n".encode())
            scratch.remove(self.scratch)
            return 127
        copier = threading.Thread(target=self._copy, args=(server.stdout, log), daemon=True)
        copier.start()
        threading.Thread(target=self._lifeline, daemon=True).start()
        while server.poll() is None and not self.stop_requested.wait(0.2):
            pass
        self._stop_tree(server)
        scratch.remove(self.scratch)  # the whole tree has ended: nothing binds there any more
        copier.join(5)
        log.close()
        code = server.wait()
        return code if code >= 0 else 128 - code

    def _server_preexec(self, docker: bool):
        isolate = server_preexec(self.iso)

        def apply() -> None:
            _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # should the keeper itself be killed outright
            if not docker:  # a container's priority and CPUs are the docker daemon's to set
                isolate()

        return apply

    def _lifeline(self) -> None:
        """Stop the server when the run process's end of our stdin closes (it died or stopped us)."""
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        self.stop_requested.set()

    def _copy(self, stream, log) -> None:
        """Copy the server's output to server.log. A line that cannot be written (a full disk) is
        dropped, and the copy goes on: a server whose stdout is no longer read blocks on it."""
        for line in iter(stream.readline, b""):
            text = line.decode(errors="replace")
            try:
                log.write((self.redact(text) if self.redact else text).encode())
            except OSError:
                pass  # the run notices the full disk in its own files, and stops

    def _stop_tree(self, server: subprocess.Popen) -> None:
        if self.container:
            subprocess.run(["docker", "rm", "-f", self.container], capture_output=True, check=False)
        try:
            os.killpg(server.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + self.grace_s
        while time.monotonic() < deadline:
            self._reap()
            if server.poll() is not None and not descendants(os.getpid()):
                return
            time.sleep(0.1)
        # Whatever ignored SIGTERM, in the group or re-parented to us, is killed outright.
        for pid in [server.pid, *descendants(os.getpid())]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.wait()
        while descendants(os.getpid()):
            self._reap()
            time.sleep(0.05)

    @staticmethod
    def _reap() -> None:
        """Collect re-parented orphans that have exited (we are their subreaper)."""
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m engine.server.supervisor")
    p.add_argument("--log", required=True)
    p.add_argument("--grace", type=float, default=20.0)
    p.add_argument("--container")
    p.add_argument("--isolation", default="{}", help="the Isolation to apply to the server, as JSON")
    p.add_argument("--scratch", help="the server's scratch directory, removed once its tree has ended")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        p.error("give the server's command after --")
    sys.exit(Keeper(args, command).run())


if __name__ == "__main__":
    main()
