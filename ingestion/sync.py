"""Sync source folders into the vector store: idempotent, incremental, safe to interrupt.

The index itself is the manifest: every point — the document's chunks and its one document point
(BM25 over the whole text) — carries the document's content hash and point count. A document is up
to date when exactly `n_points` points with its current hash are stored.
A document is written by upserting its new chunks (ids are f(doc_id, position), so they overwrite
in place) and then deleting its chunks that are no longer wanted. A crash between the two leaves
chunks with two hashes, which the next run sees as incomplete and rewrites: no duplicates, nothing
lost, and no separate bookkeeping that could disagree with the index.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from app.clients.embeddings import ArrayEmbeddings, CachedEmbeddings
from app.clients.sparse import JiebaBm25Encoder
from app.clients.vector_store import DOCUMENTS, ChunkPoint, DocState, VectorStore, date_int
from app.domain import ALIAS_FIELD, Chunk, Document, encode_alias
from ingestion.chunking import CHUNKER_VERSION, chunk_document, embedding_text
from ingestion.aliases import find_aliases
from ingestion.amendments import find_amendment, link_amendments
from ingestion.loaders import LoadedFile, discover, load_file
from ingestion.metadata import normalize_doc_number
from ingestion.references import find_references

# What the points of a document carry beyond their vectors; part of the document hash, so that an
# index written with an older payload layout is rewritten by the next sync (embeddings are cached)
PAYLOAD_VERSION = 6  # 2: body on the document point, doc_number_key, references, effective_int;
#                      3: programmes, short names the text defines, what it amends; 4: status → validity;
#                      5: basis (a knowledge entry's policy basis); 6: knowledge entries amend nothing
# Set across documents by the pass that ends every sync, on all points of a document
RELATION_FIELDS = ("amends", "amended_by")
_LINK_FIELDS = ["doc_id", "title", "published", "effective", "written", "programmes", "amend_subjects",
                "amend_from", "amend_explicit", *RELATION_FIELDS]


class SyncProgress(Protocol):
    def start(self, total_documents: int) -> None: ...

    def advance(self, documents: int, chunks: int) -> None: ...


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    chunks_written: int = 0
    chunks_embedded: int = 0  # cache misses: texts the model actually had to embed
    relations_changed: int = 0  # documents whose amends / amended_by the sync changed
    seconds: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False

    def as_dict(self) -> dict:
        return {
            "added": len(self.added), "updated": len(self.updated), "removed": len(self.removed),
            "skipped": len(self.skipped), "failed": [{"source": s, "reason": r} for s, r in self.failed],
            "chunks_written": self.chunks_written, "chunks_embedded": self.chunks_embedded,
            "relations_changed": self.relations_changed,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()}, "interrupted": self.interrupted,
        }


def document_hash(doc: Document, index_signature: str, chunk_settings: tuple[int, int]) -> str:
    """Changes when anything that ends up in the index would change: the text, the metadata, the
    chunker, the embedder or the sparse encoder."""
    h = hashlib.sha256()
    h.update(json.dumps([CHUNKER_VERSION, PAYLOAD_VERSION, index_signature, chunk_settings, doc.metadata()],
                        ensure_ascii=False, sort_keys=True, default=str).encode())
    h.update(doc.body.encode())
    return h.hexdigest()[:32]


def document_payload(doc: Document, doc_hash: str, n_chunks: int, indexed_at: str) -> dict:
    """What every point of a document carries: identity, version, and the filterable metadata."""
    issuers = [s for s in (doc.issuer or "").replace("，", "、").replace(";", "、").split("、") if s]
    return {
        "doc_id": doc.doc_id, "granularity": "document", "indexed_at": indexed_at,
        "doc_hash": doc_hash, "n_chunks": n_chunks, "n_points": n_chunks + 1, "source_path": doc.source_path,
        "title": doc.title, "doc_number": doc.doc_number, "issuer": doc.issuer, "issuer_names": issuers,
        "level": doc.level, "district": doc.district, "written": doc.written, "published": doc.published,
        "effective": doc.effective, "expires": doc.expires, "validity": doc.validity, "topics": doc.topics,
        "source_url": doc.source_url, "kind": doc.kind, "replaces": doc.replaces, "basis": doc.basis,
        "published_int": date_int(doc.published), "expires_int": date_int(doc.expires),
        # in force from: the stated effective date, else the day it was published or written
        "effective_int": date_int(doc.effective or doc.published or doc.written),
        "doc_number_key": normalize_doc_number(doc.doc_number),
    }


def document_point_payload(doc: Document, doc_hash: str, n_chunks: int, indexed_at: str,
                           segment: Callable[[str], list[str]]) -> dict:
    """The document point also holds, for the lookup API, the cleaned body, what the text cites,
    repeals and amends, and the short names it defines (for query expansion); chunks do not repeat
    them. `segment` cuts text into words (to find where a full name starts)."""
    refs = find_references(doc.body, doc.doc_number, doc.title)
    # a hotline answer script restates a policy's standard ("…的标准是多少？"); it changes nothing — the
    # policies it rests on do — so it never amends (an answer would name it as the newer standard)
    amendment = find_amendment(doc.title, doc.body, doc.effective) if doc.kind != "knowledge" else None
    return {**document_payload(doc, doc_hash, n_chunks, indexed_at), "body": doc.body,
            "cites_numbers": refs.cites_numbers, "cites_titles": refs.cites_titles,
            "repeals_numbers": refs.repeals_numbers, "repeals_titles": refs.repeals_titles,
            "programmes": doc.programmes,
            ALIAS_FIELD: [encode_alias(s, f) for s, f in find_aliases(doc.body, segment)],
            "amend_subjects": amendment.subjects if amendment else [],
            "amend_from": amendment.applies_from if amendment else None,
            "amend_explicit": amendment.explicit if amendment else False}


def chunk_payload(doc: Document, chunk: Chunk, doc_hash: str, n_chunks: int, indexed_at: str) -> dict:
    return {**document_payload(doc, doc_hash, n_chunks, indexed_at), "granularity": "chunk", "chunk_id": chunk.chunk_id,
            "position": chunk.position, "text": chunk.text, "start": chunk.start, "end": chunk.end,
            "heading_path": chunk.heading_path}


def document_point_id(doc_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"jingce-document:{doc_id}"))


@dataclass
class _Pending:
    doc: Document
    doc_hash: str
    chunks: list[Chunk]
    is_new: bool


class Indexer:
    def __init__(self, store: VectorStore, embedder: ArrayEmbeddings, sparse: JiebaBm25Encoder,
                 max_file_bytes: int, chunk_max_chars: int = 360, chunk_min_chars: int = 60,
                 batch_chunks: int = 64) -> None:
        self.store, self.embedder, self.sparse = store, embedder, sparse
        self.max_file_bytes = max_file_bytes
        self.chunk_settings = (chunk_max_chars, chunk_min_chars)
        self.batch_chunks = batch_chunks
        self.index_signature = f"{embedder.model_id}|{sparse.signature}"

    def sync(self, paths: list[str | Path], prune: bool = True, progress: SyncProgress | None = None) -> SyncReport:
        report = SyncReport()
        clock = time.perf_counter()
        states = self.store.doc_states()
        report.seconds["read_index"] = time.perf_counter() - clock

        pending: list[_Pending] = []
        timings = {"load": 0.0, "chunk": 0.0, "embed": 0.0, "sparse": 0.0, "write": 0.0}
        try:
            clock = time.perf_counter()
            files = [load_file(p, self.max_file_bytes) for p in discover(paths)]
            timings["load"] = time.perf_counter() - clock
            documents = self.collect(files, report)
            if progress:
                progress.start(len(documents))
            for doc in documents:
                item = self.plan(doc, states, report, timings, progress)
                if item is None:
                    continue
                pending.append(item)
                if sum(len(p.chunks) for p in pending) >= self.batch_chunks:
                    self._write(pending, report, timings, progress)
                    pending = []
            self._write(pending, report, timings, progress)
            pending = []
            if prune:
                clock = time.perf_counter()
                self.prune(paths, {str(Path(f.path).resolve()) for f in files if not f.ok},
                           {d.doc_id for d in documents}, states, report)
                timings["prune"] = time.perf_counter() - clock
            clock = time.perf_counter()
            report.relations_changed = self.link_documents()
            timings["link"] = time.perf_counter() - clock
        except KeyboardInterrupt:
            report.interrupted = True
        finally:
            clock = time.perf_counter()
            if report.chunks_written or report.removed:
                self.store.optimize()
            self.store.flush()
            timings["optimize_flush"] = time.perf_counter() - clock
            report.seconds.update(timings)
        return report

    def write_documents(self, documents: list[Document]) -> SyncReport:
        """Writes documents that come from no file (a knowledge entry approved at the desk): the same
        plan and write as a sync, without the prune or the relation pass."""
        report, timings = SyncReport(), {"chunk": 0.0, "embed": 0.0, "sparse": 0.0, "write": 0.0}
        states = self.store.doc_states()
        pending = [item for doc in documents if (item := self.plan(doc, states, report, timings)) is not None]
        self._write(pending, report, timings, None)
        if report.chunks_written:
            self.store.optimize()
        self.store.flush()
        report.seconds.update(timings)
        return report

    def plan(self, doc: Document, states: dict[str, DocState], report: SyncReport, timings: dict[str, float],
             progress: SyncProgress | None = None) -> _Pending | None:
        """What writing this document takes: None when the index already holds this version of it
        (or it has no text, a failure reported)."""
        clock = time.perf_counter()
        doc_hash = document_hash(doc, self.index_signature, self.chunk_settings)
        state = states.get(doc.doc_id)
        if state is not None and state.doc_hash == doc_hash and state.complete:
            report.skipped.append(doc.doc_id)
            if progress:
                progress.advance(1, 0)
            return None
        chunks = chunk_document(doc, *self.chunk_settings)
        timings["chunk"] += time.perf_counter() - clock
        if not chunks:
            report.failed.append((doc.source_path or doc.doc_id, f"{doc.doc_id}: no text to index"))
            return None
        return _Pending(doc, doc_hash, chunks, is_new=state is None)

    def link_documents(self) -> int:
        """Recompute the relations between documents (which amends which) over the whole index and
        write those that changed onto every point of their document. Runs at the end of every
        sync, so a sync interrupted before it leaves relations the next sync puts right.
        Returns how many documents changed."""
        documents = [payload for _, payload in self.store.scroll_payloads(DOCUMENTS, fields=_LINK_FIELDS)]
        changed = 0
        links = link_amendments(documents)
        for doc in documents:
            wanted = links[doc["doc_id"]]
            if any(list(doc.get(name) or []) != wanted[name] for name in RELATION_FIELDS):
                self.store.set_document_fields(doc["doc_id"], wanted)
                changed += 1
        return changed

    @staticmethod
    def collect(files: list[LoadedFile], report: SyncReport) -> list[Document]:
        documents: list[Document] = []
        origin: dict[str, str] = {}
        for loaded in files:
            for reason in loaded.failures:
                report.failed.append((loaded.path, reason))
            for doc in loaded.documents:
                if doc.doc_id in origin:
                    report.failed.append((loaded.path, f"duplicate doc_id '{doc.doc_id}' (already read from "
                                                       f"{origin[doc.doc_id]}); skipped"))
                    continue
                origin[doc.doc_id] = loaded.path
                documents.append(doc)
        return documents

    def _write(self, pending: list[_Pending], report: SyncReport, timings: dict[str, float],
               progress: SyncProgress | None) -> None:
        self.write(self.encode(pending, report, timings), self.store, report, timings, progress)

    def encode(self, pending: list[_Pending], report: SyncReport,
               timings: dict[str, float]) -> list[tuple[_Pending, list[ChunkPoint]]]:
        """Embed and BM25-encode these documents' chunks: each document with the points that hold it
        (its document point first), ready to write. The costly part, and it needs no store."""
        if not pending:
            return []
        texts = [embedding_text(p.doc, c) for p in pending for c in p.chunks]
        clock = time.perf_counter()
        misses_before = getattr(self.embedder, "misses", 0)
        vectors = self.embedder.passages(texts)
        report.chunks_embedded += (self.embedder.misses - misses_before
                                   if isinstance(self.embedder, CachedEmbeddings) else len(texts))
        timings["embed"] += time.perf_counter() - clock
        clock = time.perf_counter()
        sparse = [self.sparse.encode_document(t) for t in texts]
        whole = [self.sparse.encode_document(f"{p.doc.title}\n{p.doc.body}") for p in pending]
        timings["sparse"] += time.perf_counter() - clock
        encoded, row = [], 0
        for item, doc_vector in zip(pending, whole):
            indexed_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            points = [ChunkPoint(document_point_id(item.doc.doc_id), None, doc_vector.indices, doc_vector.values,
                                 document_point_payload(item.doc, item.doc_hash, len(item.chunks), indexed_at,
                                                        self.sparse.segment))]
            for chunk in item.chunks:
                points.append(ChunkPoint(chunk.chunk_id, vectors[row].tolist(), sparse[row].indices,
                                         sparse[row].values,
                                         chunk_payload(item.doc, chunk, item.doc_hash, len(item.chunks), indexed_at)))
                row += 1
            encoded.append((item, points))
        return encoded

    def encode_in_batches(self, pending: list[_Pending], report: SyncReport,
                          timings: dict[str, float]) -> list[tuple[_Pending, list[ChunkPoint]]]:
        """`encode`, a batch of about INGEST_BATCH_CHUNKS chunks at a time, as `sync` embeds them."""
        encoded, batch = [], []
        for item in pending:
            batch.append(item)
            if sum(len(p.chunks) for p in batch) >= self.batch_chunks:
                encoded += self.encode(batch, report, timings)
                batch = []
        return encoded + self.encode(batch, report, timings)

    @staticmethod
    def write(encoded: list[tuple[_Pending, list[ChunkPoint]]], store: VectorStore, report: SyncReport,
              timings: dict[str, float], progress: SyncProgress | None = None) -> None:
        """Each document's points in, then whatever else the index held of it out: a crash between
        the two leaves the document incomplete (its old chunks carry the old hash), never wrong."""
        for item, points in encoded:
            clock = time.perf_counter()
            store.upsert(points)
            store.delete_doc_chunks(item.doc.doc_id, [p.id for p in points])
            timings["write"] += time.perf_counter() - clock
            (report.added if item.is_new else report.updated).append(item.doc.doc_id)
            report.chunks_written += len(item.chunks)
            if progress:
                progress.advance(1, len(item.chunks))

    def prune(self, paths: list[str | Path], unreadable: set[str], present: set[str],
              states: dict[str, DocState], report: SyncReport) -> None:
        """Remove documents whose source is under the synced paths but no longer holds them.
        A file that could not be read at all (`unreadable`, resolved paths) keeps its documents: a
        bad file is not a deletion."""
        roots = [Path(p).resolve() for p in paths]
        for doc_id, state in states.items():
            if doc_id in present or not state.source_path:
                continue
            source = Path(state.source_path).resolve()
            if str(source) in unreadable:
                continue
            if any(source == root or root in source.parents for root in roots):
                self.store.delete_doc_chunks(doc_id, [])
                report.removed.append(doc_id)


def embedding_texts(paths: list[str | Path], max_file_bytes: int, chunk_max_chars: int,
                    chunk_min_chars: int) -> list[str]:
    """Every text a sync of these paths embeds (a chunk with its title and headings), without
    embedding or writing anything: what a vector pack must hold to spare a first run the embedding."""
    documents = Indexer.collect([load_file(p, max_file_bytes) for p in discover(paths)], SyncReport())
    return [embedding_text(doc, chunk) for doc in documents
            for chunk in chunk_document(doc, chunk_max_chars, chunk_min_chars)]
