"""Streaming answers over SSE, sessions (in-process and real Redis), and disconnects."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from app.api import create_app
from app.clients.sessions import MemorySessionStore, RedisSessionStore
from app.composition import build_services
from tests.fake_llm import FakeLLM, source_number
from tests.servers import free_port, jingce_server, redis_server
from tests.conftest import clean_env


def _events(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.strip().splitlines() if ": " in line)
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_sse_events_come_in_order(client):
    response = client.post("/v1/chat", json={"question": "养老服务补贴津贴怎么申请", "stream": True})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.text)
    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "done" and "delta" in names
    done = events[-1][1]
    assert done["status"] == "answered" and done["audit_id"]
    assert "".join(d["text"] for n, d in events if n == "delta") == done["answer"]


def test_accept_header_also_streams(client):
    response = client.post("/v1/chat", json={"question": "写一首诗"}, headers={"Accept": "text/event-stream"})
    events = _events(response.text)
    assert events[-1][0] == "done" and events[-1][1]["status"] == "out_of_scope"


def test_follow_up_uses_the_session(client):
    first = client.post("/v1/chat", json={"question": "养老服务补贴津贴有哪些", "session_id": "s1"}).json()
    assert first["status"] == "answered"
    follow = client.post("/v1/chat", json={"question": "那申请流程呢？", "session_id": "s1"}).json()
    # the subject of the first question carried over, not the whole sentence
    assert follow["rewritten_question"] == "养老服务补贴津贴，申请流程呢?"
    other = client.post("/v1/chat", json={"question": "那申请流程呢？", "session_id": "s2"}).json()
    assert other["rewritten_question"] is None


def test_memory_sessions_are_bounded_and_expire():
    store = MemorySessionStore(ttl_s=0.2, max_turns=2, max_sessions=2)
    for i in range(3):
        store.append("a", {"question": f"q{i}"})
    assert [t["question"] for t in store.history("a")] == ["q1", "q2"]
    store.append("b", {"question": "x"})
    store.append("c", {"question": "y"})
    assert store.history("a") == []  # evicted: least recently used
    time.sleep(0.25)
    assert store.history("c") == []


def test_redis_sessions(redis_url):
    store = RedisSessionStore(redis_url, ttl_s=1, max_turns=2)
    for i in range(3):
        store.append("r", {"question": f"q{i}"})
    assert [t["question"] for t in store.history("r")] == ["q1", "q2"]
    time.sleep(1.2)
    assert store.history("r") == []


def test_sessions_shared_through_redis_by_two_apps(redis_url, settings, embedder, small_corpus):
    cfg = settings.model_copy(update={"sessions": settings.sessions.model_copy(update={"redis_url": redis_url})})
    services = build_services(cfg, embedder=embedder)
    try:
        services.indexer.sync([small_corpus])
        other_sessions = RedisSessionStore(redis_url)
        with TestClient(create_app(services=services)) as client:
            client.post("/v1/chat", json={"question": "养老服务补贴津贴有哪些", "session_id": "shared"})
        # kept under the caller as well as the session id (another caller reusing "shared" reads nothing)
        [key] = other_sessions._redis.keys("jingce:session:*:shared")
        assert other_sessions.history(key.removeprefix("jingce:session:"))[0]["question"] == "养老服务补贴津贴有哪些"
    finally:
        services.close()


def test_unreachable_redis_fails_at_start_up():
    with pytest.raises(RuntimeError, match="not reachable"):
        RedisSessionStore(f"redis://127.0.0.1:{free_port()}/0")


def test_client_disconnect_stops_the_llm_and_keeps_the_audit_event(tmp_path, small_corpus):
    """A served process, a slow LLM, a client that reads one sentence and hangs up."""
    with FakeLLM() as fake:
        fake.piece_delay_s = 0.05
        fake.reply = lambda m: "".join(f"第{i}条说明标准调整。[{source_number(m, '1450元')}]" for i in range(1, 40))
        env = clean_env(JINGCE_DATA_DIR=str(tmp_path / "data"), LLM_BASE_URL=fake.base_url)
        subprocess.run([sys.executable, "-m", "app.cli", "ingest", str(small_corpus)], env=env, check=True,
                       capture_output=True, timeout=300)
        with jingce_server(env) as base:
            with httpx.stream("POST", base + "/v1/chat", json={"question": "本市低保标准调整为多少", "stream": True},
                              timeout=30) as response:
                for line in response.iter_lines():
                    if line.startswith("event: delta"):
                        break  # hang up after the first sentence
            # the app closes its LLM stream when the client leaves; the fake sees it on its next write
            assert fake.disconnected.wait(30), "the LLM stream was never closed"
            assert fake.pieces_sent < 200 and fake.disconnects == 1, "generation stopped when the client left"
        from sqlalchemy import create_engine, text

        engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'audit.sqlite3'}")
        with engine.connect() as conn:
            statuses = [row[0] for row in conn.execute(text("SELECT status FROM audit_events WHERE kind = 'answer'"))]
        assert statuses == ["cancelled"]


def test_redis_dying_after_start_up_degrades_to_no_history():
    with redis_server() as (url, proc):
        store = RedisSessionStore(url)
        store.append("s", {"question": "低保"})
        assert store.history("s")
        proc.kill()
        proc.wait()
        assert store.history("s") == []
        store.append("s", {"question": "又一个问题"})  # logged, not raised
