"""Retrieval evaluation at document level: recall@1/5/10, MRR@10 and nDCG@10 for the hybrid search
and, in the same run over the same index, for BM25 alone and dense alone.

The index of an evaluation corpus is built once and reused, keyed by the corpus content, the
chunker version, the embedder and the chunk settings: a rerun only re-reads it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import statistics
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from app.composition import build_embedder, build_services, exclusive
from app.jsonl import jsonl_records
from app.config import DatabaseSettings, QdrantSettings, Settings
from app.clients.vector_store import CHUNKS
from app.domain import SearchFilters
from app.pipeline.context import AnswerContext
from ingestion.chunking import CHUNKER_VERSION
from ingestion.sync import PAYLOAD_VERSION

MODES = ("hybrid", "bm25", "dense", "hybrid_rrf")
INDEX_LAYOUT = "chunks+document-points"  # what kinds of points an index holds
_COMPLETE = "index-complete.json"


def _corpus_files(corpus: Path | list[Path]) -> list[Path]:
    paths = corpus if isinstance(corpus, list) else [corpus]
    return sorted(f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())


def index_key(corpus: Path | list[Path], settings: Settings, model_id: str) -> str:
    h = hashlib.sha256()
    for path in _corpus_files(corpus):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    h.update(json.dumps([CHUNKER_VERSION, INDEX_LAYOUT, PAYLOAD_VERSION, model_id, settings.ingest.chunk_max_chars,
                         settings.ingest.chunk_min_chars, settings.sparse.k1, settings.sparse.b,
                         settings.sparse.avg_len, settings.sparse.char_bigrams, _file_digest(settings.sparse.user_dict),
                         _file_digest(settings.sparse.stopwords)]).encode())
    return h.hexdigest()[:16]


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.exists() else "-"


def metrics_for(ranked: list[list[str]], gold: list[str]) -> dict[str, float]:
    recall = {1: 0, 5: 0, 10: 0}
    mrr = ndcg = 0.0
    for docs, answer in zip(ranked, gold):
        rank = docs.index(answer) + 1 if answer in docs else None
        for k in recall:
            if rank is not None and rank <= k:
                recall[k] += 1
        if rank is not None and rank <= 10:
            mrr += 1 / rank
            ndcg += 1 / math.log2(rank + 1)  # one relevant document: ideal DCG is 1
    n = max(len(gold), 1)
    return {"recall@1": recall[1] / n, "recall@5": recall[5] / n, "recall@10": recall[10] / n,
            "mrr@10": mrr / n, "ndcg@10": ndcg / n}


@dataclass
class EvalQuestion:
    """A question of either evaluation format: the COVID set ({qid, question, gold_docid, answer})
    or the residents' set ({qid, question, history, gold_doc_ids, must_contain, answer, evidence, kind}),
    which the project's question bank extends with `split` and near misses (no gold documents: the
    corpus cannot answer them, and a correct assistant refuses)."""

    qid: str
    question: str
    gold_doc_ids: list[str]
    answer: str = ""  # COVID set: the official answer, verbatim in the gold document
    must_contain: list[str] = field(default_factory=list)  # residents' set: facts a correct answer states
    history: list[str] = field(default_factory=list)  # earlier questions of the same conversation
    kind: str | None = None
    evidence: str = ""  # residents' set: the verbatim quote from the gold document that answers it
    split: str | None = None  # the question bank's train / test

    @property
    def residents(self) -> bool:
        return bool(self.must_contain) or not self.answerable

    @property
    def answerable(self) -> bool:
        return bool(self.gold_doc_ids)


def eval_question(record: dict[str, Any], where: str) -> EvalQuestion:
    """One record of either format. `gold_doc_ids: []` is a near miss; a record with neither gold
    field is an error."""
    if "gold_doc_ids" in record:
        gold = record["gold_doc_ids"] or []
    elif record.get("gold_docid"):
        gold = [record["gold_docid"]]
    else:
        raise ValueError(f"{where}: missing field gold_docid or gold_doc_ids")
    return EvalQuestion(str(record.get("qid", where)), record["question"], [str(g) for g in gold],
                        record.get("answer") or "", list(record.get("must_contain") or []),
                        list(record.get("history") or []), record.get("kind"), record.get("evidence") or "",
                        record.get("split"))


def load_eval_questions(path: Path) -> list[EvalQuestion]:
    """Either format; each line must carry a question and its gold document(s)."""
    return [eval_question(record, f"{path}:{number}") for number, record in jsonl_records(path, ("question",))]


def load_bank_questions(split: str = "all") -> list[EvalQuestion]:
    """The project's question bank (tests/data/bank), one split or all, each question with its split."""
    from app.question_bank import read_bank, split_key, split_of

    out = []
    for record in read_bank(split=split):
        question = eval_question(record, record["_where"])
        question.split = split_of(split_key(record))
        out.append(question)
    return out


def evaluation_services(corpus: Path | list[Path], settings: Settings, index_dir: Path | None,
                        progress: Callable[[str], None] = lambda _: None):
    """Services over an index of `corpus` (a file or folders) kept under index_dir (built once,
    then reused)."""
    base = index_dir or settings.embedding.cache_dir / "eval-indexes"
    embedder = build_embedder(settings)
    data_dir = base / index_key(corpus, settings, embedder.model_id)
    # an evaluation index is always the embedded store in its own folder, whatever QDRANT_URL says
    eval_settings = settings.model_copy(update={"data_dir": data_dir, "qdrant": QdrantSettings(url=None, local_path=None),
                                                "database": DatabaseSettings(url=None)})
    # Qdrant Edge opens a store in one process at a time: two evaluations of one corpus (a suite running
    # its test files side by side, two people on one machine) take turns
    held = ExitStack()
    held.enter_context(exclusive(data_dir.with_name(data_dir.name + ".lock"), lambda: progress(
        f"waiting for another evaluation that uses the index {data_dir}")))
    try:
        services = build_services(eval_settings, embedder=embedder)
    except BaseException:
        held.close()
        raise
    services.on_close.append(held.close)
    marker = data_dir / _COMPLETE
    if not marker.exists():
        progress(f"building the index of {corpus} in {data_dir} (embedding is cached by content hash)")
        try:
            report = services.indexer.sync(corpus if isinstance(corpus, list) else [corpus], prune=True)
            if report.interrupted:
                raise KeyboardInterrupt
        except BaseException:
            services.close()  # and the lock with it
            raise
        marker.write_text(json.dumps(report.as_dict(), ensure_ascii=False))
    return services


def run_retrieval_eval(corpus: Path, questions_file: Path, settings: Settings, index_dir: Path | None,
                       progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    questions = load_eval_questions(questions_file)
    services = evaluation_services(corpus, settings, index_dir, progress)
    try:
        chunks = services.store.count(CHUNKS)
        filters = SearchFilters(include_not_in_force=True)
        results: dict[str, Any] = {"questions": len(questions), "chunks": chunks}
        latencies: list[float] = []
        for mode in MODES:
            ranked = []
            for q in questions:
                clock = time.perf_counter()
                docs = services.retriever.search_documents(q.question, top_k=10, filters=filters, mode=mode,
                                                           candidates=services.settings.retrieval.prefetch_limit)
                if mode == "hybrid":
                    latencies.append((time.perf_counter() - clock) * 1000)
                ranked.append([d.doc_id for d in docs])
            results[mode] = metrics_for(ranked, [q.gold_doc_ids[0] for q in questions])
        results["latency_ms"] = {"p50": statistics.median(latencies), "p95": _percentile(latencies, 0.95)}
        return results
    finally:
        services.close()


_NORMALISE = re.compile(r"[\s\u3000，。、；：！？,.;:!?“”\"'‘’（）()《》【】\[\]—\-·…]")


_MARKER = re.compile(r"\[\d+\]")


def normalise(text: str) -> str:
    """For answer recall: citation markers, punctuation and spaces do not count."""
    return _NORMALISE.sub("", _MARKER.sub("", text))


def ask(services, question: str, history: list[str], filters: SearchFilters, channel: str = "eval",
        run: Callable[[AnswerContext], AnswerContext] | None = None) -> AnswerContext:
    """Asks as a conversation does: the earlier questions first, each remembered as the session
    remembers it (its standalone form), then the question. `run`: the steps to run (default the
    whole pipeline)."""
    run = run or services.pipeline.run
    turns: list[dict[str, str]] = []
    for earlier in history:
        ctx = run(AnswerContext(earlier, channel=channel, filters=filters, history=list(turns)))
        turns.append({"question": ctx.search_question})
    return run(AnswerContext(question, channel=channel, filters=filters, history=turns))


def question_lines(path: Path) -> list[str]:
    """The questions of a one-per-line list (tests/data/unanswerable.txt); # starts a comment line."""
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def _percentile(values: list[float], share: float) -> float:
    return sorted(values)[int(share * (len(values) - 1))] if values else 0.0


def _rests_on(doc_id: str, sources) -> list[str]:
    """A cited document and, for a hotline knowledge entry, the policies its basis names: an answer
    script citing 京民社救发〔2024〕80号 as its basis cites that policy."""
    for hit in sources:
        if hit.doc_id == doc_id:
            return [doc_id, *(b.get("doc_id") for b in hit.document.get("basis") or [] if b.get("doc_id"))]
    return [doc_id]


def score_answers(services, questions: list[EvalQuestion], filters: SearchFilters) -> dict[str, Any]:
    """Answers every question and measures the answers. The COVID set: answer recall (the official
    answer in ours), citation precision, sentence support. The residents' set: correct (answered,
    citing a gold document, holding every must_contain fact), per kind, answer length. Near misses
    (no gold document): how many were refused, and the false-answer rate. Latency for all."""
    from app.policy_data import status as answer_status

    answerable = [q for q in questions if q.answerable]
    near = [q for q in questions if not q.answerable]
    residents = any(q.residents for q in questions)
    found = refused = citations = good_citations = sentences = supported = 0
    correct = cites_gold = first_gold = has_facts = 0
    by_kind: dict[str, list[bool]] = {}
    lengths: list[int] = []
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    near_answered: list[str] = []
    for q in questions:
        clock = time.perf_counter()
        ctx = ask(services, q.question, q.history, filters)
        latencies.append((time.perf_counter() - clock) * 1000)
        statuses[ctx.status] = statuses.get(ctx.status, 0) + 1
        answered = not answer_status(ctx.status).refusal
        if not q.answerable:
            if answered:
                near_answered.append(q.qid)
            continue
        refused += not answered
        text = normalise(ctx.answer_text) if answered else ""
        cited_docs = [d for s in ctx.sentences for c in s.citations for d in _rests_on(c.doc_id, ctx.sources)] \
            if answered else []
        gold_cited = bool(set(cited_docs) & set(q.gold_doc_ids))
        facts = all(normalise(m) in text for m in q.must_contain)
        ok = answered and gold_cited and facts
        correct += ok
        cites_gold += gold_cited
        first_gold += bool(cited_docs) and cited_docs[0] in q.gold_doc_ids
        has_facts += answered and facts
        by_kind.setdefault(q.kind or "-", []).append(ok)
        if not answered:
            continue
        lengths.append(len(_MARKER.sub("", ctx.answer_text)))
        gold = normalise(q.answer)
        if gold and gold in text:
            found += 1
        for sentence in ctx.sentences:
            sentences += 1
            cited = [ctx.sources[c.number - 1] for c in sentence.citations]
            if any(normalise(sentence.text) in normalise(hit.text) for hit in cited):
                supported += 1
            for hit in cited:
                citations += 1
                if hit.doc_id in q.gold_doc_ids or (gold and gold in normalise(hit.text)):
                    good_citations += 1
    n = max(len(answerable), 1)
    result: dict[str, Any] = {
        "questions": len(answerable),
        "answered": (len(answerable) - refused) / n,
        "refusal_rate": refused / n,
        "citation_precision": good_citations / citations if citations else 0.0,
        "sentence_support": supported / sentences if sentences else 0.0,
        "latency_ms": {"p50": statistics.median(latencies) if latencies else 0.0,
                       "p95": _percentile(latencies, 0.95)},
        "statuses": statuses,
        "median_answer_chars": statistics.median(lengths) if lengths else 0,
    }
    if residents:
        result.update({"correct": correct / n, "cites_gold_doc": cites_gold / n, "first_citation_gold": first_gold / n,
                       "has_facts": has_facts / n,
                       "by_kind": {k: sum(v) / len(v) for k, v in sorted(by_kind.items())}})
    else:
        result["answer_recall"] = found / n
    if near:
        result["near_miss"] = {"questions": len(near), "refused": 1 - len(near_answered) / len(near),
                               "false_answer_rate": len(near_answered) / len(near)}
    return result


def refusal_rates(services, unanswerable: list[Path], filters: SearchFilters) -> dict[str, float]:
    """The share of each one-per-line list of questions the corpus cannot answer that is refused."""
    from app.policy_data import status as answer_status

    rates = {}
    for path in unanswerable:
        lines = question_lines(path)
        refusals = sum(answer_status(services.pipeline.run(
            AnswerContext(line, channel="eval", filters=filters)).status).refusal for line in lines)
        rates[path.name] = refusals / max(len(lines), 1)
    return rates


def run_answer_eval(corpus: Path | list[Path], questions_file: Path | None, settings: Settings,
                    index_dir: Path | None, unanswerable: list[Path] | None = None, split: str = "all",
                    progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Scores a question file, or the project's question bank (no file): one split, or with `all`
    train and test side by side (`by_split`) beside the whole. The unanswerable lists are asked too."""
    questions = load_bank_questions(split) if questions_file is None else load_eval_questions(questions_file)
    residents = any(q.residents for q in questions)
    services = evaluation_services(corpus, settings, index_dir, progress)
    # residents ask as the chat API does (documents out of force left out); the COVID documents
    # carry no validity, so nothing is left out there either way
    filters = SearchFilters(include_not_in_force=not residents)
    try:
        result = score_answers(services, questions, filters)
        splits = sorted({q.split for q in questions if q.split})
        if questions_file is None:
            result["split"] = split
        if len(splits) > 1:
            result["by_split"] = {name: score_answers(services, [q for q in questions if q.split == name], filters)
                                  for name in splits}
        rates = refusal_rates(services, unanswerable or [], filters)
        result["unanswerable_refusal_rate"] = min(rates.values()) if rates else None
        result["unanswerable_by_file"] = rates
        return result
    finally:
        services.close()


# what `jingce eval answers --json` prints on its last line, by question format
COVID_KEYS = ("questions", "answer_recall", "citation_precision", "sentence_support", "refusal_rate",
              "unanswerable_refusal_rate", "unanswerable_by_file", "latency_ms")
RESIDENT_KEYS = ("questions", "correct", "answered", "cites_gold_doc", "first_citation_gold", "has_facts", "by_kind",
                 "median_answer_chars", "latency_ms", "unanswerable_refusal_rate", "unanswerable_by_file")
# the bank adds its split, the near misses and, for all of it, train and test side by side
BANK_KEYS = (*RESIDENT_KEYS, "split", "near_miss", "by_split")
