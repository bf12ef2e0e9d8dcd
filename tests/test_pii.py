"""Personal data is masked; policy numbers are not."""

import pytest

from app.security.pii import luhn_ok, mask_personal_data, valid_id_card

VALID_ID = "11010519491231002X"  # the GB 11643 example number


def test_id_card_checksum():
    assert valid_id_card(VALID_ID)
    assert not valid_id_card("110105194912310021")


@pytest.mark.parametrize("text,kind,label", [
    (f"我的身份证号是{VALID_ID}，能领低保吗", "id_card", "[身份证号]"),
    ("手机13812345678，请回电", "mobile", "[手机号]"),
    ("电话 +86 138-1234-5678", "mobile", "[手机号]"),
    ("座机010-12345678转2", "landline", "[电话]"),
    ("（010）87654321", "landline", "[电话]"),
    ("卡号6222 0202 0000 1234 562 补贴没到账", "bank_card", "[银行卡号]"),
    ("邮箱 zhang.san@example.com.cn", "email", "[邮箱]"),
    ("车牌京A·12345被贴条", "plate", "[车牌号]"),
    ("京AD12345 新能源", "plate", "[车牌号]"),
    # however people type them: split by spaces or hyphens, full-width, split by zero-width characters
    (f"身份证 {VALID_ID[:6]} {VALID_ID[6:12]} {VALID_ID[12:]}", "id_card", "[身份证号]"),
    (f"身份证{VALID_ID[:6]}-{VALID_ID[6:14]}-{VALID_ID[14:]}", "id_card", "[身份证号]"),
    ("手机１３８１２３４５６７８", "mobile", "[手机号]"),
    ("手机138\u200b1234\u200b5678", "mobile", "[手机号]"),
    (f"证件{VALID_ID[:9]}\ufeff{VALID_ID[9:]}", "id_card", "[身份证号]"),
    ("住在学院路30号院5号楼2单元301室，楼下漏水", "house_number", "[门牌号]"),
    ("望京西园3栋1202户", "house_number", "[门牌号]"),
])
def test_personal_data_is_masked(text, kind, label):
    result = mask_personal_data(text)
    assert result.found.get(kind) == 1, result
    assert label in result.text


def test_numbers_that_are_not_personal_stay():
    text = ("京民社救发〔2024〕80号规定低保标准为每人每月1450元，自2024年7月起施行，"
            "咨询请拨12345或110，文件索引号000014349/2019-00007，地铁3号线，住12楼，第5条，3室1厅，每户2人")
    result = mask_personal_data(text)
    assert result.text == text and not result.any


def test_invalid_id_and_card_numbers_are_left_alone():
    assert not mask_personal_data("编号110105194912310021").found.get("id_card")
    # … unless the text says it is an ID number: a caller's typo in the check digit still names a person
    said = mask_personal_data("身份证110105198003072816，证件号码：110105 19491231 0021")
    assert said.text == "身份证[身份证号]，证件号码：[身份证号]" and said.found == {"id_card": 2}
    assert not luhn_ok("6222020200001234567")
    assert not mask_personal_data("订单号6222020200001234567").found.get("bank_card")


def test_several_kinds_in_one_text():
    result = mask_personal_data(f"张先生，身份证{VALID_ID}，手机13912345678，邮箱a@b.cn")
    assert result.found == {"id_card": 1, "mobile": 1, "email": 1}
    assert "139" not in result.text and VALID_ID not in result.text


def test_names_are_masked_where_the_text_says_they_are_names():
    masked = mask_personal_data("我叫张伟，家属李秀英，刘建国先生反映，本人陈静家住朝阳区，申请人王强的材料").text
    assert masked == "我叫[姓名]，家属[姓名]，[姓名]先生反映，本人[姓名]家住朝阳区，申请人[姓名]的材料"
    # words a part-of-speech tagger takes for names (孤儿, 养老, 康复), and surnames alone, stay
    for kept in ("孤儿生活费多少", "社区养老助餐点", "残疾孩子康复补贴", "王先生反映楼道灯坏了", "请问王府井怎么走"):
        assert mask_personal_data(kept).text == kept
