"""The audit store on SQLite (default) and on a real PostgreSQL server."""

from __future__ import annotations

import pytest

from app.audit.store import AuditStore
from app.composition import build_services
from app.pipeline.context import AnswerContext


def _round_trip(store: AuditStore) -> None:
    details = {"retrieved": [{"chunk_id": "c1", "score": 0.5}], "question_words": "低保 标准"}
    event_id = store.record("answer", "web", "answered", "低保标准是多少", "1450元。[1]", details, session_id="s")
    row = store.get(event_id)
    assert row["details"] == details and row["question"] == "低保标准是多少" and row["status"] == "answered"
    assert row["created_at"] is not None and store.get("missing") is None


def test_sqlite_round_trip(tmp_path):
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
    _round_trip(store)
    store.close()


def test_postgres_round_trip(postgres_url):
    store = AuditStore(postgres_url)
    _round_trip(store)
    store.close()


def test_answers_are_recorded_in_postgres(postgres_url, settings, embedder, small_corpus):
    cfg = settings.model_copy(update={"database": settings.database.model_copy(update={"url": postgres_url})})
    services = build_services(cfg, embedder=embedder)
    try:
        services.indexer.sync([small_corpus])
        ctx = services.pipeline.run(AnswerContext("养老服务补贴津贴怎么申请", channel="web"))
        row = AuditStore(postgres_url).get(ctx.audit_id)
        assert row["status"] == ctx.status == "answered" and row["channel"] == "web"
        assert row["details"]["citations"][0]["doc_id"] == "bj-2019-elderly-subsidy"
    finally:
        services.close()


def test_unreachable_database_fails_at_start_up(settings, embedder):
    cfg = settings.model_copy(update={"database": settings.database.model_copy(
        update={"url": "postgresql+psycopg://postgres@127.0.0.1:9/none"})})
    with pytest.raises(RuntimeError, match="audit database .* is not reachable"):
        build_services(cfg, embedder=embedder)
