"""The assistant as other systems' tools reach it — the OpenAI chat-completions protocol (the real
`openai` package, LangChain's ChatOpenAI) and a LangChain retriever over HTTP (jingce_client.langchain)
— against `jingce serve` started here, over a few real Beijing policy pages."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import openai
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import clean_env
from tests.servers import jingce_server


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from tests.conftest import beijing_corpus

    root = tmp_path_factory.mktemp("openai")
    corpus = beijing_corpus(root / "corpus")
    # a citizen may ask 30 questions a minute, anonymously; this key's role asks as the portal would
    env = clean_env(JINGCE_DATA_DIR=str(root / "data"), AUTH_ADDRESS_PER_MINUTE="0", AUTH_CITIZEN_PER_MINUTE="20")
    ingest = subprocess.run([sys.executable, "-m", "app.cli", "ingest", str(corpus)], env=env, capture_output=True,
                            text=True, timeout=600)
    assert ingest.returncode == 0, ingest.stderr
    made = subprocess.run([sys.executable, "-m", "app.cli", "keys", "create", "--name", "portal", "--role", "citizen"],
                          env=env, capture_output=True, text=True, timeout=120)
    key = next(word for word in made.stdout.split() if word.startswith("jc_"))
    with jingce_server(env) as base:
        yield base, key, root / "data"


def _client(served, key: str | None = None) -> openai.OpenAI:
    base, own, _ = served
    return openai.OpenAI(base_url=f"{base}/v1", api_key=key or own, max_retries=0, timeout=60)


def test_a_completion_quotes_the_standard_with_its_citation(served):
    client = _client(served)
    assert [m.id for m in client.models.list()] == ["jingce"]
    done = client.chat.completions.create(model="jingce", messages=[
        {"role": "system", "content": "你是北京政务助手。"}, {"role": "user", "content": "北京低保现在每个月多少钱？"}])
    content = done.choices[0].message.content
    assert "1450元" in content and "[1]" in content and done.choices[0].finish_reason == "stop"
    assert "来源：" in content and "京民社救发〔2024〕80号" in content  # the sources block a chat window shows
    block = content.split("来源：")[1].strip().splitlines()
    assert len(block) == len({r["doc_id"] for r in done.model_extra["references"]})  # a document once
    references = done.model_extra["references"]
    assert references[0]["doc_number"] == "京民社救发〔2024〕80号" and references[0]["validity"] == "现行有效"
    assert references[0]["end"] > references[0]["start"] and references[0]["quote"]
    assert done.model_extra["jingce"]["status"] == "answered"


def test_a_streamed_completion_says_the_same(served):
    client = _client(served)
    chunks = list(client.chat.completions.create(model="jingce", stream=True, messages=[
        {"role": "user", "content": "北京低保现在每个月多少钱？"}]))
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "1450元" in content and "[1]" in content and "来源：" in content
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["references"][0]["doc_number"] == "京民社救发〔2024〕80号"


def test_langchains_chat_model_answers_through_it(served):
    from langchain_openai import ChatOpenAI

    base, key, _ = served
    model = ChatOpenAI(model="jingce", base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=60)
    said = model.invoke("北京低保现在每个月多少钱？")
    assert "1450元" in said.content and "[1]" in said.content
    streamed = "".join(part.content for part in model.stream("北京低保现在每个月多少钱？"))
    assert "1450元" in streamed and "来源：" in streamed


def test_a_follow_up_is_read_with_the_conversation(served):
    client = _client(served)
    done = client.chat.completions.create(model="jingce", messages=[
        {"role": "user", "content": "北京市场租房补贴是怎么规定的？"},
        {"role": "assistant", "content": "……"},
        {"role": "user", "content": "那申请需要什么条件？"}])
    extension = done.model_extra["jingce"]
    assert extension["status"].startswith("answered"), done
    assert any("租房" in (r["title"] or "") for r in done.model_extra["references"])


def test_a_refusal_is_a_normal_completion(served):
    done = _client(served).chat.completions.create(model="jingce", messages=[
        {"role": "user", "content": "上海的公积金贷款最多能贷多少？"}])
    assert done.choices[0].finish_reason == "stop" and done.choices[0].message.content
    assert done.model_extra["jingce"]["refusal"] is True and done.model_extra["references"] == []


def test_a_langchain_chain_retrieves_over_http(served):
    import asyncio

    from langchain_core.runnables import RunnableLambda

    from jingce_client import PolicyAPIError
    from jingce_client.langchain import PolicySearchRetriever

    base, key, _ = served
    retriever = PolicySearchRetriever(base_url=base, api_key=key, top_k=3)
    chain = retriever | RunnableLambda(lambda docs: [(d.metadata["doc_number"], d.metadata["validity"]) for d in docs])
    assert chain.invoke("低保标准")[0] == ("京民社救发〔2024〕80号", "现行有效")
    first = asyncio.run(retriever.ainvoke("低保标准"))[0]
    assert first.metadata["doc_id"] == "bj-2024-minimum-living-allowance" and first.id == first.metadata["chunk_id"]
    assert first.metadata["end"] > first.metadata["start"] and first.page_content
    # the 2015 rental subsidy, amended by the 2020 one, is left out unless asked for
    current = {d.metadata["doc_id"] for d in PolicySearchRetriever(base_url=base, api_key=key, top_k=10).invoke(
        "市场租房补贴 申请条件")}
    everything = {d.metadata["doc_id"] for d in PolicySearchRetriever(
        base_url=base, api_key=key, top_k=10, include_not_in_force=True).invoke("市场租房补贴 申请条件")}
    assert "bj-2015-market-rental-subsidy" in everything - current
    with pytest.raises(PolicyAPIError) as refused:
        PolicySearchRetriever(base_url=base, api_key="jc_000000000000_not-a-secret").invoke("低保标准")
    assert refused.value.status == 401


def test_errors_come_as_the_openai_package_expects(served):  # last of those that ask: it spends the key's limit
    base, _, data = served
    with pytest.raises(openai.AuthenticationError) as wrong:
        _client(served, "jc_000000000000_not-a-secret").chat.completions.create(
            model="jingce", messages=[{"role": "user", "content": "低保标准"}])
    assert wrong.value.body["type"] == "authentication_error"
    with pytest.raises(openai.BadRequestError) as tools:
        _client(served).chat.completions.create(model="jingce", messages=[{"role": "user", "content": "低保标准"}],
                                                tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])
    assert tools.value.body["param"] == "tools"
    with pytest.raises(openai.NotFoundError):
        _client(served).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "低保标准"}])
    raw = httpx.post(f"{base}/v1/chat/completions", json={"model": "jingce", "messages": []},
                     headers={"Authorization": f"Bearer {served[1]}"}, timeout=30)
    assert raw.status_code == 422 and set(raw.json()["error"]) == {"message", "type", "param", "code"}
    assert json.loads(raw.text)["error"]["param"] == "messages"
    with pytest.raises(openai.RateLimitError) as limited:  # the key's role may ask 20 a minute here
        for _ in range(25):
            _client(served).chat.completions.create(model="jingce", messages=[{"role": "user", "content": "低保标准"}])
    assert limited.value.body["type"] == "rate_limit_error"
    # every call an audit event of its own channel
    engine = create_engine(f"sqlite:///{data / 'audit.sqlite3'}")
    with engine.connect() as conn:
        channels = {row[0] for row in conn.execute(text("SELECT channel FROM audit_events WHERE kind = 'answer'"))}
    engine.dispose()
    assert channels == {"openai"}


def test_the_sources_block_names_each_document_once_and_what_an_answer_script_rests_on():
    from app.api.routes_openai import Reference, _sources_block

    def ref(number: int, doc_id: str, **fields) -> Reference:
        return Reference(number=number, doc_id=doc_id, kind=fields.pop("kind", "policy"), title=fields.pop("title", None),
                         doc_number=fields.pop("doc_number", None), basis=fields.pop("basis", []), validity="现行有效",
                         quote="…", start=0, end=1, url=None, **fields)

    block = _sources_block([
        ref(1, "kb-ka-001", kind="knowledge", title="北京现在低保一个月能领多少钱？", basis=["京民社救发〔2024〕80号"]),
        ref(2, "bj-unemployment", title="北京市失业保险金申领发放实施办法（试行）", doc_number="京人社评发〔2024〕17号"),
        ref(3, "bj-unemployment", title="北京市失业保险金申领发放实施办法（试行）", doc_number="京人社评发〔2024〕17号")])
    assert block.split("\n")[3:] == [
        "[1] 12345热线答复口径：北京现在低保一个月能领多少钱？（依据：京民社救发〔2024〕80号）",
        "[2][3] 北京市失业保险金申领发放实施办法（试行）（京人社评发〔2024〕17号，现行有效）"]
