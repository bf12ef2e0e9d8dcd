"""Request and response models of the HTTP API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from app.domain import SearchHit, in_utc
from app.pipeline.outcome import AnswerOutcome
from jingce_client.models import PolicyMeta  # one model of a document's metadata for every surface


StoredTime = Annotated[dt.datetime, AfterValidator(in_utc)]  # a time read back from the database, with its zone


class SearchHitOut(BaseModel):
    chunk_id: str
    doc_id: str
    score: float
    text: str
    start: int = Field(description="Offset of the chunk in the document body (characters).")
    end: int
    heading_path: list[str]
    document: PolicyMeta

    @classmethod
    def from_hit(cls, hit: SearchHit) -> "SearchHitOut":
        return cls(chunk_id=hit.chunk_id, doc_id=hit.doc_id, score=hit.score, text=hit.text, start=hit.start,
                   end=hit.end, heading_path=hit.heading_path, document=PolicyMeta.of(hit.document))


class SearchResponse(BaseModel):
    query: str
    hits: list[SearchHitOut]
    timings_ms: dict[str, float]

    model_config = {"json_schema_extra": {"examples": [{
        "query": "低保标准是多少",
        "hits": [{"chunk_id": "5b0c…", "doc_id": "bj-2024-minimum-living-allowance", "score": 0.031,
                  "text": "一、本市低保标准从每人每月1395元调整为1450元。", "start": 180, "end": 204,
                  "heading_path": ["一"], "document": {"doc_id": "bj-2024-minimum-living-allowance",
                                                        "title": "北京市民政局 北京市财政局关于调整本市最低生活保障标准的通知",
                                                        "doc_number": "京民社救发〔2024〕80号", "validity": "现行有效"}}],
        "timings_ms": {"embed": 14.0, "sparse": 0.4, "search": 1.2}}]}}


class Health(BaseModel):
    status: str
    chunks: int | None = Field(description="Chunks in the index; null while the store cannot be reached.")
    store: str
    embedder: str


MAX_QUESTION_CHARS = 20000  # one bound for every way a question comes in: /v1/chat, the OpenAI protocol, MCP


class ChatRequest(BaseModel):
    question: str = Field(..., description="The question, in plain Chinese.", max_length=MAX_QUESTION_CHARS)
    session_id: str | None = Field(None, max_length=64)
    channel: str = Field("api", pattern=r"^[a-z_]{1,32}$", description="Who asks: web | hotline | api | cli")
    include_not_in_force: bool = Field(False, description="Also use documents known to be out of force.")
    district: str | None = None
    issuer: str | None = None
    stream: bool = Field(False, description="Stream server-sent events (same as Accept: text/event-stream).")

    model_config = {"json_schema_extra": {"examples": [{"question": "北京市养老服务补贴怎么申请？"}]}}

    def search_filters(self):
        from app.domain import SearchFilters

        return SearchFilters(include_not_in_force=self.include_not_in_force, district=self.district, issuer=self.issuer)


class CitationOut(BaseModel):
    number: int
    doc_id: str
    chunk_id: str
    quote: str
    start: int = Field(description="Offset of the quote in the document body (characters).")
    end: int


class SentenceOut(BaseModel):
    text: str
    citations: list[CitationOut]
    line_break: bool = Field(False, description="Starts a line of its own (an item of a list quoted apart from "
                                                "its neighbours); line breaks inside `text` are the document's.")


class SourceOut(BaseModel):
    number: int
    document: PolicyMeta
    chunk_id: str
    heading_path: list[str]


class ChatResponse(BaseModel):
    status: str
    refusal: bool
    answer: str = Field(description="The answer with [n] markers, or the canned reply of a refusal.")
    notice: str | None = None
    sentences: list[SentenceOut]
    sources: list[SourceOut]
    degraded: bool = Field(False, description="The LLM was unavailable and the extractive composer answered.")
    composer: str | None = None
    rewritten_question: str | None = None
    timings_ms: dict[str, float]
    audit_id: str | None

    model_config = {"json_schema_extra": {"examples": [{
        "status": "answered", "refusal": False,
        "answer": "一、本市低保标准从每人每月1395元调整为1450元。[1]三、新标准从2024年7月施行。[1]",
        "notice": None,
        "sentences": [{"text": "一、本市低保标准从每人每月1395元调整为1450元。", "citations": [{
            "number": 1, "doc_id": "bj-2024-minimum-living-allowance", "chunk_id": "cdba9378-495c-52ce-bc7f-1ab8b0a2c8be",
            "quote": "一、本市低保标准从每人每月1395元调整为1450元。", "start": 312, "end": 336}]}],
        "sources": [{"number": 1, "chunk_id": "cdba9378-495c-52ce-bc7f-1ab8b0a2c8be", "heading_path": [],
                     "document": {"doc_id": "bj-2024-minimum-living-allowance",
                                  "title": "北京市民政局 北京市财政局关于调整本市最低生活保障标准的通知",
                                  "doc_number": "京民社救发〔2024〕80号", "issuer": "北京市民政局、北京市财政局",
                                  "published": "2024-08-21", "validity": "现行有效"}}],
        "degraded": False, "composer": "extractive", "rewritten_question": None,
        "timings_ms": {"check_question": 0.2, "rewrite_question": 0.0, "retrieve": 14.1, "compose_answer": 3.2,
                       "check_answer": 0.1, "record": 2.4},
        "audit_id": "6a5374f4-90fb-4565-a01a-9b594cef626b"}]}}

    @classmethod
    def of(cls, outcome: AnswerOutcome) -> "ChatResponse":
        return cls(status=outcome.status, refusal=outcome.refusal, answer=outcome.answer, notice=outcome.notice,
                   composer=outcome.composer, degraded=outcome.degraded,
                   rewritten_question=outcome.rewritten_question,
                   sentences=[SentenceOut(text=s.text, citations=[CitationOut(**vars(c)) for c in s.citations],
                                          line_break=s.line_break) for s in outcome.sentences],
                   sources=[SourceOut(number=n, chunk_id=hit.chunk_id, heading_path=hit.heading_path,
                                      document=PolicyMeta.of(hit.document)) for n, hit in outcome.sources],
                   timings_ms=outcome.timings_ms, audit_id=outcome.audit_id)
