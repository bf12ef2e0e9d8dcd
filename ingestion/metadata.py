"""Document metadata from fields or from the text itself: 文号, dates, validity, level, issuer.

Formats differ by source: the 首都之窗 pages carry a `[发文字号] 京民社救发 〔2024〕 80号` block,
State Council JSON has `doc_number`, scraped HTML pages have nothing and the 文号 must be found in
the text. Everything here normalises to one spelling so that an exact 文号 lookup works.
"""

from __future__ import annotations

import datetime as dt
import re

from app.domain import (  # noqa: F401 — DOC_NUMBER_RE and normalize_doc_number are used and re-exported here
    DISTRICTS,
    DOC_NUMBER_RE,
    VALIDITY_AMENDED,
    VALIDITY_CURRENT,
    VALIDITY_EXPIRED,
    VALIDITY_REPEALED,
    VALIDITY_UNKNOWN,
    VALIDITIES,
    normalize_doc_number,
)

def find_doc_number(text: str, window: int = 600) -> str | None:
    """The document's own 文号: the first one in the head of the text that stands on its own line,
    else the first one at all. Cited 文号 further down ("根据…（京政发〔2005〕13号）") are not it."""
    head = text[:window]
    for line in head.splitlines():
        stripped = line.strip()
        match = DOC_NUMBER_RE.search(stripped)
        if match and len(stripped) <= 40 and match.start() <= 2:
            return normalize_doc_number(stripped)
    return None


_DATE_RE = re.compile(r"((?:19|20)\d{2})\s*[-年./]\s*(\d{1,2})\s*[-月./]\s*(\d{1,2})\s*日?")


def parse_date(raw: str | None) -> str | None:
    """ISO date from 2024-08-21, 2024年8月21日, 2024/8/21, 2024.8.21; None when absent or impossible."""
    if not raw:
        return None
    match = _DATE_RE.search(str(raw))
    if not match:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3))).isoformat()
    except ValueError:
        return None


_VALIDITY_WORDS = {
    "是": VALIDITY_CURRENT,
    "有效": VALIDITY_CURRENT,
    "现行有效": VALIDITY_CURRENT,
    "active": VALIDITY_CURRENT,
    "否": VALIDITY_EXPIRED,
    "失效": VALIDITY_EXPIRED,
    "已失效": VALIDITY_EXPIRED,
    "expired": VALIDITY_EXPIRED,
    "废止": VALIDITY_REPEALED,
    "已废止": VALIDITY_REPEALED,
    "repealed": VALIDITY_REPEALED,
    "修订": VALIDITY_AMENDED,
    "已修订": VALIDITY_AMENDED,
    "已修改": VALIDITY_AMENDED,
    "superseded": VALIDITY_AMENDED,
    "amended": VALIDITY_AMENDED,
}


def normalize_validity(raw: str | None, repealed_on: str | None = None, expires: str | None = None,
                     today: dt.date | None = None) -> str:
    """One of VALIDITIES. A 废止日期 in the past means 已废止; an end of validity in the past, 已失效."""
    today = today or dt.date.today()
    validity = _VALIDITY_WORDS.get((raw or "").strip().lower(), None)
    if validity is None and raw and raw.strip() in VALIDITIES:
        validity = raw.strip()
    if repealed_on and repealed_on <= today.isoformat():
        return VALIDITY_REPEALED
    if expires and expires < today.isoformat() and validity in (None, VALIDITY_CURRENT):
        return VALIDITY_EXPIRED
    return validity or VALIDITY_UNKNOWN


_NATIONAL = re.compile(r"^(国务院|中共中央|全国人大|国家|中华人民共和国|[\u4e00-\u9fa5]{1,8}部$|[\u4e00-\u9fa5]{1,8}部(办公厅)?$|最高人民)")
_DISTRICT = re.compile("|".join(DISTRICTS))


def infer_level(issuer: str | None, doc_number: str | None = None) -> str | None:
    text = issuer or ""
    if _DISTRICT.search(text):
        return "区级"
    if text.startswith("北京") or text.startswith("中共北京") or (doc_number or "").startswith("京"):
        return "市级"
    if _NATIONAL.search(text) or (doc_number or "").startswith(("国", "国办")):
        return "国家"
    return None


def infer_district(*texts: str | None) -> str | None:
    for text in texts:
        match = _DISTRICT.search(text or "")
        if match:
            return match.group(0)
    return None


def title_from_text(text: str, limit: int = 60) -> str:
    """The first paragraph when it is short enough to be a title, else the first clause of it."""
    lines = [line.strip() for line in text.strip().split("\n")[:4]]
    first = re.split(r"(?<=[^\x00-\x7f])\s+(?=[^\x00-\x7f])", lines[0], maxsplit=1)[0]
    # Printed titles wrap over lines: "…办公厅关于" / "印发《…的" / "若干措施》的通知".
    for line in lines[1:]:
        if _TITLE_END.search(first) or not line or len(line) > 30 or re.search(r"[。，；：]", line):
            break
        first += line
    if len(first) <= limit:
        return first
    clause = re.split(r"[。！？；]", first, maxsplit=1)[0]
    return clause[:limit]


_TITLE_END = re.compile(r"(通知|意见|办法|决定|规定|措施|方案|细则|批复|复函|函|公告|通告|条例|规则|规划|报告|答复|》)$")
