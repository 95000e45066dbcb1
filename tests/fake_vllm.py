"""A stand-in for `vllm serve` whose engine child ignores SIGTERM, for the clean-up tests.

It prints its arguments and environment (as vLLM logs its arguments), serves /health on --port,
writes its pid and its child's pid to --pids, and waits. The child survives SIGTERM, as a wedged
engine core does: only a SIGKILL ends it. Like vLLM, it binds a socket in VLLM_RPC_BASE_PATH that it
never unlinks (it names that directory in the file --pids + ".rpc").
"""

from __future__ import annotations

import argparse
import http.server
import os
import signal
import socket
import sys
import time


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pids", required=True)
    p.add_argument("--api-key")
    args = p.parse_args()
    print(f"non-default args: {vars(args)} HF_TOKEN={os.environ.get('HF_TOKEN')}", flush=True)
    child = os.fork()
    if child == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            time.sleep(1)
    if base := os.environ.get("VLLM_RPC_BASE_PATH"):  # as vLLM does: a socket there, never unlinked
        rpc = socket.socket(socket.AF_UNIX)
        rpc.bind(os.path.join(base, "fake-rpc"))
        with open(args.pids + ".rpc", "w") as f:
            f.write(base)
    with open(args.pids + ".tmp", "w") as f:
        f.write(f"{os.getpid()} {child}\n")
    os.replace(args.pids + ".tmp", args.pids)
    http.server.HTTPServer(("127.0.0.1", args.port), Health).serve_forever()


if __name__ == "__main__":
    sys.exit(main())
