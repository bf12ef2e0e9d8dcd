"""The assistant as other systems' tools reach it — the OpenAI chat-completions protocol (the real
`openai` package, LangChain's ChatOpenAI, LiteLLM), the MCP tools (the official `mcp` client, over HTTP
and stdio) and a LangChain retriever over HTTP (jingce_client.langchain) — against `jingce serve` started
here, over a few real Beijing policy pages."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

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

    def new_key(name: str, role: str) -> str:
        made = subprocess.run([sys.executable, "-m", "app.cli", "keys", "create", "--name", name, "--role", role],
                              env=env, capture_output=True, text=True, timeout=120)
        return next(word for word in made.stdout.split() if word.startswith("jc_"))

    key = new_key("portal", "citizen")
    others = {"agent": new_key("agent-assist", "agent"), "auditor": new_key("audit-office", "auditor")}
    # `jingce mcp` (stdio) opens the store in its own process: a copy, made before the server holds it
    shutil.copytree(root / "data", root / "stdio-data")
    stdio_env = {**env, "JINGCE_DATA_DIR": str(root / "stdio-data")}
    with jingce_server(env) as base:
        yield base, key, root / "data", others, stdio_env


def _client(served, key: str | None = None) -> openai.OpenAI:
    base, own = served[:2]
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

    base, key = served[:2]
    model = ChatOpenAI(model="jingce", base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=60)
    said = model.invoke("北京低保现在每个月多少钱？")
    assert "1450元" in said.content and "[1]" in said.content
    streamed = "".join(part.content for part in model.stream("北京低保现在每个月多少钱？"))
    assert "1450元" in streamed and "来源：" in streamed


def test_litellms_openai_compatible_provider_answers_through_it(served, monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # its price list from the package, not the web
    import litellm

    base, agent = served[0], served[3]["agent"]
    asked = [{"role": "user", "content": "北京低保现在每个月多少钱？"}]
    said = litellm.completion(model="openai/jingce", api_base=f"{base}/v1", api_key=agent, messages=asked, timeout=60)
    assert "1450元" in said.choices[0].message.content and "[1]" in said.choices[0].message.content
    streamed = "".join(part.choices[0].delta.content or "" for part in litellm.completion(
        model="openai/jingce", api_base=f"{base}/v1", api_key=agent, messages=asked, stream=True, timeout=60))
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

    base, key = served[:2]
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


async def _use_the_tools(session) -> dict:
    """What an agent does with the tools: list them, search, read a document by its 文号, ask."""
    from mcp_types import TextContent

    await session.initialize()
    listed = await session.list_tools()
    found = await session.call_tool("search_policies", {"query": "低保标准", "top_k": 3})
    document = await session.call_tool("get_policy", {"ref": "京民社救发[2024]80号"})
    asked = await session.call_tool("ask", {"question": "北京低保现在每个月多少钱？"})
    follow = await session.call_tool("ask", {"question": "那申请需要什么条件？", "history": ["北京市场租房补贴是怎么规定的？"]})
    refused = await session.call_tool("ask", {"question": "上海的公积金贷款最多能贷多少？"})
    missing = await session.call_tool("get_policy", {"ref": "京政发〔1999〕999号"})
    return {"tools": {t.name: t for t in listed.tools}, "found": found, "document": document, "asked": asked,
            "follow": follow, "refused": refused, "missing": missing,
            "text": next(c.text for c in asked.content if isinstance(c, TextContent))}


def _holds(said: dict) -> None:
    assert set(said["tools"]) == {"search_policies", "get_policy", "ask"}
    assert said["tools"]["ask"].output_schema and "question" in said["tools"]["ask"].input_schema["properties"]
    hits = said["found"].structured_content["hits"]
    assert hits[0]["document"]["doc_number"] == "京民社救发〔2024〕80号" and hits[0]["document"]["validity"] == "现行有效"
    assert hits[0]["end"] > hits[0]["start"]
    document = said["document"].structured_content["document"]
    assert document["doc_id"] == "bj-2024-minimum-living-allowance" and document["validity"] == "现行有效"
    assert "1450" in said["document"].structured_content["body"]
    asked = said["asked"].structured_content
    assert not said["asked"].is_error and asked["status"] == "answered" and "1450元" in asked["answer"]
    assert "[1]" in said["text"] and "来源：" in said["text"] and "京民社救发〔2024〕80号" in said["text"]
    assert asked["references"][0]["doc_number"] == "京民社救发〔2024〕80号" and asked["audit_id"]
    follow = said["follow"].structured_content
    assert follow["status"].startswith("answered") and any("租房" in (r["title"] or "") for r in follow["references"])
    assert said["refused"].structured_content["refusal"] is True and not said["refused"].is_error
    assert said["missing"].is_error and "京政发〔1999〕999号" in said["missing"].content[0].text


def test_an_mcp_client_uses_the_tools_over_http(served):
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    base, data, others = served[0], served[2], served[3]

    async def session_as(key: str, work):
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
            async with streamable_http_client(f"{base}/mcp", http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    return await work(session)

    async def auditor_asks(session):
        await session.initialize()
        return (await session.call_tool("search_policies", {"query": "低保标准"}),
                await session.call_tool("ask", {"question": "北京低保现在每个月多少钱？"}))

    _holds(asyncio.run(session_as(others["agent"], _use_the_tools)))
    # the auditor may look documents up but not ask: the tool says so, and the refusal is recorded
    searched, asked = asyncio.run(session_as(others["auditor"], auditor_asks))
    assert not searched.is_error and asked.is_error and "auditor" in asked.content[0].text
    assert ("mcp", "forbidden") in _events(data, others["auditor"], "access")
    # a wrong key never reaches the tools: 401 from the app's own door
    refused = httpx.post(f"{base}/mcp", headers={"Authorization": "Bearer jc_000000000000_not-a-secret",
                                                 "Accept": "application/json, text/event-stream"},
                         json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=30)
    assert refused.status_code == 401
    # every call an audit event of the channel mcp, under the agent's key
    assert {("mcp", "answered"), ("mcp", "refused_other_place")} <= _events(data, others["agent"], "answer")
    assert ("mcp", "ok") in _events(data, others["agent"], "lookup")
    assert ("mcp", "not_found") in _events(data, others["agent"], "lookup")


def test_an_mcp_client_uses_the_tools_over_stdio(served):
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    others, env = served[3], served[4]

    async def session_with(key: str, work, **settings: str):
        parameters = StdioServerParameters(command=sys.executable, args=["-m", "app.cli", "mcp"],
                                           env={**env, "JINGCE_API_KEY": key, **settings})
        async with stdio_client(parameters) as (read, write):
            async with ClientSession(read, write) as session:
                return await work(session)

    async def three_searches(session):
        await session.initialize()
        return [await session.call_tool("search_policies", {"query": "低保标准"}) for _ in range(3)]

    _holds(asyncio.run(session_with(others["agent"], _use_the_tools)))
    data = Path(env["JINGCE_DATA_DIR"])
    assert {channel for channel, _ in _events(data, others["agent"], "answer")} == {"mcp"}
    # the key's limit holds per tool call here (over HTTP the app counts each request)
    calls = asyncio.run(session_with(others["agent"], three_searches, AUTH_AGENT_PER_MINUTE="2"))
    assert [c.is_error for c in calls] == [False, False, True] and "more than 2 calls" in calls[2].content[0].text
    assert ("mcp", "rate_limited") in _events(data, others["agent"], "access")
    # a wrong key: the command says so and stops before serving anything
    stopped = subprocess.run([sys.executable, "-m", "app.cli", "mcp"], env={**env, "JINGCE_API_KEY": "jc_000000000000_x"},
                             capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert stopped.returncode == 2 and "unknown or revoked" in stopped.stderr and stopped.stdout == ""


def test_the_readme_snippets_work_against_the_service(served):
    """Each protocol's README section has a snippet; run as written, with this server's address and a key."""
    import re

    base, agent = served[0], served[3]["agent"]
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for section in ("## The OpenAI protocol", "## A LangChain retriever over HTTP", "## MCP tools"):
        text = readme.split(section, 1)[1].split("\n## ", 1)[0]
        snippet = re.search(r"```python\n(.*?)```", text, re.S).group(1)
        snippet = snippet.replace("http://127.0.0.1:8000", base).replace("jc_…", agent)
        if "print(" not in snippet:  # the retriever's: say what it found
            snippet += "\nprint(docs[0].metadata['doc_number'], chain.invoke('低保标准')[:40])"
        ran = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=120,
                             env=clean_env())
        assert ran.returncode == 0, (section, ran.stderr[-2000:])
        assert "1450" in ran.stdout or "京民社救发〔2024〕80号" in ran.stdout, (section, ran.stdout)


def test_errors_come_as_the_openai_package_expects(served):  # last of those that ask: it spends the key's limit
    base, data = served[0], served[2]
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
    assert {channel for channel, _ in _events(data, served[1], "answer")} == {"openai"}


def _events(data, key: str, kind: str) -> set[tuple[str, str]]:
    """(channel, status) of the key's audit events of this kind."""
    engine = create_engine(f"sqlite:///{data / 'audit.sqlite3'}")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT channel, status FROM audit_events WHERE kind = :kind AND actor LIKE :actor"),
                            {"kind": kind, "actor": f"% key:{key.split('_')[1]}"}).all()
    engine.dispose()
    return {tuple(row) for row in rows}


def test_the_sources_block_names_each_document_once_and_what_an_answer_script_rests_on():
    from app.api.routes_openai import Reference, sources_block

    def ref(number: int, doc_id: str, **fields) -> Reference:
        return Reference(number=number, doc_id=doc_id, kind=fields.pop("kind", "policy"), title=fields.pop("title", None),
                         doc_number=fields.pop("doc_number", None), basis=fields.pop("basis", []), validity="现行有效",
                         quote="…", start=0, end=1, url=None, **fields)

    block = sources_block([
        ref(1, "kb-ka-001", kind="knowledge", title="北京现在低保一个月能领多少钱？", basis=["京民社救发〔2024〕80号"]),
        ref(2, "bj-unemployment", title="北京市失业保险金申领发放实施办法（试行）", doc_number="京人社评发〔2024〕17号"),
        ref(3, "bj-unemployment", title="北京市失业保险金申领发放实施办法（试行）", doc_number="京人社评发〔2024〕17号")])
    assert block.split("\n")[3:] == [
        "[1] 12345热线答复口径：北京现在低保一个月能领多少钱？（依据：京民社救发〔2024〕80号）",
        "[2][3] 北京市失业保险金申领发放实施办法（试行）（京人社评发〔2024〕17号，现行有效）"]
