"""The nouns of the system: documents, chunks, search filters and hits, answer sentences and their
citations, the 文号.

Plain dataclasses shared by ingestion, the vector-store clients and the API, so that no layer has
to import another layer's internals to talk about a document.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

# A document's validity (效力: 有效性 in 首都之窗's block), stored as keyword strings (a bool filter
# misbehaves in Qdrant Edge). "status" is an answer's or an event's outcome, never this.
VALIDITY_CURRENT = "现行有效"
VALIDITY_AMENDED = "已修订"
VALIDITY_EXPIRED = "已失效"
VALIDITY_REPEALED = "已废止"
VALIDITY_UNKNOWN = "未知"
VALIDITIES = (VALIDITY_CURRENT, VALIDITY_AMENDED, VALIDITY_EXPIRED, VALIDITY_REPEALED, VALIDITY_UNKNOWN)
NOT_IN_FORCE = (VALIDITY_AMENDED, VALIDITY_EXPIRED, VALIDITY_REPEALED)

LEVELS = ("国家", "市级", "区级")
DISTRICTS = ("东城区", "西城区", "朝阳区", "海淀区", "丰台区", "石景山区", "门头沟区", "房山区", "通州区", "顺义区",
             "昌平区", "大兴区", "怀柔区", "平谷区", "密云区", "延庆区")  # Beijing's 16 districts

# Namespace for chunk point ids: uuid5(namespace, f"{doc_id}#{position}") is stable across runs.
_CHUNK_NAMESPACE = uuid.UUID("6f1c2a7e-5b1d-4c1e-9a57-1f3d2b8c9e01")


def in_utc(moment: dt.datetime) -> dt.datetime:
    """A stored time with its zone. SQLite hands timestamps back without one; they were written in UTC
    and must say so (a browser reads a time without a zone as its own: 8 hours off in Beijing)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


def chunk_point_id(doc_id: str, position: int) -> str:
    """chunk_id = f(doc_id, position): re-ingesting a document overwrites its chunks in place."""
    return str(uuid.uuid5(_CHUNK_NAMESPACE, f"{doc_id}#{position}"))


# Short names a document defines ("城乡居民最低生活保障（以下简称城乡低保）"), kept on its document point
# by ingestion and read by the query vocabulary: ["城乡低保=城乡居民最低生活保障", ...]
ALIAS_FIELD = "aliases"


def encode_alias(short: str, long: str) -> str:
    return f"{short}={long}"


def decode_alias(value: str) -> tuple[str, str] | None:
    short, sep, long = value.partition("=")
    return (short, long) if sep and short and long else None


# Beijing time (China keeps no daylight saving time): what "today" and "this year" mean to a resident
BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


def document_name(doc: dict[str, Any]) -> str:
    """How answers name a document: 《title》（文号）."""
    return f"《{doc.get('title')}》" + (f"（{doc['doc_number']}）" if doc.get("doc_number") else "")


def document_short_name(doc: dict[str, Any]) -> str:
    """How a one-line notice names a document: its 文号, or 《title》 when it has none (the sources
    list beside the answer gives both)."""
    return doc.get("doc_number") or f"《{doc.get('title')}》"


KNOWLEDGE = "knowledge"  # the kind of a hotline knowledge entry's document (ingestion/knowledge.py)


@dataclass
class Document:
    doc_id: str
    title: str
    body: str
    doc_number: str | None = None
    issuer: str | None = None
    level: str | None = None
    district: str | None = None
    written: str | None = None  # 成文日期, ISO date
    published: str | None = None
    effective: str | None = None
    expires: str | None = None
    validity: str = VALIDITY_UNKNOWN
    topics: list[str] = field(default_factory=list)
    source_url: str | None = None
    source_path: str | None = None  # the file it came from; used to notice deletions
    replaces: list[str] = field(default_factory=list)
    programmes: list[str] = field(default_factory=list)  # curated ids of the programme(s) it belongs to
    kind: str = "policy"  # policy | faq | news | knowledge (a hotline answer script, ingestion/knowledge.py)
    basis: list[dict[str, str | None]] = field(default_factory=list)  # a knowledge entry's policy basis:
    # [{doc_id, doc_number}], either may be null

    def metadata(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("body")
        return data


@dataclass
class Chunk:
    doc_id: str
    position: int
    text: str
    start: int  # character offsets into Document.body, so a citation can highlight the span
    end: int
    heading_path: list[str]

    @property
    def chunk_id(self) -> str:
        return chunk_point_id(self.doc_id, self.position)


@dataclass
class SearchFilters:
    """What a caller may narrow a search by. Empty fields do not filter."""

    include_not_in_force: bool = False
    validities: list[str] | None = None
    issuer: str | None = None
    district: str | None = None
    level: str | None = None
    doc_ids: list[str] | None = None
    published_from: str | None = None
    published_to: str | None = None
    kind: str | None = None
    # kinds left out unless `kind` asks for one: hotline knowledge is searched on its own (the answer
    # pipeline's match_knowledge step), never mixed into policy searches and listings
    exclude_kinds: tuple[str, ...] = ("knowledge",)
    doc_number_key: str | None = None  # canonical 文号 (normalize_doc_number)
    topic: str | None = None
    effective_on: str | None = None  # ISO date: documents in force that day
    today: str = field(default_factory=lambda: dt.date.today().isoformat())


@dataclass
class SearchHit:
    chunk_id: str
    doc_id: str
    score: float
    text: str
    start: int
    end: int
    heading_path: list[str]
    document: dict[str, Any]
    # what each retrieval signal said of this chunk: "dense" (cosine), "bm25" and "document" (raw
    # BM25 of the chunk and of its whole document), "fused"; a signal that did not list it is absent
    signals: dict[str, float] = field(default_factory=dict)
    position: int | None = None  # its place among its document's chunks (the neighbours are position ± 1)


# ---- answers ----
@dataclass
class Citation:
    number: int  # [n] in the answer text; 1-based index into the sources
    doc_id: str
    chunk_id: str
    quote: str  # the exact span of the source the sentence rests on
    start: int  # offsets of the quote in the document body, for highlighting
    end: int


@dataclass
class AnswerSentence:
    text: str
    citations: list[Citation]
    line_break: bool = False  # starts a line of its own: an item of a list quoted apart from its neighbours


# ---- 文号 ----
# One spelling for every layer (ingestion stores it, lookup and the API match on it), so that an
# exact 文号 lookup works whatever brackets and spaces were typed.
_SPACE = r"[\s\u200b\u3000]*"
# 京政办发〔2023〕15号 / 国发[2019]5号 / 京民社救发 (2024) 80号 / 京建法〔2015〕19 号
DOC_NUMBER_RE = re.compile(
    r"(?P<prefix>[\u4e00-\u9fa5]{1,16}?)" + _SPACE
    + r"[〔\[［(（【]" + _SPACE + r"(?P<year>(?:19|20)\d{2})" + _SPACE + r"[〕\]］)）】]" + _SPACE
    + r"(?P<num>\d{1,5})" + _SPACE + r"号"
)
# Words that end a sentence and then run into a 文号 ("印发京政发〔2005〕13号") are not part of it.
_PREFIX_NOISE = re.compile(r"^.*?(?:印发|转发|根据|按照|依据|和|及|与|的|《|》|、|，)")
_PREFIX_STOP_CHARS = set("的和及与、，。《》“”：:（）()")


def normalize_doc_number(raw: str | None) -> str | None:
    """Canonical 文号: prefix〔year〕number号, no spaces. None when nothing usable is found."""
    if not raw:
        return None
    match = DOC_NUMBER_RE.search(raw)
    if not match:
        return None
    prefix = _clean_prefix(match.group("prefix"))
    if not prefix:
        return None
    return f"{prefix}〔{match.group('year')}〕{int(match.group('num'))}号"


def _clean_prefix(prefix: str) -> str:
    prefix = _PREFIX_NOISE.sub("", prefix)
    while prefix and prefix[0] in _PREFIX_STOP_CHARS:
        prefix = prefix[1:]
    return prefix
