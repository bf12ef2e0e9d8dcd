"""The pages as files the app serves (the browser tests in tests/browser/ use them): what is served,
with which headers, nothing from another host, the vendored files unchanged; and the API calls made
for the pages — who am I, the departments, the latest decisions."""

from __future__ import annotations

import gzip
import hashlib
import re

from app.api.pages import ASSETS, STATIC
from tests.conftest import key_headers

VENDOR_README = STATIC / "vendor" / "README.md"


def test_vendored_files_are_the_published_ones():
    listed = re.findall(r"^\| (\S+) \| (.+?) \| ([0-9a-f]{64}) \|$", VENDOR_README.read_text(encoding="utf-8"), re.M)
    assert listed
    for path, package, digest in listed:
        assert hashlib.sha256((STATIC / "vendor" / path).read_bytes()).hexdigest() == digest, f"{path} ({package}) changed"


def test_no_page_loads_anything_from_another_host():
    for path in STATIC.rglob("*"):
        if path.suffix in (".html", ".css") or (path.suffix == ".js" and "vendor" not in path.parts):
            text = re.sub(r"/\*.*?\*/", "", path.read_text(encoding="utf-8"), flags=re.S)  # comments may show usage
            assert not re.search(r"""(src|href)\s*=\s*["']https?://|@import|url\(\s*["']?https?://""", text), path
            assert "<script>" not in text and " style=" not in text, f"{path}: inline script or style (CSP forbids)"


def test_pages_and_assets_are_served_with_a_strict_policy(client):
    for path in ("/demo", "/panel", "/audit"):
        got = client.get(path)
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/html")
        assert got.headers["content-security-policy"].startswith("default-src 'self'")
        assert "unsafe-inline" not in got.headers["content-security-policy"]
        for asset in re.findall(r'(?:src|href)="(/[^"]+)"', got.text):
            assert client.get(asset).status_code == 200, asset
    widget = client.get("/widget.js")
    assert widget.headers["content-type"].startswith("text/javascript") and "max-age" in widget.headers["cache-control"]
    docs = client.get("/docs")
    assert "swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
    assert "unsafe-inline" in docs.headers["content-security-policy"]  # Swagger UI's own styles; still 'self' only
    assert "http" not in docs.headers["content-security-policy"]
    for name in ("../config.py", "widget.js", "nothing.js", "pages.css.map"):
        assert client.get(f"/assets/{name}").status_code == 404, name
    assert set(ASSETS) >= {"pages.css", "pages.js", "panel.js", "audit.js", "demo.css", "swagger-ui-bundle.js"}


def test_the_widget_is_small():
    size = len(gzip.compress((STATIC / "widget.js").read_bytes(), 9))
    assert size < 12_000, f"widget.js is {size} bytes gzipped"  # one tag on a citizen's phone: keep it light


def test_me_names_the_key_and_the_pages_api(client, services):
    assert client.get("/v1/me").json() == {"role": "citizen", "key_id": None, "name": None, "origins": []}
    agent = key_headers(services, "agent", "A0123")
    me = client.get("/v1/me", headers=agent).json()
    assert me["role"] == "agent" and me["name"] == "A0123" and me["key_id"]

    departments = client.get("/v1/tickets/departments", headers=agent).json()
    ids = {d["id"] for d in departments}
    assert "district:朝阳区" in ids and len(ids) == len(departments) > 20
    assert client.get("/v1/tickets/departments").status_code == 401

    route = client.post("/v1/tickets/route", headers=agent, json={
        "text": "朝阳区某小区楼上漏水物业不管，我的电话13812345678"}).json()
    lead = route["departments"][0]["department"]["id"]
    # the reply draft's answer event names the agent who asked for it, as the suggestion's does
    assert services.audit.get(route["reply_draft"]["audit_id"])["actor"] == f"agent key:{me['key_id']}"
    other = next(i for i in sorted(ids) if i != lead)
    assert client.post(f"/v1/tickets/{route['id']}/decision", headers=agent, json={
        "action": "override", "department_id": other, "reason": "属地处理，联系人王女士"}).status_code == 200
    latest = client.get("/v1/tickets/decisions?limit=5", headers=agent).json()
    assert [(d["suggested"], d["department"], d["agreed"], d["agent"]) for d in latest] == [(lead, other, False, "A0123")]
    assert "13812345678" not in latest[0]["ticket"] and "王" not in latest[0]["reason"]
    assert client.get("/v1/tickets/decisions?agent=someone-else", headers=agent).json() == []
    assert client.get("/v1/tickets/decisions?agent=<b>", headers=agent).status_code == 422
