"""Settings: every one documented, bad combinations refused at start-up."""

from __future__ import annotations

import pytest

from app.config import REPO_ROOT, Settings, settings_reference


def test_every_setting_is_documented():
    reference = (REPO_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [env for env, _, desc in settings_reference() if f"`{env}`" not in reference]
    assert not missing, f"document these in docs/configuration.md: {missing}"
    undescribed = [env for env, _, desc in settings_reference() if not desc]
    assert not undescribed, f"give these a description: {undescribed}"


def test_environment_variables_reach_their_group(monkeypatch):
    monkeypatch.setenv("QDRANT_URL", "http://qdrant:6333")
    monkeypatch.setenv("RETRIEVAL_FUSION", "rrf")
    monkeypatch.setenv("INGEST_MAX_FILE_MB", "5")
    settings = Settings()
    assert settings.qdrant.url == "http://qdrant:6333"
    assert settings.retrieval.fusion == "rrf" and settings.ingest.max_file_mb == 5


@pytest.mark.parametrize("env,message", [
    ({"EMBEDDING_PROVIDER": "sentence-transformers"}, "EMBEDDING_MODEL_PATH"),
    ({"EMBEDDING_PROVIDER": "openai"}, "EMBEDDING_BASE_URL"),
    ({"RETRIEVAL_FUSION": "average"}, "fusion"),
])
def test_bad_combinations_are_refused(monkeypatch, env, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match=message):
        Settings()


def test_unreachable_qdrant_server_fails_loudly(settings, embedder):
    from app.composition import build_services

    broken = settings.model_copy(update={"qdrant": settings.qdrant.model_copy(update={"url": "http://127.0.0.1:9"})})
    with pytest.raises(RuntimeError, match="not reachable"):
        build_services(broken, embedder=embedder)


def test_an_index_of_another_layout_gets_a_clear_message(tmp_path, embedder):
    import qdrant_edge as q

    from app.clients.edge_store import EdgeVectorStore

    old = q.EdgeShard.create(str(tmp_path / "edge"), q.EdgeConfig(
        vectors={"dense": q.EdgeVectorParams(size=embedder.dim, distance=q.Distance.Cosine)},
        sparse_vectors={"bm25": q.EdgeSparseVectorParams(modifier=q.Modifier.Idf)}))
    old.close()
    with pytest.raises(RuntimeError, match="another layout.*run `jingce ingest` again"):
        EdgeVectorStore(tmp_path / "edge", embedder.dim)
