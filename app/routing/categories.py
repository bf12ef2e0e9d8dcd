"""The hotline's own category tree (policies/hotline/categories.yml) and who leads each category
under 接诉即办: the street or town where the matter is (属地), a municipal body, a utility or the
district. A category's label is "level 1/level 2" ("住房/物业管理"): the category model's classes
when it is trained on the project's tickets (policies/hotline/tickets/).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from app.routing.catalogue import HOTLINE, Taxonomy, departments
from app.routing.places import Places

CATEGORIES = HOTLINE / "categories.yml"
SEPARATOR = "/"


@dataclass(frozen=True)
class HotlineCategory:
    level1: str
    level2: str
    lead: str  # street | district | department:<id> | utility:<id>
    co: tuple[str, ...]
    description: str

    @property
    def label(self) -> str:
        return f"{self.level1}{SEPARATOR}{self.level2}"


@dataclass(frozen=True)
class CategoryTree:
    version: str
    categories: dict[str, HotlineCategory]  # by label

    def __contains__(self, label: str) -> bool:
        return label in self.categories

    def __getitem__(self, label: str) -> HotlineCategory:
        return self.categories[label]

    def taxonomy(self) -> Taxonomy:
        """The tree as the category model's prior: one class per level-2 category, its description's
        items as leaves ("住房/物业管理" → 物业管理 → 物业服务, 物业收费, …)."""
        return Taxonomy({c.label: {c.level2: [item for item in c.description.split("、") if item]}
                         for c in self.categories.values()})

    def lead_rules(self) -> dict[str, str]:
        """Each category's lead rule: what the category model's confidence is calibrated on."""
        return {label: c.lead for label, c in self.categories.items()}

    @staticmethod
    def handler(rule: str, place: Places) -> str | None:
        """The handler id a lead or co rule names for a ticket at `place`; None when the rule needs
        a place the ticket does not give. A local matter without a known street goes to its district."""
        if rule == "street":
            if place.street_code:
                return f"street:{place.street_code}"
            return f"district:{place.district}" if place.district else None
        if rule == "district":
            return f"district:{place.district}" if place.district else None
        return rule.split(":", 1)[1]


def split_label(label: str) -> tuple[str, str | None]:
    level1, _, level2 = label.partition(SEPARATOR)
    return level1, level2 or None


@lru_cache(maxsize=4)
def load_categories(path: Path = CATEGORIES) -> CategoryTree:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    known = departments()
    categories: dict[str, HotlineCategory] = {}
    for level1, subtree in (data.get("categories") or {}).items():
        for level2, item in (subtree or {}).items():
            if SEPARATOR in level1 + level2:
                raise ValueError(f"{path}: {level1} › {level2}: a name may not hold {SEPARATOR!r}")
            category = HotlineCategory(str(level1), str(level2), str(item["lead"]),
                                       tuple(str(c) for c in item.get("co") or ()), str(item.get("description", "")))
            for rule in (category.lead, *category.co):
                if rule not in ("street", "district") and not (
                        rule.partition(":")[0] in ("department", "utility") and rule.partition(":")[2] in known):
                    raise ValueError(f"{path}: {category.label}: {rule!r} is neither street, district nor "
                                     "department:/utility: with an id of departments.yml")
            categories[category.label] = category
    if len(categories) < 2:
        raise ValueError(f"{path}: no categories")
    return CategoryTree(str(data.get("version", "")), categories)
