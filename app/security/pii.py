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

import yaml

from app.config import REPO_ROOT

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

_S = "[ -]?"  # one space or hyphen, where people split an ID number: 6-8-4, 6-6-6, 6-4-2-2-4
_ID_BODY = rf"[1-9]\d{{5}}{_S}(?:18|19|20)\d{{2}}{_S}(?:0[1-9]|1[0-2]){_S}(?:0[1-9]|[12]\d|3[01]){_S}\d{{3}}[0-9Xx]"
_ID_CARD = re.compile(rf"(?<![0-9A-Za-z])({_ID_BODY})(?![0-9A-Za-z])")
# full-width digits, letters and the signs numbers are written with → ASCII; zero-width characters → dropped
_NARROW = {**{0xFF10 + i: 0x30 + i for i in range(10)}, **{0xFF21 + i: 0x41 + i for i in range(26)},
           **{0xFF41 + i: 0x61 + i for i in range(26)}, 0xFF0B: ord("+"), 0xFF0D: ord("-"), 0xFF20: ord("@"),
           0xFF0E: ord("."), 0x3000: ord(" "), **{c: None for c in (0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF)}}
_BANK_CARD = re.compile(r"(?<![0-9])((?:\d{4}[ -]?){3,4}\d{1,4})(?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[ -]?)?(1[3-9]\d[ -]?\d{4}[ -]?\d{4})(?![0-9])")
# with its area code, however split: 010-6512 3456, (010)65123456, 010 6512-3456, 01065123456
_LANDLINE = re.compile(r"(?<![0-9])(?:\(0\d{2,3}\) ?|（0\d{2,3}） ?|0\d{2,3}[ \-—–]?)\d{3,4}[ \-—–]?\d{4}(?:[-转]\d{1,5})?(?![0-9])")
# a local number (7 or 8 digits) where the text says it is one: "电话 65123456", "座机：8456 7788"
_LOCAL_NUMBER = re.compile(r"((?:电话|座机|固话|号码|联系方式|致电|拨打|打给)(?:号码|号|是|为|：|:|\s)*)(\d{3,4}[ -]?\d{4})(?![0-9])")
# an ID number where the text says it is one, its check digit wrong or not (a caller's typo still names a person)
_CUED_ID_CARD = re.compile(rf"((?:身份证|证件|公民身份)(?:号码|号|是|为|：|:|\s)*)({_ID_BODY})(?![0-9A-Za-z])")
# a 15-digit ID of the old form: area, birth date YYMMDD, sequence (no check digit to test)
_OLD_ID_CARD = re.compile(r"(?<![0-9A-Za-z])[1-8]\d{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}(?![0-9A-Za-z])")
# numbers said in Chinese numerals, alone or mixed with digits ("一三八一二三四五六七八", "138一二三四5678"):
# a run of seven or more is read as digits and masked when it is a mobile, an ID or a phone number
_CN_DIGIT = "〇零一二三四五六七八九幺"
_CN_RUN = re.compile(rf"[0-9{_CN_DIGIT}](?:[ -]?[0-9{_CN_DIGIT}]){{6,}}")
_CN_TO_DIGIT = str.maketrans(_CN_DIGIT, "001234567891")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PLATE = re.compile(
    r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-HJ-NP-Z][·• ]?[A-HJ-NP-Z0-9]{4,5}[A-HJ-NP-Z0-9挂学警港澳]?(?![A-Za-z0-9])"
)

# a house number: digits with the units of a Beijing address ("30号院5号楼2单元301室"); at least one
# unit that only a dwelling has, so "15号" (a 文号), "3号线", "12楼" or "3室1厅" stay
_HOUSE = re.compile(r"(?:[0-9]+(?:号院|号楼|栋|幢|座|单元|门|排|层|室|号房|户|号)){1,6}(?:[0-9]{3,4}(?![0-9]))?")
_DWELLING = re.compile(r"号楼|栋|幢|单元|排|[0-9]{3,}(?:室|号房|户)|门[0-9]{3,}")  # a room: 301室, not 3室1厅
# a number on a street, lane or hutong: 建国路甲88号, 东四十条胡同23号2排5号, 南锣鼓巷59号院3号
_STREET_NUMBER = re.compile(r"(?<=[路街巷同条里弄])[甲乙丙丁]?[0-9]+号(?:院|楼)?(?:[0-9]+(?:号楼|栋|幢|单元|门|排|层|室|号房|户|号))*(?:(?<=门)[0-9]{3,4}(?![0-9]))?")

# what masking leaves in a text ("[姓名]", "[手机号]"), for readers that must skip it: never a subject or a keyword
MASKED = re.compile(r"\[[^\[\]]{1,8}\]")

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
             "景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
             "傅阎蔺冼匡贝戈谈揭萧")
# the words before a name and the titles after one: policies/privacy/names.yml
_NAMES = yaml.safe_load((REPO_ROOT / "policies" / "privacy" / "names.yml").read_text(encoding="utf-8"))
_NAME_CUE = re.compile("(?:" + "|".join(sorted(map(re.escape, _NAMES["before"]), key=len, reverse=True)) +
                       rf"|我姓[{_SURNAMES}]叫?)[：:是为]?\s*(?=[{_SURNAMES}])")
# a word that ends a two-character name when it follows at once ("傅强经常…", "王强的儿子")
_ENDS_NAME = set("的在和与跟说是也已要想称替听开让给对向被把从于今住家因就都还才又再很不没了着过吗呢吧啊")
# what follows the name of a place, not a person: "我是佟馨家园北里社区的"
_PLACE_AFTER = re.compile(r"家园|小区|社区|花园|公寓|大厦|园区|新村|北里|南里|东里|西里|[村镇苑园里路街巷区]")
_NAME_TITLE = re.compile("(?=" + "|".join(map(re.escape, _NAMES["after"])) + ")")


def _name_at(text: str, at: int) -> int:
    """The length of the name that starts at `at` (a surname): 0 when it is a word of the dictionary
    (党员, 高龄, 方式), else two characters or three — two where the third starts a word of its own."""
    two, three = text[at:at + 2], text[at:at + 3]
    if len(two) < 2 or not "\u4e00" <= two[1] <= "\u9fff" or two[1] in _ENDS_NAME or _a_word(two):
        return 0  # "房要交回去": a surname's character before a word, not a name
    if len(three) < 3 or not "\u4e00" <= three[2] <= "\u9fff" or three[2] in _ENDS_NAME:
        length = 2
    elif _a_word(text[at + 2:at + 4]) or _a_word(three):
        length = 2
    else:
        length = 3
    if _PLACE_AFTER.match(text, at + length) or (length == 3 and _PLACE_AFTER.match(text, at + 2)):
        return 0  # a compound's name (佟馨家园, 金榜园): a place, not a person
    return length


def _a_word(candidate: str) -> bool:
    """A common word of the dictionary that is neither a name nor a place (党员, 农民工, 高龄, 方式): after 我是
    it says who, not which person. Names' first characters often make rare words (杨淑, 苏建) or places
    (韩国庆, 江海燕): those are not words here."""
    import jieba

    tag, frequency = _word_tags().get(candidate), jieba.dt.FREQ.get(candidate) or 0
    if tag is None or tag.startswith("ns"):
        return False
    # jieba tags many common words as names (康复 1018, 许可 623, 边远 250): frequency tells them from the
    # names its dictionary holds (李秀英 3, 王建军 5)
    return frequency >= (50 if tag.startswith("nr") else 20)


def _word_tags() -> dict[str, str]:
    import jieba.posseg

    jieba.posseg.dt.tokenizer.check_initialized()
    return jieba.posseg.dt.word_tag_tab


def _spoken_number(run: str) -> str | None:
    """The kind of a number said in Chinese numerals (or mixed), or None when it is none of ours."""
    if not any(ch in _CN_DIGIT for ch in run):
        return None  # digits alone: the patterns above have had their say
    digits = re.sub(r"[ -]", "", run).translate(_CN_TO_DIGIT)
    if re.fullmatch(r"(?:86)?1[3-9]\d{9}", digits):
        return "mobile"
    if (len(digits) == 18 and valid_id_card(digits)) or _OLD_ID_CARD.fullmatch(digits):
        return "id_card"
    if re.fullmatch(r"(?:0\d{2,3})?\d{7,8}", digits):
        return "landline"
    return None


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

    def cued(match: re.Match[str]) -> str:
        found["id_card"] = found.get("id_card", 0) + 1
        return match.group(1) + LABELS["id_card"]

    text = _CUED_ID_CARD.sub(cued, text)
    text = replace("id_card", _OLD_ID_CARD, text)
    text = replace("bank_card", _BANK_CARD, text, lambda s: 16 <= len(re.sub(r"\D", "", s)) <= 19
                   and luhn_ok(re.sub(r"\D", "", s)))
    text = replace("mobile", _MOBILE, text)
    text = replace("landline", _LANDLINE, text)

    def spoken(match: re.Match[str]) -> str:
        kind = _spoken_number(match.group(0))
        if kind is None:
            return match.group(0)
        found[kind] = found.get(kind, 0) + 1
        return LABELS[kind]

    text = _CN_RUN.sub(spoken, text)

    def local(match: re.Match[str]) -> str:
        found["landline"] = found.get("landline", 0) + 1
        return match.group(1) + LABELS["landline"]

    text = _LOCAL_NUMBER.sub(local, text)
    text = replace("plate", _PLATE, text)
    text = replace("house_number", _STREET_NUMBER, text)
    text = replace("house_number", _HOUSE, text, lambda s: bool(_DWELLING.search(s)))

    spans = [(m.end(), m.end() + n) for m in _NAME_CUE.finditer(text) if (n := _name_at(text, m.end()))]
    for m in _NAME_TITLE.finditer(text):  # "…联系郑海涛先生": the surname three or two characters before
        end = m.start()
        start = end - 3 if end >= 3 and text[end - 3] in _SURNAMES else end - 2
        if start >= 0 and text[start] in _SURNAMES and all("\u4e00" <= ch <= "\u9fff" and ch not in _ENDS_NAME
                                                           for ch in text[start + 1:end]) and not _a_word(text[start:end]):
            spans.append((start, end))
    out, last = [], 0
    for start, end in sorted(set(spans)):
        if start < last:
            continue
        out += [text[last:start], LABELS["name"]]
        found["name"] = found.get("name", 0) + 1
        last = end
    return MaskResult("".join(out) + text[last:], found)
