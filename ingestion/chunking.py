"""Split a document body into chunks along the structure of Chinese official documents.

Units are paragraphs (a table row, `cell | cell`, is one); a paragraph that opens with 第X章 / 第X条 / 一、 / （一） / 1. / （1） sets the
heading path for what follows. Consecutive units of one section are packed up to `max_chars`;
a unit longer than that is split only at sentence ends (。！？；, then ，as a last resort), so no
chunk cuts a clause mid-sentence. Every chunk's text is exactly body[start:end].
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.domain import Chunk, Document

CHUNKER_VERSION = "structure-v1"

_NUM = r"[一二三四五六七八九十百零〇两]+"
# (level, pattern): lower level = higher in the hierarchy.
_MARKERS: list[tuple[int, re.Pattern[str]]] = [
    (0, re.compile(rf"^第{_NUM}[编章]")),
    (1, re.compile(rf"^第{_NUM}节")),
    (2, re.compile(rf"^第{_NUM}条")),
    (2, re.compile(rf"^{_NUM}[、．.]")),
    (3, re.compile(rf"^[（(]{_NUM}[）)]")),
    (4, re.compile(r"^\d{1,2}(?:[、．.](?!\d)|\s)")),
    (5, re.compile(r"^[（(]\d{1,2}[）)]")),
    (5, re.compile(r"^[①②③④⑤⑥⑦⑧⑨⑩]")),
]
# Paragraph breaks: newlines, and in run-together web text, a space between two CJK characters.
_PARAGRAPH_BREAK = re.compile(r"\n+|(?<=[^\x00-\x7f])[ \t\u3000]+(?=[^\x00-\x7f])")
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])")
_CLAUSE_END = re.compile(r"(?<=[，,：:])")


@dataclass
class _Unit:
    start: int
    end: int
    path: list[str]
    is_heading: bool = False


def heading_level(line: str) -> int | None:
    for level, pattern in _MARKERS:
        if pattern.match(line):
            return level
    return None


def _is_heading_only(line: str) -> bool:
    return len(line) <= 40 and not re.search(r"[。；;！？]$", line) and "，" not in line


def _marker_label(line: str, level: int) -> str:
    """Short name for a clause in the heading path: the heading itself, or its marker."""
    if _is_heading_only(line):
        return line
    for lvl, pattern in _MARKERS:
        if lvl == level:
            match = pattern.match(line)
            if match:
                return match.group(0).rstrip("、．. ")
    return line[:12]


def _paragraphs(body: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for match in _PARAGRAPH_BREAK.finditer(body):
        if match.start() > pos:
            spans.append((pos, match.start()))
        pos = match.end()
    if pos < len(body):
        spans.append((pos, len(body)))
    # trim surrounding spaces without losing exact offsets
    out = []
    for start, end in spans:
        while start < end and body[start].isspace():
            start += 1
        while end > start and body[end - 1].isspace():
            end -= 1
        if end > start:
            out.append((start, end))
    return out


def _units(body: str) -> list[_Unit]:
    stack: list[tuple[int, str]] = []
    units: list[_Unit] = []
    for start, end in _paragraphs(body):
        line = body[start:end]
        level = heading_level(line)
        if level is None:
            # a plain paragraph belongs to the enclosing article or section, not to a list item
            while stack and stack[-1][0] >= 4:
                stack.pop()
            units.append(_Unit(start, end, [t for _, t in stack]))
            continue
        while stack and stack[-1][0] >= level:
            stack.pop()
        heading_only = _is_heading_only(line)
        stack.append((level, _marker_label(line, level)))
        units.append(_Unit(start, end, [t for _, t in stack], is_heading=heading_only))
    return units


def _pack(start: int, end: int, cuts: list[int], max_chars: int) -> list[tuple[int, int]]:
    """Greedy pieces of [start, end) that end only at the given cut points."""
    pieces, piece_start, last_cut = [], start, start
    for cut in cuts + [end]:
        if cut - piece_start > max_chars and last_cut > piece_start:
            pieces.append((piece_start, last_cut))
            piece_start = last_cut
        last_cut = cut
    pieces.append((piece_start, end))
    return [p for p in pieces if p[1] > p[0]]


def _split_long(body: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Pieces of [start, end) no longer than max_chars: cut at sentence ends; a sentence that is
    itself too long is cut at commas; text with no punctuation at all is cut by length."""
    out: list[tuple[int, int]] = []
    sentence_cuts = [start + m.start() for m in _SENTENCE_END.finditer(body[start:end])]
    for s, e in _pack(start, end, sentence_cuts, max_chars):
        if e - s <= max_chars:
            out.append((s, e))
            continue
        clause_cuts = [s + m.start() for m in _CLAUSE_END.finditer(body[s:e])]
        for cs, ce in _pack(s, e, clause_cuts, max_chars):
            out.extend(_hard_split(cs, ce, max_chars) if ce - cs > max_chars else [(cs, ce)])
    return out


def _hard_split(start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    # Only for text with no punctuation at all (tables flattened to one line, lists of names).
    return [(s, min(s + max_chars, end)) for s in range(start, end, max_chars)]


def _section_key(path: list[str]) -> tuple[str, ...]:
    return tuple(path[:2])


def _common_prefix(paths: list[list[str]]) -> list[str]:
    prefix = list(paths[0])
    for path in paths[1:]:
        n = 0
        while n < len(prefix) and n < len(path) and prefix[n] == path[n]:
            n += 1
        prefix = prefix[:n]
    return prefix


def chunk_document(doc: Document, max_chars: int = 360, min_chars: int = 60) -> list[Chunk]:
    body = doc.body
    units = _units(body)
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []

    def flush() -> None:
        nonlocal current
        if current:
            groups.append(current)
        current = []

    for unit in units:
        if unit.end - unit.start > max_chars:
            flush()
            for s, e in _split_long(body, unit.start, unit.end, max_chars):
                groups.append([_Unit(s, e, unit.path)])
            continue
        if current:
            size = unit.end - current[0].start
            new_section = (unit.is_heading or heading_level(body[unit.start:unit.end]) in (0, 1, 2)) and \
                _section_key(unit.path) != _section_key(current[0].path)
            small = current[-1].end - current[0].start < min_chars
            if size > max_chars or (new_section and not small):
                flush()
        current.append(unit)
    flush()

    chunks = []
    for group in groups:
        start, end = group[0].start, group[-1].end
        body_units = [u for u in group if not u.is_heading] or group
        path = _common_prefix([u.path for u in body_units]) if len(body_units) > 1 else body_units[0].path
        chunks.append(Chunk(doc_id=doc.doc_id, position=len(chunks), text=body[start:end],
                            start=start, end=end, heading_path=path))
    return chunks


def embedding_text(doc: Document, chunk: Chunk) -> str:
    """What the embedder and BM25 see: title and heading path give a clause its context
    ("申请条件" means nothing without the policy it belongs to)."""
    parts = [doc.title]
    if chunk.heading_path:
        parts.append(" ".join(h for h in chunk.heading_path if h not in chunk.text[:len(h) + 2]))
    parts.append(chunk.text)
    return "\n".join(p for p in parts if p)
