"""PostgreSQL restarted while answers are being asked: a request may fail while the database is down,
but no answer goes out without its audit event — every 200 names an event the log holds afterwards —
and the chain verifies."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import create_engine, text

from tests import postgres_server
from tests.conftest import clean_env
from tests.faults.conftest import copy_of
from tests.servers import jingce_server

QUESTIONS = ["本市低保标准是多少", "高龄津贴每月多少钱", "市场租房补贴怎么申请", "低保从什么时候开始执行"]


def test_postgres_restart_mid_load_loses_no_audit_event(corpus_index, tmp_path, postgres_url):
    env = clean_env(JINGCE_DATA_DIR=str(copy_of(corpus_index, tmp_path)), DATABASE_URL=postgres_url)
    subprocess.run([sys.executable, "-m", "app.cli", "audit", "migrate"], env=env, check=True, capture_output=True)
    outcomes: list[tuple[int, str | None, str]] = []  # (status, audit_id, request id)
    stop = threading.Event()
    with jingce_server(env) as base:
        def load(worker: int) -> None:
            with httpx.Client(timeout=30) as client:
                n = 0
                while not stop.is_set():
                    request_id = f"pg-{worker}-{n}"
                    try:
                        response = client.post(base + "/v1/chat", json={"question": QUESTIONS[n % len(QUESTIONS)]},
                                               headers={"X-Request-ID": request_id})
                        audit_id = response.json().get("audit_id") if response.status_code == 200 else None
                        outcomes.append((response.status_code, audit_id, request_id))
                    except httpx.HTTPError:
                        outcomes.append((0, None, request_id))
                    if outcomes[-1][0] != 200:
                        time.sleep(0.05)  # a failed request comes back at once: do not spin
                    n += 1

        with ThreadPoolExecutor(4) as pool:
            for worker in range(4):
                pool.submit(load, worker)
            time.sleep(2)
            postgres_server.restart(postgres_url, down_s=1.5)
            time.sleep(3)
            stop.set()
        after = httpx.post(base + "/v1/chat", json={"question": QUESTIONS[0]}, timeout=30)
        assert after.status_code == 200, "the app uses the database again once it is back"

    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, details FROM audit_events WHERE kind = 'answer'")).all()
    recorded_ids = {str(row[0]) for row in rows}
    recorded_requests = {(row[1] or {}).get("request_id") for row in rows}
    answered = [o for o in outcomes if o[0] == 200]
    failed = [o for o in outcomes if o[0] != 200]
    print(f"answered {len(answered)}, failed {len(failed)}: {sorted({o[0] for o in failed})}")
    assert answered, "answers were given before and after the restart"
    for status, audit_id, request_id in answered:
        assert audit_id in recorded_ids or request_id in recorded_requests, f"answer {request_id} has no event"
    assert all(status in (0, 500, 503) for status, _, _ in failed), failed
    verify = subprocess.run([sys.executable, "-m", "app.cli", "audit", "verify"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
