"""The policy-lookup API's response models (`/v1/policies…`) and its problem details: the contract
the server declares and this client reads. Only pydantic: importing them loads nothing of the server."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


_DOC_EXAMPLE = {"doc_id": "bj-2024-minimum-living-allowance",
                "title": "北京市民政局 北京市财政局关于调整本市最低生活保障标准的通知",
                "doc_number": "京民社救发〔2024〕80号", "issuer": "北京市民政局、北京市财政局", "level": "市级",
                "published": "2024-08-23", "effective": "2024-09-01", "validity": "现行有效",
                "topics": ["社会救助"], "n_chunks": 2, "indexed_at": "2026-11-27T02:00:00+00:00"}


class PolicyMeta(BaseModel):
    doc_id: str
    title: str | None = None
    doc_number: str | None = Field(None, description="文号 as written, e.g. 京民社救发〔2024〕80号")
    issuer: str | None = Field(None, description="发文机关; several are joined by 、")
    level: str | None = Field(None, description="国家 | 市级 | 区级")
    district: str | None = None
    written: str | None = Field(None, description="成文日期, YYYY-MM-DD")
    published: str | None = None
    effective: str | None = None
    expires: str | None = None
    validity: str | None = Field(None, description="现行有效 | 已修订 | 已失效 | 已废止 | 未知")
    topics: list[str] = []
    source_url: str | None = None
    kind: str | None = Field(None, description="policy | faq | news | knowledge (a hotline answer script)")
    basis: list[dict[str, str | None]] = Field([], description="For a knowledge entry: the policies it rests on, "
                                                               "each {doc_id, doc_number} (文号)")
    replaces: list[str] = Field([], description="doc_ids this document says it replaces")
    n_chunks: int | None = None
    indexed_at: str | None = Field(None, description="When this version of the document was indexed (UTC).")

    @classmethod
    def of(cls, meta: dict[str, Any]) -> "PolicyMeta":
        return cls(**{k: v for k, v in meta.items() if v is not None and k in cls.model_fields})


class HighlightOut(BaseModel):
    start: int = Field(description="Offset in the document body (characters).")
    end: int
    term: str


class ChunkMatchOut(BaseModel):
    chunk_id: str
    heading_path: list[str]
    start: int = Field(description="Offset of the chunk in the document body.")
    end: int
    score: float
    snippet: str = Field(description="Up to ~120 characters of the chunk around the matched terms.")
    snippet_start: int = Field(description="Offset of the snippet in the document body.")
    snippet_end: int
    snippet_html: str = Field(description="The snippet, HTML-escaped, with <mark> around each matched term.")
    highlights: list[HighlightOut]



class PolicyMatchOut(BaseModel):
    document: PolicyMeta
    score: float | None = Field(None, description="Relevance (higher is better); null when listing without q.")
    chunks: list[ChunkMatchOut] = Field([], description="The best-matching chunks, best first (empty without q).")



class PolicyPageOut(BaseModel):
    q: str | None
    sort: str
    total: int = Field(description="Documents matching in all (a relevance search stops at its deepest page).")
    limit: int
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page.")
    matches: list[PolicyMatchOut] = Field(description="The documents found, each with its best-matching chunks.")

    model_config = {"json_schema_extra": {"examples": [{
        "q": "低保标准", "sort": "relevance", "total": 12, "limit": 1, "next_cursor": "eyJrIjpbLTEuMiwiYmoiXX0",
        "matches": [{"document": _DOC_EXAMPLE, "score": 1.21, "chunks": [{
            "chunk_id": "5b0c9a7e-…", "heading_path": ["一"], "start": 180, "end": 260, "score": 1.21,
            "snippet": "一、本市城乡低保标准由每人每月1395元调整为1450元。", "snippet_start": 180, "snippet_end": 206,
            "snippet_html": "一、本市城乡<mark>低保</mark><mark>标准</mark>由每人每月1395元调整为1450元。",
            "highlights": [{"start": 186, "end": 188, "term": "低保"}, {"start": 188, "end": 190, "term": "标准"}]}]}]}]}}


class ChunkRef(BaseModel):
    chunk_id: str
    position: int
    heading_path: list[str]
    start: int
    end: int


class ChunkOut(ChunkRef):
    text: str


class RelatedOut(BaseModel):
    relation: str = Field(description="same_doc_number | cites | cited_by | repeals | repealed_by | amends | "
                                      "amended_by (a newer document changed a standard or rule this one states)")
    document: PolicyMeta


class PolicyDocumentOut(BaseModel):
    document: PolicyMeta
    body: str = Field(description="The cleaned text; chunk and highlight offsets index into it.")
    chunks: list[ChunkRef]
    related: list[RelatedOut]

    model_config = {"json_schema_extra": {"examples": [{
        "document": _DOC_EXAMPLE, "body": "各区民政局、财政局：\n一、本市城乡低保标准由每人每月1395元调整为1450元。…",
        "chunks": [{"chunk_id": "5b0c9a7e-…", "position": 0, "heading_path": [], "start": 0, "end": 180}],
        "related": [{"relation": "cites", "document": {"doc_id": "bj-2018-dibao-rules", "title": "北京市最低生活保障审核确认办法",
                                                         "validity": "现行有效"}}]}]}}


class ChunkContextOut(BaseModel):
    document: PolicyMeta
    chunk: ChunkOut
    previous: ChunkOut | None
    next: ChunkOut | None


class FacetValue(BaseModel):
    value: str
    count: int


class FacetsOut(BaseModel):
    q: str | None
    total: int = Field(description="Documents counted.")
    facets: dict[str, list[FacetValue]] = Field(description="issuer, year, validity, topic: counts, largest first.")

    model_config = {"json_schema_extra": {"examples": [{
        "q": "养老", "total": 3,
        "facets": {"issuer": [{"value": "北京市民政局", "count": 3}], "year": [{"value": "2019", "count": 2}],
                   "validity": [{"value": "现行有效", "count": 3}], "topic": [{"value": "养老服务", "count": 2}]}}]}}


class FieldError(BaseModel):
    field: str = Field(description="The parameter at fault, e.g. `published_from`.")
    location: str = Field(description="query | path | header | body")
    message: str


class Problem(BaseModel):
    type: str = Field("about:blank", description="A URI naming the problem type; about:blank means the status says it all.")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(None, description="The request path the problem occurred on.")
    errors: list[FieldError] = Field(default_factory=list)

    model_config = {"json_schema_extra": {"examples": [{
        "type": "about:blank", "title": "Unprocessable Content", "status": 422,
        "detail": "published_from: not a date (YYYY-MM-DD)", "instance": "/v1/policies",
        "errors": [{"field": "published_from", "location": "query", "message": "not a date (YYYY-MM-DD)"}]}]}}
