"""The department catalogue, gazetteer, taxonomy reader and place finder."""

from __future__ import annotations

import openpyxl
import pytest

from app.domain import DISTRICTS
from app.routing.catalogue import departments, gazetteer, load_taxonomy
from app.routing.classifier import review_threshold
from app.routing.places import find_places
from tests.conftest import SHARED, requires_shared

import numpy as np

TAXONOMY = SHARED / "hotline" / "complaint-taxonomy.xlsx"
LEVEL1 = {"城乡建设", "农村农业", "政法", "教育文体", "劳动和社会保障", "民政", "党务政务", "经济管理", "卫生计生",
          "商贸旅游", "环境保护", "交通运输", "纪检监察", "国土资源", "科技与信息产业"}


def test_every_department_says_what_it_does_and_where_that_came_from():
    catalogue = departments()
    assert sum(d.kind == "municipal" for d in catalogue.values()) >= 30
    assert {d.id for d in catalogue.values() if d.kind == "district"} == {f"district:{x}" for x in DISTRICTS}
    for dept in catalogue.values():
        assert dept.responsibilities and dept.source in {"jgzn", "qlqd", "qh", "corp"}, dept.id
        assert set(dept.categories) <= LEVEL1, dept.id
        assert dept.parent is None or dept.parent in catalogue


def test_the_gazetteer_covers_the_16_districts():
    places = gazetteer()
    assert set(places) == set(DISTRICTS) and all(len(streets) >= 9 for streets in places.values())


@requires_shared(TAXONOMY)
def test_the_taxonomy_is_read_from_the_xlsx():
    taxonomy = load_taxonomy(TAXONOMY)
    assert set(taxonomy.tree) == LEVEL1
    assert sum(len(sub) for sub in taxonomy.tree.values()) == 118 and len(taxonomy.leaves) == 517


def test_a_taxonomy_with_other_columns_is_refused(tmp_path):
    path = tmp_path / "wrong.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["类别", "子类"])
    book.save(path)
    with pytest.raises(ValueError, match="一级分类, 二级分类, 三级分类"):
        load_taxonomy(path)
    assert not load_taxonomy(tmp_path / "missing.xlsx")  # absent: routing works without it


@pytest.mark.parametrize("text, district, street", [
    ("海淀区学院路街道某小区门口积水严重", "海淀区", "学院路街道"),
    ("我住在回龙观镇龙泽苑，垃圾站太臭", "昌平区", "回龙观镇"),
    ("朝阳区三里屯附近的工体北路噪音扰民", "朝阳区", "三里屯"),
    ("K8县冷江东路酒店外墙装修无人施工", None, None),
])
def test_places_are_found(text, district, street):
    found = find_places(text)
    assert (found.district, found.street) == (district, street)


def test_roads_and_compounds_are_named_without_their_surroundings():
    found = find_places("朝阳区三里屯附近的工体北路噪音扰民，丰台区方庄芳古园一区小区物业不作为")
    assert "工体北路" in found.roads and "方庄芳古园一区小区" in found.compounds


def test_the_review_threshold_keeps_only_what_is_reliably_right():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0, 1, 2000)
    correct = rng.uniform(0, 1, 2000) < confidence  # a calibrated model: right with probability = confidence
    threshold = review_threshold(confidence, correct, target=0.95)
    kept = confidence >= threshold
    assert correct[kept].mean() >= 0.95 and 0.05 < kept.mean() < 0.2
    assert review_threshold(confidence, np.zeros(2000, bool), 0.95) == 1.0
