"""Hotline knowledge (答复口径): what callers ask, the answer script agents give, who is responsible,
the policy basis, when it takes effect and by when it must be reviewed, where it came from (faq,
official reply, approved agent reply) and its review state. Read from YAML (`entries:`), CSV or XLSX
(hotline knowledge bases export to spreadsheets; Chinese or English column names), and indexed as
documents of kind `knowledge`: the question is the title, the answer script the body, the basis
travels with it so that a citation names the 文号 it rests on. Only approved entries are indexed; an
entry past its review date is out of force (已失效) and no longer answers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import yaml

from app.domain import KNOWLEDGE, VALIDITY_CURRENT, Document, normalize_doc_number
from app.policy_data import hotline_departments
from ingestion.errors import IngestError
from ingestion.metadata import normalize_validity, parse_date
from ingestion.text_decoding import decode_text

SOURCES = {"faq": "常见问题", "official_reply": "官方答复", "agent_reply": "坐席答复"}
STATES = {"proposed": "待审核", "approved": "已通过", "rejected": "已驳回"}
DOC_ID_PREFIX = "kb-"
# column names as hotline knowledge bases export them → field
COLUMNS = {
    "编号": "id", "id": "id", "问题": "question", "诉求": "question", "question": "question",
    "答复": "answer", "答复口径": "answer", "answer": "answer", "责任单位": "department", "department": "department",
    "一级分类": "category1", "二级分类": "category2", "分类": "category", "category": "category",
    "区": "district", "district": "district", "街道": "street", "street": "street",
    "政策依据": "basis", "依据": "basis", "basis": "basis", "生效日期": "effective", "effective": "effective",
    "复核日期": "review_by", "review_by": "review_by", "来源": "source", "source": "source",
    "状态": "state", "state": "state",
}
_SPLIT = re.compile(r"[；;\n]+")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class KnowledgeEntry:
    id: str
    question: str
    answer: str
    department: str | None = None  # a handler id of policies/hotline/departments.yml
    category: list[str] = field(default_factory=list)  # [level 1, level 2] of categories.yml
    district: str | None = None
    street: str | None = None
    basis: list[dict[str, str | None]] = field(default_factory=list)  # [{doc_id, doc_number}]
    effective: str | None = None
    review_by: str | None = None
    source: str = "faq"
    state: str = "approved"

    @property
    def doc_id(self) -> str:
        return DOC_ID_PREFIX + self.id

    def as_record(self) -> dict[str, Any]:
        return asdict(self)

    def validity(self, today: dt.date | None = None) -> str:
        return normalize_validity(VALIDITY_CURRENT, expires=self.review_by, today=today)

    def as_document(self, source_path: str | None) -> Document:
        names = department_names()
        return Document(
            doc_id=self.doc_id, title=self.question, body=self.answer, kind=KNOWLEDGE,
            issuer=names.get(self.department or "", None), district=self.district, effective=self.effective,
            expires=self.review_by, validity=self.validity(), topics=[c for c in self.category if c],
            source_path=source_path, basis=[dict(b) for b in self.basis],
            replaces=[], programmes=[])


@lru_cache(maxsize=1)
def department_names() -> dict[str, str]:
    """Handler id → name (policies/hotline/departments.yml): an entry cites its body by name."""
    return {d["id"]: d["name"] for d in hotline_departments()}


def entry_from_record(record: dict[str, Any]) -> KnowledgeEntry:
    """One entry, checked; IngestError says what is wrong with it."""
    def text(name: str) -> str | None:
        value = record.get(name)
        return str(value).strip() if value not in (None, "") else None

    entry_id, question, answer = text("id"), text("question"), text("answer")
    missing = [n for n, v in (("id", entry_id), ("question", question), ("answer", answer)) if not v]
    if missing:
        raise IngestError(f"missing {', '.join(missing)}")
    if not _ID.match(entry_id):
        raise IngestError(f"id {entry_id!r}: letters, digits and . _ - only")
    department = text("department")
    if department and department not in department_names() and not department.startswith(("district:", "street:")):
        raise IngestError(f"{entry_id}: department {department!r} is not an id of policies/hotline/departments.yml")
    category = record.get("category")
    if isinstance(category, str):
        category = [c for c in re.split(r"[/›>]", category) if c.strip()]
    category = [str(c).strip() for c in (category or [text("category1"), text("category2")]) if c]
    source, state = text("source") or "faq", text("state") or "approved"
    if source not in SOURCES:
        raise IngestError(f"{entry_id}: source {source!r} is not one of {', '.join(SOURCES)}")
    if state not in STATES:
        raise IngestError(f"{entry_id}: state {state!r} is not one of {', '.join(STATES)}")
    dates = {}
    for name in ("effective", "review_by"):
        raw = record.get(name)
        dates[name] = parse_date(raw.isoformat() if isinstance(raw, (dt.date, dt.datetime)) else raw) if raw else None
        if raw and not dates[name]:
            raise IngestError(f"{entry_id}: {name} {raw!r} is not a date")
    return KnowledgeEntry(entry_id, question, answer, department, category, text("district"), text("street"),
                          _basis(record.get("basis")), dates["effective"], dates["review_by"], source, state)


def _basis(raw: Any) -> list[dict[str, str | None]]:
    """[{doc_id, doc_number}] from a list of such, or of ids and 文号, or one string split at ；."""
    items = raw if isinstance(raw, list) else [s for s in _SPLIT.split(str(raw or "")) if s.strip()]
    out = []
    for item in items:
        if isinstance(item, dict):
            out.append({"doc_id": item.get("doc_id") or None,
                        "doc_number": normalize_doc_number(item.get("doc_number")) or item.get("doc_number")})
        else:
            value = str(item).strip()
            number = normalize_doc_number(value)
            out.append({"doc_id": None if number else value, "doc_number": number})
    return out


def read_entries(path: Path) -> tuple[list[KnowledgeEntry], list[str]]:
    """The entries of a YAML, CSV or XLSX file and the reasons the rest were refused ("row 7: …")."""
    suffix = path.suffix.lower()
    if suffix in (".yml", ".yaml"):
        try:
            data = yaml.safe_load(decode_text(path.read_bytes()))
        except yaml.YAMLError as exc:
            raise IngestError(f"not valid YAML ({exc})") from exc
        if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
            raise IngestError("a knowledge file holds `entries:`, a list of entries")
        rows: Iterable[tuple[str, Any]] = ((f"entry {n}", r) for n, r in enumerate(data["entries"], start=1))
    elif suffix == ".csv":
        rows = _table_rows(list(csv.reader(io.StringIO(decode_text(path.read_bytes())))))
    elif suffix == ".xlsx":
        rows = _table_rows(_xlsx_rows(path))
    else:
        raise IngestError(f"unsupported knowledge file {suffix}")
    entries, failures, seen = [], [], set()
    for where, record in rows:
        if not isinstance(record, dict):
            failures.append(f"{where}: not a mapping")
            continue
        try:
            entry = entry_from_record(record)
        except IngestError as exc:
            failures.append(f"{where}: {exc}")
            continue
        if entry.id in seen:
            failures.append(f"{where}: duplicate id {entry.id}")
            continue
        seen.add(entry.id)
        entries.append(entry)
    return entries, failures


def _xlsx_rows(path: Path) -> list[list[Any]]:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile and openpyxl errors share no base
        raise IngestError(f"not a readable .xlsx file ({type(exc).__name__}: {exc})") from exc
    try:
        return [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
    finally:
        workbook.close()


def _table_rows(rows: list[list[Any]]) -> Iterable[tuple[str, dict[str, Any]]]:
    if not rows:
        raise IngestError("no rows")
    header = [COLUMNS.get(str(c or "").strip().lower(), COLUMNS.get(str(c or "").strip())) for c in rows[0]]
    if "question" not in header or "answer" not in header:
        raise IngestError("not a knowledge table: the first row must name the columns 问题 and 答复 "
                          "(or question and answer)")
    for number, row in enumerate(rows[1:], start=2):
        if not any(c not in (None, "") for c in row):
            continue
        yield f"row {number}", {name: value for name, value in zip(header, row) if name}
