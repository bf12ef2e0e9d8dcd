"""Contract of the policy-lookup API (/v1/policies…), against the real app over the bundled corpus."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re

import pytest

from app.clients.vector_store import DOCUMENTS
from app.domain import NOT_IN_FORCE, VALIDITY_CURRENT, VALIDITY_UNKNOWN
from app.lookup.paging import encode
from tests.conftest import key_headers

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def catalogue(bundled_services) -> list[dict]:
    """Every bundled policy document's metadata, straight from the index (the hotline knowledge
    entries indexed beside them are not policies: the lookup API never lists them)."""
    return [p for _, p in bundled_services.store.scroll_payloads(
        DOCUMENTS, fields=["doc_id", "doc_number", "validity", "published", "issuer_names", "topics", "effective_int",
                           "expires_int", "level", "kind"]) if p.get("kind") != "knowledge"]


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [h["document"]["doc_id"] for h in response.json()["matches"]]


def _all_pages(client, params: dict) -> list[str]:
    seen, cursor = [], None
    for _ in range(100):
        response = client.get("/v1/policies", params={**params, **({"cursor": cursor} if cursor else {})})
        seen += _ids(response)
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


# ---- list and search ----
def test_listing_defaults_to_documents_not_known_out_of_force_newest_first(bundled_client, catalogue):
    # the rule search and answers follow: in force, or of unknown validity (labelled so)
    body = bundled_client.get("/v1/policies", params={"limit": 50}).json()
    kept = [d for d in catalogue if d["validity"] not in NOT_IN_FORCE]
    assert {d["validity"] for d in kept} == {VALIDITY_CURRENT, VALIDITY_UNKNOWN}
    assert body["sort"] == "published" and body["total"] == len(kept) and body["q"] is None
    docs = [h["document"] for h in body["matches"]]
    assert all(d["validity"] not in NOT_IN_FORCE for d in docs)
    dates = [d.get("published") or "" for d in docs]
    assert dates == sorted(dates, reverse=True)
    everything = bundled_client.get("/v1/policies", params={"validity": "all"}).json()
    assert everything["total"] == len(catalogue) > len(kept)


@pytest.mark.parametrize("params", [{"validity": "all"}, {"q": "养老服务补贴", "validity": "all"},
                                    {"q": "最低生活保障", "sort": "published"}])
def test_cursor_pages_cover_the_list_once_in_a_stable_order(bundled_client, params):
    whole = _all_pages(bundled_client, {**params, "limit": 50})
    paged = _all_pages(bundled_client, {**params, "limit": 7})
    assert paged == whole and len(set(paged)) == len(paged) and len(paged) > 7


def test_a_cursor_only_pages_the_query_it_came_from(bundled_client):
    first = bundled_client.get("/v1/policies", params={"q": "低保", "limit": 2}).json()
    other = bundled_client.get("/v1/policies", params={"q": "养老", "limit": 2, "cursor": first["next_cursor"]})
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "cursor"
    forged = encode([0, "x"], {"q": "低保"})
    assert bundled_client.get("/v1/policies", params={"q": "低保", "cursor": forged}).status_code == 422


@pytest.mark.parametrize("key", [[[[[[]]]]], ["a", "b"], [True, "x"], [1.0], [1.0, "x", "y"], {"k": 1}])
def test_a_forged_cursor_with_the_right_fingerprint_is_a_problem_not_a_crash(bundled_client, key):
    """The fingerprint is no secret; a cursor's sort key is checked for shape (it was a 500 in text/plain)."""
    first = bundled_client.get("/v1/policies", params={"q": "低保", "limit": 2}).json()["next_cursor"]
    data = json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({"k": key, "f": data["f"]}).encode()).decode().rstrip("=")
    response = bundled_client.get("/v1/policies", params={"q": "低保", "limit": 2, "cursor": forged})
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "cursor"


def test_matches_carry_highlighted_spans_at_document_offsets(bundled_client):
    body = bundled_client.get("/v1/policies", params={"q": "养老服务补贴津贴怎么申请", "limit": 3}).json()
    assert body["sort"] == "relevance" and body["matches"]
    scores = [h["score"] for h in body["matches"]]
    assert scores == sorted(scores, reverse=True)
    top = body["matches"][0]
    text = bundled_client.get(f"/v1/policies/{top['document']['doc_id']}").json()["body"]
    marked = 0
    for chunk in top["chunks"]:
        assert text[chunk["snippet_start"]:chunk["snippet_end"]] == chunk["snippet"]
        assert chunk["start"] <= chunk["snippet_start"] and chunk["snippet_end"] <= chunk["end"]
        for h in chunk["highlights"]:
            assert text[h["start"]:h["end"]] == h["term"]
            assert chunk["snippet_start"] <= h["start"] and h["end"] <= chunk["snippet_end"]
        assert chunk["snippet_html"].count("<mark>") == len(chunk["highlights"])
        marked += len(chunk["highlights"])
    assert marked, "the best hit's snippets mark the words asked about"


def test_every_bundled_document_is_found_first_by_its_exact_doc_number(bundled_client, catalogue):
    numbered = [d for d in catalogue if d.get("doc_number")]
    assert len(numbered) >= 80
    for doc in numbered:
        number = doc["doc_number"]
        variant = re.sub(r"〔(\d{4})〕", r" [\1] ", number)  # as typed with ASCII brackets and spaces
        for params in ({"q": number}, {"q": variant}, {"doc_number": number}, {"doc_number": variant}):
            assert _ids(bundled_client.get("/v1/policies", params={**params, "validity": "all"}))[:1] == [doc["doc_id"]], \
                (params, doc["doc_id"])


def test_an_exact_doc_number_finds_its_document_whatever_its_validity(bundled_client, catalogue):
    for validity in (VALIDITY_UNKNOWN, *NOT_IN_FORCE):
        doc = next((d for d in catalogue if d["validity"] == validity and d.get("doc_number")), None)
        if doc is None:
            continue
        body = bundled_client.get("/v1/policies", params={"doc_number": doc["doc_number"]}).json()
        assert [h["document"]["doc_id"] for h in body["matches"]] == [doc["doc_id"]], validity
        assert body["matches"][0]["document"]["validity"] == validity
    # those validities are in the bundled corpus: the loop above is not empty
    assert {d["validity"] for d in catalogue if d.get("doc_number")} >= {VALIDITY_UNKNOWN, VALIDITY_CURRENT}
    # an explicit validity still filters
    unknown = next(d for d in catalogue if d["validity"] == VALIDITY_UNKNOWN and d.get("doc_number"))
    assert bundled_client.get("/v1/policies", params={"doc_number": unknown["doc_number"],
                                                      "validity": VALIDITY_CURRENT}).json()["total"] == 0


def test_filters_narrow_the_list(bundled_client, catalogue):
    issuer = "北京市民政局"
    found = bundled_client.get("/v1/policies", params={"issuer": issuer, "validity": "all", "limit": 50}).json()
    assert found["total"] == sum(issuer in d["issuer_names"] for d in catalogue) > 0
    dated = bundled_client.get("/v1/policies", params={"published_from": "2020-01-01", "published_to": "2022-12-31",
                                                        "validity": "all", "limit": 50}).json()["matches"]
    assert dated and all("2020-01-01" <= h["document"]["published"] <= "2022-12-31" for h in dated)
    level = bundled_client.get("/v1/policies", params={"level": "国家", "validity": "all", "limit": 50}).json()
    assert level["total"] == sum(d.get("level") == "国家" for d in catalogue) > 0
    topic = next(t for d in catalogue for t in d.get("topics") or [])
    assert _ids(bundled_client.get("/v1/policies", params={"topic": topic, "validity": "all", "limit": 50}))
    assert bundled_client.get("/v1/policies", params={"district": "延庆区"}).json()["total"] == 0


def test_effective_on_keeps_documents_in_force_that_day(bundled_client, catalogue):
    day = 20150101
    expected = {d["doc_id"] for d in catalogue
                if (d.get("effective_int") is None or d["effective_int"] <= day)
                and (d.get("expires_int") is None or d["expires_int"] >= day)}
    got = set(_all_pages(bundled_client, {"effective_on": "2015-01-01", "validity": "all", "limit": 50}))
    assert got == expected and 0 < len(got) < len(catalogue)


# ---- one document, one chunk ----
def test_a_document_has_its_body_chunks_and_related_documents(bundled_client):
    body = bundled_client.get("/v1/policies/bj-2023-illness-poverty-medical-assistance").json()
    assert body["document"]["doc_number"] and len(body["body"]) > 500
    positions = [c["position"] for c in body["chunks"]]
    assert positions == list(range(len(positions)))
    related = {(r["relation"], r["document"]["doc_id"]) for r in body["related"]}
    # its text cites the 2018 dibao rules by 文号; the reverse link is there too
    assert ("cites", "bj-2018-dibao-rules") in related
    back = bundled_client.get("/v1/policies/bj-2018-dibao-rules").json()
    assert ("cited_by", "bj-2023-illness-poverty-medical-assistance") in {
        (r["relation"], r["document"]["doc_id"]) for r in back["related"]}


def test_a_chunk_comes_with_its_neighbours(bundled_client):
    doc = bundled_client.get("/v1/policies/bj-2018-dibao-rules").json()
    first, second = doc["chunks"][0], doc["chunks"][1]
    body = bundled_client.get(f"/v1/policies/bj-2018-dibao-rules/chunks/{second['chunk_id']}").json()
    assert body["chunk"]["position"] == 1 and body["previous"]["chunk_id"] == first["chunk_id"]
    assert body["next"]["position"] == 2
    assert doc["body"][second["start"]:second["end"]] == body["chunk"]["text"]
    opening = bundled_client.get(f"/v1/policies/bj-2018-dibao-rules/chunks/{first['chunk_id']}").json()
    assert opening["previous"] is None
    elsewhere = bundled_client.get(f"/v1/policies/bj-2024-minimum-living-allowance/chunks/{second['chunk_id']}")
    assert elsewhere.status_code == 404 and elsewhere.headers["content-type"] == PROBLEM


# ---- facets ----
def test_facets_count_what_the_query_matches(bundled_client, catalogue):
    body = bundled_client.get("/v1/policies/facets", params={"validity": "all"}).json()
    assert set(body["facets"]) == {"issuer", "year", "validity", "topic"}
    assert body["total"] == len(catalogue)
    assert sum(v["count"] for v in body["facets"]["validity"]) == len(catalogue)
    assert sum(v["count"] for v in body["facets"]["year"]) == len(catalogue)
    searched = bundled_client.get("/v1/policies/facets", params={"q": "养老"}).json()
    listed = bundled_client.get("/v1/policies", params={"q": "养老", "limit": 1}).json()
    assert searched["total"] == listed["total"]
    assert sum(v["count"] for v in searched["facets"]["validity"]) == listed["total"]
    assert {v["value"] for v in searched["facets"]["validity"]} <= {VALIDITY_CURRENT, VALIDITY_UNKNOWN}


# ---- caching ----
def test_conditional_requests_get_304(bundled_client):
    for url in ("/v1/policies/bj-2018-dibao-rules", "/v1/policies?q=低保标准"):
        first = bundled_client.get(url)
        assert first.status_code == 200 and first.headers["etag"] and first.headers["last-modified"]
        again = bundled_client.get(url, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and not again.content
        since = bundled_client.get(url, headers={"If-Modified-Since": first.headers["last-modified"]})
        assert since.status_code == 304
        stale = bundled_client.get(url, headers={"If-None-Match": '"something-else"'})
        assert stale.status_code == 200


# ---- errors ----
@pytest.mark.parametrize("url, status, field", [
    ("/v1/policies/no-such-document", 404, "doc_id"),
    ("/v1/policies/bj-2018-dibao-rules/chunks/not-a-chunk", 404, "chunk_id"),
    ("/v1/policies?published_from=2020-02-30", 422, "published_from"),
    ("/v1/policies?effective_on=yesterday", 422, "effective_on"),
    ("/v1/policies?published_from=2021-01-01&published_to=2020-01-01", 422, "published_from"),
    ("/v1/policies?limit=51", 422, "limit"),
    ("/v1/policies?limit=0", 422, "limit"),
    ("/v1/policies?validity=有效", 422, "validity"),
    ("/v1/policies?level=省级", 422, "level"),
    ("/v1/policies?district=浦东新区", 422, "district"),
    ("/v1/policies?sort=random", 422, "sort"),
    ("/v1/policies?doc_number=80号", 422, "doc_number"),
    ("/v1/policies?issuers=北京市民政局", 422, "issuers"),
    ("/v1/policies/facets?limit=5", 422, "limit"),
    ("/v1/policies?q=" + "低保" * 300, 422, "q"),
])
def test_errors_are_problem_details_naming_the_field(bundled_client, url, status, field):
    response = bundled_client.get(url)
    assert response.status_code == status and response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status and problem["title"] and problem["instance"] == url.split("?")[0]
    assert [e["field"] for e in problem["errors"]] == [field] and field in problem["detail"]


# ---- audit ----
def test_every_lookup_is_recorded(bundled_client, bundled_services):
    from sqlalchemy import select

    from app.audit.schema import audit_events

    portal = key_headers(bundled_services, "citizen", "district-portal")
    before = bundled_services.audit.count()
    bundled_client.get("/v1/policies", params={"q": "低保 13812345678"}, headers=portal)
    bundled_client.get("/v1/policies/no-such-document")
    assert bundled_services.audit.count() == before + 3  # the key's first use is a sign-in event
    with bundled_services.audit.engine.connect() as conn:
        rows = conn.execute(select(audit_events).where(audit_events.c.kind == "lookup")
                            .order_by(audit_events.c.seq.desc()).limit(2)).mappings().all()
    missing, found = rows[0], rows[1]
    assert missing["status"] == "not_found" and missing["details"]["doc_id"] == "no-such-document"
    assert found["actor"].startswith("citizen key:") and found["details"]["found"] > 0
    assert "13812345678" not in found["question"]  # personal data masked before it is stored
