"""The widget when the LLM fails: the service answers with its extractive composer and the resident is
told so. The LLM is the fake OpenAI-compatible server of the tests, answering HTTP 500."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ask, finished_answer, open_widget
from tests.fake_llm import FakeLLM


@pytest.fixture(scope="module")
def failing_llm():
    with FakeLLM() as fake:
        fake.mode = "error"
        yield fake


@pytest.fixture(scope="module")
def live_settings(failing_llm):
    return {"llm": {"base_url": failing_llm.base_url, "max_retries": 0, "read_timeout_s": 2.0}}


def test_a_failing_llm_gives_an_extractive_answer_marked_as_such(live, failing_llm, page_at):
    base, _ = live
    page = open_widget(page_at, base)
    ask(page, "北京市最低生活保障标准是多少？")
    answer = finished_answer(page)
    assert failing_llm.requests, "the LLM was not asked"
    assert "智能撰写暂不可用" in answer.inner_text() and "1450元" in answer.inner_text()
    assert answer.locator(".cite").count()
    ask(page, "我不想活了，活着太累")
    crisis = finished_answer(page)
    assert crisis.get_attribute("data-status") == "crisis" and crisis.get_attribute("role") == "alert"
    assert "110" in crisis.inner_text()
