"""Hotline routing through the real app: suggest → decide → stats, on SQLite and on PostgreSQL;
bad tickets; personal data; learning from overrides.

The category model here trains on a small labelled file written by the test (the shared dev set
is for the accuracy evaluation, tests/test_eval_routing.py), with the real embedding model and,
where it is present, the real taxonomy."""

from __future__ import annotations

import datetime as dt
import json
import re
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from app.api import create_app
from app.audit.schema import audit_events
from app.composition import build_services
from app.routing.service import train_model
from tests.conftest import key_headers
from tests.fake_llm import FakeLLM

TRAINING = {
    "城乡建设": ["小区物业不作为，电梯坏了一个月没人修", "小区门口道路施工围挡影响出行", "老旧小区改造施工噪音大",
               "物业乱收停车费", "小区垃圾站长期不清运", "楼道里私搭乱建无人管"],
    "教育文体": ["孩子上小学入学需要什么材料", "学校乱收补课费", "幼儿园学位不够希望增设公办园",
               "中学老师体罚学生", "校外培训机构倒闭不退学费", "公园健身器材损坏"],
    "劳动和社会保障": ["公司拖欠工资三个月", "单位不给缴纳社保", "工伤认定申请被拒", "退休养老金计算有误",
                   "失业保险金怎么领取", "劳动合同到期不续签没有补偿"],
}


@pytest.fixture(scope="module")
def training_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("routing") / "train.jsonl"
    lines = [json.dumps({"留言主题": t, "留言详情": t + "，请有关部门尽快处理。", "一级分类": c}, ensure_ascii=False)
             for c, texts in TRAINING.items() for t in texts]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _client(tmp_path, embedder, training_file, small_corpus, database_url=None, llm_url=None, train=True):
    """The app over the small corpus, its category model trained ahead as `jingce train routing` does."""
    from app.config import Settings

    settings = Settings(data_dir=tmp_path / "data")
    settings = settings.model_copy(update={
        "routing": settings.routing.model_copy(update={"train_path": training_file, "model_check_s": 0.05}),
        "database": settings.database.model_copy(update={"url": database_url}),
        "llm": settings.llm.model_copy(update={"base_url": llm_url, "read_timeout_s": 1.0, "backoff_s": 0.01,
                                               "max_retries": 0})})
    services = build_services(settings, embedder=embedder)
    services.indexer.sync([small_corpus])
    if train:
        _train(services, embedder)
    # an agent's key on every request, as the agent-assist panel sends it
    return services, TestClient(create_app(services=services), headers=key_headers(services, "agent", "A01"))


def _train(services, embedder) -> str:
    settings = services.settings
    return train_model(settings.routing, services.routing.store, embedder, settings.routing_model_path)


@pytest.fixture
def api(tmp_path, embedder, training_file, small_corpus):
    services, client = _client(tmp_path, embedder, training_file, small_corpus)
    with client:
        yield client, services
    services.close()


def _round_trip(client, services) -> None:
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    first = client.post("/v1/tickets/route", json={"text": "公司拖欠工资两个月，老板不接电话，我的手机13812345678",
                                                   "agent": "A01"})
    assert first.status_code == 200, first.text
    suggestion = first.json()
    lead = suggestion["departments"][0]
    assert lead["role"] == "主办" and lead["department"]["id"] == "bj-rsj"
    assert suggestion["category"]["level1"] == "劳动和社会保障"
    assert "13812345678" not in suggestion["ticket"] and suggestion["personal_data"] == {"mobile": 1}
    assert suggestion["evidence"]["similar_tickets"] == [] and lead["responsibilities"]  # nothing decided yet
    second = client.post("/v1/tickets/route", json={"text": "小区物业不作为，楼道堆满杂物，朝阳区望京街道", "agent": "A01"}).json()
    assert second["place"]["district"] == "朝阳区" and len(second["departments"]) <= 3
    assert second["departments"][-1]["department"]["id"] == "district:朝阳区"
    assert second["departments"][-1]["role"] == "协办"

    accepted = client.post(f"/v1/tickets/{suggestion['id']}/decision", json={"action": "accept", "agent": "A01"})
    assert accepted.status_code == 200 and accepted.json()["agreed"] is True
    again = client.post(f"/v1/tickets/{suggestion['id']}/decision", json={"action": "accept"})
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    override = client.post(f"/v1/tickets/{second['id']}/decision", json={
        "action": "override", "department_id": "bj-cgzf", "reason": "楼道堆物属城管执法", "agent": "A02"})
    assert override.status_code == 200 and override.json()["agreed"] is False

    stats = client.get("/v1/tickets/stats", params={"from": since.isoformat()}).json()
    assert stats["decided"] == 2 and stats["agreed"] == 1 and stats["agreement_rate"] == 0.5
    assert stats["suggestions"] == 2 and stats["pending"] == 0 and stats["overrides"] == 1
    assert stats["by_department"]["bj-rsj"] == {"decided": 1, "agreed": 1, "agreement_rate": 1.0}
    assert stats["by_category"]["劳动和社会保障"]["agreed"] == 1
    future = client.get("/v1/tickets/stats", params={"from": "2999-01-01"}).json()
    assert future["decided"] == 0 and future["agreement_rate"] is None
    hot = client.get("/v1/tickets/hot", params={"from": since.isoformat()}).json()
    assert hot["tickets"] == 2 and hot["topics"] == []  # two different matters are no topic

    with services.audit.engine.connect() as conn:
        rows = conn.execute(select(audit_events).where(audit_events.c.kind.in_(["suggestion", "decision"]))).mappings().all()
    kinds = sorted(r["kind"] for r in rows)
    assert kinds == ["decision", "decision", "suggestion", "suggestion"]
    assert all("13812345678" not in (r["question"] or "") for r in rows)


def test_suggest_decide_stats_on_sqlite(api):
    _round_trip(*api)


def test_suggest_decide_stats_on_postgres(tmp_path, embedder, training_file, small_corpus, postgres_url):
    services, client = _client(tmp_path, embedder, training_file, small_corpus, postgres_url)
    try:
        with client:
            _round_trip(client, services)
    finally:
        services.close()


@pytest.mark.parametrize("text, status", [
    ("", 422), ("   \n\t ", 422), ("😡😡😡🙏", 422), ("低" * 20001, 422),
    ("The streetlight outside my building has been broken for a week", 200),
    ("小区门口的streetlight坏了一周，没人修", 200),
])
def test_bad_and_odd_tickets(api, text, status):
    client, _ = api
    response = client.post("/v1/tickets/route", json={"text": text, "draft_reply": False})
    assert response.status_code == status, response.text
    if status == 422:
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert problem["errors"][0]["field"] == "text"


def test_a_long_ticket_is_routed(api):
    client, _ = api
    text = "公司拖欠工资三个月，" + "情况说明。" * 3990
    assert len(text) <= 20000
    response = client.post("/v1/tickets/route", json={"text": text, "draft_reply": False})
    assert response.status_code == 200 and response.json()["departments"][0]["department"]["id"] == "bj-rsj"


def test_decisions_need_what_and_why(api):
    client, _ = api
    made = client.post("/v1/tickets/route", json={"text": "学校乱收补课费", "draft_reply": False}).json()
    cases = [({"action": "override", "department_id": "bj-jw"}, 422),
             ({"action": "accept", "department_id": "bj-rsj"}, 422),
             ({"action": "override", "department_id": "no-such", "reason": "x"}, 422),
             ({"action": "maybe"}, 422)]
    for body, status in cases:
        assert client.post(f"/v1/tickets/{made['id']}/decision", json=body).status_code == status
    assert client.post("/v1/tickets/nope/decision", json={"action": "accept"}).status_code == 404
    assert client.get("/v1/tickets/stats", params={"from": "2026-02-01", "to": "2026-01-01"}).status_code == 422


def test_overrides_teach_the_router(api):
    client, _ = api
    text = "某商场门口的共享单车乱停乱放堵住了人行道，没人管理"
    before = client.post("/v1/tickets/route", json={"text": text, "draft_reply": False}).json()
    suggested = before["departments"][0]["department"]["id"]
    assert suggested != "bj-jtw" and before["evidence"]["similar_tickets"] == []
    for _ in range(3):  # three agents decide the same matter the same way
        made = client.post("/v1/tickets/route", json={"text": text, "draft_reply": False}).json()
        client.post(f"/v1/tickets/{made['id']}/decision", json={
            "action": "override", "department_id": "bj-jtw", "reason": "共享单车停放由交通委统筹管理"})
    after = client.post("/v1/tickets/route", json={"text": text, "draft_reply": False}).json()
    lead = after["departments"][0]
    assert lead["department"]["id"] == "bj-jtw" and lead["signals"]["decisions"] == 1.0
    shown = after["evidence"]["similar_tickets"]  # the decided tickets, with who led them and how they were decided
    assert len(shown) == 3 and {(t["text"], t["department"]) for t in shown} == {(text, "bj-jtw")}
    overridden = [t for t in shown if t["action"] == "override"]  # later agents may find 市交通委 suggested already
    assert overridden and all(t["suggested"] == suggested for t in overridden)
    assert dt.datetime.fromisoformat(shown[0]["decided_at"]).utcoffset() == dt.timedelta(0) and shown[0]["similarity"] > 0.99


def test_hot_topics_are_one_matter_raised_at_one_place(api):
    client, _ = api
    stall = ["朝阳区望京街道望京西园三区楼下的烧烤摊每天开到凌晨，油烟熏得开不了窗",
             "望京西园三区底商烧烤店油烟直排，晚上还特别吵，朝阳区望京街道的居民受不了",
             "朝阳区望京街道望京西园三区那家烧烤摊油烟太大了，夜里吵得睡不着觉",
             "望京西园三区楼下烧烤摊半夜还在营业，油烟和噪音扰民，朝阳区望京街道"]
    others = ["朝阳区望京街道望京西园三区门口的路灯坏了好几天", "海淀区学院路街道某小区楼下烧烤摊油烟大，晚上吵",
              "公司拖欠工资两个月，老板不接电话"]
    for text in stall + others:
        assert client.post("/v1/tickets/route", json={"text": text, "draft_reply": False}).status_code == 200
    hot = client.get("/v1/tickets/hot").json()
    assert hot["tickets"] == 7 and len(hot["topics"]) == 1, hot
    topic = hot["topics"][0]
    # the same stall at another street, and the streetlight at the same compound, are other matters
    assert topic["count"] == 4 and {t["text"] for t in topic["tickets"]} == set(stall)
    assert (topic["district"], topic["street"]) == ("朝阳区", "望京街道") and "油烟" in topic["keywords"]
    assert dt.datetime.fromisoformat(topic["first_at"]).utcoffset() == dt.timedelta(0) and topic["title"] in "".join(stall)
    assert client.get("/v1/tickets/hot", params={"from": "2026-02-01", "to": "2026-01-01"}).status_code == 422
    assert client.get("/v1/tickets/hot", params={"to": "2000-01-01"}).json()["tickets"] == 0
    assert client.get("/v1/tickets/hot", params={"to": "0001-01-02T00:00:00"}).status_code == 422


def test_an_override_to_the_suggested_lead_is_an_accept(api):
    client, _ = api
    made = client.post("/v1/tickets/route", json={"text": "公司拖欠工资两个月，老板不接电话", "draft_reply": False}).json()
    lead = made["departments"][0]["department"]["id"]
    decided = client.post(f"/v1/tickets/{made['id']}/decision", json={
        "action": "override", "department_id": lead, "reason": "确认由该单位主办"}).json()
    assert decided["action"] == "accept" and decided["agreed"] is True
    stats = client.get("/v1/tickets/stats").json()
    assert stats["overrides"] == 0 and stats["agreed"] == 1


def test_a_decided_category_joins_the_training_set_when_the_model_is_trained_again(tmp_path, embedder,
                                                                                   training_file, small_corpus):
    services, client = _client(tmp_path, embedder, training_file, small_corpus)
    with client:
        made = client.post("/v1/tickets/route", json={"text": "共享单车乱停乱放堵住人行道", "draft_reply": False}).json()
        client.post(f"/v1/tickets/{made['id']}/decision", json={
            "action": "override", "department_id": "bj-cgzf", "category": "城乡建设", "reason": "人行道秩序"})
        assert made["model"]["trained_on"] == 18 and made["model"]["trained_at"]
        before = made["model"]["version"]
        assert "19 tickets" in _train(services, embedder)  # as `jingce train routing` would, while serving
        for _ in range(100):  # the running service loads the new file in the background
            after = client.post("/v1/tickets/route", json={"text": "公交站台广告牌破损", "draft_reply": False}).json()
            if after["model"]["trained_on"] == 19:
                break
            time.sleep(0.05)
        assert after["model"]["trained_on"] == 19 and after["model"]["version"] != before
    services.close()


def test_a_damaged_model_file_is_refused_with_the_reason(tmp_path, embedder, training_file, small_corpus, caplog):
    services, client = _client(tmp_path, embedder, training_file, small_corpus, train=False)
    services.settings.routing_model_path.parent.mkdir(parents=True, exist_ok=True)
    services.settings.routing_model_path.write_bytes(b"not a model")
    with caplog.at_level("ERROR"), client:
        body = client.post("/v1/tickets/route", json={"text": "公司拖欠工资三个月", "draft_reply": False}).json()
    services.close()
    assert body["category"] is None and body["needs_review"] is True
    # the agent is told in Chinese; the reason and the command to run are in the service's log
    assert "工单分类模型无法读取，建议均需人工复核（请管理员查看服务日志）" in body["review_reasons"]
    assert not any(re.search("[A-Za-z]{3,}", reason) for reason in body["review_reasons"])
    assert any("not a routing model file" in r.getMessage() and "jingce train routing" in r.getMessage()
               for r in caplog.records)


def _pick(name_part: str):
    """A fake LLM reply: the number of the candidate whose line names `name_part`."""
    def reply(messages):
        for line in messages[-1]["content"].splitlines():
            if name_part in line and line[:1].isdigit():
                return line.split(".")[0]
        return "不知道"
    return reply


def test_the_llm_picks_among_the_candidates_and_its_failure_costs_nothing(tmp_path, embedder, training_file,
                                                                          small_corpus):
    with FakeLLM() as fake:
        services, client = _client(tmp_path, embedder, training_file, small_corpus, llm_url=fake.base_url)
        with client:
            text = "小区楼道里堆满杂物，物业不管，也没人来清理"
            fake.reply = _pick("城市管理综合行政执法局")
            picked = client.post("/v1/tickets/route", json={"text": text, "draft_reply": False}).json()
            chosen = {d["department"]["id"]: d for d in picked["departments"]}
            assert picked["model"]["llm"] == "route_ticket/v1: picked bj-cgzf"
            assert "bj-cgzf" in chosen and chosen["bj-cgzf"]["signals"]["llm"] == 1.0
            fake.reply = lambda messages: "42"
            off_list = client.post("/v1/tickets/route", json={"text": text, "draft_reply": False}).json()
            assert off_list["model"]["llm"].startswith("ignored")
            fake.mode = "error"
            down = client.post("/v1/tickets/route", json={"text": text, "draft_reply": False})
            assert down.status_code == 200 and down.json()["model"]["llm"].startswith("unavailable")
            assert down.json()["departments"]
        services.close()


def test_without_training_data_every_suggestion_goes_to_review(tmp_path, embedder, small_corpus):
    services, client = _client(tmp_path, embedder, tmp_path / "no-such-file.jsonl", small_corpus)
    assert "no labelled tickets" in _train(services, embedder)
    with client:
        response = client.post("/v1/tickets/route", json={"text": "公司拖欠工资三个月", "draft_reply": False})
        body = response.json()
        assert response.status_code == 200 and body["category"] is None and body["needs_review"] is True
        assert body["departments"][0]["department"]["id"] == "bj-rsj"  # keywords and responsibilities still work
        assert body["model"]["version"] == "untrained"
    services.close()


def test_routing_runs_the_steps_the_architecture_names(api):
    _, services = api
    assert services.routing.pipeline.step_names == [
        "check_ticket", "mask", "find_place", "classify", "rank_departments", "choose", "draft_reply",
        "gather_evidence", "record"]  # ask_llm joins after rank_departments when an LLM is configured


def test_the_reply_draft_is_shaped_as_a_chat_answer(api):
    client, _ = api
    body = client.post("/v1/tickets/route", json={"text": "北京低保标准现在每个月多少钱？家里困难想了解一下"}).json()
    draft = body["reply_draft"]
    assert draft["status"] == "answered" and draft["refusal"] is False and draft["audit_id"]
    assert "1450" in draft["answer"] and draft["sentences"][0]["citations"]
    assert draft["sources"][0]["document"]["doc_number"] == "京民社救发〔2024〕80号"
    assert set(body["timings_ms"]) >= {"classify", "rank_departments", "draft_reply"}
    # the policy evidence is what the draft quotes, with where it stands in its document
    quotes = {(c["doc_id"], c["quote"][:160]) for s in draft["sentences"] for c in s["citations"]}
    policies = body["evidence"]["policies"]
    assert policies and {(p["doc_id"], p["quote"]) for p in policies} <= quotes
    assert policies[0]["doc_number"] == "京民社救发〔2024〕80号" and policies[0]["end"] > policies[0]["start"]
    assert all(p["judged"] for p in policies)
    # without a draft, the nearest passages are shown as what they are: unjudged
    bare = client.post("/v1/tickets/route", json={"text": "北京低保标准现在每个月多少钱？家里困难想了解一下",
                                                  "draft_reply": False}).json()
    assert bare["reply_draft"] is None and bare["evidence"]["policies"]
    assert not any(p["judged"] for p in bare["evidence"]["policies"])


def test_a_ticket_no_policy_answers_shows_no_policy_as_evidence(api):
    client, _ = api
    body = client.post("/v1/tickets/route", json={"text": "楼上卫生间漏水，天花板都泡了，物业一直不来修"}).json()
    assert body["reply_draft"]["refusal"] is True
    assert body["evidence"]["policies"] == []  # not the passages merely nearest in words


def test_a_failing_evidence_search_leaves_the_evidence_out_not_the_suggestion(api, monkeypatch):
    client, services = api

    def down(*args, **kwargs):
        raise ConnectionError("vector store unreachable")

    monkeypatch.setattr(services.retriever, "search", down)
    response = client.post("/v1/tickets/route", json={"text": "公司拖欠工资三个月", "draft_reply": False})
    body = response.json()
    assert response.status_code == 200 and body["departments"][0]["department"]["id"] == "bj-rsj"
    assert body["evidence"]["policies"] == []
    assert body["left_out"] == ["gather_evidence: ConnectionError: vector store unreachable"]
    with services.audit.engine.connect() as conn:
        kinds = [r.kind for r in conn.execute(select(audit_events.c.kind))]
    assert "suggestion" in kinds


def test_an_agents_free_text_is_masked_before_it_is_stored(api):
    client, services = api
    # an agent id is an identifier: free text (a phone number, markup) in it is refused, not stored
    for agent in ("A01 13812345678", "<img src=x onerror=alert(1)>"):
        refused = client.post("/v1/tickets/route", json={"text": "学校乱收补课费", "agent": agent})
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "agent"
    made = client.post("/v1/tickets/route", json={"text": "学校乱收补课费", "draft_reply": False}).json()
    assert client.post(f"/v1/tickets/{made['id']}/decision", json={
        "action": "override", "department_id": "bj-jw", "category": "<img src=x onerror=alert(1)>",
        "reason": "x"}).status_code == 422
    decided = client.post(f"/v1/tickets/{made['id']}/decision", json={
        "action": "override", "department_id": "bj-jw",
        "reason": "来电人身份证 110105 194912 31002X，手机１３８１２３４５６７８，要求教委处理"})
    assert decided.status_code == 200
    with services.audit.engine.connect() as conn:
        stored = " ".join(str(row) for table in ("routing_suggestions", "routing_decisions", "audit_events")
                          for row in conn.execute(text(f"SELECT * FROM {table}")))
    for clear in ("13812345678", "13987654321", "31002X", "１３８"):
        assert clear not in stored
    assert "[身份证号]" in stored and "[手机号]" in stored
