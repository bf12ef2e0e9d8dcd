"""The answer pipeline's steps. Each reads and writes named fields of the AnswerContext and may end
the flow with a status (listed in policies/answer_statuses.yml); none raises on purpose."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
import unicodedata
from dataclasses import asdict, replace

from app.answering.answerability import AnswerabilityModel, evidence_features, other_year, unmatched_place
from app.answering.extractive import FIGURE, Extract, ExtractiveComposer, changes_figure, same_subject, sentence_spans
from app.answering.llm_composer import LLMComposer, LLMComposition
from app.clients.llm import LLMClient, LLMUnavailable
from app.answering.support import unsupported_reason
from app.audit.store import AuditEvent, AuditStore
from app.clients.sparse import JiebaBm25Encoder
from app.domain import (BEIJING, KNOWLEDGE, NOT_IN_FORCE, VALIDITY_UNKNOWN, AnswerSentence, Citation, SearchHit,
                        document_name, document_short_name)
from app.pipeline.context import AnswerContext
from app.policy_data import kind_search_words, kinds_asked, matching_guardrail, question_kinds
from app.prompts import Prompt
from app.ranking import DocumentRanker, at_most_per_document
from app.retrieval import HybridRetriever
from app.vocabulary import CorpusVocabulary, TermGroup, question_terms
from app.security.pii import MASKED, mask_personal_data

# guardrail list in policies/guardrails/ → the status a match ends with, checked in this order
GUARDRAIL_STATUSES = {"crisis": "crisis", "injection": "refused_injection", "out_of_scope": "out_of_scope"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\ufeff]")
# a question that is only "X呢？" or "那要是…呢" (the last question, asked of another case) continues the
# conversation; the pointer a follow-up may open with ("那…", "还有…") is left out of its rewritten form
_ONLY_X_NE = re.compile(r"^[^，,。；;？?]{1,10}呢[？?]?$|^(?:那么?)?(?:要是|如果|假如)[^？?]{0,20}呢")
_FOLLOW_UP_LEAD = re.compile(r"^(?:那么|那|还有|另外|这个|那个)[，,\s]*")


class CheckQuestion:
    """Reads question_raw. Writes question (cleaned, personal data masked), personal_data,
    guardrail. Stops with invalid_question, crisis, refused_injection or out_of_scope."""

    name = "check_question"

    def __init__(self, max_chars: int = 500) -> None:
        self.max_chars = max_chars

    def __call__(self, ctx: AnswerContext) -> None:
        text = unicodedata.normalize("NFKC", ctx.question_raw or "")
        text = _CONTROL.sub("", text)
        text = re.sub(r"\s+", " ", text).strip()
        masked = mask_personal_data(text)
        ctx.question, ctx.personal_data = masked.text, masked.found
        if not text or len(text) > self.max_chars or not re.search(r"[\w\u4e00-\u9fff]", text):
            ctx.stop("invalid_question")
            return
        for guardrail, status in GUARDRAIL_STATUSES.items():
            pattern = matching_guardrail(guardrail, text)
            if pattern:
                ctx.guardrail = f"{guardrail}: {pattern}"
                ctx.stop(status)
                return


class RewriteQuestion:
    """Reads question, history. Writes rewritten: a follow-up ("那需要什么材料？") becomes a
    standalone question — by the LLM when one is configured, else (or when it fails) by putting the
    subject of the previous question before it: the programmes and things it was about (the words the
    people's-words vocabulary knows, and its nouns, less the intent words, the kind cues and the nouns
    that name no topic: policies/dictionaries/generic_nouns.txt), not the whole sentence, whose
    "去哪儿申请" or "今年孩子住院自己掏了两万多" would pull the answer towards the wrong clause.

    A question is a follow-up unless it names something of its own: a programme the vocabulary
    knows that the last question did not name ("另外问一下，北京现在的低保线是多少？"), or two
    nouns of its own ("老旧小区加装电梯有补贴吗？" after a question about 高龄津贴: read as its
    follow-up it was answered with the 高龄津贴 clauses). "那要是住院呢？", "交上去以后多久能知道批没
    批？", "我老婆也在北京上班，她也能再扣一份吗？" name nothing of their own and follow up."""

    name = "rewrite_question"
    THING_TAGS = ("n", "nr", "nz", "nt", "nl", "ng", "j")  # jieba tags of nouns (nr: it takes 幼儿园 for a name)

    def __init__(self, sparse: JiebaBm25Encoder, intent_words: set[str], vocabulary: CorpusVocabulary,
                 llm: LLMClient | None = None, prompt: Prompt | None = None,
                 generic_nouns: set[str] | frozenset[str] = frozenset()) -> None:
        self.sparse, self.intent_words, self.vocabulary = sparse, intent_words, vocabulary
        self.llm, self.prompt, self.generic_nouns = llm, prompt, set(generic_nouns)

    def follows_up(self, question: str, previous: str) -> bool:
        before = self.subject_words(previous) + self.things(previous) + self.programmes(previous) \
            + self.phrases(previous)

        def new(word: str) -> bool:
            return not any(word in other or other in word for other in before)

        if _ONLY_X_NE.search(question):  # "那我上初中的闺女呢？", "那要是…呢？": the last question, of another case
            return True
        if any(new(word) for word in self.programmes(question) + self.phrases(question)):
            return False  # a programme, or a name of three characters or more, of its own ("失能护理补贴")
        return sum(1 for thing in self.things(question) if new(thing)) < 2

    def topics(self, question: str) -> list[str]:
        """What a question is about: the programmes it names and its nouns."""
        return list(dict.fromkeys(self.programmes(question) + self.things(question)))

    PHRASE_TAGS = (*THING_TAGS, "vn", "b")  # nouns, verbal nouns (救助), distinguishing words (无障碍)

    def phrases(self, question: str) -> list[str]:
        """The names a question uses for what it asks about, whole: runs of nouns as they stand
        ("独生子女父母奖励费", "个人养老金账户", "物业费"), three characters or more. A document that holds
        their parts but not the name may be about a neighbouring programme."""
        out, run = [], ""
        for word, tag in [*self.sparse.tagged(MASKED.sub("，", question)), ("", "x")]:
            if tag in self.PHRASE_TAGS and word not in self.generic_nouns:
                run += word
                continue
            if len(run) >= 3 and run not in self.intent_words:
                out.append(run)
            run = ""
        return list(dict.fromkeys(out))

    def programmes(self, question: str) -> list[str]:
        """The programmes and benefits a question names: words of the people's-words vocabulary
        (低保, 失业金, 无障碍改造, 居民医保) that stand as a noun in it or are long enough to be a name."""
        nouns = {word for word, tag in self.sparse.tagged(question) if tag in self.THING_TAGS}
        return [m.word for m in self.vocabulary.current().matches(question)
                if self._kept(m.word) and (len(m.word) >= 3 or m.word in nouns)]

    def __call__(self, ctx: AnswerContext) -> None:
        previous = [turn["question"] for turn in ctx.history if turn.get("question")]
        if not previous or not self.follows_up(ctx.question, previous[-1]):
            return
        if self.llm is not None and self.prompt is not None:
            messages = [{"role": "system", "content": self.prompt["system"]},
                        {"role": "user", "content": self.prompt["user"].format(
                            history="\n".join(previous[-3:]), question=ctx.question)}]
            try:
                text = "".join(self.llm.stream_chat(messages)).strip()
                if 0 < len(text) <= 200:
                    ctx.rewritten = mask_personal_data(text).text
                    return
            except LLMUnavailable as exc:
                ctx.degraded_reason = f"rewrite: {exc}"
        subject = self.subject(previous[-1])
        question = _FOLLOW_UP_LEAD.sub("", ctx.question) or ctx.question
        ctx.rewritten = f"{subject}，{question}" if subject else f"{previous[-1]} {ctx.question}"

    def _kept(self, word: str) -> bool:
        kinds = question_kinds().values()
        return len(word) > 1 and word not in self.intent_words and word not in self.generic_nouns \
            and not any(k.asked_by(word) for k in kinds)

    def subject_words(self, question: str) -> list[str]:
        """What a question is about: its words less the intent words, the kind cues, the nouns that
        name no topic and the masks of personal data, in order; a word inside a longer kept word is
        dropped (jieba's search mode yields both)."""
        words = [w for w in dict.fromkeys(self.sparse.words(MASKED.sub("，", question))) if self._kept(w)]
        return [w for w in words if not any(w != other and w in other for other in words)]

    def things(self, question: str) -> list[str]:
        """The nouns a question names (jieba's part of speech), less those that name no topic."""
        return list(dict.fromkeys(word for word, tag in self.sparse.tagged(MASKED.sub("，", question))
                                  if tag in self.THING_TAGS and self._kept(word)))

    def subject(self, question: str) -> str:
        """The programmes and things a question names, as they stand in it ("低保户 住院 临时救助", not
        "低保户 今年孩子住院自己 两万多 …")."""
        names = self.programmes(question) + self.things(question)
        question = MASKED.sub("，", question)
        # words next to each other in the question stay together ("养老服务补贴津贴")
        spans = sorted((question.find(w), question.find(w) + len(w)) for w in names if w in question)
        parts: list[list[int]] = []
        for start, end in spans:
            if parts and start <= parts[-1][1]:
                parts[-1][1] = max(parts[-1][1], end)
            else:
                parts.append([start, end])
        return " ".join(question[s:e] for s, e in parts)


class ReadQuestion:
    """Reads search_question, question. Writes kinds (what it asks for: amount, deadline, who, material,
    condition, requirement, procedure; policies/question_kinds.yml), terms (its words, each with the
    words that mean the same: the people's words and the documents') and turn_terms (those of the
    question as asked, when a follow-up was rewritten) and topic_terms (those naming what it is about:
    `topics`, the programmes and nouns the rewrite step reads)."""

    name = "read_question"

    def __init__(self, sparse: JiebaBm25Encoder, vocabulary: CorpusVocabulary,
                 topics: Callable[[str], list[str]] = lambda question: [],
                 phrases: Callable[[str], list[str]] = lambda question: []) -> None:
        self.sparse, self.vocabulary, self.topics, self.phrases = sparse, vocabulary, topics, phrases

    def __call__(self, ctx: AnswerContext) -> None:
        question = ctx.search_question
        vocabulary = self.vocabulary.current()
        ctx.kinds = kinds_asked(question)
        ctx.terms = question_terms(question, self.sparse.words(question), vocabulary)
        topics = self.topics(question)
        ctx.topic_terms = [g for g in ctx.terms if any(t in g.alternatives or g.word in t for t in topics)]
        if ctx.rewritten:  # what this turn names of its own ("那…加装电梯呢"), not its "交上去以后多久"
            own = self.topics(ctx.question)
            ctx.turn_terms = [g for g in question_terms(ctx.question, self.sparse.words(ctx.question), vocabulary)
                              if any(t in g.alternatives or g.word in t for t in own)]
        else:
            ctx.turn_terms = ctx.topic_terms
        ctx.topic_phrases = [TermGroup(p, (p, *vocabulary.equivalents(p))) for p in self.phrases(ctx.question)]


class MatchKnowledge:
    """Reads search_question, kinds, filters. Writes knowledge, knowledge_similarity, and — when an approved
    hotline knowledge entry in force asks what the question asks — sources (the entry's chunks) and
    extract (the answer script, sentence by sentence, each cited to the entry): the policy search, the
    extraction and the answerability judgment are then skipped. A person approved this answer for
    this question; the policies it rests on travel with it as its basis.

    "Asks what the question asks" is strict, because e5-small finds every question about a programme
    alike (a paraphrase 0.92, a question the entry does not answer 0.93, the median): the entry's
    question and answer at least `min_similarity` alike to the question (dense cosine), at least
    `min_overlap` of the question's character pairs in the entry's question, and the entry's question
    asking the same kinds of thing (amount, material, deadline …). Anything looser is answered from
    the policies, where answerability is judged."""

    name = "match_knowledge"

    def __init__(self, retriever: HybridRetriever, min_similarity: float, min_overlap: float) -> None:
        self.retriever, self.min_similarity, self.min_overlap = retriever, min_similarity, min_overlap

    def __call__(self, ctx: AnswerContext) -> None:
        if ctx.filters.kind and ctx.filters.kind != KNOWLEDGE:
            return  # the caller asked for another kind of source (kind=policy: the documents themselves)
        filters = replace(ctx.filters, kind=KNOWLEDGE, include_not_in_force=False)
        found = self.retriever.search_detailed(ctx.search_question, top_k=4, filters=filters)
        scored = [h for h in found.hits if "dense" in h.signals]
        if not scored:
            return
        best = max(scored, key=lambda h: h.signals["dense"])
        ctx.knowledge_similarity = best.signals["dense"]
        asked = best.document.get("title") or ""
        if (ctx.knowledge_similarity < self.min_similarity or pair_overlap(ctx.search_question, asked) < self.min_overlap
                or set(kinds_asked(asked)) != set(ctx.kinds)):  # "每月扣多少" is not "夫妻俩怎么分着扣"
            return
        chunks = sorted((h for h in self.retriever.search(ctx.search_question, top_k=8, filters=replace(
            filters, doc_ids=[best.doc_id]))), key=lambda h: h.start)
        ctx.knowledge, ctx.sources = best.doc_id, chunks or [best]
        sentences: list[AnswerSentence] = []
        for hit in ctx.sources:
            for text, start in _sentences_of(hit):
                # the items of a list the script runs on ("需提交：A；B；C") start a line each
                item = bool(sentences) and sentences[-1].text.endswith(("；", ";"))
                sentences.append(AnswerSentence(text, [Citation(1, hit.doc_id, hit.chunk_id, text, start,
                                                                start + len(text))], line_break=item))
        ctx.extract = Extract(sentences, coverage=1.0, best_coverage=1.0, source_coverage=1.0, answers_kind=1.0)


def pair_overlap(question: str, other: str) -> float:
    """The share of the question's character pairs (Chinese characters and digits) found in `other`."""
    def pairs(text: str) -> set[str]:
        kept = "".join(ch for ch in text if "\u4e00" <= ch <= "\u9fff" or ch.isdigit())
        return {kept[i:i + 2] for i in range(len(kept) - 1)}

    mine = pairs(question)
    return len(mine & pairs(other)) / len(mine) if mine else 0.0


def _sentences_of(hit: SearchHit) -> list[tuple[str, int]]:
    """(sentence, its offset in the document body) of a chunk, as the extractive composer cuts them."""
    return [(hit.text[s:e], hit.start + s) for s, e in sentence_spans(hit.text, 0, len(hit.text))]


class Retrieve:
    """Reads search_question, kinds, terms, filters. Writes sources (the search's best chunks, a
    few per document, reordered by the document ranker when one is configured; a document a newer
    one amends brings the newer one's best chunk along, the best few bring the chunks around them),
    best_dense, best_signals. Stops with
    refused_no_evidence when nothing is found, even among documents no longer in force. The sources
    are announced ("sources" event) once the answer's citations have numbered them."""

    name = "retrieve"

    def __init__(self, retriever: HybridRetriever, top_k: int = 8, ranker: DocumentRanker | None = None,
                 candidates: int = 30, per_document: int = 4, neighbours: int = 2) -> None:
        self.retriever, self.top_k, self.ranker, self.candidates = retriever, top_k, ranker, candidates
        self.per_document, self.neighbours = per_document, neighbours

    def __call__(self, ctx: AnswerContext) -> None:
        if ctx.knowledge:
            return  # a knowledge entry answers: its sources are set
        first = self.retriever.search_detailed(ctx.search_question, top_k=self.candidates, filters=ctx.filters,
                                               also=kind_search_words(ctx.kinds))
        hits = first.hits
        if not hits and not ctx.filters.include_not_in_force:
            hits = self.retriever.search(ctx.search_question, top_k=self.candidates,
                                         filters=replace(ctx.filters, include_not_in_force=True))
        if not hits:
            ctx.stop("refused_no_evidence")
            return
        if self.ranker is not None:
            hits = self.ranker.rerank(ctx.search_question, hits, ctx.terms, first.best)
        hits = at_most_per_document(hits, self.per_document)[:self.top_k]
        hits = self._with_neighbours(hits)
        ctx.sources = self._with_newer_documents(ctx, hits)
        for hit in ctx.sources:
            if hit.document.get("validity") in NOT_IN_FORCE and "replaced_by" not in hit.document:
                hit.document["replaced_by"] = self.retriever.replacement_of(hit.doc_id)
        # the fused search already ranked every chunk by cosine; only RRF needs a query of its own
        ctx.best_dense = first.best_dense if first.best_dense is not None else \
            self.retriever.best_dense(ctx.search_question, ctx.filters)
        ctx.best_signals = first.best

    def _with_neighbours(self, hits: list[SearchHit]) -> list[SearchHit]:
        """The chunks around the best `neighbours` sources, beside them, when the search missed them:
        a clause cut at a chunk boundary reads whole ("（三）申请人应提交的相关材料包括：" opens the chunk after
        the one the search found for "申请低保要准备哪些材料"), and the composer sees a list that goes
        on past its chunk. A neighbour carries no retrieval signal of its own."""
        if not self.neighbours:
            return hits
        present = {hit.chunk_id for hit in hits}
        around = self.retriever.neighbours(hits[:self.neighbours])
        out = []
        for hit in hits:
            before = [n for n in around.get(hit.chunk_id, []) if n.position < hit.position and n.chunk_id not in present]
            after = [n for n in around.get(hit.chunk_id, []) if n.position > hit.position and n.chunk_id not in present]
            present |= {n.chunk_id for n in before + after}
            out += [*before, hit, *after]
        return out

    def _with_newer_documents(self, ctx: AnswerContext, hits: list[SearchHit]) -> list[SearchHit]:
        """A retrieved document that a newer one amends (a raised standard) brings the newer one's
        best chunks along, right after its own, when the search missed them; each amended
        document carries a summary of its amenders for the answer's notice."""
        present = {hit.doc_id for hit in hits}
        missing = sorted({d for hit in hits for d in hit.document.get("amended_by") or []} - present)
        if missing:
            found = self.retriever.search(ctx.search_question, top_k=2 * len(missing),
                                          filters=replace(ctx.filters, doc_ids=missing))
            newest: dict[str, SearchHit] = {}
            for hit in found:
                newest.setdefault(hit.doc_id, hit)
            out = []
            for i, hit in enumerate(hits):
                out.append(hit)
                last_of_doc = i + 1 == len(hits) or all(h.doc_id != hit.doc_id for h in hits[i + 1:])
                if last_of_doc:
                    out += [newest.pop(d) for d in hit.document.get("amended_by") or [] if d in newest]
            hits = out
        newer = sorted({d for hit in hits for d in hit.document.get("amended_by") or []})
        if newer:
            summaries = self.retriever.document_summaries(newer)
            for hit in hits:
                if hit.document.get("amended_by"):
                    hit.document["amended_by_documents"] = [summaries[d] for d in hit.document["amended_by"]
                                                            if d in summaries]
        return hits


class ExtractAnswer:
    """Reads search_question, sources, terms, kinds. Writes extract: the extractive answer (a few
    verbatim sentences that hold what was asked, each cited) and the evidence measures the
    answerability decision reads. Cheap (a few ms): it is also the LLM's fallback."""

    name = "extract_answer"

    def __init__(self, composer: ExtractiveComposer) -> None:
        self.composer = composer

    def __call__(self, ctx: AnswerContext) -> None:
        if ctx.knowledge:
            return  # the answer script is the extract
        ctx.extract = self.composer.compose(ctx.search_question, ctx.sources, ctx.terms, ctx.kinds)


class JudgeAnswerability:
    """Reads search_question, sources, best_dense, best_signals, terms, kinds, extract. Writes
    evidence (the features) and answerable (a probability from a model fitted with
    cross-validation on answerable and unanswerable questions, models/answerability.json). Stops
    with refused_other_place when the question names a place outside Beijing no source mentions
    and the answer would quote Beijing's own documents ("上海失业金领多久": Beijing's rules are not
    Shanghai's), with refused_other_year when the question asks about a year the quoted documents and
    sentences do not cover ("2026年国庆节放几天假" answered from the 2019 holiday schedule), and with
    refused_no_evidence
    below the model's threshold, for the LLM as for the extractive answer."""

    name = "judge_answerability"

    def __init__(self, model: AnswerabilityModel | None, other_places: frozenset[str] = frozenset(),
                 this_year: Callable[[], int] = lambda: dt.datetime.now(BEIJING).year) -> None:
        self.model = model  # None only while training it: the features are still recorded
        self.other_places = other_places
        self.this_year = this_year

    def __call__(self, ctx: AnswerContext) -> None:
        if ctx.extract is None or not ctx.extract.sentences:
            ctx.stop("refused_no_evidence")
            return
        if ctx.knowledge:
            return  # a person approved this answer to this question
        ctx.evidence = evidence_features(ctx.sources, ctx.best_dense, ctx.best_signals, ctx.terms, ctx.kinds,
                                         ctx.extract, ctx.turn_terms, ctx.topic_terms, ctx.topic_phrases)
        quoted = {c.doc_id for sentence in ctx.extract.sentences for c in sentence.citations}
        place = unmatched_place(ctx.search_question, ctx.sources, self.other_places, quoted)
        if place is not None:
            ctx.guardrail = f"other_place: {place}"
            ctx.stop("refused_other_place")
            return
        years = other_year(ctx.question, ctx.sources, quoted, self.this_year(),
                           [sentence.text for sentence in ctx.extract.sentences])
        if years is not None:
            ctx.guardrail = f"other_year: {years}"
            ctx.stop("refused_other_year")
            return
        if self.model is None:
            return
        ctx.answerable = self.model.probability(ctx.evidence)
        if ctx.answerable < self.model.threshold:
            ctx.stop("refused_no_evidence")


class ComposeAnswer:
    """Reads search_question, sources, kinds, extract, cancel. Numbers the sources in the order the
    extractive answer first cites them (the rest after, in their search order) and announces them
    ("sources"); writes sentences (each with citations), composer, model, prompt_version, degraded,
    and emits each accepted sentence as a "delta". With an LLM configured it answers through it and falls back to the extractive answer
    (degraded) when the LLM is down, slow or failing; stops with cancelled when the client went
    away."""

    name = "compose_answer"

    def __init__(self, extractive_name: str, llm: LLMComposer | None = None) -> None:
        self.extractive_name, self.llm = extractive_name, llm

    def __call__(self, ctx: AnswerContext) -> None:
        ctx.extract.sentences, ctx.sources = numbered_by_first_use(ctx.extract.sentences, ctx.sources)
        ctx.emit("sources", {"sources": [{"number": n, "doc_id": h.doc_id, "chunk_id": h.chunk_id,
                                          "title": h.document.get("title"), "doc_number": h.document.get("doc_number"),
                                          "validity": h.document.get("validity"), "heading_path": h.heading_path}
                                         for n, h in enumerate(ctx.sources, 1)]})
        if self.llm is not None:
            result = LLMComposition()
            try:
                kinds = question_kinds()
                self.llm.compose(ctx.search_question, ctx.sources, on_sentence=lambda s: self._emit(ctx, s),
                                 cancelled=ctx.cancel.is_set, result=result, hints=ctx.extract.sentences,
                                 asks=[kinds[k].label for k in ctx.kinds if k in kinds])
                ctx.composer, ctx.model, ctx.prompt_version = self.llm.name, self.llm.model, self.llm.prompt.version
                ctx.sentences, ctx.dropped = result.sentences, ctx.dropped + result.dropped
                if ctx.cancel.is_set():
                    ctx.stop("cancelled")
                return
            except LLMUnavailable as exc:
                ctx.degraded, ctx.degraded_reason = True, str(exc)
                ctx.dropped += result.dropped
                if result.sentences:  # checked sentences already streamed: keep them, stop there
                    ctx.composer, ctx.model = self.llm.name, self.llm.model
                    ctx.prompt_version, ctx.sentences = self.llm.prompt.version, result.sentences
                    return
        ctx.composer, ctx.sentences = self.extractive_name, list(ctx.extract.sentences)
        for sentence in ctx.sentences:
            self._emit(ctx, sentence)

    @staticmethod
    def _emit(ctx: AnswerContext, sentence) -> None:
        ctx.emit("delta", {"text": ("\n" if sentence.line_break else "") + sentence.text
                           + "".join(f"[{c.number}]" for c in sentence.citations)})


class CheckAnswer:
    """Reads sentences, sources. Drops a sentence whose citation points at no retrieved source,
    whose quote is not in the cited chunk, or whose numbers, dates or 文号 are not in the cited
    chunk (recorded in dropped). Writes notice when a cited document is not in force, or has been
    amended by a newer document the answer does not cite and a figure is quoted from it (naming
    the newer one, its 文号 and from when it applies). Ends with answered / answered_not_in_force, or refused_no_evidence when nothing
    survives."""

    name = "check_answer"

    def __call__(self, ctx: AnswerContext) -> None:
        kept = []
        for sentence in ctx.sentences:
            reason = unsupported_reason(sentence, ctx.sources)
            if reason:
                ctx.dropped.append({"sentence": sentence.text, "reason": reason})
            else:
                kept.append(sentence)
        ctx.sentences, ctx.sources = numbered_by_first_use(kept, ctx.sources)  # an LLM's answer may cite [3] first
        if not kept:
            ctx.stop("refused_no_evidence")
            return
        cited = [hit for _, hit in ctx.cited_sources()]
        stale = [hit for hit in cited if hit.document.get("validity") in NOT_IN_FORCE]
        unknown = [hit for hit in cited if (hit.document.get("validity") or VALIDITY_UNKNOWN) == VALIDITY_UNKNOWN]
        notices = [self._validity_notice(hit) for hit in stale]
        notices += [f"提示：{document_short_name(hit.document)}的效力状态未知，请向发文机关核实" for hit in unknown]
        # a figure quoted from a document that a newer one changes (a retrieved clause of the newer
        # document states a figure about the same thing) is named as replaced, in one short line
        cited_ids = {hit.doc_id for hit in cited}
        notices += [self._amended_notice(ctx.sources[c.number - 1]) for s in ctx.sentences if FIGURE.search(s.text)
                    for c in s.citations[:1] if self._restated_by_newer(s.text, ctx.sources[c.number - 1], ctx.sources)
                    and not cited_ids & set(ctx.sources[c.number - 1].document.get("amended_by") or [])]
        ctx.notice = "；".join(dict.fromkeys(notices)) + "。" if notices else None
        if stale:
            ctx.stop("answered_not_in_force")
        else:
            ctx.stop("answered")

    @staticmethod
    def _validity_notice(hit) -> str:
        doc = hit.document
        notice = f"注意：{document_name(doc)}的状态为{doc.get('validity') or VALIDITY_UNKNOWN}，以下内容可能已不适用"
        replacement = doc.get("replaced_by")
        if replacement:
            return notice + f"，现行规定见{document_name(replacement)}"
        return notice + "，请以现行规定为准"


    @staticmethod
    def _restated_by_newer(sentence: str, hit: SearchHit, sources: list[SearchHit]) -> bool:
        """Does a retrieved clause of a document that amends `hit`'s state another figure about what the
        quoted sentence (read whole, as its source has it) states one about? (The same figure restated —
        the 40% share both documents give — or a figure in another unit — a fee in 元 beside a
        reimbursement rate in % — changes nothing the sentence says.)"""
        newer = set(hit.document.get("amended_by") or [])
        if not newer:
            return False
        at = hit.text.find(sentence)
        whole = next((hit.text[a:b] for a, b in sentence_spans(hit.text, 0, len(hit.text))
                      if at >= 0 and a <= at < b), sentence)
        return any(other.doc_id in newer and same_subject(whole, other.text[a:b]) and changes_figure(whole, other.text[a:b])
                   for other in sources for a, b in sentence_spans(other.text, 0, len(other.text))
                   if FIGURE.search(other.text[a:b]))

    @staticmethod
    def _amended_notice(hit: SearchHit) -> str:
        newer = []
        for doc in hit.document.get("amended_by_documents") or []:
            since = doc.get("amend_from") or doc.get("effective") or doc.get("published")
            newer.append(document_short_name(doc) + (f"（自{_chinese_date(since)}起执行）" if since else ""))
        older = document_short_name(hit.document)
        return f"注意：{older}的这一标准已由{'、'.join(newer) or '新文件'}调整，请以新标准为准"


def numbered_by_first_use(sentences: list[AnswerSentence], sources: list[SearchHit]
                          ) -> tuple[list[AnswerSentence], list[SearchHit]]:
    """The sources renumbered 1..n in the order the sentences first cite them, the uncited after in
    their order, and the sentences' citations renumbered to match: an answer reads [1] [2], never [7]."""
    order: list[int] = []
    for sentence in sentences:
        for c in sentence.citations:
            if 0 < c.number <= len(sources) and c.number not in order:
                order.append(c.number)
    order += [n for n in range(1, len(sources) + 1) if n not in order]
    new = {old: number for number, old in enumerate(order, 1)}
    renumbered = [replace(s, citations=[replace(c, number=new.get(c.number, c.number)) for c in s.citations])
                  for s in sentences]
    return renumbered, [sources[old - 1] for old in order]


def _chinese_date(iso: str) -> str:
    year, month, day = iso.split("-")
    return f"{year}年{int(month)}月{int(day)}日"


class Record:
    """Reads everything. Writes audit_id. Runs even when an earlier step stopped the flow."""

    name = "record"
    always = True

    def __init__(self, audit: AuditStore) -> None:
        self.audit = audit

    def __call__(self, ctx: AnswerContext) -> None:
        # the texts the answer rested on are frozen beside the event by their hash (content-addressed):
        # re-ingesting or deleting a document never changes what an old answer appears to rest on
        digests = [hashlib.sha256(h.text.encode()).hexdigest() for h in ctx.sources]
        details = {
            "rewritten": ctx.rewritten,
            "personal_data_masked": ctx.personal_data,
            "guardrail": ctx.guardrail,
            "filters": asdict(ctx.filters),
            "retrieved": [{"chunk_id": h.chunk_id, "doc_id": h.doc_id, "score": round(h.score, 6),
                           "text_sha256": digest, "validity": h.document.get("validity")}
                          for h, digest in zip(ctx.sources, digests)],
            "composer": ctx.composer, "model": ctx.model, "prompt_version": ctx.prompt_version,
            "degraded": ctx.degraded, "degraded_reason": ctx.degraded_reason,
            "question_kinds": ctx.kinds,
            "evidence": {name: round(value, 4) for name, value in ctx.evidence.items()},
            "answerable": round(ctx.answerable, 4) if ctx.answerable is not None else None,
            "citations": [asdict(c) for s in ctx.sentences for c in s.citations],
            "dropped": ctx.dropped,
            "error": ctx.error,
            "left_out": ctx.left_out,
            "timings_ms": ctx.timings_ms,
        }
        evidence = {digest: h.text for h, digest in zip(ctx.sources, digests)}
        status = ctx.status or "error"
        if ctx.cancel.is_set() and status != "error":  # the client went away before the answer was delivered
            status, details["status_made"] = "cancelled", status
        ctx.audit_id = self.audit.record(AuditEvent(
            "answer", ctx.channel, status, ctx.question, ctx.answer_text or None, details,
            session_id=ctx.session_id, actor=ctx.actor, degraded=bool(ctx.degraded), evidence=evidence))
