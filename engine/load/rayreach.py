"""Can the load workers reach the server? Asked of the workers themselves, where they run.

A Ray worker on another host, in a container or in another network namespace may share the
coordinator's kernel (its boot id) and still not its network: 127.0.0.1 there is its own
loopback. So nothing is guessed from where a worker runs; each is asked to open a TCP connection
to the server's address:

- before the server launches (`probe_before_launch`): N Ray tasks placed as the workers will be
  (one CPU each, spread), each connecting to the address; a server not yet listening is stood in
  for by a listener this process opens on the same host address (any port: what is checked is
  that the address leads to this host);
- once the workers run, before the first cell (RayPool): each actor connects to the server itself.

An address some worker cannot reach is bad input (exit 2), naming the workers, why, and what to give.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Reach:
    """One worker's (or probe's) attempt at the server's address."""

    host: str
    ip: str
    error: str | None  # None: it connected

    def where(self) -> str:
        return f"{self.host} ({self.ip})" if self.ip else self.host


def server_address(base_url: str) -> tuple[str, int]:
    """The host and port a URL's connections go to."""
    parts = urlsplit(base_url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


@contextmanager
def stand_in(host: str) -> Iterator[int | None]:
    """A listener on `host` (any free port) while the block runs: the port to probe, or None where
    this host cannot listen on that address (then the server could not either: the launch says so)."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError:
        yield None
        return
    with sock:
        try:
            sock.bind((host, 0))
            sock.listen(64)
        except OSError:
            yield None
            return
        yield sock.getsockname()[1]


def refusal(address: str, base_url: str, failed: list[Reach], n: int, suggest: str) -> str:
    """What an operator reads when some workers cannot reach the server's address."""
    where = "; ".join(f"{r.where()}: {r.error}" for r in failed)
    host, _ = server_address(base_url)
    advice = f"give an address they reach (this host's address toward the cluster is {suggest})"
    return (
        f"--ray {address}: the server's address {base_url} cannot be reached from {len(failed)} of the {n} "
        f"load workers ({where}); {advice}: --endpoint http://{suggest}:PORT for a server that runs, or "
        f'`host = "{suggest}"` in the profile for one this tool launches'
        + (f" ({host} is each worker's own loopback)" if _loopback(host) else "")
    )


def _loopback(host: str) -> bool:
    return host in ("localhost", "0.0.0.0", "::", "::1") or host.startswith("127.")
