"""The knowledge base's use cases: propose an entry from the desk (an agent's question and answer,
or a reply draft they accepted or edited), approve or reject it (a reviewer), list and search. An
approved entry is indexed at once — the next question it answers is answered from it, with no
restart — and every step is an audit event."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from app.clients.vector_store import StoreUnavailable
from app.knowledge.store import KnowledgeStore, entry_of
from ingestion.knowledge import entry_from_record
from ingestion.sync import Indexer

log = logging.getLogger(__name__)

DESK_PREFIX = "kd-"  # entries proposed at the desk; the shipped files use ka-/kb-…


class KnowledgeService:
    def __init__(self, store: KnowledgeStore, indexer: Indexer) -> None:
        self.store, self.indexer = store, indexer

    def propose(self, record: dict[str, Any], proposed_by: str | None, suggestion_id: str | None = None,
                channel: str = "hotline", actor: str | None = None) -> dict[str, Any]:
        """The stored row; ValueError (IngestError) names what is wrong with the entry."""
        entry = entry_from_record({**record, "id": DESK_PREFIX + uuid.uuid4().hex[:12], "state": "proposed",
                                   "source": record.get("source") or "agent_reply"})
        return self.store.propose(entry, proposed_by, suggestion_id, channel, actor)

    def review(self, entry_id: str, approve: bool, reviewer: str | None, note: str | None,
               channel: str = "hotline", actor: str | None = None) -> dict[str, Any]:
        row, _ = self.store.review(entry_id, "approved" if approve else "rejected", reviewer, note, channel, actor)
        if approve:
            self.indexer.write_documents([entry_of(row).as_document(None)])
        return row

    def index_approved(self) -> int:
        """Puts every approved desk entry in the index (a rebuilt index lacks them); what is already
        there is skipped by its hash. Returns how many were written. A store that cannot be reached
        at start is the store's outage, answered everywhere as such: it does not stop the service."""
        approved = self.store.approved()
        if not approved:
            return 0
        try:
            report = self.indexer.write_documents([e.as_document(None) for e in approved])
        except StoreUnavailable as exc:
            log.warning("approved knowledge entries not indexed at start: %s", exc)
            return 0
        return len(report.added) + len(report.updated)

    def get(self, entry_id: str) -> dict[str, Any] | None:
        return self.store.get(entry_id)

    def listing(self, state: str | None = None, query: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        return self.store.listing(state, query, limit)
