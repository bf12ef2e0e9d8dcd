"""A pack of ready-made passage vectors shipped with the repository, so a first run does not embed
the bundled corpus (≈ 10 minutes on a slow 2-core machine) before it can serve.

The pack is an .npz file: `keys` (N × 32 bytes: the embedding cache's keys, sha256 of the model id
and the exact text embedded), `vectors` (N × dim, float32: the same numbers a fresh embedding gives,
so results do not depend on whether the pack or the model produced a vector) and `meta` (JSON:
model id, dimension, chunker version, count, when it was made). At start-up it seeds the embedding
cache with what the cache lacks; a text the pack does not hold (a changed chunk, another corpus) is
embedded as before. A pack made for another model is ignored, never mixed in.
`jingce vectors pack` regenerates it; tests/test_vector_pack.py fails when it is stale.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.clients.embeddings import EmbeddingCache

log = logging.getLogger(__name__)


@dataclass
class VectorPack:
    keys: list[bytes]
    vectors: np.ndarray
    meta: dict

    @property
    def model_id(self) -> str:
        return self.meta.get("model_id", "")

    @classmethod
    def read(cls, path: Path) -> "VectorPack":
        with np.load(path, allow_pickle=False) as data:
            raw_keys, vectors, meta = data["keys"], data["vectors"], json.loads(str(data["meta"]))
        if raw_keys.ndim != 2 or raw_keys.shape[1] != 32 or len(raw_keys) != len(vectors):
            raise ValueError(f"{path}: not a vector pack (keys {raw_keys.shape}, vectors {vectors.shape})")
        return cls([bytes(row) for row in raw_keys], np.asarray(vectors, dtype=np.float32), meta)

    @staticmethod
    def write(path: Path, model_id: str, keys: list[bytes], vectors: np.ndarray, **meta) -> None:
        """Written to a temporary file and moved into place: a failed write leaves the old pack."""
        order = sorted(range(len(keys)), key=lambda i: keys[i])  # stable bytes for the same content
        info = {"model_id": model_id, "dim": int(vectors.shape[1]) if len(vectors) else 0, "count": len(keys),
                "made": dt.date.today().isoformat(), **meta}
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as out:
            np.savez_compressed(out, keys=np.frombuffer(b"".join(keys[i] for i in order), dtype=np.uint8)
                                .reshape(len(keys), 32),
                                vectors=np.asarray(vectors, dtype=np.float32)[order],
                                meta=np.array(json.dumps(info, ensure_ascii=False)))
        partial.replace(path)


def seed_cache(cache: EmbeddingCache, model_id: str, path: Path) -> int:
    """Puts the pack's vectors the cache lacks into it; returns how many. Nothing when the pack is
    missing, unreadable (logged) or made for another model; a pack already seeded is skipped by
    its content hash, so this costs one small query per start."""
    if not path.is_file():
        return 0
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if cache.has_seed(digest):
        return 0
    try:
        pack = VectorPack.read(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        log.warning("vector pack %s not used: %s", path, exc)
        return 0
    if pack.model_id != model_id:
        log.info("vector pack %s is for %s, not %s: not used", path, pack.model_id, model_id)
        return 0
    known = cache.get_many(pack.keys)
    missing = [(key, vector) for key, vector in zip(pack.keys, pack.vectors) if key not in known]
    if missing:
        cache.put_many(missing)
    cache.mark_seeded(digest)
    return len(missing)
