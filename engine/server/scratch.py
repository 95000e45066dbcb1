"""A server's private scratch directory, removed when the server's tree has stopped.

vLLM binds its ZMQ IPC sockets in VLLM_RPC_BASE_PATH (the temp dir unless set) and writes its
rendezvous file (`vllm_dist_*`) in the temp dir, and leaves them there even after a clean shutdown:
seven files a run. Pointed at a directory of its own, which the process that stops the server
(the keeper, or the in-process engine's watchdog) then removes, a run leaves nothing in /tmp. A
user's own VLLM_RPC_BASE_PATH is kept as it is (their choice, their clean-up).
"""

from __future__ import annotations

import getpass
import os
import shutil
import tempfile

PREFIX = "llmbench-vllm-"
SOCKET_PATH_MAX = 107  # a unix socket's path (sun_path, less its NUL); vLLM's names are a uuid4


def scratch_env(env: dict[str, str], temp_dir: bool = True) -> tuple[str | None, dict[str, str]]:
    """A new scratch directory (in the server's temp dir) and the variables that point it there,
    given the server's environment `env`; (None, {}) where the user has chosen where vLLM's sockets
    go. `temp_dir`: also the server's TMPDIR (a process of its own; not the run process, whose temp
    files are ours), with torch's compile cache kept where it would have been, to outlive the run."""
    base = env.get("TMPDIR") or tempfile.gettempdir()  # the server's own, where its profile sets one
    longest = os.path.join(base, PREFIX + "x" * 8, "x" * 36)
    if "VLLM_RPC_BASE_PATH" in env or len(longest.encode()) > SOCKET_PATH_MAX or not os.path.isdir(base):
        return None, {}  # theirs, or a temp dir so deep that one more level would not fit a socket
    path = tempfile.mkdtemp(prefix=PREFIX, dir=base)
    out = {"VLLM_RPC_BASE_PATH": path}
    if temp_dir:
        out["TMPDIR"] = path
        if "TORCHINDUCTOR_CACHE_DIR" not in env:
            out["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(base, f"torchinductor_{_user()}")
    return path, out


def remove(path: str | None) -> None:
    """Remove a scratch directory (only one of ours: its name says so)."""
    if path and os.path.basename(path.rstrip("/")).startswith(PREFIX):
        shutil.rmtree(path, ignore_errors=True)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
