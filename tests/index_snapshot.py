"""What an index holds, point by point, for comparing two ingests: ids, payloads (less the time of
writing) and vectors, read straight from qdrant-client's local-mode folder or a Qdrant Edge folder."""

from __future__ import annotations

from pathlib import Path

Snapshot = dict[str, tuple[dict, dict]]


def snapshot(settings) -> Snapshot:
    """Every point of the index these settings name: id → (payload without indexed_at, vectors)."""
    from app.composition import build_store

    store = build_store(settings, 384)
    try:
        if hasattr(store, "client"):
            return _server_points(store)
        return _edge_points(store)
    finally:
        store.close()


def _server_points(store) -> Snapshot:
    points, offset = {}, None
    while True:
        records, offset = store.client.scroll(store.collection, limit=512, offset=offset, with_payload=True,
                                              with_vectors=True)
        for record in records:
            points[str(record.id)] = (_payload(record.payload), {
                name: (list(v.indices), list(v.values)) if hasattr(v, "indices") else list(v)
                for name, v in (record.vector or {}).items()})
        if offset is None:
            return points


def _edge_points(store) -> Snapshot:
    return {point_id: (_payload(payload), {}) for point_id, payload in store.scroll_payloads()}


def _payload(payload: dict | None) -> dict:
    return {k: v for k, v in (payload or {}).items() if k != "indexed_at"}


# A text embedded in another batch (other neighbours, other padding) can come out a float32 rounding
# step apart (seen: 4e-9); anything a search could notice is orders of magnitude larger.
DENSE_TOLERANCE = 1e-6


def differences(a: Snapshot, b: Snapshot) -> list[str]:
    """What differs, in words (empty when the two indexes are equal): ids, payloads and sparse vectors
    exactly, dense vectors within DENSE_TOLERANCE."""
    found = []
    if set(a) != set(b):
        found.append(f"point ids: {len(set(a) - set(b))} only in the first, {len(set(b) - set(a))} only in the second")
    for point_id in sorted(set(a) & set(b)):
        if a[point_id][0] != b[point_id][0]:
            found.append(f"{point_id}: payloads differ")
        vectors_a, vectors_b = a[point_id][1], b[point_id][1]
        if set(vectors_a) != set(vectors_b):
            found.append(f"{point_id}: vector names differ")
            continue
        for name, va in vectors_a.items():
            vb = vectors_b[name]
            if isinstance(va, tuple) or isinstance(vb, tuple):  # sparse: (indices, values), exactly
                if va != vb:
                    found.append(f"{point_id}: sparse vector {name} differs")
            elif len(va) != len(vb) or max((abs(x - y) for x, y in zip(va, vb)), default=0.0) > DENSE_TOLERANCE:
                found.append(f"{point_id}: dense vector {name} differs beyond {DENSE_TOLERANCE}")
    return found


def first_records(source: Path, target: Path, n: int) -> Path:
    """The first n lines of a JSONL file, as a new file."""
    with source.open(encoding="utf-8") as lines:
        target.write_text("".join(next(lines) for _ in range(n)), encoding="utf-8")
    return target
