"""The sampler of a run: about once a second, the server's /metrics and every hardware reader, in
a thread of its own (the load's event loop only receives the events), appended to
timeseries.jsonl and kept for the current cell's figures.

Its cost is the client's (it shares the process): /metrics is filtered to a few lines before it is
parsed, and the sampler's own CPU time is measured (`cpu_ms_per_sample`).
"""

from __future__ import annotations

import asyncio
import http.client
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.events import DeviceReading, Event, ServerState, ServerStateChanged, TelemetrySampled
from engine.jsontext import dumps
from engine.report.diskspace import AppendFile, FaultLatch
from engine.server.backends import DEFAULT_BACKEND
from engine.server.metrics import MetricNames
from engine.telemetry.devices import Unavailable

IDLE_TIMEOUT_S = 10.0  # how long to wait for the server to go idle after a cell before reading its counters


class TelemetryRecorder:
    """`metrics_url`: the server's /metrics (None: none to read); `readers`: opened hardware
    readers (devices.py); `server_state`: instead of /metrics, a callable that returns the server's
    state now (the hook for in-process mode, where a stat logger of the engine would keep it)."""

    def __init__(
        self,
        path: Path | None,
        metrics_url: str | None,
        readers: list[Any],
        headers: dict[str, str] | None = None,
        interval_s: float = 1.0,
        emit: Callable[[Event], None] | None = None,
        fetch: Callable[[str], tuple[int, str]] | None = None,  # GET url -> (status, body); tests fake it
        server_state: Callable[[], ServerState | None] | None = None,
        names: MetricNames | None = None,  # /metrics in its backend's names (None: the default backend's)
    ):
        self.path, self.metrics_url, self.readers = path, metrics_url, readers
        self.headers, self.interval_s, self.emit = headers or {}, interval_s, emit
        self.fetch, self.server_state, self.names = fetch, server_state, names or DEFAULT_BACKEND.metrics
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server: list[tuple[float, ServerState]] = []
        self.readings: list[tuple[float, DeviceReading]] = []
        self.cell: int | None = None
        self.phase: str | None = None
        self.samples_taken = 0
        self.cpu_s = 0.0  # the sampler thread's own CPU time
        self.metrics_note: str | None = None  # why /metrics is not read, when it is not
        self.last_state: ServerState | None = None  # of the latest round (None: /metrics did not answer)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._started_seq = self._done_seq = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._file: AppendFile | None = None
        self.faults: FaultLatch | None = None  # where a failed write of the file is reported (a full disk)

    # -- the thread -----------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self.loop = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None
        if self.path is not None:
            self._file = AppendFile(self.path, self.faults)
        self._thread = threading.Thread(target=self._run, name="telemetry", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        for reader in self.readers:
            try:
                reader.close()
            except Exception:
                pass
        if self._file is not None:
            self._file.close()
            self._file = None

    def _run(self) -> None:
        own = KeepAliveGet(self.headers) if self.fetch is None else None  # closed here at the end
        client = self.fetch or own
        try:
            while not self._stop.is_set():
                with self._lock:
                    self._started_seq += 1
                    seq = self._started_seq
                cpu0 = time.thread_time()
                try:
                    self.sample_once(client)
                except Exception as exc:  # a sampler fault must never stop the run
                    self.metrics_note = self.metrics_note or f"telemetry sampling failed once: {exc!r}"
                self.cpu_s += time.thread_time() - cpu0
                with self._cond:
                    self._done_seq = seq
                    self._cond.notify_all()
                self._wake.wait(self.interval_s)
                self._wake.clear()
        finally:
            if own is not None:
                own.close()
            with self._cond:
                self._done_seq = max(self._done_seq, self._started_seq) + 1  # release any waiter
                self._cond.notify_all()

    def sample_once(self, client: Callable[[str], tuple[int, str]] | None) -> None:
        """One round: /metrics, then every reader; recorded, written, and sent to the observer."""
        t = time.time()
        if self.server_state is not None:
            state = self.server_state()
        else:
            state = self._scrape(client) if client is not None and self.metrics_url else None
        readings: list[DeviceReading] = []
        for reader in self.readers:
            try:
                readings.extend(reader.read())
            except Exception:
                continue  # a reading missed is absent, not zero
        with self._lock:
            cell, phase = self.cell, self.phase
            self.last_state = state
            if state is not None:
                self.server.append((t, state))
            self.readings.extend((t, r) for r in readings)
            self.samples_taken += 1
        if self._file is not None:
            lines = []
            if state is not None:
                lines.append(_line(t, cell, phase, "server", state.__dict__))
            lines.extend(
                _line(t, cell, phase, r.source, {k: v for k, v in r.__dict__.items() if k != "source"})
                for r in readings
            )
            if lines:
                self._file.write("".join(lines))
        if state is not None:
            self._send(ServerStateChanged(state, at=t))
        if readings:
            self._send(TelemetrySampled(readings, at=t))

    def _scrape(self, client: Callable[[str], tuple[int, str]]) -> ServerState | None:
        try:
            status, text = client(self.metrics_url)
        except (OSError, http.client.HTTPException) as exc:
            self.metrics_note = f"/metrics did not answer: {exc.__class__.__name__}"
            return None
        if status != 200:
            self.metrics_note = f"/metrics answered HTTP {status}"
            if status == 404:
                self.metrics_url = None  # no metrics page (metrics off, or another server): stop asking
            return None
        return self.names.parse(text)

    def _send(self, event: Event) -> None:
        if self.emit is None:
            return
        if self.loop is None:
            self.emit(event)
            return
        try:
            self.loop.call_soon_threadsafe(self.emit, event)  # observers run on the run's loop
        except RuntimeError:
            pass  # the loop is closed: the run is over

    # -- from the run's loop --------------------------------------------------------------------

    def set_phase(self, cell: int | None, phase: str | None) -> None:
        with self._lock:
            self.cell, self.phase = cell, phase

    def forget_before(self, t: float) -> None:
        """Drop samples older than t (kept in timeseries.jsonl): memory stays one cell's worth."""
        with self._lock:
            self.server = [(ts, s) for ts, s in self.server if ts >= t]
            self.readings = [(ts, r) for ts, r in self.readings if ts >= t]

    def wake(self) -> None:
        """Take a sample as soon as the thread can, without waiting for it (safe from any thread)."""
        self._wake.set()

    def sample_now(self, timeout_s: float = 10.0) -> bool:
        """Block until a sample that started after this call has been taken (False on timeout)."""
        if self._thread is None or not self._thread.is_alive():
            return False
        with self._cond:
            target = self._started_seq + 1
        self._wake.set()
        with self._cond:
            return self._cond.wait_for(lambda: self._done_seq >= target, timeout_s)

    async def idle_state(self, timeout_s: float = IDLE_TIMEOUT_S) -> tuple[ServerState | None, bool]:
        """The server's state once it has no request running or waiting (fresh samples, taken as
        fast as they come, until then): its counters then hold every token of what we sent.
        Returns (the last state read, whether the server was idle); (None, False) without /metrics."""
        deadline = time.monotonic() + timeout_s
        loop = asyncio.get_running_loop()
        while True:
            if not self.metrics_url and self.server_state is None:
                return None, False
            taken = await loop.run_in_executor(None, self.sample_now)
            with self._lock:
                state, answered = (self.server[-1][1] if self.server else None), self.last_state is not None
            if not taken or not answered:
                return state, False  # /metrics did not answer (the server is gone?): no waiting on it
            if state.running == 0 and state.waiting == 0:
                return state, True
            if state is not None and state.running is None and state.waiting is None:
                return state, False  # a /metrics without the backend's gauges: idleness cannot be seen
            if time.monotonic() >= deadline:
                return state, False
            await asyncio.sleep(0.05)

    def window(self) -> tuple[list[tuple[float, ServerState]], list[tuple[float, DeviceReading]]]:
        with self._lock:
            return list(self.server), list(self.readings)

    @property
    def cpu_ms_per_sample(self) -> float | None:
        return 1000 * self.cpu_s / self.samples_taken if self.samples_taken else None


class KeepAliveGet:
    """GET over one kept-alive connection with the standard library: about a quarter of httpx's CPU
    per request (0.5 against 2 ms for vLLM's 65 KB page here), which the load's thread shares."""

    def __init__(self, headers: dict[str, str], timeout_s: float = 5.0):
        self.headers, self.timeout_s = headers, timeout_s
        self.conn: http.client.HTTPConnection | None = None

    def __call__(self, url: str) -> tuple[int, str]:
        parts = urllib.parse.urlsplit(url)
        for attempt in (0, 1):  # a kept-alive connection the server closed: reconnect once
            if self.conn is None:
                cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
                self.conn = cls(parts.netloc, timeout=self.timeout_s)
            try:
                self.conn.request("GET", parts.path or "/", headers=self.headers)
                response = self.conn.getresponse()
                return response.status, response.read().decode(errors="replace")
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def open_readers(candidates: list[Any]) -> tuple[list[Any], dict[str, str]]:
    """Open each reader; (those that opened, what each kind found or why not)."""
    opened, found = [], {}
    for reader in candidates:
        try:
            found[reader.kind] = reader.open()
            opened.append(reader)
        except Unavailable as exc:
            found[reader.kind] = f"not available: {exc}"
        except Exception as exc:
            found[reader.kind] = f"not available: {exc.__class__.__name__}: {exc}"
    return opened, found


def _line(t: float, cell: int | None, phase: str | None, source: str, values: dict[str, Any]) -> str:
    record = {"t": round(t, 3), "cell": cell, "phase": phase, "source": source, "values": values}
    return dumps(record, separators=(",", ":")) + "\n"
