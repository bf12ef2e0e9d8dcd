"""Is an answer sentence supported by the sources it cites? One check, used while an LLM answer
streams (so an unsupported sentence never reaches the user) and again by check_answer."""

from __future__ import annotations

import re

from app.domain import AnswerSentence, SearchHit

# numbers, amounts, percentages, dates and 文号 must appear in a cited source, character for character
CHECKED_FACTS = re.compile(r"[\u4e00-\u9fa5]{1,10}〔\d{4}〕\d+号|\d+(?:\.\d+)?")


def unsupported_reason(sentence: AnswerSentence, sources: list[SearchHit]) -> str | None:
    if not sentence.citations:
        return "no citation"
    for citation in sentence.citations:
        if not 0 < citation.number <= len(sources):
            return f"citation [{citation.number}] points at no retrieved source"
        if citation.quote not in sources[citation.number - 1].text:
            return f"quote not found in source [{citation.number}]"
    cited = [sources[c.number - 1].text for c in sentence.citations]
    missing = [fact for fact in CHECKED_FACTS.findall(sentence.text) if all(fact not in text for text in cited)]
    if missing:
        return f"not in the cited source: {', '.join(missing)}"
    return None
