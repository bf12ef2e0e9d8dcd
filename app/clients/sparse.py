"""BM25 term weights from jieba search-mode tokens plus CJK character bigrams, as Qdrant sparse vectors.

Why bigrams as well as words: questions paraphrase the clause they ask about, and jieba splits the
same phrase differently in the two ("稳岗返还" vs "稳岗/返还"); overlapping character bigrams match
either way. On the COVID policy questions, words alone gave MRR@10 0.828, bigrams alone 0.857,
both 0.857 with better fused results (docs/adr/0002-sparse-tokens-and-fusion.md).

Documents get the BM25 term-frequency part, tf·(k1+1) / (tf + k1·(1 − b + b·len/avg_len)); the
IDF part is applied by Qdrant itself through the sparse vector's IDF modifier, so it stays correct
as documents are added and removed. avg_len is a setting, not a corpus statistic, so incremental
ingestion never has to re-weight old chunks. Token ids are xxh32 hashes (Python's hash() is salted
per process); collisions are merged so indices stay unique, as Qdrant requires.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import xxhash

_TOKEN_OK = re.compile(r"[\w\u4e00-\u9fff]", re.UNICODE)
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")


@dataclass
class SparseVec:
    indices: list[int]
    values: list[float]


class JiebaBm25Encoder:
    def __init__(self, user_dict: Path | None = None, stopwords: Path | None = None,
                 k1: float = 0.9, b: float = 0.4, avg_len: float = 300.0,
                 cache_dir: Path | None = None, char_bigrams: bool = True) -> None:
        import jieba

        self._tokenizer = jieba.Tokenizer()
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            self._tokenizer.tmp_dir = str(cache_dir)
        self._user_dict = user_dict
        self._ready = False
        self._init_lock = threading.Lock()
        self.k1, self.b, self.avg_len = k1, b, avg_len
        self.char_bigrams = char_bigrams
        self._stopwords_path = stopwords
        self.stopwords: set[str] = set()
        if stopwords and stopwords.exists():
            self.stopwords = {w.strip() for w in stopwords.read_text(encoding="utf-8").splitlines()
                              if w.strip() and not w.startswith("#")}

    def _ensure_ready(self) -> None:
        if self._ready:
            return
        with self._init_lock:
            if not self._ready:
                import logging

                import jieba

                jieba.setLogLevel(logging.WARNING)
                self._tokenizer.initialize()
                if self._user_dict and self._user_dict.exists():
                    self._tokenizer.load_userdict(str(self._user_dict))
                self._ready = True

    @property
    def signature(self) -> str:
        """Changes whenever the same text would get a different sparse vector."""
        import hashlib

        digest = hashlib.sha256()
        for path in (self._user_dict, self._stopwords_path):
            if path and path.exists():
                digest.update(path.read_bytes())
        return f"jieba-search+bigrams={self.char_bigrams};k1={self.k1};b={self.b};avg={self.avg_len};" \
               f"dict={digest.hexdigest()[:12]}"

    def segment(self, text: str) -> list[str]:
        """jieba's plain cut: the words of `text` in order, covering it exactly (for word boundaries)."""
        self._ensure_ready()
        return list(self._tokenizer.cut(text))

    def tagged(self, text: str) -> list[tuple[str, str]]:
        """jieba's words of `text` with their part of speech (n noun, v verb, ns place, …)."""
        import jieba.posseg

        self._ensure_ready()
        if getattr(self, "_pos", None) is None:
            self._pos = jieba.posseg.POSTokenizer(self._tokenizer)
        return [(pair.word, pair.flag) for pair in self._pos.cut(text)]

    def words(self, text: str) -> list[str]:
        """jieba search-mode words, lower-cased, without stop words and punctuation."""
        self._ensure_ready()
        out = []
        for token in self._tokenizer.cut_for_search(text):
            token = token.strip().lower()
            if token and _TOKEN_OK.search(token) and token not in self.stopwords:
                out.append(token)
        return out

    def tokens(self, text: str) -> list[str]:
        """What the BM25 index holds: words, plus CJK character bigrams when enabled."""
        out = self.words(text)
        if self.char_bigrams:
            out.extend(self._bigrams(text))
        return out

    def _bigrams(self, text: str) -> list[str]:
        out = []
        for run in _CJK_RUN.findall(text):
            if len(run) == 1:
                if run not in self.stopwords:
                    out.append(run)
                continue
            out.extend(run[i:i + 2] for i in range(len(run) - 1))
        return out

    @staticmethod
    def token_id(token: str) -> int:
        return xxhash.xxh32_intdigest(token.encode("utf-8"))

    def _to_sparse(self, weights: dict[int, float]) -> SparseVec:
        indices = sorted(weights)
        return SparseVec(indices, [float(weights[i]) for i in indices])

    def encode_document(self, text: str) -> SparseVec:
        tokens = self.tokens(text)
        counts = Counter(self.token_id(t) for t in tokens)
        norm = self.k1 * (1 - self.b + self.b * len(tokens) / self.avg_len)
        return self._to_sparse({tid: tf * (self.k1 + 1) / (tf + norm) for tid, tf in counts.items()})

    def encode_query(self, text: str, expansion: list[str] | tuple[str, ...] = (),
                     expansion_weight: float = 0.5, hints: list[str] | tuple[str, ...] = (),
                     hint_weight: float = 0.25) -> SparseVec:
        """Every token of the question weighs 1; tokens only the expansion (words that mean what
        the question's words mean) brings weigh `expansion_weight`, those only the hints (words
        answers of this kind carry) bring, `hint_weight`."""
        weights = {self.token_id(t): hint_weight for term in hints for t in self.tokens(term)}
        weights.update({self.token_id(t): expansion_weight for term in expansion for t in self.tokens(term)})
        weights.update({self.token_id(t): 1.0 for t in self.tokens(text)})
        return self._to_sparse(weights)
