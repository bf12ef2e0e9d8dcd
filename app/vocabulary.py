"""The people's words: how residents name a programme (失业金, 低保, 公租房) and how the documents
name it (失业保险金, 最低生活保障, 公共租赁住房).

Two sources: the curated list in policies/dictionaries/colloquial.txt, and the pairs the corpus
defines itself ("城乡居民最低生活保障（以下简称城乡低保）"), mined at ingest (ingestion/aliases.py)
and kept on each document point, so that every replica reading the same index expands the same
way. Pairs work in both directions. A question is expanded for the BM25 query and for judging how
much of it the evidence covers; the text quoted back to the user is never rewritten.
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from app.clients.vector_store import DOCUMENTS, VectorStore
from app.domain import ALIAS_FIELD, decode_alias

MIN_KEY_CHARS = 2


@dataclass(frozen=True)
class TermMatch:
    """A vocabulary word found in a text, with the words that mean the same and are not in it."""

    word: str
    start: int
    alternatives: tuple[str, ...]


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """`people's word = policy term | policy term` lines; # starts a comment. A malformed line is
    an error naming the line, not a silently missing synonym."""
    pairs = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        left, sep, right = line.partition("=")
        terms = [t.strip() for t in right.split("|") if t.strip()]
        if not sep or not left.strip() or not terms:
            raise ValueError(f"{path.name} line {number}: expected 'word = term | term', got {raw!r}")
        pairs += [(left.strip(), term) for term in terms]
    return pairs


class Vocabulary:
    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        equivalents: dict[str, set[str]] = defaultdict(set)
        for a, b in pairs:
            if a != b and len(a) >= MIN_KEY_CHARS and len(b) >= MIN_KEY_CHARS:
                equivalents[a].add(b)
                equivalents[b].add(a)
        self._equivalents = {word: tuple(sorted(alts)) for word, alts in equivalents.items()}
        self._words = sorted(self._equivalents, key=lambda w: (-len(w), w))  # longest first

    def __len__(self) -> int:
        return len(self._equivalents)

    def equivalents(self, word: str) -> tuple[str, ...]:
        """The words meaning what `word` means, with those of the vocabulary words inside it."""
        inner = [w for w in self._words if len(w) < len(word) and w in word]
        found = [*self._equivalents.get(word, ()), *(a for w in inner for a in self._equivalents[w])]
        return tuple(dict.fromkeys(a for a in found if a != word and a not in word))

    def matches(self, text: str) -> list[TermMatch]:
        """Vocabulary words in `text`, longest first; a word inside a longer match is not matched
        again, but lends it its equivalents ("失独家庭" also means what "失独" means).
        Alternatives already in the text are left out."""
        taken = [False] * len(text)
        found = []
        for word in self._words:
            start = text.find(word)
            while start != -1:
                end = start + len(word)
                if not any(taken[start:end]):
                    for i in range(start, end):
                        taken[i] = True
                    found.append(TermMatch(word, start, tuple(a for a in self.equivalents(word) if a not in text)))
                    break
                start = text.find(word, start + 1)
        return sorted(found, key=lambda m: m.start)

    def expansion(self, text: str) -> list[str]:
        """The policy terms (and people's words) that mean what words of `text` mean."""
        return list(dict.fromkeys(a for m in self.matches(text) for a in m.alternatives))


class CorpusVocabulary:
    """The curated pairs plus those the indexed documents define, re-read from the index at most
    every `refresh_s` seconds (another process may ingest into a shared Qdrant server)."""

    def __init__(self, curated: list[tuple[str, str]], store: VectorStore | None, refresh_s: float = 300.0) -> None:
        self.curated, self.store, self.refresh_s = curated, store, refresh_s
        self._vocabulary = Vocabulary(curated)
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def mined_pairs(self) -> list[tuple[str, str]]:
        if self.store is None:
            return []
        pairs = []
        for _, payload in self.store.scroll_payloads(DOCUMENTS, fields=[ALIAS_FIELD]):
            pairs += [p for p in map(decode_alias, payload.get(ALIAS_FIELD) or []) if p]
        return pairs

    def refresh(self) -> Vocabulary:
        with self._lock:
            self._vocabulary = Vocabulary(self.curated + self.mined_pairs())
            self._loaded_at = time.monotonic()
            return self._vocabulary

    def current(self) -> Vocabulary:
        loaded = self._loaded_at
        if loaded is None or time.monotonic() - loaded > self.refresh_s:
            return self.refresh()
        return self._vocabulary


@dataclass(frozen=True)
class TermGroup:
    """One word of a question and the words that mean the same (itself first): a passage holds
    the word when it holds any of them."""

    word: str
    alternatives: tuple[str, ...]

    def found_in(self, text: str) -> bool:
        # a number is only found as a whole number: the "80" of "80岁" is not in "800元"
        return any(re.search(rf"(?<!\d){re.escape(a)}(?!\d)", text) if a.isdigit() else a in text
                   for a in self.alternatives)


def question_terms(question: str, words: list[str], vocabulary: Vocabulary) -> list[TermGroup]:
    """The question's words as term groups: each vocabulary word it contains (with its
    equivalents), then its other words (`words`: the BM25 tokenizer's words of the question)
    that are not part of a vocabulary word already taken."""
    matches = vocabulary.matches(question)
    groups = [TermGroup(m.word, (m.word, *vocabulary.equivalents(m.word))) for m in matches]
    taken = [m.word for m in matches]
    spans = [(m.start, m.start + len(m.word)) for m in matches]
    for word in dict.fromkeys(words):
        if any(word in key for key in taken) or _straddles(question, word, spans):
            continue
        groups.append(TermGroup(word, (word, *vocabulary.equivalents(word))))
    return groups


def _straddles(question: str, word: str, spans: list[tuple[int, int]]) -> bool:
    """A word the segmenter cut across a vocabulary word ("金去" of "失业金去哪儿领") is an artefact,
    not a word of the question."""
    start = question.find(word)
    end = start + len(word)
    return start >= 0 and any(s < end and start < e and not (s <= start and end <= e) for s, e in spans)
