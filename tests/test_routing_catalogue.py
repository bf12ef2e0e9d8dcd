"""The department catalogue, gazetteer, taxonomy reader and place finder."""

from __future__ import annotations

import openpyxl
import pytest

from app.domain import DISTRICTS
from app.routing.catalogue import departments, load_taxonomy
from app.routing.classifier import review_threshold
from app.routing.places import beijing_places, find_places
from tests.conftest import SHARED, requires_shared

import numpy as np

TAXONOMY = SHARED / "hotline" / "complaint-taxonomy.xlsx"
LEVEL1 = {"城乡建设", "农村农业", "政法", "教育文体", "劳动和社会保障", "民政", "党务政务", "经济管理", "卫生计生",
          "商贸旅游", "环境保护", "交通运输", "纪检监察", "国土资源", "科技与信息产业"}


def test_every_department_says_what_it_does_and_where_that_came_from():
    catalogue = departments()
    assert sum(d.kind == "municipal" for d in catalogue.values()) >= 30
    assert {d.id for d in catalogue.values() if d.kind == "district"} == {f"district:{x}" for x in DISTRICTS}
    streets = [d for d in catalogue.values() if d.kind == "street"]  # 接诉即办 dispatches to them
    assert len(streets) == 349 and all(d.parent in catalogue for d in streets)
    assert catalogue["street:110108010"].name == "海淀区学院路街道办事处"
    assert catalogue["street:110114002"].name == "昌平区南口地区办事处"
    for dept in catalogue.values():
        assert dept.responsibilities and dept.source in {"jgzn", "qlqd", "qh", "corp", "places"}, dept.id
        assert set(dept.categories) <= LEVEL1, dept.id
        assert dept.parent is None or dept.parent in catalogue


def test_the_places_are_all_of_beijings_streets_towns_and_communities():
    places = beijing_places()
    assert len(places.streets) == 349 and len(places.communities) == 7535
    assert {s.district for s in places.streets.values()} == set(DISTRICTS)
    assert all(len(places.streets_of(d)) >= 9 for d in DISTRICTS)
    assert all(code in places.streets for codes in places.street_names.values() for code in codes)


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


@pytest.mark.parametrize("text, district, street, code", [
    ("海淀区学院路街道某小区门口积水严重", "海淀区", "学院路街道", "110108010"),
    ("我住在回龙观龙泽苑，垃圾站太臭", "昌平区", "回龙观街道", "110114011"),
    ("朝阳区三里屯附近的工体北路噪音扰民", "朝阳区", "三里屯街道", "110105004"),
    ("昌平南口镇上的路灯坏了一排", "昌平区", "南口地区", "110114002"),  # callers say 镇 for the 地区
    ("望京这边小区门口天天堵车", "朝阳区", "望京街道", "110105026"),
    ("城北那边有人占道经营", None, None, None),  # a direction, not 昌平's 城北街道
    ("温泉水不热", None, None, None),  # a bare two-character name is too common a word ...
    ("朝阳管庄路口往东那段路面坑坑洼洼", "朝阳区", "管庄地区", "110105035"),  # ... after a district it is a place
    ("在花乡二手车市场买了辆车", "丰台区", "花乡街道", "110106018"),  # ... after 在
    ("东坝这边河边晚上有罐车排污水", "朝阳区", "东坝地区", "110105039"),  # ... before 这边
    ("我在密云宾阳里社区住", "密云区", "鼓楼街道", "110118001"),  # 密云 is the district, not 密云镇
    ("太保庄村进村那条路没有路灯", "密云区", "东邵渠镇", "110118113"),  # 太保庄村民委员会
    ("顺义马坡佳和宜园门口天天有货车", "顺义区", "马坡地区", "110113009"),  # 佳和宜园第一、第二…社区
    ("K8县冷江东路酒店外墙装修无人施工", None, None, None),
])
def test_streets_and_towns_are_found_as_callers_name_them(text, district, street, code):
    found = find_places(text)
    assert (found.district, found.street, found.street_code) == (district, street, code)


def test_a_community_names_its_street():
    found = find_places("多福巷社区楼道里堆满了杂物没人管")
    assert (found.community_code, found.street_code, found.district) == ("110101001001", "110101001", "东城区")
    assert found.community == "多福巷社区居委会" and found.street == "东华门街道"


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
