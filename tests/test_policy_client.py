"""The typed Python client (jingce_client) against a served app over the bundled corpus."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from jingce_client import PolicyAPIError, PolicyClient
from tests.servers import jingce_server
from tests.conftest import clean_env


@pytest.fixture(scope="module")
def api(bundled_index):
    env = clean_env(JINGCE_DATA_DIR=str(bundled_index))
    made = subprocess.run([sys.executable, "-m", "app.cli", "keys", "create", "--name", "district-portal", "--role",
                           "citizen"], env=env, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    with jingce_server(env) as base, PolicyClient(base, api_key=made.stdout.strip()) as client:
        yield client


def test_find_returns_typed_matches(api):
    page = api.find("养老服务补贴", limit=3)
    assert page.total >= 3 and len(page.matches) == 3 and page.next_cursor
    assert page.matches[0].document.validity == "现行有效" and page.matches[0].chunks[0].highlights


def test_find_all_walks_every_page(api):
    every = [h.document.doc_id for h in api.find_all(validity="all", limit=20)]
    assert len(every) == len(set(every)) == api.find(validity="all", limit=1).total


def test_document_and_chunk(api):
    hit = api.find(doc_number="京民社救发〔2024〕80号").matches[0]
    doc = api.document(hit.document.doc_id)
    assert doc.document.doc_number == "京民社救发〔2024〕80号" and doc.chunks
    assert api.document(hit.document.doc_id) == doc  # the second read is a 304 served from the client's cache
    chunk = api.chunk(doc.document.doc_id, doc.chunks[0].chunk_id)
    assert chunk.chunk.text == doc.body[doc.chunks[0].start:doc.chunks[0].end] and chunk.previous is None


def test_facets(api):
    facets = api.facets("低保", validity="all")
    assert facets.total > 0 and {"issuer", "year", "validity", "topic"} == set(facets.facets)


def test_errors_raise_with_the_problem(api):
    with pytest.raises(PolicyAPIError) as missing:
        api.document("no-such-document")
    assert missing.value.status == 404 and missing.value.fields == ["doc_id"]
    with pytest.raises(PolicyAPIError) as bad:
        api.find(published_from="2020-02-30")
    assert bad.value.status == 422 and bad.value.fields == ["published_from"]


def test_the_client_imports_nothing_of_the_server():
    # what another system installs: httpx and pydantic, not FastAPI, the index or the models
    code = ("import sys, jingce_client; print('\\n'.join(sorted(m for m in sys.modules "
            "if m.split('.')[0] in {'app', 'ingestion', 'fastapi', 'starlette', 'sklearn', 'qdrant_edge', "
            "'numpy', 'jieba', 'sqlalchemy'})))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"PATH": os.environ.get("PATH", "")}).stdout.split()
    assert loaded == []
