"""Redis (session memory, shared rate limits) killed in the middle of a conversation: answers go on
without memory, /readyz says degraded, and once Redis is back the conversation memory works again
without restarting the app."""

from __future__ import annotations

import httpx

from tests.conftest import clean_env
from tests.faults.conftest import copy_of
from tests.servers import jingce_server, redis_server


def _chat(base: str, question: str) -> dict:
    response = httpx.post(base + "/v1/chat", json={"question": question, "session_id": "resident-1"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_redis_killed_mid_conversation_then_back(corpus_index, tmp_path):
    with redis_server() as (url, redis_proc):
        port = url.rsplit(":", 1)[1].split("/")[0]
        env = clean_env(JINGCE_DATA_DIR=str(copy_of(corpus_index, tmp_path)), REDIS_URL=url,
                        AUTH_REDIS_URL=f"redis://127.0.0.1:{port}/1")
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

            with redis_server(int(port)):  # back, empty, where the app expects it
                assert _chat(base, "本市低保标准是多少")["status"] == "answered"
                again = _chat(base, "那从什么时候开始执行")
                assert again["rewritten_question"], "memory works again once Redis is back"
                assert httpx.get(base + "/readyz", timeout=10).json()["status"] == "ready"
