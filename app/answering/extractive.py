"""The extractive composer: answers with the original wording of the retrieved clauses, short.

It reads what the question asks for (an amount, a time limit, an office, materials, conditions, a
procedure: policies/question_kinds.yml) and scores every sentence of the retrieved chunks by the
question's words it holds (IDF-weighted, the people's words counted as the documents' words), the
words of its headings and lead-in (context, weighed less), whether it looks like the kind of
sentence that answers such a question, and how high its document ranks. It leads with the best
sentence and adds at most a few more: the lead-in of a list item, the items of a lead-in, or
another sentence of the same document that holds a part of the question the first one does not.
Headings are context, never sentences of their own.

Where a retrieved document has been amended by another one that is also retrieved (a raised
standard), the older document's figures rank below the newer one's.

Nothing is paraphrased: every sentence is a verbatim span of a source with its offsets, so it is
supported by its citation by construction; the answer check verifies it anyway.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from typing import TYPE_CHECKING

import numpy as np

from app.domain import AnswerSentence, Citation, SearchHit
from app.policy_data import QuestionKind
from app.vocabulary import TermGroup

if TYPE_CHECKING:
    from app.answering.selector import SentenceSelector

_PARAGRAPH = re.compile(r"[^\n]+")
_SPACE_BREAK = re.compile(r"(?<=[^\x00-\x7f])[ \t\u3000]+(?=[^\x00-\x7f])")
_SENTENCE = re.compile(r"[^。！？!?；;]+[。！？!?；;]?")
# an item number run into the figure it opens with: "2.90周岁至99周岁" is item 2, from 90 — not 2.90
_FIGURE_FOLLOWS = r"(?=\d+\s*(?:周岁|岁|元|万))"
LIST_NUMBER = re.compile(r"^\s*\d{1,2}[.．、]" + _FIGURE_FOLLOWS)
# list markers, by style: the items of a list share one style, unlike their lead-in
_MARKER_STYLES = [("num_dot", re.compile(r"^\s*\d{1,2}[.．、](?:(?!\d)|" + _FIGURE_FOLLOWS + ")")), ("num_paren", re.compile(r"^\s*[（(]\d{1,2}[）)]")),
                  ("circled", re.compile(r"^\s*[①②③④⑤⑥⑦⑧⑨⑩]")),
                  ("cn_paren", re.compile(r"^\s*[（(][一二三四五六七八九十]+[）)]"))]


def marker_style(text: str) -> str | None:
    return next((name for name, pattern in _MARKER_STYLES if pattern.match(text)), None)


FIGURE = re.compile(r"\d+(?:\.\d+)?\s*(?:元|万元|%|％)")  # an amount or a rate: what a newer standard changes


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Paragraphs of a chunk: lines, and in run-together web text, runs between CJK-spaces."""
    spans = []
    for line in _PARAGRAPH.finditer(text):
        start = line.start()
        for brk in _SPACE_BREAK.finditer(line.group(0)):
            spans.append((start, line.start() + brk.start()))
            start = line.start() + brk.end()
        spans.append((start, line.end()))
    return [(s, e) for s, e in spans if len(text[s:e].strip()) >= 4]


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    out = []
    for match in _SENTENCE.finditer(text[start:end]):
        s, e = start + match.start(), start + match.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e - s >= 2:
            out.append((s, e))
    return out


_MARKER = re.compile(r"^\s*(?:第[一二三四五六七八九十百零]+[章节条]|[一二三四五六七八九十]+[、．.]|[（(][一二三四五六七八九十\d]+[）)]|\d{1,2}[.．、])\s*")


def looks_like_heading(text: str) -> bool:
    """"二、重点任务", "第二十条", "（三）申请程序", "申请及受理程序。": a label for what follows,
    not a statement."""
    text = text.strip()
    if len(text) < 40 and not re.search(r"[。；;！？!?：:，,]", text):
        return True
    return len(_label(text)) <= 8 and not re.search(r"[，,：:]", text) and not re.search(r"\d", text)


def _label(text: str) -> str:
    """The Chinese characters of a text without its list or article marker."""
    return re.sub(r"[^\u4e00-\u9fff]", "", _MARKER.sub("", text))


def _run_in_heading(sentence: str, rest_chars: int) -> bool:
    """The label a list item opens with before its text ("1.申请。", "（八）放宽技术技能提升补贴申领
    条件。"): a short sentence with no clause in it, before a text much longer than itself (in
    "①身份证。需提供原件。" the item is "身份证")."""
    short = looks_like_heading(sentence) or (len(_label(sentence)) <= 20 and not re.search(r"[，,：:；;、]", sentence))
    return short and rest_chars >= max(30, 2 * len(sentence))


_ANNOUNCES_LIST = re.compile(r"以下|下列|如下")

_UNIT_PAIRS = re.compile(r"每人|人每|每月|每年|每天|标准|元的|按照|给予|发放|以上|以下")


def same_subject(a: str, b: str) -> bool:
    """Do two sentences state a figure about the same thing: at least four character pairs in
    common, a fifth of the shorter one's, leaving out the pairs every standard has (每人每月, 标准)."""
    pairs = [{run[i:i + 2] for run in re.findall(r"[\u4e00-\u9fff]+", s) for i in range(len(run) - 1)} for s in (a, b)]
    pairs = [{p for p in ps if not _UNIT_PAIRS.fullmatch(p)} for ps in pairs]
    shared = pairs[0] & pairs[1]
    return len(shared) >= 4 and len(shared) >= 0.2 * min(len(pairs[0]), len(pairs[1]))


def _figures(text: str) -> set[tuple[float, str]]:
    """The amounts and rates a sentence states, as (value, unit): "1.2万元" → (12000.0, "元")."""
    out = set()
    for m in FIGURE.finditer(text):
        number = float(re.match(r"\d+(?:\.\d+)?", m.group()).group())
        unit = "%" if m.group().endswith(("%", "％")) else "元"
        out.add((number * 10000 if m.group().rstrip().endswith("万元") else number, unit))
    return out


def changes_figure(old: str, new: str) -> bool:
    """Does `new` state, in a unit `old` states a figure in, a value `old` does not state?"""
    before, after = _figures(old), _figures(new)
    units = {unit for _, unit in before}
    return any(unit in units and (value, unit) not in before for value, unit in after)


def _restates_title(sentence: str, title: str) -> bool:
    """The page's title repeated in the text ("2026年度…缴费标准？") says nothing the citation does not."""
    core = re.sub(r"[^\u4e00-\u9fff\d]", "", sentence)
    return len(core) >= 6 and core in re.sub(r"[^\u4e00-\u9fff\d]", "", title)


@dataclass
class _Sentence:
    rank: int  # of its source
    doc_rank: int  # of its document among the sources' documents
    start: int  # offsets in the source's text
    end: int
    paragraph: tuple[int, int]  # its source's rank and the index of its paragraph there
    text: str
    context: str  # its document's title, the headings above it and the lead-in of its list
    lead_in: bool  # ends with "：": what follows is a list
    list_item: bool  # opens with 1. / （1） / ① / （一）
    style: str | None = None  # which of those
    score: float = 0.0
    relevance: float = 0.0  # the question's words it and its context hold, weighted
    covered: float = 0.0  # share of the question's word weight it and its context hold
    doc_rank_for_score: int = 0  # its document's rank, or that of the document its current figure amends
    matched: frozenset[int] = frozenset()  # indices of the term groups it holds
    in_context: frozenset[int] = frozenset()  # … and those only its headings or lead-in hold
    cue: float = 0.0  # how much it looks like what the question asks for, 0–1
    run: int = 0  # sources that are consecutive chunks of one document share a run (a list may go on)
    offset: int = 0  # where it starts in its document


@dataclass
class _Scored:
    sentences: list[_Sentence]
    weight: list[float]  # of each term group
    total: float
    df: list[int]  # how many candidates hold each term group, in their text or context


@dataclass
class Extract:
    sentences: list[AnswerSentence]
    # evidence measures, 0–1, for the answerability decision
    coverage: float = 0.0  # share of the question's word weight in the best sentence and its context
    best_coverage: float = 0.0  # the largest such share in any sentence of the sources
    source_coverage: float = 0.0  # share of the question's word weight anywhere in the sources
    answers_kind: float = 0.0  # how much the best sentence looks like what the question asks for
    largest_missing: float = 0.0  # share of the question's word weight of its heaviest word no source holds
    selector_top: float = 0.0  # the learned selector's score of the best sentence (0 without a selector)
    selector_margin: float = 0.0  # … less that of the runner-up


class ExtractiveComposer:
    name = "extractive"

    def __init__(self, kinds: dict[str, QuestionKind], tokenize: Callable[[str], list[str]],
                 budget_chars: int = 200, max_sentences: int = 3,
                 list_budget_chars: int = 300, clause_budget_chars: int = 450, clause_rank_prior: float = 5.0,
                 clause_runner_up: float = 0.3,
                 title_term_weight: float = 0.3, context_weight: float = 0.4, cue_weight: float = 0.5,
                 rank_weight: float = 0.5, runner_up: float = 0.6, amended_figure_factor: float = 0.5,
                 selector: "SentenceSelector | None" = None, selector_margin: float = 0.5,
                 asking_words: frozenset[str] | set[str] = frozenset()) -> None:
        """budget_chars / max_sentences: the short answer to a specific question (its first
        sentence always whole); list_budget_chars: how much of a list (a lead-in and its items);
        clause_budget_chars: the answer to a question about measures or a topic, made of whole
        paragraphs chosen by the `tokenize` tokens (the BM25 tokenizer's) they share with the
        question (headings left out; a token in the document's title counting title_term_weight),
        the chunk's rank weighing clause_rank_prior
        per place, runner-up paragraphs of the same document down to clause_runner_up of the best.
        Sentence scoring: relevance is the question's word weight a sentence holds, a word found
        only in its context (its document's title, headings, lead-in) counting context_weight (a
        word's weight is low when many sentences hold it in text or context, as title words are);
        plus rank_weight / (1 + the document's rank); times
        1 - cue_weight × (1 - how much it looks like the asked-for kind). runner_up: least share
        of the best score another sentence needs to be added; amended_figure_factor: multiplies
        the score of a figure a retrieved newer document restates.

        selector: the learned ranker (app/answering/selector.py) that scores the candidates instead of
        the hand-weighted score above; a runner-up then needs a score within selector_margin of the best.
        asking_words: words that say how a question asks (准备, 办理: policies/dictionaries/intent_words.txt),
        not counted as evidence the sources lack."""
        self.kinds = kinds
        self.asking_words = asking_words
        self.selector, self.selector_margin = selector, selector_margin
        self.budget_chars, self.max_sentences, self.list_budget_chars = budget_chars, max_sentences, list_budget_chars
        self.clause_budget_chars = clause_budget_chars
        self.tokenize = tokenize
        self.clause_rank_prior, self.clause_runner_up = clause_rank_prior, clause_runner_up
        self.title_term_weight, self.context_weight = title_term_weight, context_weight
        self.cue_weight, self.rank_weight, self.runner_up = cue_weight, rank_weight, runner_up
        self.amended_figure_factor = amended_figure_factor

    def answer_form(self, kinds: list[str] | None) -> str:
        """sentence, list or clause (policies/question_kinds.yml): a list when a kind asked wants
        one, else a sentence when one does, else the clause."""
        forms = {self.kinds[k].answer_form for k in kinds or [] if k in self.kinds}
        return next((form for form in ("list", "sentence") if form in forms), "clause")

    # ---- candidates ----
    @staticmethod
    def _sentences(sources: list[SearchHit]) -> list[_Sentence]:
        doc_order: dict[str, int] = {}
        out = []
        runs = _runs(sources)
        for rank, hit in enumerate(sources):
            doc_rank = doc_order.setdefault(hit.doc_id, len(doc_order))
            headings = list(hit.heading_path)
            title = hit.document.get("title") or ""
            lead = ""
            # the run-in heading of an item ("(三)高龄老年人津贴。发放给…") titles the list of another style
            # under it ("1.80周岁至89周岁…100元；"), as a lead-in would
            parent, parent_style = "", None
            for index, (s, e) in enumerate(paragraph_spans(hit.text)):
                paragraph = hit.text[s:e].strip()
                if looks_like_heading(paragraph):
                    headings.append(paragraph)
                    lead, parent, parent_style = "", "", None
                    continue
                style = marker_style(paragraph)
                item = style is not None
                if not item:
                    lead = ""
                spans = sentence_spans(hit.text, s, e)
                label = ""
                if item and len(spans) > 1 and _run_in_heading(hit.text[spans[0][0]:spans[0][1]],
                                                                spans[-1][1] - spans[1][0]):
                    label = hit.text[spans[0][0]:spans[0][1]]  # "1.申请。事实无人抚养儿童…": context
                    spans = spans[1:]
                if not item:
                    parent, parent_style = "", None
                elif style == parent_style:  # the outer list's next item: its own heading, if any, titles what follows
                    parent = label
                elif label and not parent:
                    parent, parent_style = label, style
                inherited = parent if item and style != parent_style else ""
                for ss, se in spans:
                    text = hit.text[ss:se]
                    if _restates_title(text, title):
                        continue
                    # "…提交以下材料：", or a paragraph ending "存在以下情况之一的，不符合…条件。"
                    is_lead = text.rstrip().endswith(("：", ":")) or \
                        (se == spans[-1][1] and _ANNOUNCES_LIST.search(text) is not None)
                    opens = item and ss == spans[0][0]
                    out.append(_Sentence(rank, doc_rank, ss, se, (rank, index), text,
                                         " ".join([title, *headings[-3:], label, lead or inherited]),
                                         is_lead, opens, style if opens else None, run=runs[rank],
                                         offset=hit.start + ss))
                    if is_lead:
                        lead = text
        return out

    # ---- scoring ----
    def candidates(self, sources: list[SearchHit], terms: list[TermGroup], kinds: list[str] | None) -> _Scored:
        """Every sentence of the sources, with what it holds of the question and how much it looks
        like what was asked."""
        candidates = self._sentences(sources)
        n = len(candidates) + 1
        # a word counts as common when many sentences hold it, in their text or their context
        df = [sum(1 for c in candidates if g.found_in(c.text) or g.found_in(c.context)) for g in terms]
        # a one-character word ("领", "车") is a weak sign of what a sentence is about
        weight = [math.log(1 + n / (1 + d)) * (0.5 if len(g.word) == 1 else 1.0) for g, d in zip(terms, df)]
        total = sum(weight) or 1.0
        # sentences are compared on the words some of them hold; the rest only tell coverage
        attainable = sum(w for w, d in zip(weight, df) if d) or 1.0
        asked = [self.kinds[k] for k in (kinds or []) if k in self.kinds]
        present = {sources[c.rank].doc_id: c.doc_rank for c in candidates}
        for c in candidates:
            hit = sources[c.rank]
            held = [i for i, g in enumerate(terms) if g.found_in(c.text)]
            in_context = [i for i, g in enumerate(terms) if i not in held and g.found_in(c.context)]
            # (a title word is in every sentence's context, so its weight is already low: no damping here)
            own = sum(weight[i] for i in held)
            around = sum(weight[i] for i in in_context)
            c.matched, c.in_context = frozenset(held), frozenset(in_context)
            c.covered = sum(weight[i] for i in (*held, *in_context)) / total
            c.cue = max((kind.answered_by(c.text) for kind in asked), default=0.0)
            c.relevance = (own + self.context_weight * around) / attainable
            # a current figure about the question ranks as high as the document it amends
            amended_ranks = [present[d] for d in hit.document.get("amends") or [] if d in present]
            c.doc_rank_for_score = min([c.doc_rank, *amended_ranks]) if held and FIGURE.search(c.text) \
                else c.doc_rank
        return _Scored(candidates, weight, total, df)

    def features(self, question: str, sources: list[SearchHit], terms: list[TermGroup],
                 kinds: list[str] | None) -> tuple[_Scored, np.ndarray]:
        """The candidates and the selector's feature matrix, one row each (also what training reads)."""
        from app.answering.selector import candidate_features, question_view

        scored = self.candidates(sources, terms, kinds)
        asked = [self.kinds[k] for k in kinds or [] if k in self.kinds]
        attainable = sum(w for w, c in zip(scored.weight, scored.df) if c) or 1.0
        view = question_view(question, kinds or [], self.kinds, terms, scored.weight, attainable)
        shares = self._list_shares(scored.sentences, asked)
        roles = self._figure_roles(scored.sentences, sources)
        self._hand_scores(scored.sentences, sources, kinds)
        hand = [c.score for c in scored.sentences]
        return scored, candidate_features(view, scored.sentences, sources, self.kinds, shares, roles, hand)

    def compose(self, question: str, sources: list[SearchHit], terms: list[TermGroup],
                kinds: list[str] | None = None) -> Extract:
        if not terms or not sources:
            return Extract([])
        if self.selector is not None:
            scored, matrix = self.features(question, sources, terms, kinds)
            for c, score in zip(scored.sentences, self.selector.scores(matrix)):
                c.score = float(score)
            self._current_before_superseded(scored.sentences, sources)
            if self.answer_form(kinds) == "list":
                self._list_that_answers_first(scored.sentences, kinds)
        else:
            scored = self.candidates(sources, terms, kinds)
            self._hand_scores(scored.sentences, sources, kinds)
        candidates, weight, total = scored.sentences, scored.weight, scored.total
        if not candidates:
            return Extract([])
        form = self.answer_form(kinds)
        ranked = sorted(candidates, key=lambda c: (-c.score, c.rank, c.start))
        best = ranked[0]
        if form != "clause":
            chosen = self._around(best, candidates, whole_list=form == "list")
            first_unit = len(chosen)
            if not (form == "list" and chosen[0].lead_in and len(chosen) > 2):  # a whole list is the answer
                chosen = self._add_runner_ups(chosen, ranked, sources, terms)
            if len(chosen) == 1:  # one sentence: with the rest of its clause, within the budget
                chosen = self._add_continuation(chosen, candidates)
                first_unit = len(chosen)
            sentences = self._assemble(self._arrange(chosen, first_unit, candidates), sources)
        elif self.selector is not None:
            sentences = self._clauses_around(ranked, candidates, sources)
        else:  # a question about measures or a topic: the clauses that answer it
            sentences = self._clauses(question, sources)
        everywhere = set().union(*(c.matched | c.in_context for c in candidates))
        missing = [weight[i] for i, g in enumerate(terms)
                   if i not in everywhere and len(g.word) > 1 and g.word not in self.asking_words]
        return Extract(sentences, coverage=best.covered, best_coverage=max(c.covered for c in candidates),
                       source_coverage=sum(weight[i] for i in everywhere) / total,
                       largest_missing=max(missing, default=0.0) / total,
                       answers_kind=best.cue, selector_top=best.score if self.selector is not None else 0.0,
                       selector_margin=(best.score - ranked[1].score) if self.selector is not None
                       and len(ranked) > 1 else 0.0)

    def _list_that_answers_first(self, candidates: list[_Sentence], kinds: list[str] | None) -> None:
        """A hard constraint for a question that asks for a list (materials): a lead-in in the best
        candidate's document whose items mostly show the strong sign of the answer ("…复印件",
        "…申请表") is the answer, above any sentence that names a material in passing ("…提交相关材料")."""
        asked = [self.kinds[k] for k in kinds or [] if k in self.kinds]
        best = max(candidates, key=lambda c: c.score)
        lists = [(candidates[i], share) for i, share in self._list_shares(candidates, asked).items()
                 if share > 0.5 and candidates[i].doc_rank == best.doc_rank]
        if lists:
            lead = max(lists, key=lambda pair: (pair[1], pair[0].score))[0]
            lead.score = max(lead.score, best.score + 1e-3)

    def _current_before_superseded(self, candidates: list[_Sentence], sources: list[SearchHit]) -> None:
        """A hard constraint over the learned scores: a figure that a retrieved newer document restates
        about the same thing never ranks above that restatement (a 2008 扶助金 of 200元 below the 2022
        notice's 900元), whatever else the model saw in it. The current figure takes the older one's
        score if that was higher, and the older one falls just below it."""
        roles = self._figure_roles(candidates, sources)
        docs = [hit.doc_id for hit in sources]
        for i, (superseded, _) in roles.items():
            if not superseded:
                continue
            older = candidates[i]
            newer = set(sources[older.rank].document.get("amended_by") or [])
            successors = [candidates[j] for j, (_, current) in roles.items() if current
                          and docs[candidates[j].rank] in newer and same_subject(older.text, candidates[j].text)]
            if successors:
                best = max(successors, key=lambda c: c.score)
                best.score = max(best.score, older.score)
                older.score = min(older.score, best.score - 1e-3)

    def _hand_scores(self, candidates: list[_Sentence], sources: list[SearchHit], kinds: list[str] | None) -> None:
        """The hand-weighted score, used when no selector is configured: relevance, rank and kind cue;
        a list whose items look like the answer scores as the answer (in the first document only: this
        chooses the passage, not the document); an amended figure gives its place to the current one."""
        asked = [self.kinds[k] for k in kinds or [] if k in self.kinds]
        for c in candidates:
            c.score = self._score(c, bool(kinds))
        if self.answer_form(kinds) == "list":
            for i, share in self._list_shares(candidates, asked).items():
                c = candidates[i]
                if share > 0.5 and c.doc_rank_for_score == 0:
                    c.cue = 1.0  # the list looks like the answer, whatever its lead-in says
                    c.score = max(c.score, self._score(c, True, by_length=False))
        docs = [hit.doc_id for hit in sources]
        newer_of = {hit.doc_id: set(hit.document.get("amended_by") or []) & set(docs) for hit in sources}
        figures = [c for c in candidates if FIGURE.search(c.text)]
        for c in figures:
            newer = newer_of[docs[c.rank]]
            successors = [d for d in figures if docs[d.rank] in newer and d.matched and same_subject(c.text, d.text)]
            if successors:
                current = max(successors, key=lambda d: d.score)
                current.score = max(current.score, c.score)
                c.score *= self.amended_figure_factor

    def _clauses(self, question: str, sources: list[SearchHit]) -> list[AnswerSentence]:
        """For a question about measures or a topic ("有哪些举措", "如何做好…"), whose answer is a
        whole clause: paragraphs scored by the IDF-weighted question tokens they hold (question
        tokens in the document's title counted less: they say which document, not which passage)
        and strongly by the rank of their
        chunk; the best and close runner-ups of its document, within `clause_budget_chars`."""
        terms = set(self.tokenize(question))
        # headings name the topic; the answer is the clause under them, and they are never quoted
        units = [(rank, s, e, set(self.tokenize(hit.text[s:e])))
                 for rank, hit in enumerate(sources) for s, e in paragraph_spans(hit.text)
                 if not looks_like_heading(hit.text[s:e])]
        if not terms or not units:
            return []
        df = Counter(t for *_, tokens in units for t in tokens & terms)
        n = len(units) + 1
        weight = {t: math.log(1 + n / (1 + df[t])) for t in terms}
        title_terms = {hit.doc_id: set(self.tokenize(hit.document.get("title") or "")) & terms for hit in sources}
        scored = []
        for rank, s, e, tokens in units:
            in_title = title_terms[sources[rank].doc_id]
            overlap = sum(weight[t] * (self.title_term_weight if t in in_title else 1.0) for t in tokens & terms)
            score = overlap / (1 + 0.001 * (e - s)) + self.clause_rank_prior * (len(sources) - rank)
            scored.append((score, rank, s, e))
        scored.sort(key=lambda u: (-u[0], u[1], u[2]))
        best = scored[0]
        chosen, used = [best], best[3] - best[2]
        for unit in scored[1:]:
            if unit[0] < self.clause_runner_up * best[0]:
                break
            if sources[unit[1]].doc_id != sources[best[1]].doc_id:
                continue
            if used + unit[3] - unit[2] <= self.clause_budget_chars:
                chosen.append(unit)
                used += unit[3] - unit[2]
        return [_quote(sources, rank, ss, se) for _, rank, s, e in sorted(chosen, key=lambda u: (u[1], u[2]))
                for ss, se in sentence_spans(sources[rank].text, s, e)]

    def _clauses_around(self, ranked: list[_Sentence], candidates: list[_Sentence],
                        sources: list[SearchHit]) -> list[AnswerSentence]:
        """For a question about measures or a topic, whose answer is a whole clause: the paragraph of
        the best sentence (from that sentence on when the paragraph is longer than the budget), then
        other paragraphs of its document whose best sentence scores within the margin, within
        `clause_budget_chars`; the best sentence's paragraph and its list first, each paragraph on a line."""
        best = ranked[0]
        paragraphs: dict[tuple[int, int], list[_Sentence]] = {}
        for c in candidates:
            paragraphs.setdefault(c.paragraph, []).append(c)
        own = paragraphs[best.paragraph]
        start = own.index(best)
        picked = own[start:]
        for c in reversed(own[:start]):  # the sentences before it, when the clause fits whole
            picked.insert(0, c)
        while sum(len(c.text) for c in picked) > self.clause_budget_chars and len(picked) > 1:
            picked.pop(-1 if picked[-1] is not best else 0)
        chosen = list(picked)
        used = sum(len(c.text) for c in chosen)
        doc = sources[best.rank].doc_id
        taken = {best.paragraph}
        for c in ranked[1:]:
            if c.score < best.score - self.selector_margin:
                break
            if c.paragraph in taken or sources[c.rank].doc_id != doc:
                continue
            more = paragraphs[c.paragraph]
            size = sum(len(m.text) for m in more)
            if used + size <= self.clause_budget_chars:
                chosen += more
                used += size
                taken.add(c.paragraph)
        # the best sentence's paragraph first, with the lead-in and items of its list that are quoted (in
        # the document's order), then the other paragraphs in theirs
        lead, items, nested = self._list_of(best, candidates)
        block = {id(c) for c in [*picked, *([lead] if lead else []), *items, *nested, *self._siblings(best, candidates)]}
        first = sorted((c for c in chosen if id(c) in block), key=lambda c: c.offset)
        rest = sorted((c for c in chosen if id(c) not in block), key=lambda c: (c.rank, c.start))
        return self._assemble(first + rest, sources, paragraphs_apart=True)

    def _score(self, c: _Sentence, asked: bool, by_length: bool = True) -> float:
        """Relevance plus the rank of its document (and, a little, of its chunk), scaled down when
        the sentence does not look like what the question asks for; shorter sentences first."""
        base = c.relevance + self.rank_weight / (1 + c.doc_rank_for_score) + 0.05 / (1 + c.rank)
        fit = 1 - self.cue_weight * (1 - c.cue) if asked else 1.0
        return base * fit / (1 + len(c.text) / 300) if by_length else base * fit

    def _list_shares(self, candidates: list[_Sentence], asked: list[QuestionKind]) -> dict[int, float]:
        """For each lead-in with at least two items (by index): the share of its items that show the
        strong sign of the asked kind ("…复印件", "…申请表"). A long "由其监护人向…提出…申请，同时提供
        以下材料：" whose items are materials is what a question about materials asks for, unlike a
        short sentence that mentions one of them in passing."""
        shares = {}
        for i, c in enumerate(candidates):
            if not c.lead_in:
                continue
            _, items, _ = self._list_of(c, candidates)
            heads = [item for item in items if item.list_item]
            if len(heads) >= 2:
                shown = sum(1 for item in heads if max((k.answered_by(item.text) for k in asked), default=0.0) >= 1.0)
                shares[i] = shown / len(heads)
        return shares

    @staticmethod
    def _figure_roles(candidates: list[_Sentence], sources: list[SearchHit]) -> dict[int, tuple[bool, bool]]:
        """(superseded, current) by index: a figure in a document that a retrieved newer document
        amends, when the newer document states a figure about the same thing (their sentences share
        enough words, and the newer one holds words of the question), is superseded; that newer
        figure is current."""
        docs = [hit.doc_id for hit in sources]
        newer_of = {hit.doc_id: set(hit.document.get("amended_by") or []) & set(docs) for hit in sources}
        figures = [i for i, c in enumerate(candidates) if FIGURE.search(c.text)]
        roles: dict[int, tuple[bool, bool]] = {}
        for i in figures:
            c = candidates[i]
            newer = newer_of[docs[c.rank]]
            if not newer:
                continue
            successors = [j for j in figures if docs[candidates[j].rank] in newer and candidates[j].matched
                          and same_subject(c.text, candidates[j].text)]
            if successors:
                roles[i] = (True, roles.get(i, (False, False))[1])
                for j in successors:
                    roles[j] = (roles.get(j, (False, False))[0], True)
        return roles

    def _list_of(self, sentence: _Sentence, candidates: list[_Sentence]
                 ) -> tuple[_Sentence | None, list[_Sentence], list[_Sentence]]:
        """The lead-in ("…提交以下材料："), the items and the nested items of the list a sentence
        opens or belongs to. The items share one marker style, unlike their lead-in: "（四）" after
        "（三）…材料：1.… 2.…" is the next clause, not an item. An item that is a lead-in itself
        ("③父母双方情况证明的原件及复印件：") keeps the list going; what follows it up to the next
        item is its own list, nested."""
        same = sorted((c for c in candidates if c.run == sentence.run), key=lambda c: c.offset)
        if sentence.lead_in:
            lead = sentence
        elif sentence.list_item:
            before = [c for c in same if c.offset < sentence.offset]
            lead = None
            for c in reversed(before):  # back over the items (and their nested lists), to the lead-in
                if c.lead_in and not (c.list_item and c.style == sentence.style):
                    lead = c if marker_style(c.text) != sentence.style else None
                    break
                if c.list_item and c.style != sentence.style and not self._nested_under(c, before, sentence.style):
                    break
                if not c.list_item and c.paragraph != sentence.paragraph \
                        and not self._nested_under(c, before, sentence.style):
                    break
            if lead is None:
                return None, [], []
        else:
            return None, [], []
        lead_style = marker_style(lead.text)
        items: list[_Sentence] = []
        nested: list[_Sentence] = []
        style = None
        for c in same:
            if c.offset <= lead.offset:
                continue
            if c.list_item and c.style == lead_style:  # the lead-in's own next sibling
                break
            if c.list_item and (style is None or c.style == style):
                style = c.style
                items.append(c)
                continue
            if not items:
                break
            last = items[-1]
            if not c.list_item and not c.lead_in and c.paragraph == last.paragraph:
                items.append(c)  # the item's next sentence
            elif last.lead_in and not (c.lead_in and not c.list_item):
                nested.append(c)  # the list of an item that is a lead-in
            else:
                break
        return lead, items, nested

    @staticmethod
    def _nested_under(c: _Sentence, before: list[_Sentence], style: str | None) -> bool:
        """Whether a sentence belongs to the nested list of an earlier item of this style."""
        for earlier in reversed([b for b in before if b.offset < c.offset]):
            if earlier.list_item and earlier.style == style:
                return earlier.lead_in
            if earlier.lead_in and not earlier.list_item:
                return False
        return False

    def _around(self, best: _Sentence, candidates: list[_Sentence], whole_list: bool) -> list[_Sentence]:
        """The best sentence with what it needs to be read: a list item with its lead-in, a later
        sentence of a list item with the item's opening ("（1）家庭成员名下拥有机动车辆…。符合…可适当
        放宽…"). When the question asks for a list (materials, conditions), the lead-in and its items
        in order as far as `list_budget_chars` holds them (nested lists only when every item fits);
        else the lead-in alone ("…向所在区民政局提出申请，并提交以下材料：" answers "找谁申请") or the
        lead-in and the best item."""
        lead, items, nested = self._list_of(best, candidates)
        item = [best]
        if lead is None:
            item = self._item_through(best, candidates)
            if item[0] is not best:
                lead, items, nested = self._list_of(item[0], candidates)
        if lead is None or (best is lead and not whole_list):
            return item if sum(len(c.text) for c in item) <= self.list_budget_chars else [best]
        if not whole_list:
            for option in ([lead, *item], item):
                if sum(len(c.text) for c in option) <= self.list_budget_chars:
                    return option
            return [best]
        chosen = [lead]
        if self._fill(chosen, items):
            self._fill(chosen, nested)
        if best not in chosen:  # the item that answers is beyond the budget: the lead-in and that item
            chosen = [lead, *item]
        return sorted(chosen, key=lambda c: c.offset)

    def _fill(self, chosen: list[_Sentence], more: list[_Sentence]) -> bool:
        """Appends `more` in order while `list_budget_chars` holds them; whether all fitted."""
        used = sum(len(c.text) for c in chosen)
        for c in more:
            if used + len(c.text) > self.list_budget_chars:
                return False
            chosen.append(c)
            used += len(c.text)
        return True

    @staticmethod
    def _item_through(best: _Sentence, candidates: list[_Sentence]) -> list[_Sentence]:
        """`best` with the opening sentence of the list item it continues, when that opening holds
        a word of the question `best` does not ("（1）家庭成员名下拥有机动车辆…。符合…拥有唯一机动车
        …可适当放宽认定条件": the exception reads with the rule); else just `best`."""
        paragraph = [c for c in candidates if c.paragraph == best.paragraph and c.start < best.start]
        if not paragraph or not paragraph[0].list_item:
            return [best]
        opening = paragraph[0]
        return [opening, best] if opening.matched - best.matched else [best]

    def _add_continuation(self, chosen: list[_Sentence], candidates: list[_Sentence]) -> list[_Sentence]:
        """The sentences that follow the last chosen one in its paragraph, within the budget."""
        last = max(chosen, key=lambda c: (c.rank, c.start))
        used = sum(len(c.text) for c in chosen)
        for c in candidates:
            if c.rank != last.rank or c.start <= last.start or c in chosen:
                continue
            if c.paragraph != last.paragraph or used + len(c.text) > self.budget_chars:
                break
            chosen.append(c)
            used += len(c.text)
            last = c
        return chosen

    def _add_runner_ups(self, chosen: list[_Sentence], ranked: list[_Sentence], sources: list[SearchHit],
                        terms: list[TermGroup] | None = None) -> list[_Sentence]:
        """Another sentence of the same document, nearly as good, within the sentence and character
        budget. With the learned selector: any within its margin that shows the asked kind's sign or holds
        a word of the question the chosen ones lack, and does not repeat them ("此次…是…重要举措" after a
        figure is neither);
        with the hand score: one that holds a part of the question the chosen ones do not (a question
        that asks two things) or another figure of the kind asked (a second tier of a standard).
        A list counts as one sentence."""
        head = max(chosen, key=lambda c: c.score)
        held = set().union(*(c.matched for c in chosen))
        used = sum(len(c.text) for c in chosen)
        units = 1
        for c in ranked[1:]:
            close = c.score >= head.score - self.selector_margin if self.selector is not None \
                else c.score >= self.runner_up * head.score
            if units >= self.max_sentences or not close:
                break
            if c in chosen or c.lead_in or sources[c.rank].doc_id != sources[head.rank].doc_id:
                continue
            if self.selector is not None:  # the model judged it nearly as good: take it if it says something
                # the question asks (its kind's sign, or a word of it the chosen ones lack) and does not repeat
                news = {i for i in c.matched - held if terms and terms[i].word not in self.asking_words}
                adds = (c.cue > 0 or bool(news)) and not _repeats(c.text, [x.text for x in chosen])
            else:
                adds = bool(c.matched - held) or (c.cue >= 1.0 and head.cue >= 1.0)
            if not adds or used + len(c.text) > self.budget_chars:
                continue
            chosen.append(c)
            held |= c.matched
            used += len(c.text)
            units += 1
        return chosen

    def _arrange(self, chosen: list[_Sentence], first_unit: int, candidates: list[_Sentence]) -> list[_Sentence]:
        """The answer's order: what answers first (the best sentence with what it needs to be read,
        in document order), then the runner-ups in document order — except that an item of the first
        unit's list joins that list in its place, so a list reads 1. 2. 3., never 1. 3. 2."""
        unit, rest = list(chosen[:first_unit]), chosen[first_unit:]
        lead = next((c for c in unit if c.lead_in), None) or self._list_of(unit[0], candidates)[0]
        if lead is not None:
            _, items, nested = self._list_of(lead, candidates)
        else:  # a list whose lead-in is a plain sentence ("(三)高龄老年人津贴。发放给…"): its items still
            items, nested = self._siblings(unit[0], candidates), []
        members = {id(c) for c in [*items, *nested]}
        unit += [c for c in rest if id(c) in members]
        rest = [c for c in rest if id(c) not in members]
        return sorted(unit, key=lambda c: (c.rank, c.start)) + sorted(rest, key=lambda c: (c.rank, c.start))

    @staticmethod
    def _siblings(item: _Sentence, candidates: list[_Sentence]) -> list[_Sentence]:
        """The items of the list a list item belongs to, when no lead-in announces it: the paragraphs
        next to its own (in its run of chunks) that open with an item of its marker style, whole; none
        for a sentence that is not an item."""
        if not item.list_item:
            return []
        paragraphs: list[list[_Sentence]] = []
        for c in sorted((c for c in candidates if c.run == item.run), key=lambda c: c.offset):
            if paragraphs and paragraphs[-1][0].paragraph == c.paragraph:
                paragraphs[-1].append(c)
            else:
                paragraphs.append([c])
        opens = [p[0].list_item and p[0].style == item.style for p in paragraphs]
        at = next(i for i, p in enumerate(paragraphs) if item in p)
        first, last = at, at
        while first > 0 and opens[first - 1]:
            first -= 1
        while last + 1 < len(paragraphs) and opens[last + 1]:
            last += 1
        return [c for p in paragraphs[first:last + 1] for c in p]

    @staticmethod
    def _assemble(chosen: list[_Sentence], sources: list[SearchHit], paragraphs_apart: bool = False
                  ) -> list[AnswerSentence]:
        """Answer sentences from the chosen candidates: sentences that follow each other in their
        source with nothing but spaces or line breaks between (a lead-in and its items, a clause)
        become one quote with one citation, the document's own line breaks kept, so a list reads as
        a list with its source named once after it. A list item that stands apart starts a line, and so
        does what follows a list (and, with `paragraphs_apart`, every paragraph after the first)."""
        out: list[AnswerSentence] = []
        last: _Sentence | None = None
        in_items = {c.paragraph for c in chosen if c.list_item}  # what follows a list item starts a line
        for c in chosen:
            text = sources[c.rank].text
            if last is not None and last.rank == c.rank and last.end <= c.start and not text[last.end:c.start].strip():
                quote = text[out[-1].citations[0].start - sources[c.rank].start:c.end]
                citation = out[-1].citations[0]
                out[-1] = AnswerSentence(quote, [Citation(citation.number, citation.doc_id, citation.chunk_id, quote,
                                                          citation.start, sources[c.rank].start + c.end)],
                                         line_break=out[-1].line_break)
            else:
                sentence = _quote(sources, c.rank, c.start, c.end)
                sentence.line_break = bool(out) and (c.list_item or (last is not None and (
                    last.lead_in or last.paragraph in in_items or (paragraphs_apart and last.paragraph != c.paragraph))))
                out.append(sentence)
            last = c
        return out


def _repeats(text: str, chosen: list[str]) -> bool:
    """Does a sentence mostly say what the chosen ones say (three in five of its character pairs) and
    state no figure they do not? Tiers of a standard ("1.80周岁至89周岁…100元；2.90周岁至99周岁…500元")
    share their wording but not their figures: each is news."""
    said_figures = {f for t in chosen for f in re.findall(r"\d+(?:\.\d+)?", LIST_NUMBER.sub("", t))}
    if set(re.findall(r"\d+(?:\.\d+)?", LIST_NUMBER.sub("", text))) - said_figures:
        return False
    pairs = {text[i:i + 2] for i in range(len(text) - 1)}
    said = {t[i:i + 2] for t in chosen for i in range(len(t) - 1)}
    return bool(pairs) and len(pairs & said) >= 0.6 * len(pairs)


def _runs(sources: list[SearchHit]) -> list[int]:
    """For each source, the run of consecutive chunks of its document it is in (a list that goes
    on past the end of one chunk goes on in the next, when both were retrieved)."""
    run = list(range(len(sources)))
    by_doc: dict[str, list[int]] = {}
    for rank, hit in enumerate(sources):
        by_doc.setdefault(hit.doc_id, []).append(rank)
    for ranks in by_doc.values():
        ranks.sort(key=lambda r: sources[r].start)
        for before, after in zip(ranks, ranks[1:]):
            if 0 <= sources[after].start - sources[before].end <= 2:
                run[after] = run[before]
    return run


def _quote(sources: list[SearchHit], rank: int, start: int, end: int) -> AnswerSentence:
    """The span start:end of source `rank` as an answer sentence citing it, offsets in the document body."""
    hit = sources[rank]
    quote = hit.text[start:end]
    return AnswerSentence(quote, [Citation(rank + 1, hit.doc_id, hit.chunk_id, quote, hit.start + start,
                                           hit.start + end)])
