"""The vector store unreachable (the server adapter pointed at a port where nothing listens): the
app still starts and stays alive, takes itself out of the load balancer (/readyz 503), and every
route that needs the index answers a 503 problem document with Retry-After — while the audit log
still records the failed answer. (Recovery when the server comes back is the same code path as the
first connection — the collection is set up on the first call that reaches the server — but no
Qdrant server binary can run here to show it: deploy/README.md.)"""

from __future__ import annotations

import httpx
from sqlalchemy import create_engine, text

from tests.conftest import clean_env
from tests.servers import free_port, jingce_server


def test_dead_store_gives_503_problems_and_keeps_the_record(tmp_path):
    data = tmp_path / "data"
    env = clean_env(JINGCE_DATA_DIR=str(data), QDRANT_URL=f"http://127.0.0.1:{free_port()}")
    with jingce_server(env) as base:
        health = httpx.get(base + "/healthz", timeout=10)
        assert health.status_code == 200 and health.json()["chunks"] is None, "alive: a restart would not help"
        ready = httpx.get(base + "/readyz", timeout=10)
        assert ready.status_code == 503 and not ready.json()["parts"]["store"]["ok"]

        answer = httpx.post(base + "/v1/chat", json={"question": "本市低保标准是多少"}, timeout=30,
                            headers={"X-Request-ID": "store-down-1"})
        search = httpx.get(base + "/v1/search", params={"q": "低保标准"}, timeout=30)
        lookup = httpx.get(base + "/v1/policies", timeout=30)
        for response in (answer, search, lookup):
            assert response.status_code == 503, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.headers["retry-after"] == "5"
            assert "unreachable" in response.json()["detail"]
        with httpx.stream("POST", base + "/v1/chat", json={"question": "本市低保标准是多少", "stream": True},
                          timeout=30) as stream:
            events = "".join(stream.iter_text())
        assert '"code": "unavailable"' in events and "event: done" not in events
    engine = create_engine(f"sqlite:///{data / 'audit.sqlite3'}")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, details FROM audit_events WHERE kind = 'answer'")).all()
    assert len(rows) == 2 and all(status == "error" for status, _ in rows)
    assert any("store-down-1" in details for _, details in rows)
