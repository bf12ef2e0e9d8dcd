"""Redis (session memory, shared rate limits) killed in the middle of a conversation: answers go on
without memory, /readyz says degraded, and once Redis is back the conversation memory works again
without restarting the app."""

from __future__ import annotations

import shutil
import subprocess
import time

import httpx
import pytest

from tests.conftest import clean_env
from tests.faults.conftest import copy_of
from tests.servers import free_port, jingce_server


def _redis(port: int) -> subprocess.Popen:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (.ci/run installs it)")
    proc = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis(port=port).ping()
            return proc
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)


def _chat(base: str, question: str) -> dict:
    response = httpx.post(base + "/v1/chat", json={"question": question, "session_id": "resident-1"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_redis_killed_mid_conversation_then_back(corpus_index, tmp_path):
    port = free_port()
    redis_proc = _redis(port)
    url = f"redis://127.0.0.1:{port}/0"
    env = clean_env(JINGCE_DATA_DIR=str(copy_of(corpus_index, tmp_path)), REDIS_URL=url,
                    AUTH_REDIS_URL=f"redis://127.0.0.1:{port}/1")
    try:
        with jingce_server(env) as base:
            first = _chat(base, "本市低保标准是多少")
            assert first["status"] == "answered"
            follow = _chat(base, "那从什么时候开始执行")  # a follow-up, read with the first question
            assert follow["rewritten_question"], follow

            redis_proc.kill()
            redis_proc.wait()
            alone = _chat(base, "那从什么时候开始执行")  # no memory now: the question stands alone
            assert alone["status"] in {"answered", "refused_unclear", "refused_no_evidence", "refused_out_of_scope"}
            assert not alone["rewritten_question"]
            assert _chat(base, "本市低保标准是多少")["status"] == "answered", "answers go on without Redis"
            ready = httpx.get(base + "/readyz", timeout=10)
            assert ready.status_code == 200 and ready.json()["status"] == "degraded"
            assert not ready.json()["parts"]["sessions"]["ok"]

            redis_proc = _redis(port)  # back, empty
            assert _chat(base, "本市低保标准是多少")["status"] == "answered"
            again = _chat(base, "那从什么时候开始执行")
            assert again["rewritten_question"], "memory works again once Redis is back"
            assert httpx.get(base + "/readyz", timeout=10).json()["status"] == "ready"
    finally:
        redis_proc.kill()
        redis_proc.wait()
