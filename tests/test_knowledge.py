"""Hotline knowledge as its own kind in the index: read from YAML, CSV and XLSX, indexed beside the
policies but never mixed into their search, answering the question it was written for with its
basis cited; proposed at the desk, approved or rejected by a reviewer, answering at once when
approved, each step an audit event."""

from __future__ import annotations

import datetime as dt
import shutil

import openpyxl
import pytest
import yaml
from fastapi.testclient import TestClient

from app.api import create_app
from app.composition import build_services
from app.policy_data import POLICIES
from ingestion.errors import IngestError
from ingestion.knowledge import read_entries
from ingestion.loaders import discover, load_file
from tests.conftest import beijing_corpus, key_headers

SEED = POLICIES / "hotline" / "knowledge"


def test_the_seed_knowledge_base_is_whole_and_rests_on_the_bundled_policies():
    entries = [e for path in sorted(SEED.glob("*.yml")) for e in read_entries(path)[0]]
    failures = [f for path in sorted(SEED.glob("*.yml")) for f in read_entries(path)[1]]
    assert failures == [] and len(entries) >= 150
    bundled = {d.doc_id for path in discover([POLICIES / "beijing", POLICIES / "state-council"])
               for d in load_file(path, 10 ** 8).documents}
    for entry in entries:
        assert entry.state == "approved" and entry.basis and entry.department, entry.id
        assert entry.review_by and entry.review_by > entry.effective, entry.id
        assert all(b["doc_id"] in bundled for b in entry.basis), entry.id  # every basis is a bundled policy


def test_a_spreadsheet_export_is_read_with_chinese_columns(tmp_path):
    rows = [["编号", "问题", "答复", "责任单位", "政策依据", "生效日期", "复核日期", "来源", "状态"],
            ["x-1", "低保标准是多少", "您好，本市低保标准为每人每月1450元。", "bj-mzj", "京民社救发〔2024〕80号", "2024-07-01",
             "2099-12-31", "faq", "approved"],
            ["x-2", "", "没有问题的答复", "bj-mzj", "", "", "", "faq", "approved"],
            ["x-3", "过期的口径", "您好，这条已过复核日期。", "bj-mzj", "", "2020-01-01", "2021-01-01", "faq", "approved"]]
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(tmp_path / "kb.xlsx")
    with (tmp_path / "kb.csv").open("w", encoding="utf-8") as handle:
        handle.write("\n".join(",".join(r) for r in rows))
    for name in ("kb.xlsx", "kb.csv"):
        loaded = load_file(tmp_path / name, 10 ** 7)
        assert [d.doc_id for d in loaded.documents] == ["kb-x-1", "kb-x-3"], name
        assert loaded.failures == ["row 3: missing question"], name
        current, expired = loaded.documents
        assert current.kind == "knowledge" and current.issuer == "北京市民政局" and current.validity == "现行有效"
        assert current.basis == [{"doc_id": None, "doc_number": "京民社救发〔2024〕80号"}]
        assert expired.validity == "已失效"  # past its review date: it no longer answers
    (tmp_path / "other.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    other = load_file(tmp_path / "other.csv", 10 ** 7)
    assert not other.ok and "问题 and 答复" in other.failures[0]
    with pytest.raises(IngestError, match="entries"):
        (tmp_path / "bad.yml").write_text("- just a list\n", encoding="utf-8")
        read_entries(tmp_path / "bad.yml")


@pytest.fixture(scope="module")
def served(tmp_path_factory, embedder):
    """The app over a few Beijing policies and the seed knowledge base."""
    from app.config import Settings

    root = tmp_path_factory.mktemp("knowledge")
    knowledge = root / "knowledge"
    knowledge.mkdir()
    shutil.copy(SEED / "social-assistance-and-elderly.yml", knowledge)
    services = build_services(Settings(data_dir=root / "data"), embedder=embedder)
    report = services.indexer.sync([beijing_corpus(root / "corpus"), knowledge])
    assert not report.failed, report.failed
    app = create_app(services=services)
    with TestClient(app) as client:
        yield client, services
    services.close()


def _ask(client, question: str) -> dict:
    response = client.post("/v1/chat", json={"question": question})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_question_a_seed_entry_was_written_for_is_answered_from_it(served):
    client, _ = served
    entry = yaml.safe_load((SEED / "social-assistance-and-elderly.yml").read_text(encoding="utf-8"))["entries"][0]
    body = _ask(client, entry["question"])
    assert body["status"] == "answered" and "1450元" in body["answer"]
    source = body["sources"][0]["document"]
    assert source["kind"] == "knowledge" and source["doc_id"] == f"kb-{entry['id']}"
    assert {"doc_id": "bj-2024-minimum-living-allowance", "doc_number": "京民社救发〔2024〕80号"} in source["basis"]
    # the policy search itself never lists an answer script among the policies
    listed = client.get("/v1/policies", params={"q": "低保标准"}).json()
    assert listed["matches"] and all(not m["document"]["doc_id"].startswith("kb-") for m in listed["matches"])


def test_an_entry_proposed_at_the_desk_answers_once_a_reviewer_approves_it(served):
    client, services = served
    agent = key_headers(services, "agent", "A07")
    admin = key_headers(services, "admin", "R01")
    question = "社区食堂的老年餐补贴每顿能减多少钱"
    answer = "您好，按本区老年助餐服务口径，社区食堂为本区六十周岁以上老人每餐减免三元，具体以所在街道公示为准。"
    before = _ask(client, question)
    assert not any(s["document"].get("kind") == "knowledge" and "老年餐" in s["document"]["title"]
                   for s in before["sources"])
    proposed = client.post("/v1/knowledge", headers=agent, json={
        "question": question, "answer": answer, "department": "bj-mzj", "category": ["民政与社会服务", "养老服务"],
        "review_by": (dt.date.today() + dt.timedelta(days=365)).isoformat()})
    assert proposed.status_code == 201, proposed.text
    entry = proposed.json()
    assert entry["state"] == "proposed" and entry["source"] == "agent_reply" and entry["proposed_by"] == "A07"
    assert _ask(client, question)["sources"] == before["sources"]  # proposed: not yet an answer
    assert client.post(f"/v1/knowledge/{entry['id']}/approve", headers=agent).status_code == 403  # not their own
    queue = client.get("/v1/knowledge", headers=agent, params={"state": "proposed"}).json()
    assert [e["id"] for e in queue] == [entry["id"]]
    approved = client.post(f"/v1/knowledge/{entry['id']}/approve", headers=admin, json={"note": "口径核实无误"})
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    after = _ask(client, question)  # at once: no restart, no sync
    assert after["status"] == "answered" and "每餐减免三元" in after["answer"]
    assert after["sources"][0]["document"]["doc_id"] == f"kb-{entry['id']}"
    again = client.post(f"/v1/knowledge/{entry['id']}/reject", headers=admin)
    assert again.status_code == 409
    events = client.get("/v1/audit/events", headers=key_headers(services, "auditor", "S01"),
                        params={"kind": "knowledge"}).json()["events"]
    assert [e["status"] for e in events if e["question"] == question] == ["approved", "proposed"]  # newest first


def test_a_rejected_entry_never_answers_and_bad_entries_are_refused(served):
    client, services = served
    agent, admin = key_headers(services, "agent", "A08"), key_headers(services, "admin", "R02")
    question = "小区的快递柜收费标准是多少"
    made = client.post("/v1/knowledge", headers=agent, json={"question": question, "answer": "您好，每件收费一元。"})
    assert made.status_code == 201
    rejected = client.post(f"/v1/knowledge/{made.json()['id']}/reject", headers=admin, json={"note": "无政策依据"})
    assert rejected.json()["state"] == "rejected" and rejected.json()["review_note"] == "无政策依据"
    assert "每件收费一元" not in _ask(client, question)["answer"]
    unknown = client.post("/v1/knowledge", headers=agent, json={"question": "问题", "answer": "答复", "department": "x"})
    assert unknown.status_code == 422
    assert client.post("/v1/knowledge", json={"question": "问题", "answer": "答复"}).status_code in (401, 403)
    assert client.post("/v1/knowledge/kd-none/approve", headers=admin).status_code == 404
