"""Where a ticket is about: district and street (gazetteer), residential compounds and roads
(patterns), so that the local government can be suggested as co-handler and agents see the place."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.domain import DISTRICTS
from app.routing.catalogue import gazetteer

_SUFFIX = "(?:街道|镇|乡|地区)"
_COMPOUND = re.compile(r"([\u4e00-\u9fa5A-Za-z0-9]{2,10}?(?:小区|家园|花园|公寓|社区|新村))")
_ROAD = re.compile(r"([\u4e00-\u9fa5]{1,8}?(?:大街|胡同|大道|路|街(?!道)|桥))(?:[0-9一二三四五六七八九十]+号)?")
# what precedes a name in a run of Chinese characters but is not part of it
_LEAD = re.compile("^.*?(?:在|于|的|到|住|是|我|位于|附近|门口|旁边|" + "|".join(DISTRICTS)
                   + r"|[\u4e00-\u9fa5]{2,4}(?:街道|镇|乡|地区)|[市县区])")


@dataclass
class Places:
    district: str | None = None
    street: str | None = None
    compounds: list[str] = field(default_factory=list)
    roads: list[str] = field(default_factory=list)


def _clean(name: str) -> str:
    stripped = name
    while True:  # "附近的工体北路": strip "附近", then "的"
        shorter = _LEAD.sub("", stripped, count=1)
        if shorter == stripped or len(shorter) < 3:
            return stripped
        stripped = shorter


def find_places(text: str, address: str | None = None) -> Places:
    """The address, when given, is searched first: it is what the agent confirmed."""
    source = f"{address or ''}\n{text}"
    found = Places()
    for district in DISTRICTS:
        at = source.find(district)
        if at >= 0 and (found.district is None or at < source.find(found.district)):
            found.district = district
    streets = gazetteer()
    candidates = []
    for district, names in streets.items():
        for name in names:
            for match in re.finditer(re.escape(name) + f"({_SUFFIX})?", source):
                # a bare two-character name ("城北", "光明") is too common a word to be a place
                if match.group(1) or len(name) >= 3:
                    candidates.append((match.start(), -len(match.group(0)), district, name + (match.group(1) or "")))
    if candidates:
        preferred = [c for c in candidates if c[2] == found.district] or candidates
        _, _, district, street = min(preferred)
        found.street, found.district = street, found.district or district
    found.compounds = list(dict.fromkeys(_clean(m.group(1)) for m in _COMPOUND.finditer(source)))[:5]
    found.roads = list(dict.fromkeys(_clean(m.group(1)) for m in _ROAD.finditer(source)
                                     if len(_clean(m.group(1))) >= 3))[:5]
    return found
