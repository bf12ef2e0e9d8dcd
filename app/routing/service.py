"""The routing use cases the API and CLI call: suggest (and record), decide (and learn), stats.

The router is built on first use — training embeds the labelled tickets (cached by content) and
fits the category model in a few seconds — so that starting the service never waits for it. It
trains on the labelled file plus every decided ticket whose category the agent confirmed or
corrected; a decision also becomes precedent at once (Router.learn).
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

from app.config import RoutingSettings
from app.prompts import load_prompt
from app.routing.catalogue import departments, load_taxonomy
from app.routing.evaluation import load_messages
from app.routing.classifier import Ticket
from app.routing.router import Router
from app.routing.store import RoutingStore, StoredDecision


class UnknownDepartment(ValueError):
    pass


class ConflictingDecision(ValueError):
    pass


class RoutingService:
    def __init__(self, settings: RoutingSettings, store: RoutingStore, embedder, retriever=None, pipeline=None,
                 llm=None) -> None:
        self.settings, self.store, self.llm = settings, store, llm
        self.embedder, self.retriever, self.pipeline = embedder, retriever, pipeline
        self._router: Router | None = None
        self._lock = threading.Lock()

    @property
    def router(self) -> Router:
        with self._lock:
            if self._router is None:
                self._router = self._build()
            return self._router

    def _build(self) -> Router:
        cfg = self.settings
        decided = self.store.decided_tickets()
        training = None
        if cfg.train_path is not None and Path(cfg.train_path).exists():
            tickets, labels = load_messages(Path(cfg.train_path))
            # agents' categories join the training set: a corrected category is a labelled example
            known = set(labels)
            for text, _, category in decided:
                if category in known:
                    tickets.append(Ticket.of(text))
                    labels.append(category)
            training = (tickets, labels)
        return Router(self.embedder, load_taxonomy(cfg.taxonomy_path), training, review_target=cfg.review_target,
                      max_chars=cfg.max_ticket_chars, retriever=self.retriever,
                      pipeline=self.pipeline if cfg.draft_reply else None, decided=decided, llm=self.llm,
                      prompt=load_prompt("route_ticket") if self.llm is not None else None)

    def suggest(self, text: str, address: str | None = None, channel: str = "hotline", agent: str | None = None,
                draft_reply: bool = True) -> dict[str, Any]:
        suggestion = self.router.route(text, address, draft_reply=draft_reply)
        suggestion_id, event = self.store.save_suggestion(suggestion, channel, agent)
        return {**suggestion, "id": suggestion_id, "audit_id": event}

    def decide(self, suggestion_id: str, action: str, department: str | None, co_handlers: list[str],
               category: str | None, reason: str | None, agent: str | None,
               channel: str = "hotline") -> tuple[StoredDecision, str]:
        catalogue = departments()
        found = self.store.suggestion(suggestion_id)
        if found is None:
            raise KeyError(suggestion_id)
        if action == "accept":
            if department and department != found["lead_department"]:
                raise ConflictingDecision("accept keeps the suggested lead department; to choose another, override")
            department = found["lead_department"]
        for dept in [department, *co_handlers]:
            if dept not in catalogue:
                raise UnknownDepartment(dept)
        decision, event = self.store.decide(found, action, department, co_handlers, category, reason, agent, channel)
        self.router.learn(found["ticket"], department, decision.category)
        return decision, event

    def stats(self, since: dt.datetime | None, until: dt.datetime | None) -> dict[str, Any]:
        return self.store.stats(since, until)
