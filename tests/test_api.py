"""The HTTP API on the real app: in-process, and as a served process over loopback."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from sqlalchemy import create_engine, text

from app.api import create_app
from tests.servers import jingce_server
from tests.conftest import clean_env, key_headers


def test_health(client):
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["chunks"] > 20


def test_search_returns_the_document_with_metadata_and_offsets(client):
    response = client.get("/v1/search", params={"q": "养老服务补贴津贴怎么申请", "top_k": 3})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    hit = body["hits"][0]
    assert hit["doc_id"] == "bj-2019-elderly-subsidy"
    assert hit["document"]["doc_number"] == "京民养老发〔2019〕160号"
    assert hit["document"]["validity"] == "现行有效"
    assert hit["end"] > hit["start"] >= 0
    assert set(body["timings_ms"]) == {"embed", "sparse", "search"}


def test_search_filters_and_validity(client):
    default = client.get("/v1/search", params={"q": "市场租房补贴", "top_k": 10}).json()
    assert "bj-2015-market-rental-subsidy" not in {h["doc_id"] for h in default["hits"]}
    everything = client.get("/v1/search", params={"q": "市场租房补贴", "top_k": 10, "include_not_in_force": True}).json()
    repealed = [h for h in everything["hits"] if h["doc_id"] == "bj-2015-market-rental-subsidy"]
    assert repealed and repealed[0]["document"]["validity"] == "已废止"


@pytest.mark.parametrize("params,fragment", [
    ({"q": "低保", "published_from": "2024-13-01"}, "published_from"),
    ({"q": "低保", "level": "省级"}, "level"),
    ({"q": "低保", "top_k": 500}, "top_k"),
    ({"q": ""}, "q"),
    ({"q": "低保" * 400}, "q"),
])
def test_bad_parameters_are_422_with_the_field_named(client, params, fragment):
    response = client.get("/v1/search", params=params)
    assert response.status_code == 422
    assert fragment in response.text


def test_without_top_k_search_returns_the_configured_number(client, services, monkeypatch):
    monkeypatch.setattr(services.settings.retrieval, "top_k", 2)
    monkeypatch.setattr(services.settings.retrieval, "max_top_k", 3)
    assert len(client.get("/v1/search", params={"q": "低保标准"}).json()["hits"]) == 2
    assert client.get("/v1/search", params={"q": "低保标准", "top_k": 3}).status_code == 200
    refused = client.get("/v1/search", params={"q": "低保标准", "top_k": 4})
    assert refused.status_code == 422 and "top_k: at most 3" in refused.text


def test_openapi_documents_search():
    schema = create_app().openapi()
    assert "/v1/search" in schema["paths"] and "/healthz" in schema["paths"]


def test_served_process_answers_over_http(tmp_path, small_corpus):
    env = clean_env(JINGCE_DATA_DIR=str(tmp_path / "data"))
    ingest = subprocess.run([sys.executable, "-m", "app.cli", "ingest", str(small_corpus)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert ingest.returncode == 0, ingest.stderr
    with jingce_server(env) as base:
        response = httpx.get(f"{base}/v1/search", params={"q": "低保标准调整"}, timeout=10)
        assert response.status_code == 200
        assert response.json()["hits"][0]["doc_id"] == "bj-2024-minimum-living-allowance"
        # no proxy is trusted by default: a caller cannot name its own address in the audit log
        looked = httpx.get(f"{base}/v1/policies", params={"q": "低保"}, headers={"x-forwarded-for": "203.0.113.9"},
                           timeout=10)
        assert looked.status_code == 200
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'audit.sqlite3'}")
    with engine.connect() as conn:
        clients = [json.loads(row[0])["client"] for row in conn.execute(
            text("SELECT details FROM audit_events WHERE kind = 'lookup'"))]
    engine.dispose()
    assert clients == ["127.0.0.1", "127.0.0.1"]  # the search, then the lookup


def test_searches_and_ticket_statistics_are_audit_events(services, small_corpus):
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from app.audit.schema import audit_events

    services.indexer.sync([small_corpus])
    portal, agent = key_headers(services, "citizen", "portal"), key_headers(services, "agent")
    with TestClient(create_app(services=services)) as client:
        assert client.get("/v1/search", params={"q": "低保标准 13812345678"},
                          headers={**portal, "x-client-id": "claims to be someone else"}).status_code == 200
        assert client.get("/v1/tickets/stats", params={"from": "2026-01-01"}, headers=agent).status_code == 200
    with services.audit.engine.connect() as conn:
        rows = conn.execute(select(audit_events).where(audit_events.c.kind == "lookup")).mappings().all()
    by_endpoint = {row["details"]["endpoint"]: row for row in rows}
    assert set(by_endpoint) == {"search", "tickets/stats"}
    search = by_endpoint["search"]  # who asked is the key, not what a header claims
    assert search["question"] == "低保标准 [手机号]" and search["actor"].startswith("citizen key:")
    assert search["details"]["client"] == "testclient"
    assert search["details"]["found"] > 0 and len(search["details"]["chunk_ids"]) == search["details"]["found"]
    assert by_endpoint["tickets/stats"]["details"]["from"].startswith("2026-01-01")
