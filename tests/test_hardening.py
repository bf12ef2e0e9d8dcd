"""What every response gets: a body limit enforced before parsing, security headers, no redirect
that echoes the Host header, problem details for a too-large body."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.api import create_app


@pytest.fixture
def client(services):
    with TestClient(create_app(services=services)) as client:
        yield client


def test_a_body_over_the_limit_is_refused_before_parsing(client, services):
    limit = services.settings.server.max_body_bytes
    response = client.post("/v1/chat", content=b"{" + b" " * limit + b"}", headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.headers["content-type"] == "application/problem+json"
    assert "SERVER_MAX_BODY_BYTES" in response.json()["detail"]

    def chunked():  # no Content-Length: counted while it is read
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    streamed = client.post("/v1/tickets/route", content=chunked(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    small = client.post("/v1/chat", json={"question": "低保标准是多少"})
    assert small.status_code == 200


def test_security_headers_on_every_response(client):
    for response in (client.get("/healthz"), client.get("/v1/policies/no-such-doc"),
                     client.post("/v1/chat", json={})):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'self'" in response.headers["content-security-policy"]


def test_no_redirect_echoes_the_host_header(client):
    response = client.get("/v1/policies/", headers={"host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 404 and "location" not in response.headers
