"""The answer pipeline's steps. Each reads and writes named fields of the AnswerContext and may end
the flow with a status (listed in policies/answer_statuses.yml); none raises on purpose."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, replace

from app.answering.answerability import AnswerabilityModel, evidence_features, unmatched_place
from app.answering.extractive import FIGURE, ExtractiveComposer
from app.answering.llm_composer import LLMComposer, LLMComposition
from app.clients.llm import LLMClient, LLMUnavailable
from app.answering.support import unsupported_reason
from app.audit.store import AuditEvent, AuditStore
from app.clients.sparse import JiebaBm25Encoder
from app.domain import NOT_IN_FORCE, VALIDITY_UNKNOWN, SearchHit, document_name
from app.pipeline.context import AnswerContext
from app.policy_data import kind_search_words, kinds_asked, matching_guardrail, question_kinds
from app.prompts import Prompt
from app.ranking import DocumentRanker, at_most_per_document
from app.retrieval import HybridRetriever
from app.vocabulary import CorpusVocabulary, question_terms
from app.security.pii import mask_personal_data

# guardrail list in policies/guardrails/ → the status a match ends with, checked in this order
GUARDRAIL_STATUSES = {"crisis": "crisis", "injection": "refused_injection", "out_of_scope": "out_of_scope"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\ufeff]")
# a question that starts by pointing back ("那…", "还有…", "如果是…"), or is only "X呢？" (the last
# question, asked about X), continues the conversation
_FOLLOW_UP = re.compile(r"^(那|那么|还有|另外|这个|那个|这|它|该|此|其|如果是|要是)|^[^，,。；;？?]{1,8}呢[？?]?$")
_FOLLOW_UP_LEAD = re.compile(r"^(?:那么|那|还有|另外|这个|那个)[，,\s]*")
_MASKS = re.compile(r"\[[^\[\]]{1,8}\]")  # "[姓名]", "[手机号]": what masking left, never a subject


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
    subject of the previous question before it: the programme or benefit it was about (its words,
    less those that only say what it asked: policies/dictionaries/intent_words.txt), not the whole
    sentence, whose "去哪儿申请" would pull the answer towards the wrong clause.

    A follow-up is a question that points back ("那…", "还有…", "如果是…", "残疾人呢？"); one whose
    subject continues the last question's ("补贴面积最多按多少平米算？" after "公租房的租金补贴…":
    a word in common and no new word of three characters or more); or one without a subject that
    names something (no word the people's-words vocabulary knows, none of three characters or more:
    "一等的一年能给多少钱？"). A question that names a topic of its own ("低保一个月多少钱",
    "孩子上幼儿园，个税能扣吗？") is a new question, however short: read as a follow-up of the last
    one it was answered from the wrong document (every question after the first in a widget
    conversation was, when any short question or one ending in 吗 counted as a follow-up)."""

    name = "rewrite_question"

    def __init__(self, sparse: JiebaBm25Encoder, intent_words: set[str], vocabulary: CorpusVocabulary,
                 llm: LLMClient | None = None, prompt: Prompt | None = None) -> None:
        self.sparse, self.intent_words, self.vocabulary = sparse, intent_words, vocabulary
        self.llm, self.prompt = llm, prompt

    def follows_up(self, question: str, previous: str) -> bool:
        if _FOLLOW_UP.search(question):
            return True
        own, before = self.subject_words(question), self.subject_words(previous)

        def continues(word: str) -> bool:
            return any(word in other or other in word for other in before)

        if any(continues(word) for word in own):
            return not any(len(word) >= 3 and not continues(word) for word in own)
        vocabulary = self.vocabulary.current()
        return not any(len(word) >= 3 or vocabulary.equivalents(word) for word in own)

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

    def subject_words(self, question: str) -> list[str]:
        """What a question is about: its words less the intent words, the kind cues and the masks of
        personal data, in order; a word inside a longer kept word is dropped (jieba's search mode yields both)."""
        kinds = question_kinds().values()
        words = [w for w in dict.fromkeys(self.sparse.words(_MASKS.sub("，", question)))
                 if w not in self.intent_words and not any(k.asked_by(w) for k in kinds)]
        return [w for w in words if len(w) > 1 and not any(w != other and w in other for other in words)]

    def subject(self, question: str) -> str:
        kept = self.subject_words(question)
        question = _MASKS.sub("，", question)
        # words next to each other in the question stay together ("养老服务补贴津贴")
        spans = sorted((question.find(w), question.find(w) + len(w)) for w in kept if w in question)
        parts: list[list[int]] = []
        for start, end in spans:
            if parts and start <= parts[-1][1]:
                parts[-1][1] = max(parts[-1][1], end)
            else:
                parts.append([start, end])
        return " ".join(question[s:e] for s, e in parts)


class ReadQuestion:
    """Reads search_question. Writes kinds (what it asks for: amount, deadline, who, material,
    condition, requirement, procedure; policies/question_kinds.yml) and terms (its words, each with
    the words that mean the same: the people's words and the documents')."""

    name = "read_question"

    def __init__(self, sparse: JiebaBm25Encoder, vocabulary: CorpusVocabulary) -> None:
        self.sparse, self.vocabulary = sparse, vocabulary

    def __call__(self, ctx: AnswerContext) -> None:
        question = ctx.search_question
        ctx.kinds = kinds_asked(question)
        ctx.terms = question_terms(question, self.sparse.words(question), self.vocabulary.current())


class Retrieve:
    """Reads search_question, kinds, terms, filters. Writes sources (the search's best chunks, a
    few per document, reordered by the document ranker when one is configured; a document a newer
    one amends brings the newer one's best chunk along), best_dense, best_signals. Stops with
    refused_no_evidence when nothing is found, even among documents no longer in force."""

    name = "retrieve"

    def __init__(self, retriever: HybridRetriever, top_k: int = 8, ranker: DocumentRanker | None = None,
                 candidates: int = 30, per_document: int = 4) -> None:
        self.retriever, self.top_k, self.ranker, self.candidates = retriever, top_k, ranker, candidates
        self.per_document = per_document

    def __call__(self, ctx: AnswerContext) -> None:
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
        ctx.sources = self._with_newer_documents(ctx, hits)
        for hit in ctx.sources:
            if hit.document.get("validity") in NOT_IN_FORCE and "replaced_by" not in hit.document:
                hit.document["replaced_by"] = self.retriever.replacement_of(hit.doc_id)
        # the fused search already ranked every chunk by cosine; only RRF needs a query of its own
        ctx.best_dense = first.best_dense if first.best_dense is not None else \
            self.retriever.best_dense(ctx.search_question, ctx.filters)
        ctx.best_signals = first.best
        ctx.emit("sources", {"sources": [{"number": n, "doc_id": h.doc_id, "chunk_id": h.chunk_id,
                                          "title": h.document.get("title"), "doc_number": h.document.get("doc_number"),
                                          "validity": h.document.get("validity"), "heading_path": h.heading_path}
                                         for n, h in enumerate(ctx.sources, 1)]})

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
        ctx.extract = self.composer.compose(ctx.search_question, ctx.sources, ctx.terms, ctx.kinds)


class JudgeAnswerability:
    """Reads search_question, sources, best_dense, best_signals, terms, kinds, extract. Writes
    evidence (the features) and answerable (a probability from a model fitted with
    cross-validation on answerable and unanswerable questions, models/answerability.json). Stops
    with refused_other_place when the question names a place outside Beijing no source mentions
    and the answer would quote Beijing's own documents ("上海失业金领多久": Beijing's rules are not
    Shanghai's), and with refused_no_evidence
    below the model's threshold, for the LLM as for the extractive answer."""

    name = "judge_answerability"

    def __init__(self, model: AnswerabilityModel | None, other_places: frozenset[str] = frozenset()) -> None:
        self.model = model  # None only while training it: the features are still recorded
        self.other_places = other_places

    def __call__(self, ctx: AnswerContext) -> None:
        if ctx.extract is None or not ctx.extract.sentences:
            ctx.stop("refused_no_evidence")
            return
        ctx.evidence = evidence_features(ctx.sources, ctx.best_dense, ctx.best_signals, ctx.terms, ctx.kinds,
                                         ctx.extract)
        quoted = {c.doc_id for sentence in ctx.extract.sentences for c in sentence.citations}
        place = unmatched_place(ctx.search_question, ctx.sources, self.other_places, quoted)
        if place is not None:
            ctx.guardrail = f"other_place: {place}"
            ctx.stop("refused_other_place")
            return
        if self.model is None:
            return
        ctx.answerable = self.model.probability(ctx.evidence)
        if ctx.answerable < self.model.threshold:
            ctx.stop("refused_no_evidence")


class ComposeAnswer:
    """Reads search_question, sources, kinds, extract, cancel. Writes sentences (each with
    citations), composer, model, prompt_version, degraded, and emits each accepted sentence as a
    "delta". With an LLM configured it answers through it and falls back to the extractive answer
    (degraded) when the LLM is down, slow or failing; stops with cancelled when the client went
    away."""

    name = "compose_answer"

    def __init__(self, extractive_name: str, llm: LLMComposer | None = None) -> None:
        self.extractive_name, self.llm = extractive_name, llm

    def __call__(self, ctx: AnswerContext) -> None:
        if self.llm is not None:
            result = LLMComposition()
            try:
                self.llm.compose(ctx.search_question, ctx.sources, on_sentence=lambda s: self._emit(ctx, s),
                                 cancelled=ctx.cancel.is_set, result=result)
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
        ctx.emit("delta", {"text": sentence.text + "".join(f"[{c.number}]" for c in sentence.citations)})


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
        ctx.sentences = kept
        if not kept:
            ctx.stop("refused_no_evidence")
            return
        cited = [hit for _, hit in ctx.cited_sources()]
        stale = [hit for hit in cited if hit.document.get("validity") in NOT_IN_FORCE]
        unknown = [hit for hit in cited if (hit.document.get("validity") or VALIDITY_UNKNOWN) == VALIDITY_UNKNOWN]
        notices = [self._validity_notice(hit) for hit in stale]
        notices += [f"提示：{document_name(hit.document)}的效力状态未知，请向发文机关核实" for hit in unknown]
        # a figure quoted from a document a newer one amends is named as possibly outdated
        cited_ids = {hit.doc_id for hit in cited}
        figures_from = {c.doc_id for s in ctx.sentences if FIGURE.search(s.text) for c in s.citations}
        notices += [self._amended_notice(hit) for hit in cited
                    if hit.doc_id in figures_from and hit.document.get("amended_by_documents")
                    and not cited_ids & set(hit.document["amended_by"])]
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
    def _amended_notice(hit) -> str:
        newer = []
        for doc in hit.document["amended_by_documents"]:
            since = doc.get("amend_from") or doc.get("effective") or doc.get("published")
            newer.append(document_name(doc) + (f"（自{_chinese_date(since)}起执行）" if since else ""))
        return f"注意：{document_name(hit.document)}中的标准已由{'、'.join(newer)}调整，以下所引标准请以新规定为准"


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
            "timings_ms": ctx.timings_ms,
        }
        evidence = {digest: h.text for h, digest in zip(ctx.sources, digests)}
        status = ctx.status or "error"
        if ctx.cancel.is_set() and status != "error":  # the client went away before the answer was delivered
            status, details["status_made"] = "cancelled", status
        ctx.audit_id = self.audit.record(AuditEvent(
            "answer", ctx.channel, status, ctx.question, ctx.answer_text or None, details,
            session_id=ctx.session_id, actor=ctx.actor, degraded=bool(ctx.degraded), evidence=evidence))
