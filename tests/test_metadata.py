"""文号, dates, validity and level as read from text and fields."""

import datetime as dt

import pytest

from app.domain import VALIDITY_AMENDED, VALIDITY_CURRENT, VALIDITY_EXPIRED, VALIDITY_REPEALED, VALIDITY_UNKNOWN
from ingestion.metadata import (
    find_doc_number,
    infer_level,
    normalize_doc_number,
    normalize_validity,
    parse_date,
    title_from_text,
)


@pytest.mark.parametrize("raw,expected", [
    ("京政办发〔2023〕15号", "京政办发〔2023〕15号"),
    ("国发[2019]5号", "国发〔2019〕5号"),
    ("国发［2019］5号", "国发〔2019〕5号"),
    ("京民社救发 〔2024〕 80号", "京民社救发〔2024〕80号"),
    ("\u200b京民社救发 (2024) 80号", "京民社救发〔2024〕80号"),
    ("京建法（2015）19 号", "京建法〔2015〕19号"),
    ("国办发明电〔2018〕15号", "国办发明电〔2018〕15号"),
    ("〔〕 号", None),
    ("", None),
    (None, None),
])
def test_doc_numbers_normalise_to_one_spelling(raw, expected):
    assert normalize_doc_number(raw) == expected


def test_own_doc_number_is_found_in_the_head_not_the_cited_ones():
    text = ("北京市民政局关于调整本市最低生活保障标准的通知\n京民社救发〔2024〕80号\n各区民政局：\n"
            "按照《关于建立本市城市居民最低生活保障标准调整机制意见的通知》（京政发〔2005〕13号）的规定……")
    assert find_doc_number(text) == "京民社救发〔2024〕80号"
    assert find_doc_number("按照（京政发〔2005〕13号）的规定，现通知如下。") is None


@pytest.mark.parametrize("raw,expected", [
    ("2024-08-21", "2024-08-21"), ("2024年8月21日", "2024-08-21"), ("2024/8/1", "2024-08-01"),
    ("2024.08.21", "2024-08-21"), ("", None), ("2024-02-30", None), (None, None),
])
def test_dates(raw, expected):
    assert parse_date(raw) == expected


def test_validity_from_fields_and_dates():
    today = dt.date(2026, 11, 26)
    assert normalize_validity("是", today=today) == VALIDITY_CURRENT
    assert normalize_validity("现行有效", today=today) == VALIDITY_CURRENT
    assert normalize_validity("否", today=today) == VALIDITY_EXPIRED
    assert normalize_validity("superseded", today=today) == VALIDITY_AMENDED
    assert normalize_validity("", today=today) == VALIDITY_UNKNOWN
    assert normalize_validity("是", repealed_on="2020-06-18", today=today) == VALIDITY_REPEALED
    assert normalize_validity("是", expires="2025-12-31", today=today) == VALIDITY_EXPIRED
    assert normalize_validity("是", expires="2026-12-31", today=today) == VALIDITY_CURRENT


def test_level_from_issuer():
    assert infer_level("国务院办公厅") == "国家"
    assert infer_level("北京市民政局") == "市级"
    assert infer_level("北京市朝阳区人民政府") == "区级"
    assert infer_level(None, "京建法〔2015〕19号") == "市级"


def test_wrapped_titles_are_joined():
    text = "北京市人民政府办公厅关于\n印发《北京市促进通用人工智能创新发展的\n若干措施》的通知\n京政办发〔2023〕15号"
    assert title_from_text(text) == "北京市人民政府办公厅关于印发《北京市促进通用人工智能创新发展的若干措施》的通知"
    assert title_from_text("多地多举措保障生活必需品供应 严打哄抬物价 新华社北京1月28日电") == "多地多举措保障生活必需品供应"
