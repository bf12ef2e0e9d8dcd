"""Where a ticket is about: district, street or town (街道/乡镇/地区) and community or village
(居委会/村委会), from Beijing's statistical division codes (policies/hotline/places/), plus the
residential compounds and roads a ticket names (patterns), so that the street can lead a local matter
(接诉即办's 属地) and agents see the place.

Callers name a street as the code list does ("学院路街道"), without its suffix ("在学院路"), with
another ("南口镇" for 南口地区), or not at all but by their community ("多福巷社区", "XX村",
"佳和宜园" for its 第一…第三社区); the district often without 区 ("朝阳管庄"). A two-character name
alone ("温泉", "前门") is too common a word to be a place: it counts with its suffix, when listed in
aliases.yml, or when the words around it make it one ("在花乡", "东坝这边", "通州北苑"). Where a
community's name recurs across Beijing, the district or street the ticket names decides, else the
name is left unplaced.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from app.domain import DISTRICTS
from app.routing.catalogue import HOTLINE

PLACES = HOTLINE / "places"
_STREET_SUFFIXES = ("街道", "地区", "镇", "乡")
_COMMUNITY_SUFFIXES = ("居民委员会", "村民委员会", "居委会", "村委会")
# a district as callers say it, without 区 ("朝阳管庄", "住在顺义"), unless it is part of another name
_DISTRICT_SHORT = {d[:-1]: d for d in DISTRICTS if len(d) >= 3}
_NOT_DISTRICT = re.compile("朝阳门|朝阳公园|朝阳医院|西城门|东城墙|大兴安岭|大兴胡同|通州路")
# a two-character street name alone is a common word ("温泉", "前门"); said as a place it comes
# after a district or 在/住, or before 这边/那边/一带…
_PLACE_BEFORE = ("在", "住", "到", "我们", "咱们")
_PLACE_AFTER = ("这边", "那边", "这片", "那片", "这儿", "那儿", "这里", "那里", "这块", "那块", "一带", "附近",
                "那段", "这段", "地区")
_ORDINAL = re.compile("第([一二三四五六七八九十]{1,2})社区$")
_COMPOUND = re.compile(r"([\u4e00-\u9fa5A-Za-z0-9]{2,10}?(?:小区|家园|花园|公寓|社区|新村))")
_SUFFIX = re.compile(r"(?:社区居委会|村委会|居委会|社区|街道办事处|街道|地区|镇|乡)$")  # what names end with, not what callers say
_ROAD = re.compile(r"([\u4e00-\u9fa5]{1,8}?(?:大街|胡同|大道|路(?![灯况])|街(?!道)|桥))(?:[0-9一二三四五六七八九十]+号)?")  # 路灯 is no road
# what precedes a name in a run of Chinese characters but is not part of it
_LEAD = re.compile("^.*?(?:在|于|的|到|住|是|我|位于|附近|门口|旁边|" + "|".join(DISTRICTS)
                   + r"|[\u4e00-\u9fa5]{2,4}(?:街道|镇|乡|地区)|[市县区])")
_LONGEST_NAME = 14


@dataclass(frozen=True)
class Street:
    code: str  # the 9-digit statistical division code
    name: str  # as the code list has it: 学院路街道, 南口地区, 长阳镇
    district: str


@dataclass(frozen=True)
class Community:
    code: str  # the 12-digit code
    name: str  # 多福巷社区居委会, 北七家村委会
    street_code: str


@dataclass
class Places:
    district: str | None = None
    street: str | None = None  # the street or town's name
    street_code: str | None = None
    community: str | None = None
    community_code: str | None = None
    compounds: list[str] = field(default_factory=list)
    roads: list[str] = field(default_factory=list)

    @staticmethod
    def said(place: "Places | dict | None") -> str | None:
        """"朝阳区 望京街道 望京西园" — the place as a reader of the audit log wants it (a stored suggestion
        holds it as a dict)."""
        if place is None:
            return None
        get = place.get if isinstance(place, dict) else lambda name: getattr(place, name)
        parts = [get("district"), get("street"), *(get("compounds") or [])[:1]]
        return " ".join(p for p in parts if p) or None

    def removed_from(self, text: str) -> str:
        """The text without the names of this place (望京西园三区 of 望京西园三区社区居委会 too): what is
        left says what the matter is, not where."""
        names = [self.district, self.street, self.community, *self.compounds, *self.roads]
        names += [_SUFFIX.sub("", n) for n in names if n]
        for name in sorted({n for n in names if n and len(n) >= 2}, key=len, reverse=True):
            text = text.replace(name, "")
        return text


@dataclass
class Gazetteer:
    streets: dict[str, Street]
    communities: dict[str, Community]
    street_names: dict[str, set[str]]  # a name callers use → street codes
    short_street_names: dict[str, set[str]]  # two-character names without suffix: places only in context
    community_names: dict[str, set[str]]  # … → community codes
    source: str = ""

    def streets_of(self, district: str) -> list[Street]:
        return [s for s in self.streets.values() if s.district == district]


def _street_base(name: str) -> str:
    return next((name[:-len(s)] for s in _STREET_SUFFIXES if name.endswith(s) and len(name) > len(s) + 1), name)


def _street_aliases(name: str) -> set[str]:
    base = _street_base(name)
    names = {name, *(base + s for s in _STREET_SUFFIXES)}
    if len(base) >= 3:
        names.add(base)
    return names


def _community_aliases(name: str) -> set[str]:
    """多福巷社区居委会 → 多福巷社区, 多福巷; 太保庄村民委员会 → 太保庄村, 太保庄; 佳和宜园第一社区居民
    委员会 → 佳和宜园一区, 佳和宜园 (the last shared by its sister communities: it finds their street)."""
    names = {name}
    for suffix in _COMMUNITY_SUFFIXES:
        if name.endswith(suffix):
            short = name[:-len(suffix)]
            names.add(short)
            if suffix.startswith("村") and not short.endswith("村"):
                names.add(short + "村")
    for kept in list(names):
        ordinal = _ORDINAL.search(kept)
        if ordinal:
            base = kept[:ordinal.start()]
            names.update({base, f"{base}{ordinal.group(1)}区"})
        elif kept.endswith("社区") and len(kept) - 2 >= 3:
            names.add(kept[:-2])
    return {n for n in names if len(n) >= 3}


@lru_cache(maxsize=1)
def beijing_places(folder: Path = PLACES) -> Gazetteer:
    """The streets, towns, communities and villages of Beijing with the names callers use for them
    (policies/hotline/places/: streets.csv, communities.csv, aliases.yml)."""
    with (folder / "streets.csv").open(encoding="utf-8") as handle:
        streets = {r["code"]: Street(r["code"], r["name"], r["district"]) for r in csv.DictReader(handle)}
    with (folder / "communities.csv").open(encoding="utf-8") as handle:
        communities = {r["code"]: Community(r["code"], r["name"], r["street_code"]) for r in csv.DictReader(handle)}
    unknown = {s.district for s in streets.values()} - set(DISTRICTS)
    if unknown or any(c.street_code not in streets for c in communities.values()):
        raise ValueError(f"{folder}: places outside Beijing's districts or streets ({sorted(unknown)})")
    street_names: dict[str, set[str]] = {}
    short_street_names: dict[str, set[str]] = {}
    for street in streets.values():
        for alias in _street_aliases(street.name):
            street_names.setdefault(alias, set()).add(street.code)
        base = _street_base(street.name)
        # "密云" is the district first; "城北" a direction before it is a place
        if len(base) == 2 and base not in _DISTRICT_SHORT and not re.fullmatch("城[东南西北]|[东南西北]城", base):
            short_street_names.setdefault(base, set()).add(street.code)
    community_names: dict[str, set[str]] = {}
    for community in communities.values():
        for alias in _community_aliases(community.name):
            community_names.setdefault(alias, set()).add(community.code)
    aliases = yaml.safe_load((folder / "aliases.yml").read_text(encoding="utf-8")) if (folder / "aliases.yml").exists() else {}
    for alias, code in (aliases.get("streets") or {}).items():
        if str(code) not in streets:
            raise ValueError(f"{folder}/aliases.yml: {alias} → {code} is not a street code")
        street_names.setdefault(alias, set()).add(str(code))
    return Gazetteer(streets, communities, street_names, short_street_names, community_names,
                     aliases.get("source", ""))


def _clean(name: str) -> str:
    stripped = name
    while True:  # "附近的工体北路": strip "附近", then "的"
        shorter = _LEAD.sub("", stripped, count=1)
        if shorter == stripped or len(shorter) < 3:
            return stripped
        stripped = shorter


def _mentions(text: str, names: dict[str, set[str]]) -> list[tuple[int, int, set[str]]]:
    """(start, length, codes) of every name of `names` in the text, longest first at each start."""
    found = []
    for start in range(len(text)):
        for length in range(min(_LONGEST_NAME, len(text) - start), 1, -1):
            codes = names.get(text[start:start + length])
            if codes:
                found.append((start, length, codes))
                break
    return found


def _district(source: str) -> str | None:
    """The district named first: in full ("朝阳区"), else as callers shorten it ("朝阳管庄")."""
    full = [(source.find(d), d) for d in DISTRICTS if d in source]
    if full:
        return min(full)[1]
    cleaned = _NOT_DISTRICT.sub("", source)
    short = [(cleaned.find(s), d) for s, d in _DISTRICT_SHORT.items() if s in cleaned]
    return min(short)[1] if short else None


def _said_as_place(text: str, names: dict[str, set[str]]) -> list[tuple[int, int, set[str]]]:
    """Two-character street names where the words around them make them a place: after a district
    or 在/住/我们, or before 这边/那边/一带… ("朝阳管庄", "在花乡", "东坝这边")."""
    found = []
    before = tuple(_PLACE_BEFORE) + tuple(DISTRICTS) + tuple(_DISTRICT_SHORT)
    for start in range(len(text) - 1):
        codes = names.get(text[start:start + 2])
        if codes and (text[:start].endswith(before) or text[start + 2:].startswith(_PLACE_AFTER)):
            found.append((start, 2, codes))
    return found


def find_places(text: str, address: str | None = None, gazetteer: Gazetteer | None = None) -> Places:
    """The address, when given, is searched first: it is what the agent confirmed."""
    places = gazetteer or beijing_places()
    source = f"{address or ''}\n{text}"
    found = Places()
    found.district = _district(source)
    street_mentions = _mentions(source, places.street_names) + _said_as_place(source, places.short_street_names)
    community_mentions = _mentions(source, places.community_names)

    def fits(street_code: str) -> bool:
        return found.district is None or places.streets[street_code].district == found.district

    # a street named outright, the earliest and longest that fits the district (a bare two-character
    # name only when no longer one does)
    for _, _, codes in sorted(street_mentions, key=lambda m: (m[1] == 2, m[0], -m[1])):
        fitting = [c for c in codes if fits(c)]
        if len(fitting) == 1:
            found.street_code = fitting[0]
            break
    # a community, in the street found or (when none) one only it can be
    for _, _, codes in sorted(community_mentions, key=lambda m: (-m[1], m[0])):
        fitting = [c for c in codes if (found.street_code is None and fits(places.communities[c].street_code))
                   or places.communities[c].street_code == found.street_code]
        if len(fitting) == 1:
            found.community_code = fitting[0]
            found.street_code = found.street_code or places.communities[fitting[0]].street_code
            break
        streets_of_fitting = {places.communities[c].street_code for c in fitting}
        if found.street_code is None and len(streets_of_fitting) == 1:
            found.street_code = streets_of_fitting.pop()  # sister communities (佳和宜园第一、第二社区): one street
    if found.street_code:
        street = places.streets[found.street_code]
        found.street, found.district = street.name, found.district or street.district
    if found.community_code:
        found.community = places.communities[found.community_code].name
    found.compounds = list(dict.fromkeys(_clean(m.group(1)) for m in _COMPOUND.finditer(source)))[:5]
    found.roads = list(dict.fromkeys(_clean(m.group(1)) for m in _ROAD.finditer(source)
                                     if len(_clean(m.group(1))) >= 3))[:5]
    return found
