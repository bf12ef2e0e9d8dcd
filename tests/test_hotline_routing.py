"""Routing as a fresh install does it: the category model trained on the project's own tickets
(policies/hotline/tickets/, nothing from ../shared), local matters dispatched to the street or town
office (接诉即办's 属地), review reasons in Chinese, and precedent that one override cannot turn.
The accuracy on the held-out tickets is pinned in test_the_held_out_tickets_are_routed_to_their_lead."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from app.api import create_app
from app.composition import build_services, train_routing_model
from tests.conftest import clean_env, key_headers

NOISE = "楼下新开的烧烤店每天晚上十二点以后还在外面喝酒划拳，吵得孩子睡不着。在朝阳区望京街道花家地西里。"
STREETLIGHT = "我们小区外面那条路的路灯坏了一排，晚上黑乎乎的，走路都看不清。在海淀区学院路街道。"
LEAK = "自来水管道在我们楼下爆了，水一直往外冒，整栋楼停水了，快派人来修。东城区东华门街道。"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, embedder):
    """The service with every routing setting at its default, as `make run` starts it."""
    from app.config import Settings
    from tests.conftest import beijing_corpus

    root = tmp_path_factory.mktemp("fresh")
    settings = Settings(data_dir=root / "data")
    said = train_routing_model(settings)
    assert "690 tickets" in said and "57 categories" in said, said
    services = build_services(settings, embedder=embedder)
    services.indexer.sync([beijing_corpus(root / "corpus")])
    client = TestClient(create_app(services=services), headers=key_headers(services, "agent", "A01"))
    with client:
        yield client
    services.close()


def _route(client, text: str) -> dict:
    response = client.post("/v1/tickets/route", json={"text": text, "draft_reply": False})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_fresh_install_routes_with_the_shipped_model_and_speaks_chinese(fresh):
    body = _route(fresh, NOISE)
    assert body["model"]["trained_on"] == 690
    lead = body["departments"][0]
    assert lead["department"]["id"] == "street:110105026" and lead["role"] == "主办"  # 属地: 望京街道
    assert lead["department"]["name"] == "朝阳区望京街道办事处"
    assert body["place"]["street"] == "望京街道" and body["category"]["level2"]  # a level-2 category of categories.yml
    for reason in body["review_reasons"]:
        assert not re.search("[A-Za-z]{3,}", reason), reason  # an agent reads these


def test_outages_go_to_the_utility_and_streetlights_to_the_city(fresh):
    assert _route(fresh, LEAK)["departments"][0]["department"]["id"] == "bj-zls"
    assert _route(fresh, STREETLIGHT)["departments"][0]["department"]["id"] == "bj-csglw"


def test_one_override_does_not_move_unrelated_tickets(fresh):
    before = {text: _route(fresh, text)["departments"][0]["department"]["id"] for text in (STREETLIGHT, LEAK)}
    noise = _route(fresh, NOISE)
    decided = fresh.post(f"/v1/tickets/{noise['id']}/decision", json={
        "action": "override", "department_id": "bj-cgzf", "reason": "烧烤店占道经营归城管执法"})
    assert decided.status_code in (200, 201), decided.text
    after = {text: _route(fresh, text)["departments"][0]["department"]["id"] for text in (STREETLIGHT, LEAK)}
    assert after == before
    # the same ticket again sees the decision as precedent, one vote of the three a full signal needs
    again = {d["department"]["id"]: d for d in _route(fresh, NOISE)["departments"]}
    assert again.get("bj-cgzf", {}).get("signals", {}).get("decisions", 0) == pytest.approx(1 / 3, abs=0.01)


def test_a_street_office_is_a_dispatch_target(fresh):
    listed = fresh.get("/v1/tickets/departments").json()
    streets = [d for d in listed if d["kind"] == "street"]
    assert len(streets) == 349 and {"id": "street:110108010", "name": "海淀区学院路街道办事处"}.items() <= \
        next(d for d in streets if d["id"] == "street:110108010").items()
    noise = _route(fresh, NOISE)
    decided = fresh.post(f"/v1/tickets/{noise['id']}/decision", json={
        "action": "override", "department_id": "street:110105027", "reason": "实际在太阳宫"})
    assert decided.status_code in (200, 201), decided.text


@pytest.mark.slow
def test_the_held_out_tickets_are_routed_to_their_lead():
    """Fitted on the train split of the shipped tickets, scored on the held-out quarter (split by a
    salted hash of the id, fixed before any weight was chosen). This version: lead 0.855, street
    found 0.979 where the ticket names one; 5-fold CV inside train: lead 0.716."""
    done = subprocess.run([sys.executable, "-m", "app.cli", "eval", "tickets", "--split", "test", "--json"],
                          env=clean_env(), capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["tickets"] == 186
    assert result["lead"] >= 0.85 and result["street_found"] >= 0.95
    assert result["lead_not_reviewed"] >= 0.9 and result["review_share"] < 0.5
