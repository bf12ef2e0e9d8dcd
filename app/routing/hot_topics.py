"""Hot topics: one matter raised by many callers at one place in a period — the night stall whose smoke
and noise a whole compound reports, the school that sends its students to factories. Beijing's 接诉即办
reports name them (“每月一题”); an agent who sees one answers the next caller at once, and a supervisor
sends it to the street as one case, not thirty.

Tickets are grouped by their place first (district and street, as FindPlace read them: a street's
matter is its own), then clustered within each place by what they say with the place's names taken
out — the mean of two similarities: the e5 passage vectors' cosine, which knows that 夜宵摊 and 烧烤店
are one thing, and the cosine of character-bigram tf-idf over the period, which knows that 路灯 and 油烟
are not (the small e5 model finds any two short complaints about 0.9 alike). Average linkage merges
clusters while they are on average at least `min_similarity` alike (policies/hotline/ranking.yml says
how that bar was set, on the project's own tickets). A cluster of at least `min_tickets` is a topic,
the largest first. Its title is the ticket nearest the cluster's centre (as a caller put it), its
keywords what its tickets say more than the period's others.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from app.routing.classifier import Ticket
from app.security.pii import MASKED

_WORD = re.compile(r"[\u4e00-\u9fff]{2,}")  # a keyword is Chinese: not a number, a code or "A5"


@dataclass(frozen=True)
class HotTicket:
    id: str
    text: str  # masked, as stored
    created_at: dt.datetime
    district: str | None = None
    street: str | None = None
    category: str | None = None


@dataclass
class HotTopic:
    title: str
    keywords: list[str]
    district: str | None
    street: str | None
    category: str | None  # the one most of its tickets were classed in
    count: int
    first_at: dt.datetime
    last_at: dt.datetime
    cohesion: float  # mean similarity of its tickets to each other (matter_similarity)
    tickets: list[HotTicket] = field(default_factory=list)  # nearest the centre first


def find_hot_topics(tickets: list[HotTicket], matters: list[str], vectors: np.ndarray, min_similarity: float,
                    min_tickets: int, tickets_shown: int = 5) -> list[HotTopic]:
    """The topics among `tickets`, largest first, then latest. `matters`: each ticket's text without its
    place's names; `vectors`: their unit-length passage vectors."""
    if not len(tickets) == len(matters) == len(vectors):
        raise ValueError(f"{len(tickets)} tickets, {len(matters)} texts and {len(vectors)} vectors")
    by_place: dict[tuple[str | None, str | None], list[int]] = {}
    for i, ticket in enumerate(tickets):
        by_place.setdefault((ticket.district, ticket.street), []).append(i)
    crowded = [indices for indices in by_place.values() if len(indices) >= min_tickets]
    if not crowded:
        return []
    similarity = matter_similarity(matters, vectors)
    clusters = [members for indices in crowded for members in _clusters(similarity, indices, min_similarity)
                if len(members) >= min_tickets]
    if not clusters:
        return []
    keywords = _Keywords(matters)  # what was said, not where: the place is the topic's own field
    topics = [_topic([tickets[i] for i in members], similarity[np.ix_(members, members)],
                     keywords.of(members), tickets_shown) for members in clusters]
    return sorted(topics, key=lambda t: (-t.count, -t.last_at.timestamp(), t.title))


def matter_similarity(matters: list[str], vectors: np.ndarray) -> np.ndarray:
    """How alike each two tickets' matters are: the mean of their vectors' cosine and of their
    character-bigram tf-idf cosine (idf over these texts)."""
    from sklearn.feature_extraction.text import TfidfVectorizer  # only here: sklearn takes a second to import

    dense = np.clip(vectors @ vectors.T, -1.0, 1.0)
    try:
        bigrams = TfidfVectorizer(analyzer="char", ngram_range=(2, 2), sublinear_tf=True).fit_transform(matters)
        lexical = (bigrams @ bigrams.T).toarray()
    except ValueError:  # no text with two characters: nothing lexical to compare
        lexical = np.zeros_like(dense)
    return (dense + lexical) / 2


def _clusters(similarity: np.ndarray, indices: list[int], min_similarity: float) -> list[list[int]]:
    """Average-linkage clusters of these tickets, cut where clusters are less alike than min_similarity
    on average; members as the given indices."""
    if len(indices) == 1:
        return [indices]
    from sklearn.cluster import AgglomerativeClustering

    distance = 1.0 - similarity[np.ix_(indices, indices)]
    np.fill_diagonal(distance, 0.0)
    labels = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                     distance_threshold=1.0 - min_similarity).fit_predict(np.maximum(distance, 0.0))
    grouped: dict[int, list[int]] = {}
    for index, label in zip(indices, labels):
        grouped.setdefault(int(label), []).append(index)
    return list(grouped.values())


def _topic(members: list[HotTicket], similarity: np.ndarray, keywords: list[str], shown: int) -> HotTopic:
    closeness = similarity.mean(axis=1)  # the centre is the ticket most like the others
    order = np.argsort(-closeness, kind="stable")
    central = members[int(order[0])]
    times = [t.created_at for t in members]
    categories = Counter(t.category for t in members if t.category)
    return HotTopic(
        title=Ticket.of(MASKED.sub("", central.text)).title, keywords=keywords,
        district=central.district, street=central.street,
        category=categories.most_common(1)[0][0] if categories else None, count=len(members),
        first_at=min(times), last_at=max(times), cohesion=round(float(closeness.mean()), 4),
        tickets=[members[int(i)] for i in order[:shown]])


class _Keywords:
    """Words a cluster's tickets use more than the period's tickets do (tf-idf over the period, jieba's
    words), so the label says what sets the topic apart: 油烟, 夜宵摊, not 小区 or 反映."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.documents = [set(self._words(text)) for text in texts]  # each text read once
        self.frequency = Counter(word for words in self.documents for word in words)

    @staticmethod
    def _words(text: str) -> list[str]:
        import jieba  # the dictionary loads on first use (a second), only when there are topics

        return [w for w in jieba.lcut(MASKED.sub(" ", text)) if _WORD.fullmatch(w)]

    def of(self, members: list[int], k: int = 5) -> list[str]:
        """The keywords of the texts at these positions."""
        counts = Counter(word for i in members for word in self.documents[i])
        total = len(self.documents)
        scored = {word: n * np.log((1 + total) / (1 + self.frequency[word])) for word, n in counts.items()
                  if n >= 2 or len(members) < 2}
        return [w for w, _ in sorted(scored.items(), key=lambda item: (-item[1], item[0]))[:k]]
