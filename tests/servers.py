"""Real servers the tests start on loopback: Redis (Debian's redis-server), and a free port finder."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def redis_server(port: int | None = None):
    """Yields (url, process), on this port or a free one (a given port: a Redis that comes back where
    the app expects it). Skips where redis-server is missing, except in CI, where it fails."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (.ci/run installs it)")
        pytest.skip("redis-server is not installed")
    import redis

    port = port or free_port()
    proc = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield url, proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def wait_until_serving(base: str, process: subprocess.Popen, timeout_s: float = 60) -> None:
    """Until `jingce serve` answers its health route; fails if the process exits or takes too long."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline and process.poll() is None, "server did not come up"
        time.sleep(0.2)


@contextmanager
def jingce_server(env: dict[str, str]):
    """`jingce serve` in a subprocess on a free port, with this environment; yields its base URL."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(base, server)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)
