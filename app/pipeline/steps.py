"""The answer pipeline's steps. Each reads and writes named fields of the AnswerContext and may end
the flow with a status (listed in policies/answer_statuses.yml); none raises on purpose."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, replace

from app.answering.extractive import ExtractiveComposer
from app.answering.llm_composer import LLMComposer, LLMComposition
from app.clients.llm import LLMClient, LLMUnavailable
from app.answering.support import unsupported_reason
from app.audit.store import AuditStore
from app.domain import NOT_IN_FORCE, STATUS_UNKNOWN
from app.pipeline.context import AnswerContext
from app.policy_data import matching_guardrail
from app.prompts import Prompt
from app.retrieval import HybridRetriever
from app.security.pii import mask_personal_data

# guardrail list in policies/guardrails/ → the status a match ends with, checked in this order
GUARDRAIL_STATUSES = {"crisis": "crisis", "injection": "refused_injection", "out_of_scope": "out_of_scope"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\ufeff]")
_FOLLOW_UP = re.compile(r"^(那|那么|还有|另外|这个|那个|它|该|此|其|如果是|要是|怎么|呢|吗)|(呢|吗)[？?]?$")


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
    """Reads question, history. Writes rewritten: a follow-up ("那退休的呢？") becomes a standalone
    question — by the LLM when one is configured, else (or when it fails) by carrying the previous
    question along. A question that does not look like a follow-up is left as it is."""

    name = "rewrite_question"

    def __init__(self, llm: LLMClient | None = None, prompt: Prompt | None = None) -> None:
        self.llm, self.prompt = llm, prompt

    def __call__(self, ctx: AnswerContext) -> None:
        previous = [turn["question"] for turn in ctx.history if turn.get("question")]
        if not previous or not (len(ctx.question) <= 12 or _FOLLOW_UP.search(ctx.question)):
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
        ctx.rewritten = f"{previous[-1]} {ctx.question}"


class Retrieve:
    """Reads search_question, filters. Writes sources. Stops with refused_no_evidence when nothing
    is found, even among documents no longer in force."""

    name = "retrieve"

    def __init__(self, retriever: HybridRetriever, top_k: int = 5) -> None:
        self.retriever, self.top_k = retriever, top_k

    def __call__(self, ctx: AnswerContext) -> None:
        first = self.retriever.search_detailed(ctx.search_question, top_k=self.top_k, filters=ctx.filters)
        ctx.sources = first.hits
        if not ctx.sources and not ctx.filters.include_not_in_force:
            ctx.sources = self.retriever.search(ctx.search_question, top_k=self.top_k,
                                                filters=replace(ctx.filters, include_not_in_force=True))
        if not ctx.sources:
            ctx.stop("refused_no_evidence")
            return
        for hit in ctx.sources:
            if hit.document.get("status") in NOT_IN_FORCE and "replaced_by" not in hit.document:
                hit.document["replaced_by"] = self.retriever.replacement_of(hit.doc_id)
        # the fused search already ranked every chunk by cosine; only RRF needs a query of its own
        ctx.best_dense = first.best_dense if first.best_dense is not None else \
            self.retriever.best_dense(ctx.search_question, ctx.filters)
        ctx.emit("sources", {"sources": [{"number": n, "doc_id": h.doc_id, "chunk_id": h.chunk_id,
                                          "title": h.document.get("title"), "doc_number": h.document.get("doc_number"),
                                          "status": h.document.get("status"), "heading_path": h.heading_path}
                                         for n, h in enumerate(ctx.sources, 1)]})


class ComposeAnswer:
    """Reads question, sources, best_dense, cancel. Writes sentences (each with citations),
    composer, model, prompt_version, coverage, degraded, and emits each accepted sentence as a
    "delta". Stops with refused_no_evidence when the corpus is off-topic for the question (no chunk
    close enough) or the best passage holds too little of the question's words; with cancelled
    when the client went away. With an LLM configured it answers through it and falls back to the
    extractive answer (degraded) when the LLM is down, slow or failing."""

    name = "compose_answer"

    def __init__(self, extractive: ExtractiveComposer, min_coverage: float, min_dense: float,
                 llm: LLMComposer | None = None) -> None:
        self.extractive, self.llm = extractive, llm
        self.min_coverage, self.min_dense = min_coverage, min_dense

    def __call__(self, ctx: AnswerContext) -> None:
        # the extractive pass is cheap (a few ms) and is both the evidence gate and the fallback
        extract = self.extractive.compose(ctx.search_question, ctx.sources)
        ctx.coverage = extract.coverage
        if not extract.sentences or extract.coverage < self.min_coverage or ctx.best_dense < self.min_dense:
            ctx.composer = self.extractive.name
            ctx.stop("refused_no_evidence")
            return
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
        ctx.composer, ctx.sentences = self.extractive.name, extract.sentences
        for sentence in extract.sentences:
            self._emit(ctx, sentence)

    @staticmethod
    def _emit(ctx: AnswerContext, sentence) -> None:
        ctx.emit("delta", {"text": sentence.text + "".join(f"[{c.number}]" for c in sentence.citations)})


class CheckAnswer:
    """Reads sentences, sources. Drops a sentence whose citation points at no retrieved source,
    whose quote is not in the cited chunk, or whose numbers, dates or 文号 are not in the cited
    chunk (recorded in dropped). Writes notice when a cited document is not in force. Ends with
    answered / answered_not_in_force, or refused_no_evidence when nothing survives."""

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
        stale = [hit for hit in cited if hit.document.get("status") in NOT_IN_FORCE]
        unknown = [hit for hit in cited if (hit.document.get("status") or STATUS_UNKNOWN) == STATUS_UNKNOWN]
        notices = [self._validity_notice(hit) for hit in stale]
        notices += [f"提示：{_name(hit.document)}的效力状态未知，请向发文机关核实" for hit in unknown]
        ctx.notice = "；".join(dict.fromkeys(notices)) + "。" if notices else None
        if stale:
            ctx.stop("answered_not_in_force")
        else:
            ctx.stop("answered")

    @staticmethod
    def _validity_notice(hit) -> str:
        doc = hit.document
        notice = f"注意：{_name(doc)}的状态为{doc.get('status') or STATUS_UNKNOWN}，以下内容可能已不适用"
        replacement = doc.get("replaced_by")
        if replacement:
            return notice + f"，现行规定见{_name(replacement)}"
        return notice + "，请以现行规定为准"


def _name(doc: dict) -> str:
    return f"《{doc.get('title')}》" + (f"（{doc['doc_number']}）" if doc.get("doc_number") else "")


class Record:
    """Reads everything. Writes audit_id. Runs even when an earlier step stopped the flow."""

    name = "record"
    always = True

    def __init__(self, audit: AuditStore) -> None:
        self.audit = audit

    def __call__(self, ctx: AnswerContext) -> None:
        details = {
            "rewritten": ctx.rewritten,
            "personal_data_masked": ctx.personal_data,
            "guardrail": ctx.guardrail,
            "filters": asdict(ctx.filters),
            "retrieved": [{"chunk_id": h.chunk_id, "doc_id": h.doc_id, "score": round(h.score, 6),
                           "text_sha256": hashlib.sha256(h.text.encode()).hexdigest(),
                           "status": h.document.get("status")} for h in ctx.sources],
            "composer": ctx.composer, "model": ctx.model, "prompt_version": ctx.prompt_version,
            "degraded": ctx.degraded, "degraded_reason": ctx.degraded_reason,
            "evidence": {"best_dense": round(ctx.best_dense, 4), "coverage": round(ctx.coverage, 4)},
            "citations": [asdict(c) for s in ctx.sentences for c in s.citations],
            "dropped": ctx.dropped,
            "error": ctx.error,
            "timings_ms": ctx.timings_ms,
        }
        ctx.audit_id = self.audit.record("answer", ctx.channel, ctx.status or "error", ctx.question,
                                         ctx.answer_text or None, details, session_id=ctx.session_id)
