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
          "email": "[邮箱]", "plate": "[车牌号]", "house_number": "[门牌号]"}


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
    return MaskResult(text, found)
