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


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served_bundled_corpus(extra_env: dict[str, str] | None = None, timings: dict[str, float] | None = None):
    """Yields the base URL of a served app on the embedded default with the bundled corpus and its
    routing model trained ahead, as `make run` does; `timings` gets the seconds each stage took."""
    timings = {} if timings is None else timings
    with tempfile.TemporaryDirectory(prefix="jingce-bench-") as tmp:
        env = {**os.environ, "JINGCE_DATA_DIR": tmp, **(extra_env or {})}
        env.pop("LLM_BASE_URL", None)  # the embedded default: extractive answers
        for stage in (["ingest"], ["train", "routing"]):
            clock = time.perf_counter()
            subprocess.run([sys.executable, "-m", "app.cli", *stage], env=env, cwd=REPO, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            timings[" ".join(stage)] = round(time.perf_counter() - clock, 2)
        clock = time.perf_counter()
        port = _port()
        server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env=env, cwd=REPO,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
