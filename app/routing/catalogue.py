"""What the router knows about handlers: the department catalogue
(policies/hotline/*.yml, data with sources), how departments are ranked (policies/hotline/ranking.yml)
and the complaint taxonomy (an xlsx outside the repo).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from app.domain import DISTRICTS
from app.policy_data import POLICIES, hotline_departments

HOTLINE = POLICIES / "hotline"


@dataclass(frozen=True)
class Department:
    id: str
    name: str
    short: str
    kind: str  # municipal | district | utility | street (a street or town office, 街道办事处 / 乡镇政府)
    responsibilities: tuple[str, ...]
    keywords: tuple[str, ...]
    categories: tuple[str, ...]  # level-1 categories it usually leads
    source: str
    url: str | None = None
    parent: str | None = None

    @property
    def profile(self) -> str:
        """The text a ticket is compared with: name, responsibilities, keywords."""
        return f"{self.name}。{''.join(self.responsibilities)}{'、'.join(self.keywords)}"


def district_department(district: str) -> Department:
    return Department(id=f"district:{district}", name=f"北京市{district}人民政府", short=f"{district}政府",
                      kind="district", categories=(), keywords=(district,), source="qh",
                      responsibilities=(f"负责{district}行政区域内的属地管理，组织街道（乡镇）办理辖区内的市民诉求。",))


_STREET_OFFICE = {"街道": "办事处", "地区": "办事处", "镇": "人民政府", "乡": "人民政府"}


def street_departments() -> list[Department]:
    """Every street and town office of Beijing (policies/hotline/places/): under 接诉即办 they lead
    the local matters of their area (属地). Ids are `street:<9-digit division code>`."""
    from app.routing.places import beijing_places  # places reads HOTLINE from here

    places, out = beijing_places(), []
    for street in places.streets.values():
        office = next((office for suffix, office in _STREET_OFFICE.items() if street.name.endswith(suffix)), "")
        out.append(Department(
            id=f"street:{street.code}", name=f"{street.district}{street.name}{office}", short=street.name,
            kind="street", categories=(), keywords=(), source="places", parent=f"district:{street.district}",
            responsibilities=(f"负责{street.name}辖区的属地管理，办理派至{street.name}的市民诉求。",)))
    return out


@lru_cache(maxsize=1)
def departments() -> dict[str, Department]:
    out = {}
    for item in hotline_departments():
        dept = Department(id=item["id"], name=item["name"], short=item.get("short") or item["name"],
                          kind=item["kind"], responsibilities=tuple(item.get("responsibilities") or ()),
                          keywords=tuple(str(k) for k in item.get("keywords") or ()),
                          categories=tuple(item.get("categories") or ()),
                          source=item["source"], url=item.get("url"), parent=item.get("parent"))
        if dept.id in out:
            raise ValueError(f"departments.yml: duplicate id {dept.id}")
        out[dept.id] = dept
    for district in DISTRICTS:
        dept = district_department(district)
        out[dept.id] = dept
    for dept in street_departments():
        out[dept.id] = dept
    return out


SIGNALS = ("category", "keywords", "responsibilities", "decisions", "llm")


@dataclass(frozen=True)
class RankingPolicy:
    """policies/hotline/ranking.yml: each field is explained there."""

    weights: dict[str, float]
    keywords_for_full_signal: int
    responsibility_z_for_full_signal: float
    similar_tickets: int
    similar_tickets_shown: int
    precedent_min_similarity: float
    decisions_for_full_signal: int
    llm_candidates: int
    confidence_over: int
    confidence_sharpness: float
    lead_min_confidence: float
    co_handlers: int
    co_handler_min_share_of_lead: float
    policies_shown: int
    hot_topic_min_similarity: float
    hot_topic_min_tickets: int
    hot_topic_max_tickets: int


def load_ranking_policy(path: Path) -> RankingPolicy:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    names = set(RankingPolicy.__dataclass_fields__)
    missing, unknown = names - set(data), set(data) - names
    weights = data.get("weights") or {}
    if missing or unknown or set(weights) != set(SIGNALS):
        raise ValueError(f"{path}: missing {sorted(missing)}, unknown {sorted(unknown)}; weights must name "
                         f"exactly {', '.join(SIGNALS)} (found {', '.join(weights)})")
    if any(not isinstance(v, (int, float)) or v < 0 for v in [*weights.values(), *(
            data[k] for k in names - {"weights"})]):
        raise ValueError(f"{path}: weights and limits must be numbers ≥ 0")
    return RankingPolicy(**{**data, "weights": {k: float(v) for k, v in weights.items()}})


@dataclass
class Taxonomy:
    """The 3-level complaint category tree: level 1 → level 2 → [level 3]."""

    tree: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    @property
    def leaves(self) -> list[tuple[str, str, str]]:
        return [(a, b, c) for a, subtree in self.tree.items() for b, cs in subtree.items() for c in cs]

    def __bool__(self) -> bool:
        return bool(self.tree)


def load_taxonomy(path: Path | None) -> Taxonomy:
    """Reads the xlsx (columns 一级分类, 二级分类, 三级分类, header on the first row). A missing file
    gives an empty taxonomy: routing then works from the training messages alone."""
    if path is None or not path.exists():
        return Taxonomy()
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    finally:
        workbook.close()
    header = [str(c or "").strip() for c in rows[0]] if rows else []
    if header[:3] != ["一级分类", "二级分类", "三级分类"]:
        raise ValueError(f"{path}: expected the columns 一级分类, 二级分类, 三级分类, found {header[:3]}")
    tree: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    last = ["", ""]
    for row in rows[1:]:
        cells = [str(c).strip() if c is not None else "" for c in (list(row) + [None] * 3)[:3]]
        # merged cells come back empty below their first row: carry the level above down
        a, b, c = cells[0] or last[0], cells[1] or last[1], cells[2]
        if not (a and b):
            continue
        last = [a, b]
        if c and c not in tree[a][b]:
            tree[a][b].append(c)
        elif not c:
            tree[a][b]
    return Taxonomy({a: dict(sub) for a, sub in tree.items()})
