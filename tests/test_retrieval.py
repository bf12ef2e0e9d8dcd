"""Hybrid search, filters and validity, on both store adapters."""

from __future__ import annotations

import pytest

from app.domain import SearchFilters


@pytest.fixture(params=["edge", "server"])
def indexed(request, settings, embedder, small_corpus):
    """The same corpus in Qdrant Edge and behind qdrant-client (local mode implements the server API)."""
    from app.composition import build_services

    if request.param == "server":
        settings = settings.model_copy(update={"qdrant": settings.qdrant.model_copy(update={"local_path": ":memory:"})})
    services = build_services(settings, embedder=embedder)
    report = services.indexer.sync([small_corpus])
    assert not report.failed
    yield services
    services.close()


def test_plain_question_finds_the_right_document(indexed):
    hits = indexed.retriever.search("本市最低生活保障标准调整为多少", top_k=3)
    assert hits[0].doc_id == "bj-2024-minimum-living-allowance"
    assert any("1450元" in h.text for h in hits if h.doc_id == hits[0].doc_id)
    top = hits[0]
    assert top.document["doc_number"] == "京民社救发〔2024〕80号"
    assert top.document["validity"] == "现行有效"
    assert top.end > top.start and isinstance(top.heading_path, list)


def test_repealed_documents_are_left_out_unless_asked_for(indexed):
    question = "市场租房补贴的申请条件"
    default = {h.doc_id for h in indexed.retriever.search(question, top_k=10)}
    assert "bj-2015-market-rental-subsidy" not in default
    assert "bj-2020-market-rental-subsidy" in default
    everything = {h.doc_id for h in indexed.retriever.search(
        question, top_k=10, filters=SearchFilters(include_not_in_force=True))}
    assert "bj-2015-market-rental-subsidy" in everything


def test_unknown_validity_stays_in_and_is_labelled(indexed):
    hits = indexed.retriever.search("通用人工智能 算力", top_k=3)
    assert hits[0].doc_id == "bj-2023-agi-innovation-measures"
    assert hits[0].document["validity"] == "未知"


TEMPORARY = """[发文机构] 北京市测试局

- [发文字号] 京测发〔2030〕1号

- [实施日期] 2030-01-01

- [失效日期] 2090-12-31

- [发布日期] 2029-12-01

- [有效性] 是

关于试行冰雪运动场地开放补助的通知

一、对向公众开放的冰雪运动场地，按每平方米每年20元给予开放补助。
"""


def test_documents_past_their_end_date_count_as_expired(indexed, small_corpus):
    (small_corpus / "temporary-ice-rink-subsidy.txt").write_text(TEMPORARY, encoding="utf-8")
    assert not indexed.indexer.sync([small_corpus]).failed
    question = "冰雪运动场地开放补助标准"

    def found(**filters) -> set[str]:
        return {h.doc_id for h in indexed.retriever.search(question, top_k=10, filters=SearchFilters(**filters))}

    before, after = found(today="2090-12-31"), found(today="2091-01-01")
    assert "temporary-ice-rink-subsidy" in before
    assert "temporary-ice-rink-subsidy" not in after and after  # the others are still found
    assert "temporary-ice-rink-subsidy" in found(today="2091-01-01", include_not_in_force=True)


@pytest.mark.parametrize("filters,expected", [
    (SearchFilters(issuer="北京市民政局"), {"bj-2024-minimum-living-allowance", "bj-2019-elderly-subsidy"}),
    (SearchFilters(published_from="2020-01-01", published_to="2020-12-31"), {"bj-2020-market-rental-subsidy"}),
    (SearchFilters(doc_ids=["bj-2019-elderly-subsidy"]), {"bj-2019-elderly-subsidy"}),
    (SearchFilters(level="国家"), set()),
])
def test_metadata_filters(indexed, filters, expected):
    # documents, not chunks: twenty chunks of the long elderly-subsidy text would hide the others
    found = {d.doc_id for d in indexed.retriever.search_documents("补贴 标准 申请", top_k=10, filters=filters)}
    assert found == expected


def test_every_mode_returns_ranked_hits(indexed):
    for mode in ("hybrid", "hybrid_rrf", "bm25", "dense"):
        hits = indexed.retriever.search("养老服务补贴津贴", top_k=5, mode=mode)
        assert len(hits) == 5 and hits[0].doc_id == "bj-2019-elderly-subsidy", mode
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_question_of_stopwords_only_still_answers_with_dense(indexed):
    hits = indexed.retriever.search("是什么？", top_k=3)  # no BM25 terms left; dense still ranks
    assert len(hits) == 3 and all("dense" in h.signals and "bm25" not in h.signals for h in hits)


def test_search_documents_groups_chunks(indexed):
    docs = indexed.retriever.search_documents("养老服务补贴津贴", top_k=3)
    assert docs[0].doc_id == "bj-2019-elderly-subsidy" and 1 <= len(docs[0].chunks) <= 3
    assert len({d.doc_id for d in docs}) == len(docs)
