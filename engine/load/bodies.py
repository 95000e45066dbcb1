"""A phase's request bodies, shipped once to every local worker process: pickled into one file in
shared memory (/dev/shm, a tmpfs: no disk) that each worker reads itself, instead of a copy down
each worker's pipe one after another (64 MB to 4 workers took the coordinator 1.6 to 2.4 s before
the phase could start). Ray workers get the same once-per-phase copy from Ray's object store.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path

SHM = Path("/dev/shm")


@dataclass(frozen=True)
class SharedBodies:
    """The handle a job carries: where the phase's pickled requests are."""

    path: str

    def load(self) -> list:
        with open(self.path, "rb") as f:  # unpickled as read: one copy of each body, not two
            return pickle.load(f)


def share(requests: list) -> SharedBodies:
    """Write the phase's requests once; `unshare` when every worker holds its job."""
    where = SHM if SHM.is_dir() and os.access(SHM, os.W_OK) else None
    fd, path = tempfile.mkstemp(prefix=f"llmbench-bodies-{os.getpid()}-", dir=where)
    with os.fdopen(fd, "wb") as f:
        pickle.dump(requests, f, protocol=pickle.HIGHEST_PROTOCOL)
    return SharedBodies(path)


def unshare(bodies: SharedBodies) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(bodies.path)
