"""Which documents change an earlier document's standard or rule without repealing it.

"本市低保标准从每人每月1395元调整为1450元" (京民社救发〔2024〕80号) changes the figure that the 2018
低保 rules still state; "关于调整计划生育特别扶助金标准的通知" raises the 扶助金 of the 2008 scheme. The older
document stays in force for everything else, so it is not excluded: its figures rank below the
newer ones and an answer built on it names the newer document (the `amends` / `amended_by`
relation, next to `repeals`).

Two halves, because the relation is between documents and ingestion is incremental:
- `find_amendment` reads one document's own text when it is written: does it change something (a
  title "关于调整…标准的通知", or a change statement with a figure, "由…提高到…", "从…调整为…") or is it
  a notice of standards ("2026年…缴费标准"), what are its subjects, and from when does it apply.
- `link_amendments` runs over all document points at the end of every sync: a changing document
  amends an earlier one that shares a curated programme with it (metadata `policyIds`) or whose
  title names what it changes; a notice of standards amends earlier documents of its programme.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ingestion.metadata import parse_date

_FIGURE = r"\d+(?:\.\d+)?\s*(?:元|万元|%|％|倍)"
# "X由每人每月590元提高到740元", "X从1395元调整为1450元", "X调整为1450元"
_CHANGE = re.compile(
    r"(?P<subject>[^。；;\n：:]{0,60}?)(?:由|从)[^。；;\n]{0,40}?" + _FIGURE
    + r"[^。；;\n]{0,20}?(?:提高|调整|上调|增加|提升|降低|下调)(?:到|至|为)[^。；;\n]{0,30}?" + _FIGURE
    + r"|(?P<subject2>[^。；;\n：:]{0,60}?)(?:提高|调整|上调)(?:到|至|为)[^。；;\n]{0,20}?" + _FIGURE)
_AMENDING_TITLE = re.compile(r"关于(?:调整|提高|上调|调增)(?:本市|我市|全市|北京市)?(?P<subject>.{2,40}?)(?:的通知|的通告|的公告|的意见)")
# a standard stated in an amending document: "孤儿、弃婴生活费按照每人每月2850元标准发放"
_PER = r"(?:每人每月|每人每年|每人每天|每月|每年)"
_STANDARD = re.compile(r"(?P<subject>[^。；;\n：:]{2,40}?)(?:(?:按照|按|为)" + _PER + "?|" + _PER + ")" + _FIGURE)
_FROM = re.compile(r"(?:自|从)\s*((?:19|20)\d{2})\s*年\s*(\d{1,2})\s*月(?:\s*(\d{1,2})\s*日)?\s*(?:起|开始|施行|执行)")
_LEADING = re.compile(r"^(?:[一二三四五六七八九十]+[、．.]|[（(][一二三四五六七八九十\d]+[）)]|\d+[、．.]|对|将|把|本市|我市|全市|北京市|符合政策条件的|[,，、\s])+")
_GENERIC = re.compile(r"(?:标准|调整|提高|水平|有关事项|有关问题|相关政策|工作)")
MAX_SUBJECTS = 12


@dataclass
class Amendment:
    subjects: list[str] = field(default_factory=list)  # what it changes: "最低生活保障", "孤儿、弃婴生活费"
    applies_from: str | None = None  # ISO date the change takes effect, when the text says
    explicit: bool = True  # says it changes something; else a notice of standards ("2026年…缴费标准")


def _subject(raw: str | None) -> str | None:
    """The noun phrase a change or standard is about: the last clause before it, with the one
    before that when the last is too short to name anything ("…孤儿弃婴，生活费标准")."""
    if not raw:
        return None
    clauses = [_LEADING.sub("", c.strip()) for c in re.split(r"[，,]", raw)]
    clauses = [c for c in clauses if c]
    if not clauses:
        return None
    text = clauses[-1]
    if len(_GENERIC.sub("", text)) < 4 and len(clauses) > 1:
        text = clauses[-2][-12:] + text
    return text if len(_GENERIC.sub("", text)) >= 2 else None


def find_amendment(title: str, body: str, effective: str | None = None) -> Amendment | None:
    """What `title`/`body` amends, or None when it is not an amending document."""
    subjects: list[str] = []
    title_match = _AMENDING_TITLE.search(title or "")
    if title_match:
        subjects.append(_subject(title_match.group("subject")))
    changes = list(_CHANGE.finditer(body))
    for match in changes:
        subjects.append(_subject(match.group("subject") or match.group("subject2")))
    explicit = bool(title_match or changes)
    if not explicit and "标准" not in (title or ""):
        return None  # neither says it changes anything nor is a notice of standards
    # the standards it states are the new ones (an adjusting notice, or a newer notice of a programme)
    subjects += [_subject(m.group("subject")) for m in _STANDARD.finditer(body)]
    subjects = list(dict.fromkeys(s for s in subjects if s))[:MAX_SUBJECTS]
    if not subjects:
        return None
    found = _FROM.search(body)
    applies_from = None
    if found:
        year, month, day = found.group(1), int(found.group(2)), int(found.group(3) or 1)
        applies_from = parse_date(f"{year}-{month}-{day}")
    return Amendment(subjects, applies_from or effective, explicit)


def _bigrams(text: str) -> set[str]:
    runs = re.findall(r"[\u4e00-\u9fff]+", _GENERIC.sub(" ", text))
    return {run[i:i + 2] for run in runs for i in range(len(run) - 1)}


def _share(subject_pairs: set[str], title_pairs: set[str], least_share: float = 0.5) -> bool:
    shared = subject_pairs & title_pairs
    return len(shared) >= 2 and len(shared) >= least_share * len(subject_pairs)


def names_subject(title: str, subject: str) -> bool:
    """Does a document title name what `subject` is about: at least half of the subject's
    character pairs (and two of them) are in the title."""
    return _share(_bigrams(subject), _bigrams(title))


def _date(doc: dict[str, Any]) -> str:
    return doc.get("amend_from") or doc.get("effective") or doc.get("published") or doc.get("written") or ""


def link_amendments(documents: list[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """{doc_id: {"amends": [...], "amended_by": [...]}} for every document given. Each document is
    a payload with doc_id, title, published/effective dates, programmes, amend_subjects, amend_from
    and amend_explicit. A document that says it changes something amends an earlier one of its
    programme or whose title names a subject it changes; a notice of standards amends an earlier
    one of its programme. Candidates come from an index of programmes and title character pairs,
    so a large corpus is not compared pair by pair."""
    links: dict[str, dict[str, list[str]]] = {d["doc_id"]: {"amends": [], "amended_by": []} for d in documents}
    by_id = {d["doc_id"]: d for d in documents}
    title_pairs = {d["doc_id"]: _bigrams(d.get("title") or "") for d in documents}
    by_pair: dict[str, set[str]] = {}
    by_programme: dict[str, set[str]] = {}
    for doc_id, pairs in title_pairs.items():
        for pair in pairs:
            by_pair.setdefault(pair, set()).add(doc_id)
        for programme in by_id[doc_id].get("programmes") or []:
            by_programme.setdefault(programme, set()).add(doc_id)
    for newer in documents:
        subjects = newer.get("amend_subjects") or []
        if not subjects:
            continue
        candidates = set().union(*(by_programme.get(p, set()) for p in newer.get("programmes") or []))
        if newer.get("amend_explicit"):
            for subject in subjects:
                pairs = _bigrams(subject)
                near = set().union(*(by_pair.get(p, set()) for p in pairs)) if pairs else set()
                candidates |= {doc_id for doc_id in near if _share(pairs, title_pairs[doc_id])}
        newer_date = newer.get("published") or _date(newer)
        for doc_id in candidates - {newer["doc_id"]}:
            older = by_id[doc_id]
            older_date = older.get("published") or older.get("effective") or older.get("written") or ""
            if older_date and newer_date and older_date < newer_date:
                links[newer["doc_id"]]["amends"].append(doc_id)
                links[doc_id]["amended_by"].append(newer["doc_id"])
    for relation in links.values():
        relation["amends"].sort()
        relation["amended_by"].sort()
    return links
