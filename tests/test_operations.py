"""What operators read: /readyz names each part and its state, /metrics counts what happened, and a
request id follows a request from its header into the audit log."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.api import create_app
from app.composition import build_services
from tests.conftest import key_headers
from tests.servers import free_port


def test_ready_names_each_part_and_a_dead_llm_is_degraded_not_down(settings, embedder, small_corpus):
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    cfg = settings.model_copy(update={"llm": settings.llm.model_copy(update={"base_url": dead})})
    services = build_services(cfg, embedder=embedder)
    try:
        services.indexer.sync([small_corpus])
        with TestClient(create_app(services=services)) as client:
            got = client.get("/readyz")
            assert got.status_code == 200
            body = got.json()
            assert body["status"] == "degraded"
            assert set(body["parts"]) == {"store", "audit_database", "sessions", "rate_limits", "llm"}
            assert body["parts"]["store"]["ok"] and body["parts"]["store"]["detail"].endswith("chunks")
            assert body["parts"]["audit_database"] == {**body["parts"]["audit_database"], "ok": True, "required": True}
            assert not body["parts"]["llm"]["ok"] and not body["parts"]["llm"]["required"]
            assert "ConnectError" in body["parts"]["llm"]["detail"]

            services.audit.engine.dispose()
            services.audit.ping = lambda: (_ for _ in ()).throw(RuntimeError("database is gone"))
            down = client.get("/readyz")
            assert down.status_code == 503 and down.json()["status"] == "not_ready"
            assert "database is gone" in down.json()["parts"]["audit_database"]["detail"]
    finally:
        services.close()


def test_metrics_count_requests_and_answers_for_an_admin_only(client, services):
    asked = client.post("/v1/chat", json={"question": "北京市最低生活保障标准是多少"}).json()
    client.post("/v1/chat", json={"question": "低保标准", "stream": True})
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=key_headers(services, "auditor")).status_code == 403
    got = client.get("/metrics", headers=key_headers(services, "admin"))
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/plain")
    text = got.text
    assert f'jingce_answers_total{{composer="{asked["composer"] or "none"}",degraded="false",status="{asked["status"]}"}}' in text
    assert 'jingce_http_request_seconds_count{method="POST",route="/v1/chat",status="200"}' in text
    assert 'jingce_answer_step_seconds_count{step="retrieve"}' in text
    assert "jingce_stream_first_answer_seconds_count" in text


def test_a_request_id_goes_from_the_header_into_the_audit_event(client, services):
    given = client.post("/v1/chat", json={"question": "低保标准"}, headers={"X-Request-ID": "ticket-4711.a"})
    assert given.headers["x-request-id"] == "ticket-4711.a"
    assert services.audit.get(given.json()["audit_id"])["details"]["request_id"] == "ticket-4711.a"
    made = client.post("/v1/chat", json={"question": "低保标准"}, headers={"X-Request-ID": "<script>"})
    assert made.headers["x-request-id"] != "<script>" and len(made.headers["x-request-id"]) == 32
    streamed = client.post("/v1/chat", json={"question": "低保标准", "stream": True}, headers={"X-Request-ID": "s-1"})
    audit_id = streamed.text.split('"audit_id":"')[1].split('"')[0]
    assert services.audit.get(audit_id)["details"]["request_id"] == "s-1"  # also from the stream's worker thread


def test_json_logs_carry_the_request_id_and_the_access_fields(tmp_path):
    """SERVER_LOG_FORMAT=json: every line a JSON object; the access line holds the request id the
    caller sent, and nothing of the query string (it could hold an ID number)."""
    import json
    import subprocess
    import sys

    import httpx

    from tests.conftest import clean_env
    from tests.servers import wait_until_serving

    port = free_port()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
                                  env=clean_env(JINGCE_DATA_DIR=str(tmp_path / "data"), SERVER_LOG_FORMAT="json"),
                                  stdout=out, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_serving(base, server)
            httpx.get(base + "/v1/search", params={"q": "身份证110101199003071234"},
                      headers={"X-Request-ID": "trace-42"}, timeout=30)
        finally:
            server.terminate()
            server.wait(timeout=30)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    access = [line for line in lines if line["logger"] == "jingce.access" and line.get("request_id") == "trace-42"]
    assert len(access) == 1
    assert access[0]["path"] == "/v1/search" and access[0]["status"] in (200, 503) and access[0]["ms"] >= 0
    assert "110101199003071234" not in log.read_text()
