"""Mask Chinese personal data before a question or ticket is stored or sent to a model.

身份证号 only with a valid checksum (GB 11643), bank cards only when the Luhn check passes, so that
policy numbers (文号, amounts, dates, 12345) are left alone. Masks name the kind ("[身份证号]") so a
reader of the audit log still understands the question.

Numbers are found however they are typed: full-width digits and letters ("１３８…") are read as
ASCII, characters of zero width put between digits are dropped, and an ID number may be split by
spaces or hyphens where people split it ("110105 194912 31002X", "110105-19491231-002X"). Only those
characters are changed; the rest of the text is left as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

_S = "[ -]?"  # one space or hyphen, where people split an ID number: 6-8-4, 6-6-6, 6-4-2-2-4
_ID_CARD = re.compile(rf"(?<![0-9A-Za-z])([1-9]\d{{5}}{_S}(?:18|19|20)\d{{2}}{_S}(?:0[1-9]|1[0-2]){_S}"
                      rf"(?:0[1-9]|[12]\d|3[01]){_S}\d{{3}}[0-9Xx])(?![0-9A-Za-z])")
# full-width digits, letters and the signs numbers are written with → ASCII; zero-width characters → dropped
_NARROW = {**{0xFF10 + i: 0x30 + i for i in range(10)}, **{0xFF21 + i: 0x41 + i for i in range(26)},
           **{0xFF41 + i: 0x61 + i for i in range(26)}, 0xFF0B: ord("+"), 0xFF0D: ord("-"), 0xFF20: ord("@"),
           0xFF0E: ord("."), 0x3000: ord(" "), **{c: None for c in (0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF)}}
_BANK_CARD = re.compile(r"(?<![0-9])((?:\d{4}[ -]?){3,4}\d{1,4})(?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[ -]?)?(1[3-9]\d[ -]?\d{4}[ -]?\d{4})(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])(?:\(0\d{2,3}\)|（0\d{2,3}）|0\d{2,3}[ -])\d{7,8}(?:-\d{1,5})?(?![0-9])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PLATE = re.compile(
    r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-HJ-NP-Z][·• ]?[A-HJ-NP-Z0-9]{4,5}[A-HJ-NP-Z0-9挂学警港澳]?(?![A-Za-z0-9])"
)

# a house number: digits with the units of a Beijing address ("30号院5号楼2单元301室"); at least one
# unit that only a dwelling has, so "15号" (a 文号), "3号线", "12楼" or "3室1厅" stay
_HOUSE = re.compile(r"(?:[0-9]+(?:号院|号楼|栋|幢|座|单元|层|室|号房|户|号)){1,6}")
_DWELLING = re.compile(r"号楼|栋|幢|单元|[0-9]{3,}(?:室|号房|户)")  # a room: 301室, not a layout (3室1厅)

LABELS = {"id_card": "[身份证号]", "bank_card": "[银行卡号]", "mobile": "[手机号]", "landline": "[电话]",
          "email": "[邮箱]", "plate": "[车牌号]", "house_number": "[门牌号]", "name": "[姓名]"}


@dataclass
class MaskResult:
    text: str
    found: dict[str, int]  # kind → how many were masked

    @property
    def any(self) -> bool:
        return bool(self.found)


def valid_id_card(number: str) -> bool:
    number = re.sub(r"[ -]", "", number)
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == number[17].upper()


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


# a person's name where the text says it is one — "我叫张伟", "姓名：李秀英", "联系人王强", "刘建国先生" —
# with a common surname first. Part-of-speech tagging (jieba's `nr`) was measured and dropped: it tags
# 孤儿, 养老, 康复 as names in a fifth of the residents' questions, and masking those would empty the
# question; a name said without a cue is left (documented in docs/privacy.md)
_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
             "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
             "常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴"
             "霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑"
             "景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝")
_NAME_CUE = re.compile(rf"((?:我叫|我的名字是|名字叫|姓名[：:是为]?|联系人[：:是为]?|来电人[：:是为]?|申请人[：:是为]?|"
                       rf"本人|家属|业主|患者)\s*)([{_SURNAMES}][\u4e00-\u9fff]{{1,2}}?)(?=[，,。；;、的\s（(]|$|[0-9]|先生|女士|"
                       rf"身份|电话|手机|住|家住|是)")
_NAME_TITLE = re.compile(rf"(?<![\u4e00-\u9fff])([{_SURNAMES}][\u4e00-\u9fff]{{1,2}})(先生|女士|小姐)")


def mask_personal_data(text: str) -> MaskResult:
    found: dict[str, int] = {}
    text = text.translate(_NARROW)

    def replace(kind: str, pattern: re.Pattern[str], text: str, check=None) -> str:
        def sub(match: re.Match[str]) -> str:
            if check is not None and not check(match.group(1) if match.groups() else match.group(0)):
                return match.group(0)
            found[kind] = found.get(kind, 0) + 1
            return LABELS[kind]

        return pattern.sub(sub, text)

    # order matters: an 18-digit ID could also pass Luhn; an e-mail can hold digits
    text = replace("email", _EMAIL, text)
    text = replace("id_card", _ID_CARD, text, valid_id_card)
    text = replace("bank_card", _BANK_CARD, text, lambda s: 16 <= len(re.sub(r"\D", "", s)) <= 19
                   and luhn_ok(re.sub(r"\D", "", s)))
    text = replace("mobile", _MOBILE, text)
    text = replace("landline", _LANDLINE, text)
    text = replace("plate", _PLATE, text)
    text = replace("house_number", _HOUSE, text, lambda s: bool(_DWELLING.search(s)))

    def name(match: re.Match[str], keep: int) -> str:
        found["name"] = found.get("name", 0) + 1
        return (match.group(1) if keep == 1 else "") + LABELS["name"] + (match.group(2) if keep == 2 else "")

    text = _NAME_CUE.sub(lambda m: name(m, 1), text)
    text = _NAME_TITLE.sub(lambda m: name(m, 2), text)
    return MaskResult(text, found)
