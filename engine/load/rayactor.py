"""The load worker's side of a Ray actor (engine.load.rayworkers): `_Relay` runs the worker's protocol
(engine.load.worker.Serving) on a uvloop of its own, in a thread of its own, and relays its
messages; `_QueueOut` queues the worker's messages until the coordinator's long poll takes them.
"""

from __future__ import annotations

import asyncio
import os
import queue
import socket
import threading
import traceback
from pathlib import Path
from typing import Any

from engine.load import wallclock
from engine.load.worker import Serving, WorkerConfig


def reach(host: str, port: int, timeout_s: float = 3.0) -> str | None:
    """Whether this process can open a TCP connection to host:port: None when it can, else why not.
    Asked of the load workers where they run: an address is reachable from a network namespace
    (another host, a container) or not, whatever the coordinator itself reaches."""
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__
    return None


def probe(host: str, port: int) -> dict[str, Any]:
    """A Ray task placed as a load worker would be (before any actor starts): where it ran, and
    whether the server's address is reachable from there."""
    import ray

    return {"host": socket.gethostname(), "ip": ray.util.get_node_ip_address(), "error": reach(host, port)}


def boot_id() -> str:
    """This kernel's boot id: two processes that read the same one share CLOCK_REALTIME."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


class _QueueOut:
    """Serving's way back from an actor: messages queue here until the coordinator's recv() takes them."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.said = threading.Event()  # a last word was taken by the coordinator

    def send(self, msg: tuple) -> None:
        self.queue.put(msg)

    def last_word(self, text: str, phase: int = 0) -> None:
        """As a process's last word: say what went wrong, then go (once the coordinator has it, or 10 s)."""
        self.queue.put(("error", phase, text))
        self.said.wait(10.0)
        os._exit(1)


class _Relay:
    """One load worker as a Ray actor (made remote by RayPool): Serving on a uvloop of its own,
    in a thread of its own; the actor's methods relay the protocol's messages."""

    def __init__(self) -> None:
        self.out = _QueueOut()
        self.lock = threading.Lock()
        self.next_seq = 0
        self.early: dict[int, tuple] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.serving: Serving | None = None
        self.started = threading.Event()

    def info(self) -> dict[str, Any]:
        import ray

        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "ip": ray.util.get_node_ip_address(),
            "boot_id": boot_id() if wallclock.is_kernel_clock() else "",  # a clock set off is not the kernel's
        }

    def clock(self) -> float:
        return wallclock.now()

    def reach(self, host: str, port: int) -> str | None:
        return reach(host, port)

    def start(self, index: int, config: WorkerConfig) -> None:
        threading.Thread(target=self._run, args=(index, config), name=f"load-worker-{index}", daemon=True).start()
        self.started.wait()

    def _run(self, index: int, config: WorkerConfig) -> None:
        from engine.loop import run

        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.serving = Serving(self.out, index, config)
            self.started.set()
            await self.serving.serve()

        try:
            run(main())
        except Exception:
            self.started.set()
            self.out.last_word(traceback.format_exc(limit=8))

    def deliver(self, seq: int, msg: tuple, requests: list | None = None) -> None:
        if requests is not None:  # the phase's bodies, resolved from the object store by Ray
            msg[1].take(requests)
        if self.loop is None:
            return  # not started: nothing to relay to
        with self.lock:
            self.early[seq] = msg
            while self.next_seq in self.early:
                ready = self.early.pop(self.next_seq)
                self.next_seq += 1
                self.loop.call_soon_threadsafe(self.serving.dispatch, ready)

    def recv(self, wait_s: float = 5.0) -> list[tuple]:
        """Every message queued for the coordinator, in order; waits up to `wait_s` for a first one."""
        out: list[tuple] = []
        try:
            out.append(self.out.queue.get(timeout=wait_s))
            while True:
                out.append(self.out.queue.get_nowait())
        except queue.Empty:
            pass
        if any(m[0] == "error" for m in out):
            self.out.said.set()
        return out
