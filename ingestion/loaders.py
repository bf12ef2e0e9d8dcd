"""Read files into Documents: .txt/.md (with the 首都之窗 block), .html, .json/.jsonl, .docx, .pdf;
hotline knowledge from .yml/.yaml, .csv and .xlsx (ingestion/knowledge.py).

One loader per format, one dispatcher. A loader raises IngestError with a reason a person can act
on; the dispatcher turns that into a LoadedFile with the failure, so one bad file never stops a
batch.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from app.domain import Document
from ingestion.errors import IngestError
from ingestion.html_text import html_to_text
from ingestion.knowledge import read_entries
from ingestion.metadata import (
    find_doc_number,
    infer_district,
    infer_level,
    normalize_doc_number,
    normalize_validity,
    parse_date,
    title_from_text,
)
from ingestion.page_cleaning import clean_page, read_metadata_block
from ingestion.text_decoding import decode_text

SIDECAR_NAME = "metadata.jsonl"
SUPPORTED_SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl", ".pdf", ".docx",
                      ".yml", ".yaml", ".csv", ".xlsx"}  # the last four: hotline knowledge (ingestion/knowledge.py)


@dataclass
class LoadedFile:
    path: str
    documents: list[Document] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # reasons, "line 7: missing field 'text'"
    ok: bool = True  # False when nothing could be read: its documents in the index are kept


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Every supported file under the given paths, sorted, sidecar metadata files left out."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).resolve()  # the index records where a document came from, to notice deletions
        if path.is_dir():
            found.extend(p for p in sorted(path.rglob("*"))
                         if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
                         and p.name != SIDECAR_NAME and not p.name.startswith("."))
        else:
            found.append(path)
    return found


def load_file(path: Path, max_bytes: int) -> LoadedFile:
    result = LoadedFile(path=str(path))
    try:
        size = path.stat().st_size
        if size == 0:
            raise IngestError("empty file")
        if size > max_bytes:
            raise IngestError(f"file too large: {size / 2**20:.1f} MiB, the limit is {max_bytes / 2**20:.0f} MiB "
                              "(INGEST_MAX_FILE_MB)")
        loader = _LOADERS.get(path.suffix.lower())
        if loader is None:
            raise IngestError(f"unsupported file type {path.suffix or '(none)'}")
        loader(path, result)
    except IngestError as exc:
        result.ok = False
        result.failures.append(str(exc))
    except (OSError, ValueError) as exc:  # unreadable file, or a parser that rejects it
        result.ok = False
        result.failures.append(f"{type(exc).__name__}: {exc}")
    if result.ok and not result.documents and not result.failures:
        result.ok = False
        result.failures.append("no text found")
    return result


# ---- text pages -------------------------------------------------------------------------

def _load_text(path: Path, result: LoadedFile) -> None:
    text = decode_text(path.read_bytes())
    if path.suffix.lower() in (".md", ".markdown"):
        text = _strip_markdown(text)
    result.documents.append(document_from_page(text, path, _sidecar(path).get(path.name, {})))


def _load_html(path: Path, result: LoadedFile) -> None:
    text = html_to_text(decode_text(path.read_bytes()))
    result.documents.append(document_from_page(text, path, _sidecar(path).get(path.name, {})))


def _load_docx(path: Path, result: LoadedFile) -> None:
    import docx  # python-docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        raise IngestError(f"not a readable .docx file ({exc})") from exc
    except Exception as exc:  # zipfile.BadZipFile and lxml errors have no common base
        raise IngestError(f"corrupt .docx file ({type(exc).__name__}: {exc})") from exc
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    result.documents.append(document_from_page("\n".join(lines), path, _sidecar(path).get(path.name, {})))


def _load_pdf(path: Path, result: LoadedFile) -> None:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(path.read_bytes()))
        if reader.is_encrypted:
            raise IngestError("encrypted PDF")
        text = "\n".join(page.extract_text() or "" for page in reader.pages)
    except IngestError:
        raise
    except (PdfReadError, Exception) as exc:  # pypdf raises assorted errors on broken files
        raise IngestError(f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})") from exc
    if not text.strip():
        raise IngestError("PDF has no text layer (scanned image?); OCR it first")
    result.documents.append(document_from_page(text, path, _sidecar(path).get(path.name, {})))


def document_from_page(text: str, path: Path, sidecar: dict[str, Any]) -> Document:
    block, rest = read_metadata_block(text)
    body, inline = clean_page(rest)
    if not body.strip():
        raise IngestError("no text left after removing page furniture")
    title = sidecar.get("officialName") or title_from_text(body)
    doc_number = (normalize_doc_number(sidecar.get("documentNumber"))
                  or normalize_doc_number(block.get("发文字号"))
                  or find_doc_number(body))
    issuers = sidecar.get("issuingAuthorities") or [
        s for s in [block.get("发文机构"), *(block.get("联合发文单位") or "").split(";")] if s]
    issuer = "、".join(issuers) if issuers else (inline.get("来源") or inline.get("发文机关"))
    expires = parse_date(sidecar.get("effectiveTo")) or parse_date(block.get("失效日期"))
    repealed = parse_date(block.get("废止日期"))
    raw_validity = sidecar.get("status") or block.get("有效性")
    topics = [t for t in (block.get("主题分类") or sidecar.get("officialCategory") or "").split("/") if t]
    topics += [t.split(":", 1)[1] for t in sidecar.get("tags", []) if t.startswith("topic:")]
    return Document(
        doc_id=sidecar.get("documentId") or path.stem,
        title=title,
        body=body,
        doc_number=doc_number,
        issuer=issuer,
        level=infer_level(issuer, doc_number),
        district=infer_district(issuer, title),
        written=parse_date(block.get("成文日期")),
        published=parse_date(sidecar.get("publishedAt")) or parse_date(block.get("发布日期"))
        or parse_date(inline.get("日期") or inline.get("发布日期") or inline.get("发布时间")),
        effective=parse_date(sidecar.get("effectiveFrom")) or parse_date(block.get("实施日期")),
        expires=expires or repealed,
        validity=normalize_validity(raw_validity, repealed_on=repealed, expires=expires),
        topics=topics,
        source_url=sidecar.get("officialUrl") or sidecar.get("url"),
        source_path=str(path),
        replaces=list(sidecar.get("replacesDocumentIds") or []),
        programmes=list(sidecar.get("policyIds") or []),
    )


_MD_MARKUP = re.compile(r"^\s{0,3}(?:#{1,6}\s+|>\s?|[*+]\s+)|(\*\*|__|`)")


def _strip_markdown(text: str) -> str:
    return "\n".join(_MD_MARKUP.sub("", line) for line in text.splitlines())


_sidecar_cache: dict[tuple[Path, int], dict[str, dict[str, Any]]] = {}


def _sidecar(path: Path) -> dict[str, dict[str, Any]]:
    """Curated metadata beside the files (`metadata.jsonl`, joined on the file name)."""
    sidecar = path.parent / SIDECAR_NAME
    if not sidecar.exists():
        return {}
    key = (sidecar, sidecar.stat().st_mtime_ns)
    if key not in _sidecar_cache:
        table: dict[str, dict[str, Any]] = {}
        for number, line in enumerate(decode_text(sidecar.read_bytes()).splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise IngestError(f"{sidecar.name} line {number}: invalid JSON ({exc.msg})") from exc
            name = Path(record.get("sourceTextPath") or record.get("file") or "").name
            if name:
                table[name] = record
        _sidecar_cache[key] = table
    return _sidecar_cache[key]


# ---- records: JSON lines and JSON arrays ------------------------------------------------

_ID_FIELDS = ("doc_id", "docid", "documentId", "id")
_BODY_FIELDS = ("body", "text", "content", "article")
_HTML_BODY = re.compile(r"<(p|div|br|span|table|td)\b", re.I)


def _load_jsonl(path: Path, result: LoadedFile) -> None:
    text = decode_text(path.read_bytes())
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            result.failures.append(f"line {number}: invalid JSON ({exc.msg})")
            continue
        _add_record(record, f"line {number}", path, result)
    if not result.documents and result.failures:
        result.ok = False


def _load_json(path: Path, result: LoadedFile) -> None:
    try:
        data = json.loads(decode_text(path.read_bytes()))
    except json.JSONDecodeError as exc:
        raise IngestError(f"invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    records = data if isinstance(data, list) else [data]
    for number, record in enumerate(records, start=1):
        _add_record(record, f"record {number}", path, result)
    if not result.documents and result.failures:
        result.ok = False


def _add_record(record: Any, where: str, path: Path, result: LoadedFile) -> None:
    if not isinstance(record, dict):
        result.failures.append(f"{where}: not a JSON object")
        return
    try:
        result.documents.append(document_from_record(record, path))
    except IngestError as exc:
        result.failures.append(f"{where}: {exc}")


def document_from_record(record: dict[str, Any], path: Path) -> Document:
    body_field = next((f for f in _BODY_FIELDS if f in record), None)
    if body_field is None:
        raise IngestError(f"missing field: one of {', '.join(_BODY_FIELDS)}")
    raw_body = record.get(body_field)
    if not isinstance(raw_body, str) or not raw_body.strip():
        raise IngestError(f"empty field '{body_field}'")
    if _HTML_BODY.search(raw_body):
        raw_body = html_to_text(raw_body)
    block, rest = read_metadata_block(raw_body)
    body, inline = clean_page(rest)
    if not body.strip():
        raise IngestError(f"field '{body_field}' has no text after cleaning")
    title = (record.get("title") or "").strip() or title_from_text(body)
    raw_id = next((record[f] for f in _ID_FIELDS if record.get(f) not in (None, "")), None)
    if raw_id is None:
        anchor = record.get("url") or record.get("urlsource") or title + body[:200]
        doc_id = f"{path.stem}-{hashlib.sha1(str(anchor).encode()).hexdigest()[:12]}"
    elif isinstance(raw_id, str) and not raw_id.isdigit():
        doc_id = raw_id
    else:  # bare numbers are only unique within one file
        doc_id = f"{path.parent.name}-{raw_id}"
    doc_number = (normalize_doc_number(record.get("doc_number") or record.get("documentNumber"))
                  or normalize_doc_number(block.get("发文字号")) or find_doc_number(body))
    issuer = record.get("issuer") or record.get("source") or block.get("发文机构") or inline.get("来源")
    if isinstance(issuer, list):
        issuer = "、".join(issuer)
    expires = parse_date(record.get("expires") or record.get("effectiveTo"))
    repealed = parse_date(record.get("repealed") or block.get("废止日期"))
    topics = record.get("topics") or []
    return Document(
        doc_id=doc_id,
        title=title,
        body=body,
        doc_number=doc_number,
        issuer=issuer,
        level=record.get("level") or infer_level(issuer, doc_number),
        district=record.get("district") or infer_district(issuer, title),
        published=parse_date(record.get("published") or record.get("pub_date") or record.get("date")
                             or record.get("publishedAt") or block.get("发布日期")),
        effective=parse_date(record.get("effective") or record.get("effectiveFrom") or block.get("实施日期")),
        expires=expires or repealed,
        validity=normalize_validity(record.get("validity") or record.get("status") or block.get("有效性"),
                                    repealed_on=repealed, expires=expires),
        topics=list(topics) if isinstance(topics, list) else [str(topics)],
        source_url=record.get("url") or record.get("urlsource") or record.get("source_url"),
        source_path=str(path),
        programmes=_string_list(record.get("programmes") or record.get("policyIds")),
        kind=record.get("kind") or "policy",
    )


def _load_knowledge(path: Path, result: LoadedFile) -> None:
    """Approved entries become documents of kind knowledge; proposed and rejected ones are not
    indexed (they wait in the review queue, or were turned down)."""
    entries, failures = read_entries(path)
    result.failures.extend(failures)
    result.documents.extend(e.as_document(str(path)) for e in entries if e.state == "approved")
    if failures and not entries:
        result.ok = False
    elif entries and not result.documents and not failures:
        result.failures.append("no approved entries")


def _string_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if v not in (None, "")]
    return [str(value)] if value not in (None, "") else []


_LOADERS: dict[str, Callable[[Path, LoadedFile], None]] = {
    ".txt": _load_text,
    ".md": _load_text,
    ".markdown": _load_text,
    ".html": _load_html,
    ".htm": _load_html,
    ".json": _load_json,
    ".jsonl": _load_jsonl,
    ".docx": _load_docx,
    ".pdf": _load_pdf,
    ".yml": _load_knowledge,
    ".yaml": _load_knowledge,
    ".csv": _load_knowledge,
    ".xlsx": _load_knowledge,
}


def load_paths(paths: Iterable[str | Path], max_bytes: int) -> Iterator[LoadedFile]:
    for path in discover(paths):
        yield load_file(path, max_bytes)
