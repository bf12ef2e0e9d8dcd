"""The LLM server down, stalling, failing or talking nonsense: the resident still gets an answer,
composed extractively from the same sources within the timeout and marked degraded; the audit log
records it as such."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import clean_env
from tests.fake_llm import FakeLLM, source_number
from tests.faults.conftest import copy_of
from tests.servers import free_port, jingce_server

QUESTION = "本市低保标准是多少"
READ_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def served(corpus_index, tmp_path_factory):
    with FakeLLM() as fake:
        fake.reply = lambda m: f"本市低保标准调整为每人每月1450元。[{source_number(m, '1450元')}]"
        data = copy_of(corpus_index, tmp_path_factory.mktemp("llm"))
        # the breaker stays closed: each fault below is met anew, not skipped as a known outage
        env = clean_env(JINGCE_DATA_DIR=str(data), LLM_BASE_URL=fake.base_url, LLM_READ_TIMEOUT_S=str(READ_TIMEOUT_S),
                        LLM_MAX_RETRIES="0", LLM_BREAKER_FAILURES="100")
        with jingce_server(env) as base:
            yield base, fake


def _ask(base: str) -> tuple[dict, float]:
    started = time.monotonic()
    response = httpx.post(base + "/v1/chat", json={"question": QUESTION}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json(), time.monotonic() - started


def test_a_working_llm_writes_the_answer(served):
    base, fake = served
    fake.mode = "stream"
    body, _ = _ask(base)
    assert body["status"] == "answered" and body["composer"] == "llm" and not body["degraded"]


@pytest.mark.parametrize("mode", ["error", "stall", "garbage", "stream_error"])
def test_a_failing_llm_gives_an_extractive_answer_in_time(served, mode):
    base, fake = served
    fake.mode = mode
    try:
        body, seconds = _ask(base)
    finally:
        fake.mode = "stream"
    assert body["status"] == "answered", body
    assert body["degraded"] and body["composer"] == "extractive"
    assert "1450" in body["answer"] and body["sentences"][0]["citations"]
    assert seconds < READ_TIMEOUT_S + 8, f"{mode}: {seconds:.1f} s"


def test_an_llm_that_is_not_there_at_all(corpus_index, tmp_path):
    env = clean_env(JINGCE_DATA_DIR=str(copy_of(corpus_index, tmp_path)),
                    LLM_BASE_URL=f"http://127.0.0.1:{free_port()}/v1", LLM_READ_TIMEOUT_S=str(READ_TIMEOUT_S))
    with jingce_server(env) as base:
        ready = httpx.get(base + "/readyz", timeout=10).json()
        assert ready["status"] == "degraded" and not ready["parts"]["llm"]["ok"]
        body, seconds = _ask(base)
        assert body["status"] == "answered" and body["degraded"] and seconds < READ_TIMEOUT_S + 8
        with httpx.stream("POST", base + "/v1/chat", json={"question": QUESTION, "stream": True}, timeout=30) as s:
            text = "".join(s.iter_text())
        assert "event: done" in text and '"degraded":true' in text.replace(" ", "")
