"""Access control as a caller meets it: every route × every role, keys (revoked, wrong origin), rate
limits, CORS, the docs setting, sessions bound to their caller, and every request an audit event."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.api import create_app
from app.api.access import PUBLIC, ROUTE_ROLES, access_markdown, api_routes, route_key, undeclared
from app.audit.keys import ROLES
from app.audit.schema import audit_events
from app.composition import build_services
from tests.conftest import key_headers

DOCS = Path(__file__).resolve().parent.parent / "docs" / "access.md"


def _services(settings, embedder, **auth):
    cfg = settings.model_copy(update={"auth": settings.auth.model_copy(update=auth)}) if auth else settings
    return build_services(cfg, embedder=embedder)


def _call(client, method: str, path: str, headers: dict[str, str]):
    path = re.sub(r"\{[^}]+\}", "x", path)  # any value: what is checked is whether the caller gets past access
    return client.request(method, path, headers=headers, json={} if method == "POST" else None)


def test_every_route_declares_its_roles_and_the_table_in_docs_is_current():
    app = create_app()
    served = {route_key(r, m) for m, r in api_routes(app)}
    assert served == set(ROUTE_ROLES), "ROUTE_ROLES names a route the app does not serve, or misses one"
    assert DOCS.read_text(encoding="utf-8") == access_markdown(), "run: python -m app.api.access > docs/access.md"

    app.get("/v1/added-later")(lambda: {"open": True})  # a route someone adds without declaring it
    assert undeclared(app) == ["GET /v1/added-later"]


def test_route_by_role_matrix(services):
    keys = {role: key_headers(services, role) for role in ROLES}
    with TestClient(create_app(services=services)) as client:
        for method, route in api_routes(client.app):
            allowed = ROUTE_ROLES[route_key(route, method)]
            for caller, headers in [("anonymous", {}), *keys.items()]:
                status = _call(client, method, route.path, headers).status_code
                may = allowed == PUBLIC or (caller == "anonymous" and "citizen" in allowed) or caller in allowed
                where = f"{method} {route.path} as {caller}: {status}"
                if may:
                    assert status not in (401, 403), where
                else:
                    assert status == (401 if caller == "anonymous" else 403), where


def test_keys_revoked_unknown_or_used_from_another_origin_are_refused(services):
    widget = services.keys.create("www.beijing.gov.cn widget", "citizen", ["https://www.beijing.gov.cn"])
    agent = services.keys.create("A0123", "agent")
    with TestClient(create_app(services=services)) as client:
        stats = "/v1/tickets/stats"
        assert client.get(stats).status_code == 401
        assert client.get(stats).headers["www-authenticate"] == "Bearer"
        assert client.get(stats, headers={"X-API-Key": agent.secret}).status_code == 200
        assert client.get(stats, headers={"Authorization": f"Bearer {agent.secret[:-2]}xx"}).status_code == 401
        assert client.get(stats, headers={"Authorization": "Bearer not-a-key"}).status_code == 401
        assert services.keys.revoke(agent.key.id)
        revoked = client.get(stats, headers={"X-API-Key": agent.secret})
        assert revoked.status_code == 401 and revoked.headers["content-type"] == "application/problem+json"
        page = {"Authorization": f"Bearer {widget.secret}"}
        assert client.get("/v1/policies", headers={**page, "Origin": "https://www.beijing.gov.cn"}).status_code == 200
        assert client.get("/v1/policies", headers={**page, "Origin": "https://evil.example"}).status_code == 403
        assert client.get("/v1/policies", headers=page).status_code == 403  # no origin: not from the site's pages
    with services.audit.engine.connect() as conn:
        denied = conn.execute(select(audit_events.c.status, audit_events.c.actor)
                              .where(audit_events.c.kind == "access")).all()
    statuses = [s for s, _ in denied]
    assert statuses.count("unauthenticated") == 5 and statuses.count("forbidden") == 2
    assert "sign_in" in statuses and "key_revoked" not in statuses  # revocation is an admin event
    assert ("forbidden", widget.key.actor) in denied


def test_past_the_limit_is_a_429_with_retry_after(settings, embedder):
    services = _services(settings, embedder, citizen_per_minute=3, agent_per_minute=5)
    try:
        agent = key_headers(services, "agent")
        with TestClient(create_app(services=services)) as client:
            assert [client.get("/v1/policies/facets").status_code for _ in range(4)] == [200, 200, 200, 429]
            refused = client.get("/v1/policies/facets")
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
            assert refused.headers["content-type"] == "application/problem+json" and "60 s" in refused.json()["detail"]
            # an agent's key has its own allowance
            assert [client.get("/v1/tickets/stats", headers=agent).status_code for _ in range(6)] == [200] * 5 + [429]
        with services.audit.engine.connect() as conn:
            limited = [r[0] for r in conn.execute(select(audit_events.c.details)
                                                  .where(audit_events.c.status == "rate_limited"))]
        # a flood is recorded once a minute per caller, not once per refused request; the citizen's second
        # 429 was only counted, and is written when the flood ends (here: at shutdown)
        assert len(limited) == 3
        assert [d["unrecorded_before"] for d in limited if d.get("flood_ended")] == [1]
    finally:
        services.close()


def test_guessing_keys_costs_the_guesser_not_the_service(settings, embedder, monkeypatch):
    import app.audit.keys as keys_module

    services = _services(settings, embedder, failed_keys_per_minute=5)
    checks = []
    real_hasher = keys_module._HASHER

    class Counting:
        def hash(self, *args):
            return real_hasher.hash(*args)

        def verify(self, *args):
            checks.append(1)
            return real_hasher.verify(*args)

    monkeypatch.setattr(keys_module, "_HASHER", Counting())
    try:
        agent = services.keys.create("A0123", "agent")
        forged = {"X-API-Key": f"jc_{agent.key.id}_{'x' * 32}"}  # the real id, a wrong secret
        with TestClient(create_app(services=services)) as client:
            assert client.get("/v1/tickets/stats", headers={"X-API-Key": agent.secret}).status_code == 200
            statuses = [client.get("/v1/tickets/stats", headers=forged).status_code for _ in range(12)]
            assert statuses == [401] * 5 + [429] * 7
            assert len(checks) == 6  # the agent's first use and five guesses: none past the allowance
            refused = client.get("/v1/tickets/stats", headers=forged)
            assert int(refused.headers["retry-after"]) >= 1 and "failed key checks" in refused.json()["detail"]
            # the agent behind the same address, already checked, keeps working; a new key must wait
            assert client.get("/v1/tickets/stats", headers={"X-API-Key": agent.secret}).status_code == 200
            other = services.keys.create("A0124", "agent")
            assert client.get("/v1/tickets/stats", headers={"X-API-Key": other.secret}).status_code == 429
        with services.audit.engine.connect() as conn:
            failed = [r[0] for r in conn.execute(select(audit_events.c.details).where(
                audit_events.c.kind == "access", audit_events.c.status.in_(["unauthenticated", "rate_limited"])))]
        assert sum(d.get("key_id") == agent.key.id for d in failed) >= 6  # the id each guess named is recorded
        assert len(failed) <= 8  # five 401s, the first 429, the flood's count at shutdown (and the new key's)
    finally:
        services.close()


def test_the_caller_is_checked_before_the_body_is_read(services):
    citizen, agent = key_headers(services, "citizen"), key_headers(services, "agent")
    bad = {"content": b"{bad json", "headers": {"Content-Type": "application/json"}}
    with TestClient(create_app(services=services)) as client:
        assert client.post("/v1/tickets/route", **bad).status_code == 401
        assert client.post("/v1/tickets/x/decision", content=bad["content"],
                           headers={**bad["headers"], **citizen}).status_code == 403
        refused = client.post("/v1/tickets/route", content=bad["content"], headers={**bad["headers"], **agent})
        assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
        assert client.post("/v1/chat", **bad).status_code == 422  # anonymous citizens may chat: they hear why


def test_forged_cursors_are_422_problems(services, small_corpus):
    import base64
    import json as json_

    def cursor(value) -> str:
        return base64.urlsafe_b64encode(json_.dumps(value).encode()).decode().rstrip("=")

    services.indexer.sync([small_corpus])
    auditor = key_headers(services, "auditor")
    with TestClient(create_app(services=services)) as client:
        issued = client.get("/v1/policies", params={"limit": 1}).json()["next_cursor"]
        real = json_.loads(base64.urlsafe_b64decode(issued + "=" * (-len(issued) % 4)))
        for key in ([10**400, real["k"][1]], [float("1e300"), real["k"][1]], [1, "x" * 5000]):
            forged = client.get("/v1/policies", params={"limit": 1, "cursor": cursor({**real, "k": key})})
            assert forged.status_code == 422 and forged.headers["content-type"] == "application/problem+json"
        for seq in (2**63, 0, -1, 10**30):
            page = client.get("/v1/audit/events", params={"cursor": cursor({"seq": seq})}, headers=auditor)
            assert page.status_code == 422 and page.headers["content-type"] == "application/problem+json", seq


def test_rate_limits_shared_through_redis(settings, embedder, redis_url):
    services = _services(settings, embedder, citizen_per_minute=2, redis_url=redis_url)
    other = _services(settings.model_copy(update={"data_dir": settings.data_dir.parent / "other"}), embedder,
                      citizen_per_minute=2, redis_url=redis_url)
    try:
        with TestClient(create_app(services=services)) as one, TestClient(create_app(services=other)) as two:
            assert one.get("/v1/policies/facets").status_code == 200
            assert two.get("/v1/policies/facets").status_code == 200
            assert one.get("/v1/policies/facets").status_code == 429  # two replicas, one count
    finally:
        services.close()
        other.close()


def test_without_anonymous_citizens_every_route_but_health_needs_a_key(settings, embedder):
    services = _services(settings, embedder, anonymous_citizens=False, public_docs=False)
    try:
        with TestClient(create_app(services=services)) as client:
            assert client.get("/healthz").status_code == 200
            assert client.post("/v1/chat", json={"question": "低保标准"}).status_code == 401
            assert client.get("/v1/policies").status_code == 401
            for page in ("/docs", "/redoc", "/openapi.json"):
                assert client.get(page).status_code == 404
            # the pages are public files; what they show comes from API calls that need the key
            assert client.get("/panel").status_code == 200
            assert client.get("/v1/tickets/departments").status_code == 401
    finally:
        services.close()


def test_cors_only_for_configured_origins(services, settings, embedder):
    cfg = settings.model_copy(update={"data_dir": settings.data_dir.parent / "cors", "server": settings.server.model_copy(
        update={"cors_origins": ["https://www.beijing.gov.cn"]})})
    with TestClient(create_app(services=services)) as plain:  # none configured: no CORS headers at all
        got = plain.get("/healthz", headers={"Origin": "https://www.beijing.gov.cn"})
        assert "access-control-allow-origin" not in got.headers
    services = build_services(cfg, embedder=embedder)
    try:
        with TestClient(create_app(services=services)) as client:
            preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
            ok = client.options("/v1/chat", headers={"Origin": "https://www.beijing.gov.cn", **preflight})
            assert ok.headers.get("access-control-allow-origin") == "https://www.beijing.gov.cn"
            other = client.options("/v1/chat", headers={"Origin": "https://evil.example", **preflight})
            assert "access-control-allow-origin" not in other.headers
            assert other.headers["x-content-type-options"] == "nosniff"  # security headers on everything
    finally:
        services.close()


def test_a_session_is_read_only_by_the_caller_that_made_it(services, small_corpus):
    services.indexer.sync([small_corpus])
    first, second = key_headers(services, "citizen", "one"), key_headers(services, "citizen", "two")
    with TestClient(create_app(services=services)) as client:
        client.post("/v1/chat", json={"question": "养老服务补贴津贴有哪些", "session_id": "s-1"}, headers=first)
        theirs = client.post("/v1/chat", json={"question": "怎么申请", "session_id": "s-1"}, headers=second).json()
        mine = client.post("/v1/chat", json={"question": "怎么申请", "session_id": "s-1"}, headers=first).json()
    assert "养老" not in (theirs["rewritten_question"] or "")  # another caller reusing the id reads nothing
    assert "养老" in (mine["rewritten_question"] or "")


def test_every_request_that_reaches_a_route_is_an_event(services):
    agent = key_headers(services, "agent")
    with TestClient(create_app(services=services)) as client:
        assert client.post("/v1/tickets/route", json={"text": ""}, headers=agent).status_code == 422
        assert client.post("/v1/tickets/nope/decision", json={"action": "accept"}, headers=agent).status_code == 404
        assert client.get("/v1/search", params={"q": "低保", "top_k": 999}).status_code == 422
        assert client.get("/healthz").status_code == 200
    with services.audit.engine.connect() as conn:
        rows = conn.execute(select(audit_events.c.kind, audit_events.c.status, audit_events.c.actor,
                                   audit_events.c.details).where(audit_events.c.kind == "request")).all()
    assert sorted(r.status for r in rows) == ["http_404", "http_422", "http_422"]
    assert {r.details["route"] for r in rows} == {"/v1/tickets/route", "/v1/tickets/{suggestion_id}/decision",
                                                   "/v1/search"}
    assert all(r.actor for r in rows) and all("?" not in r.details["path"] for r in rows)
    assert services.audit.verify().ok


def test_a_server_error_is_recorded_too(services):
    def broken(*args, **kwargs):
        raise RuntimeError("the store went away")

    services.lookup.facets = broken
    with TestClient(create_app(services=services), raise_server_exceptions=False) as client:
        crashed = client.get("/v1/policies/facets")
        assert crashed.status_code == 500 and crashed.headers["content-type"] == "application/problem+json"
        assert "the store went away" not in crashed.text  # what broke is in the log, not told to the caller
    with services.audit.engine.connect() as conn:
        statuses = [row[0] for row in conn.execute(select(audit_events.c.status).where(audit_events.c.kind == "request"))]
    assert statuses == ["http_500"]
