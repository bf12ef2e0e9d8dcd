"""A throwaway PostgreSQL server for tests: Debian's binaries, a fresh cluster in a temp folder,
trust authentication on loopback, stopped at the end."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


_RUNNING: dict[str, tuple[list[str], str, list[str]]] = {}  # url → (run-as prefix, data folder, start command)


def restart(url: str, down_s: float = 1.0) -> None:
    """Stop the server (fast: open connections are cut) and start it again after down_s."""
    as_user, data, start = _RUNNING[url]
    subprocess.run(as_user + [_bin("pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"], check=True, capture_output=True)
    time.sleep(down_s)
    subprocess.run(start, check=True, capture_output=True)


def available() -> bool:
    return _bin("initdb") is not None and _bin("pg_ctl") is not None


@contextmanager
def postgres_server():
    folder = tempfile.mkdtemp(prefix="jingce-pg-")
    data = os.path.join(folder, "data")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # PostgreSQL refuses to run as root: run it as the postgres user the Debian package creates
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run(as_user + [_bin("initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                              "--locale=C.UTF-8"], check=True, capture_output=True)
    start = as_user + [_bin("pg_ctl"), "-D", data, "-l", os.path.join(folder, "log"), "-w", "-o",
                       f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start"]
    subprocess.run(start, check=True, capture_output=True)
    try:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + 20
        import psycopg

        while True:
            try:
                psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres").close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        _RUNNING[url] = (as_user, data, start)
        yield url
    finally:
        _RUNNING.pop(url, None)
        subprocess.run(as_user + [_bin("pg_ctl"), "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
