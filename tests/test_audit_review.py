"""What an official reviewing the audit log gets: filtered keyset pages, an event with the evidence
frozen when it was written (and whether the live document still says the same), a streamed export,
per-day figures, the chain's status; and `jingce audit verify` / `anchor` from the command line."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import subprocess
import sys

from fastapi.testclient import TestClient
from sqlalchemy import text

from app.api import create_app
from app.audit.labels import BEIJING, labels
from tests.conftest import clean_env, key_headers


def test_an_official_reviews_what_was_said(services, small_corpus, tmp_path):
    services.indexer.sync([small_corpus])
    auditor, agent = key_headers(services, "auditor"), key_headers(services, "agent")
    with TestClient(create_app(services=services)) as client:
        answered = client.post("/v1/chat", json={"question": "养老服务补贴津贴怎么申请"}).json()
        refused = client.post("/v1/chat", json={"question": "火星移民签证怎么办"}).json()
        assert refused["status"].startswith("refused")
        made = client.post("/v1/tickets/route", json={"text": "小区门口积水严重，下水道堵了", "draft_reply": False},
                           headers=agent).json()
        client.post(f"/v1/tickets/{made['id']}/decision", headers=agent, json={
            "action": "override", "department_id": "bj-jw", "reason": "测试改派"})
        for _ in range(3):
            client.get("/v1/policies", params={"q": "低保"})

        # keyset pages, newest first, no event twice, none missed (reading pages adds events: after the first)
        seen, cursor, total = [], None, None
        while True:
            page = client.get("/v1/audit/events", params={"limit": 4, **({"cursor": cursor} if cursor else {})},
                              headers=auditor).json()
            total = total if total is not None else page["total"]
            seen += [e["seq"] for e in page["events"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == total
        assert client.get("/v1/audit/events", params={"cursor": "bm9wZQ"}, headers=auditor).status_code == 422

        def ids(**params) -> list[str]:
            return [e["id"] for e in client.get("/v1/audit/events", params=params, headers=auditor).json()["events"]]

        assert ids(refused=True) == [refused["audit_id"]]
        assert ids(overridden=True) and ids(kind=["decision"]) == ids(overridden=True)
        # filters read officials' words as well as the codes
        assert ids(status="改派") == ids(status="override") == ids(kind=["派单决定"]) == ids(overridden=True)
        assert ids(kind=["派单建议"], channel="12345热线") == ids(kind=["suggestion"], channel="hotline")
        assert ids(status="拒答：无依据") == ids(refused=True)
        assert client.get("/v1/audit/events", params={"kind": "火星"}, headers=auditor).status_code == 422
        assert answered["audit_id"] in ids(kind=["answer"], q="养老服务")
        assert ids(kind=["answer"], q="100%_") == []  # LIKE's wildcards are searched for, not used
        assert len(ids(kind=["lookup"], **{"from": "2000-01-01", "to": "2999-01-01"})) >= 3

        # one event: the evidence as it was, and its place in the chain
        detail = client.get(f"/v1/audit/events/{answered['audit_id']}", headers=auditor).json()
        assert detail["chain"]["hash_matches"] and detail["chain"]["seq"] >= 1
        cited = [e for e in detail["evidence"] if e["cited"]]
        assert cited and all(e["text"] and e["live"] == "same" for e in cited)
        assert client.get("/v1/audit/events/nope", headers=auditor).status_code == 404

        # the documents change: the answer's evidence stays what it was, and says the live text differs
        doc = cited[0]["doc_id"]
        next(small_corpus.rglob(f"{doc}.*")).unlink()
        services.indexer.sync([small_corpus], prune=True)
        again = client.get(f"/v1/audit/events/{answered['audit_id']}", headers=auditor).json()
        gone = [e for e in again["evidence"] if e["doc_id"] == doc]
        assert gone and all(e["live"] == "gone" and e["text"] for e in gone)

        # export: every event once, oldest first, as CSV (spreadsheet-safe) and as JSON lines
        exported = client.get("/v1/audit/export", params={"format": "csv"}, headers=auditor)
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
        assert [int(r["序号"]) for r in rows] == sorted(int(r["序号"]) for r in rows)
        decided = next(r for r in rows if r["类型"] == "派单决定")
        assert decided["状态"] == "改派" and decided["决定主办单位"] == "北京市教育委员会" and decided["采纳建议"] == "否"
        assert decided["建议主办单位"] and decided["时间（北京时间）"].endswith("+08:00")
        # no code in officials' columns (a key's id is hex: "密钥1a2b3c4d5e6f" may hold letters, and is its name)
        shown = [r["状态"] + r["类型"] + r["渠道"] + re.sub(r"密钥[0-9a-f]{12}", "", r["调用方"]) for r in rows]
        assert not [s for s in shown if re.search(r"[A-Za-z]{3,}", s)], shown
        lines = client.get("/v1/audit/export", params={"format": "jsonl", "kind": ["answer"]}, headers=auditor).text
        assert {json.loads(line)["kind"] for line in lines.splitlines()} == {"answer"}

        summary = client.get("/v1/audit/summary", headers=auditor).json()
        today = summary[-1]
        assert today["day"] == dt.datetime.now(BEIJING).date().isoformat()  # days are Beijing days
        assert today["answers"] == 2 and today["refused"] == 1 and today["suggestions"] == 1
        assert today["decisions_by_department"] == {made["departments"][0]["department"]["id"]: {"decided": 1,
                                                                                                 "agreed": 0}}
        assert client.get("/v1/audit/verify", headers=auditor).json()["ok"] is True
        # reading the log is itself recorded
        assert ids(kind=["lookup"], actor=auditor_actor(services))
        by_label = ids(kind=["lookup"], actor=labels().actor(auditor_actor(services)))  # "审计员 密钥…"
        assert by_label and set(by_label) < set(ids(kind=["lookup"], actor=auditor_actor(services)))
    # every kind, channel and status the service wrote has officials' words for it
    with services.audit.engine.connect() as conn:
        written = conn.execute(text("SELECT DISTINCT kind, channel, status FROM audit_events")).all()
    names = labels()
    unnamed = [row for row in written if names.label("kinds", row[0]) == row[0] or
               names.label("channels", row[1]) == row[1] or names.label("statuses", row[2]) == row[2]]
    assert len(written) >= 8 and not unnamed, unnamed


def auditor_actor(services) -> str:
    return next(k.actor for k in services.keys.list() if k.role == "auditor")


def test_verify_and_anchor_from_the_command_line(tmp_path):
    env = clean_env(JINGCE_DATA_DIR=str(tmp_path / "data"), AUDIT_ANCHOR_FILE=str(tmp_path / "elsewhere" / "anchors"))

    def jingce(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, capture_output=True, text=True,
                              timeout=120)

    for name in ("A01", "A02", "A03"):
        assert jingce("keys", "create", "--name", name, "--role", "agent").returncode == 0
    assert jingce("keys", "create", "--name", "x", "--role", "root").returncode == 2
    listed = jingce("keys", "list").stdout.splitlines()
    assert len(listed) == 3 and all("\tagent\t" in line for line in listed)
    assert jingce("keys", "revoke", listed[0].split("\t")[0]).returncode == 0
    assert "revoked" in jingce("keys", "list").stdout.splitlines()[0]
    anchored = json.loads(jingce("audit", "anchor").stdout)
    assert anchored["seq"] == 4 and anchored["signature"]  # three keys created, one revoked
    report = json.loads(jingce("audit", "verify", "--json").stdout)
    # heads signed at the first event and now, each in the table and the file kept elsewhere
    assert report["ok"] and report["checked"] == 4 and report["heads_checked"] == 2 and report["unsigned"] == 0
    public = tmp_path / "published.pem"
    assert jingce("audit", "public-key", "--out", str(public)).stdout.startswith("-----BEGIN PUBLIC KEY-----")
    by_auditor = json.loads(jingce("audit", "verify", "--public-key", str(public), "--json").stdout)
    assert by_auditor["ok"] and by_auditor["key_id"] == report["key_id"]

    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'audit.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_events_append_only"))
        edited = conn.execute(text("SELECT id FROM audit_events WHERE seq = 2")).scalar_one()
        conn.execute(text("UPDATE audit_events SET details = '{}' WHERE seq = 2"))
    broken = jingce("audit", "verify")
    assert broken.returncode == 1 and edited in broken.stderr and "edited" in broken.stderr
    with engine.begin() as conn:
        for trigger in ("audit_events_no_delete", "audit_anchors_no_delete"):
            conn.execute(text(f"DROP TRIGGER {trigger}"))
        conn.execute(text("DELETE FROM audit_events WHERE seq >= 2"))
        conn.execute(text("DELETE FROM audit_anchors"))
    cut = json.loads(jingce("audit", "verify", "--json").stdout)  # the anchor file kept elsewhere catches it
    assert not cut["ok"] and cut["first_break"]["kind"] == "heads_missing" and cut["first_break"]["seq"] == 1
    engine.dispose()
