"""Short names a document defines for itself: "为进一步完善我市城乡居民最低生活保障（以下简称城乡低保）",
"公共租赁住房（以下简称“公租房”）", "（简称一致性评价，下同）".

A Chinese short name takes characters of the full name in order (城乡居民最低生活保障 → 城乡低保), so
the full name is the shortest end of the text before the parenthesis that holds the short name's
characters in order, widened to the start of the word its first character belongs to (最低, not
低). A "short name" that is not such an abbreviation is a definition ("下列残疾人（以下简称个体就业残疾人）")
or a self-reference ("《…》（以下简称《办法》）") and is not a synonym: it is left out. So is a short
name that is just a piece of the full name ("本专科生国家助学金（以下简称国家助学金）"): the search
finds it anyway.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_DEFINITION = re.compile(r"[（(][^（()）]{0,12}?(?:以下)?简称(?:为)?[“\"《]?([^”\"》（()）,，;；]{2,12})[”\"》]?(?:[,，;；][^（()）]{0,8})?[）)]")
# where the full name cannot reach past
_CLAUSE_BREAK = re.compile(r"[，。；：、,;:“”\"《》（）()\n]")
_GENERIC = {"本办法", "办法", "本细则", "细则", "通知", "意见", "方案", "规定", "决定", "本规定", "本意见", "本方案"}
MAX_FULL_CHARS = 24


def _in_order(short: str, text: str) -> int | None:
    """Position in `text` of the short name's first character, matching its characters in order
    from the end (the nearest full name), or None."""
    pos = len(text)
    for ch in reversed(short):
        pos = text.rfind(ch, 0, pos)
        if pos == -1:
            return None
    return pos


def find_aliases(body: str, segment: Callable[[str], list[str]]) -> list[tuple[str, str]]:
    """(short name, full name) pairs defined in `body`. `segment` cuts text into words (jieba)."""
    pairs: dict[str, str] = {}
    for match in _DEFINITION.finditer(body):
        short = match.group(1).strip()
        if short in _GENERIC or not re.fullmatch(r"[\u4e00-\u9fff]{2,12}", short):
            continue
        before = body[max(0, match.start() - 60):match.start()]
        clause = _CLAUSE_BREAK.split(before)[-1]
        first = _in_order(short, clause)
        if first is None:
            continue
        # widen to the start of the word holding the first character
        offset = 0
        for word in segment(clause):
            if offset <= first < offset + len(word):
                first = offset
                break
            offset += len(word)
        full = clause[first:].strip()
        if short in full or not (len(short) < len(full) <= MAX_FULL_CHARS):
            continue
        pairs.setdefault(short, full)
    return sorted(pairs.items())
