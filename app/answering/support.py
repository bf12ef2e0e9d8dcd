"""Is an answer sentence supported by the sources it cites? One check, used while an LLM answer
streams (so an unsupported sentence never reaches the user) and again by check_answer.

Every figure of the sentence must be a figure of a cited source: numbers, amounts, percentages and
dates, in Arabic digits or in Chinese numerals ("一千四百五十元", "百分之五十", "二〇二四年" read as
1450, 50, 2024, on both sides), and every 文号 character for character.
"""

from __future__ import annotations

import re
import warnings
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from app.domain import AnswerSentence, SearchHit

DOC_NUMBER = re.compile(r"[\u4e00-\u9fa5]{1,10}〔\d{4}〕\d+号")
ARABIC = re.compile(r"\d+(?:\.\d+)?")
# a run of Chinese numerals that states a figure: two or more numerals ("十五", "一千四百五十", "二〇二四"),
# "百分之…", or one numeral before a unit ("五元", "三岁"); "一般", "一律", "统一" state none
CHINESE = re.compile(r"百分之[零〇一二三四五六七八九十百千点两]+"
                     r"|[零〇一二三四五六七八九十百千万亿两]{2,}(?:点[零〇一二三四五六七八九]+)?"
                     r"|[一二三四五六七八九十两](?=[元万千百岁天年月日倍个周])")
# kept for callers that look for 文号 and numbers in a text
CHECKED_FACTS = re.compile(DOC_NUMBER.pattern + "|" + ARABIC.pattern)


def unsupported_reason(sentence: AnswerSentence, sources: list[SearchHit]) -> str | None:
    if not sentence.citations:
        return "no citation"
    for citation in sentence.citations:
        if not 0 < citation.number <= len(sources):
            return f"citation [{citation.number}] points at no retrieved source"
        if citation.quote not in sources[citation.number - 1].text:
            return f"quote not found in source [{citation.number}]"
    cited = [sources[c.number - 1].text for c in sentence.citations]
    missing = [number for number in DOC_NUMBER.findall(sentence.text) if all(number not in text for text in cited)]
    stated = set().union(*(figures(text) for text in cited))
    missing += [shown for shown, value in figure_mentions(DOC_NUMBER.sub("", sentence.text)) if value not in stated]
    if missing:
        return f"not in the cited source: {', '.join(missing)}"
    return None


def _value(number: str) -> str | None:
    try:
        return format(Decimal(number).normalize(), "f")
    except InvalidOperation:
        return None


_DIGIT = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0}


def _chinese_value(words: str) -> str | None:
    import cn2an

    percent = words.startswith("百分之")
    digits = words[3:] if percent else words
    if re.fullmatch(r"[零〇一二三四五六七八九]{2,}", digits):  # read out digit by digit: 二〇二四
        return _value("".join(str(_DIGIT[c]) for c in digits))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _value(str(cn2an.cn2an(digits, "smart")))
        except (ValueError, KeyError, IndexError):
            return None


def figure_mentions(text: str) -> list[tuple[str, str]]:
    """(as written, value) of every figure in a text: Arabic numbers, and Chinese numerals as numbers."""
    out = [(n, v) for n in ARABIC.findall(text) if (v := _value(n)) is not None]
    out += [(w, v) for w in CHINESE.findall(text) if (v := _chinese_value(w)) is not None]
    return out


@lru_cache(maxsize=4096)
def figures(text: str) -> frozenset[str]:
    """The values of the figures a source states, however it writes them."""
    return frozenset(value for _, value in figure_mentions(DOC_NUMBER.sub(lambda m: " ", text)))
