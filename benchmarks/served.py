"""The served app over the bundled corpus, for benchmarks that measure it over HTTP on loopback.

Ingests `policies/` into a temporary data directory (fast when the embedding cache is warm, about
2.5 minutes when cold) and runs `jingce serve` in its own process on a free port, as in production.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# a benchmark measures the service, not the per-caller limits
UNLIMITED = {f"AUTH_{role}_PER_MINUTE": "0" for role in ("CITIZEN", "AGENT", "AUDITOR", "ADMIN", "ADDRESS")}


def agent_headers(handle: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {handle['keys']['agent']}"}


@contextmanager
def served_bundled_corpus(extra_env: dict[str, str] | None = None, timings: dict[str, float] | None = None,
                          handle: dict | None = None, workers: int = 1):
    """Yields the base URL of a served app on the embedded default with the bundled corpus and its
    routing model trained ahead, as `make run` does; `timings` gets the seconds each stage took,
    `handle` the server process ("process") and an API key per role ("keys"). `workers` > 1 needs
    QDRANT_URL in the environment (a Qdrant server; the embedded store belongs to one process)."""
    timings = {} if timings is None else timings
    handle = {} if handle is None else handle
    with tempfile.TemporaryDirectory(prefix="jingce-bench-") as tmp:
        env = {**os.environ, "JINGCE_DATA_DIR": tmp, **UNLIMITED, **(extra_env or {})}
        env.pop("LLM_BASE_URL", None)  # the embedded default: extractive answers
        for stage in (["ingest"], ["train", "routing"]):
            clock = time.perf_counter()
            subprocess.run([sys.executable, "-m", "app.cli", *stage], env=env, cwd=REPO, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            timings[" ".join(stage)] = round(time.perf_counter() - clock, 2)
        handle["keys"] = {}
        for role in ("agent", "auditor", "admin"):
            made = subprocess.run([sys.executable, "-m", "app.cli", "keys", "create", "--name", f"bench-{role}",
                                   "--role", role], env=env, cwd=REPO, check=True, capture_output=True, text=True)
            handle["keys"][role] = made.stdout.strip().splitlines()[-1].strip()
        clock = time.perf_counter()
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port),
                                   "--workers", str(workers)], env=env, cwd=REPO,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        handle["process"] = server
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("server did not start")
                time.sleep(0.2)
            timings["start"] = round(time.perf_counter() - clock, 2)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)
