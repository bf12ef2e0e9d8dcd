"""The LLM composer: numbered sources in the prompt, the instruction to cite [n] after every
sentence and to answer only from them; the reply streams in and is cut into sentences as it
arrives. Each sentence is checked against the sources it cites before it is handed on, so a
hallucinated citation or an uncited number never reaches the user, not even mid-stream.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from app.answering.extractive import sentence_spans
from app.answering.support import unsupported_reason
from app.clients.llm import LLMClient, LLMUnavailable
from app.domain import AnswerSentence, Citation, VALIDITY_UNKNOWN, SearchHit, document_name
from app.prompts import Prompt

_MARKERS = re.compile(r"\[(\d{1,2})\]")
_SENTENCE_END = re.compile(r"[。！？!?；;](?:\s*\[\d{1,2}\])*|\n")
_FINISHED = re.compile(r"[。！？!?；;](?:\s*\[\d{1,2}\])+\s*$")


@dataclass
class LLMComposition:
    sentences: list[AnswerSentence] = field(default_factory=list)
    dropped: list[dict[str, str]] = field(default_factory=list)
    raw: str = ""


class LLMComposer:
    name = "llm"

    def __init__(self, client: LLMClient, prompt: Prompt) -> None:
        self.client, self.prompt = client, prompt

    @property
    def model(self) -> str:
        return self.client.model

    def messages(self, question: str, sources: list[SearchHit], asks: list[str] | None = None,
                 hints: list[AnswerSentence] | None = None) -> list[dict[str, str]]:
        """The prompt: the numbered sources (an amended one says so), what the question asks for (the
        labels of its kinds) and the sentences the extractive selector chose, as hints with their numbers."""
        blocks = "\n".join(self.prompt["source"].format(
            number=n, title=hit.document.get("title") or "", doc_number=hit.document.get("doc_number") or "",
            validity=hit.document.get("validity") or VALIDITY_UNKNOWN, note=_amended_note(hit), text=hit.text)
            for n, hit in enumerate(sources, 1))
        shown = "".join(self.prompt["hint"].format(number=s.citations[0].number, text=s.text)
                        for s in hints or [] if s.citations) or self.prompt["no_hints"]
        system = self.prompt["system"].format(asks="、".join(asks or []) or self.prompt["default_asks"])
        return [{"role": "system", "content": system},
                {"role": "user", "content": self.prompt["user"].format(sources=blocks, hints=shown.strip(),
                                                                       question=question)}]

    def compose(self, question: str, sources: list[SearchHit],
                on_sentence: Callable[[AnswerSentence], None] = lambda s: None,
                cancelled: Callable[[], bool] = lambda: False, result: LLMComposition | None = None,
                asks: list[str] | None = None, hints: list[AnswerSentence] | None = None) -> LLMComposition:
        """Raises LLMUnavailable when the LLM fails; `result` then holds what was accepted so far."""
        result = result if result is not None else LLMComposition()
        buffer = ""

        def take(piece: str) -> None:
            sentence = self._sentence(piece, sources)
            if sentence is None:
                return
            reason = unsupported_reason(sentence, sources)
            if reason:
                result.dropped.append({"sentence": sentence.text, "reason": reason})
                return
            result.sentences.append(sentence)
            on_sentence(sentence)

        try:
            for delta in self.client.stream_chat(self.messages(question, sources, asks, hints), cancelled=cancelled):
                result.raw += delta
                buffer += delta
                while (match := _SENTENCE_END.search(buffer)) and _complete(buffer[match.end():]):
                    take(buffer[:match.end()])
                    buffer = buffer[match.end():]
        except LLMUnavailable:
            if _FINISHED.search(buffer):  # the last sentence had ended, with its markers, before the failure
                take(buffer)
            raise
        if buffer.strip() and not cancelled():
            take(buffer)
        return result

    @staticmethod
    def _sentence(piece: str, sources: list[SearchHit]) -> AnswerSentence | None:
        numbers = [int(n) for n in _MARKERS.findall(piece)]
        text = _MARKERS.sub("", piece).strip()
        if len(re.sub(r"\W", "", text)) < 2:
            return None
        citations = []
        for number in dict.fromkeys(numbers):
            if 0 < number <= len(sources):
                hit = sources[number - 1]
                start, end = _closest_sentence(hit.text, text)
                citations.append(Citation(number, hit.doc_id, hit.chunk_id, hit.text[start:end],
                                          hit.start + start, hit.start + end))
            else:  # kept so that the check names the bad citation
                citations.append(Citation(number, "", "", "", 0, 0))
        return AnswerSentence(text, citations)


def _amended_note(hit: SearchHit) -> str:
    """"（其中的标准已由《…》（文号）自…起调整）" for a source a newer document amended."""
    newer = hit.document.get("amended_by_documents") or []
    if not newer:
        return ""
    names = []
    for doc in newer:
        since = doc.get("amend_from") or doc.get("effective")
        names.append(document_name(doc) + (f"自{since}起" if since else ""))
    return f"（其中的标准已由{'、'.join(names)}调整）"


def _complete(rest: str) -> bool:
    """A sentence is complete once what follows its end cannot be its citation marker: "。" then
    "[" may still become "。[2]"."""
    rest = rest.lstrip()
    return bool(rest) and not rest.startswith("[")


def _closest_sentence(chunk: str, sentence: str) -> tuple[int, int]:
    """The chunk's sentence sharing most character bigrams with the answer sentence: the span a
    page highlights for this citation."""
    wanted = {sentence[i:i + 2] for i in range(len(sentence) - 1)}
    best, best_score = (0, len(chunk)), -1
    for start, end in sentence_spans(chunk, 0, len(chunk)):
        piece = chunk[start:end]
        score = len(wanted & {piece[i:i + 2] for i in range(len(piece) - 1)})
        if score > best_score:
            best, best_score = (start, end), score
    return best
