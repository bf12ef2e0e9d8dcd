"""The routing use cases the API and CLI call: suggest (the routing pipeline, recorded), decide
(recorded; the decided ticket becomes precedent at once), stats — and train, which fits the category
model ahead of serving (`jingce train routing`) on the labelled file plus every decided ticket whose
category an agent confirmed or corrected.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.clients.embeddings import ArrayEmbeddings
from app.config import RoutingSettings
from app.pipeline.runner import Pipeline
from app.routing.catalogue import RankingPolicy, Taxonomy, departments, load_taxonomy
from app.routing.classifier import Progress, Ticket
from app.routing.context import TicketContext
from app.routing.categories import load_categories
from app.routing.evaluation import is_ticket_file, load_messages, load_tickets
from app.routing.hot_topics import HotTopic, find_hot_topics
from app.routing.knowledge import RoutingKnowledge
from app.routing.places import find_places
from app.routing.steps import suggestion_of
from app.routing.store import DecidedTicket, RoutingStore, StoredDecision
from app.routing.results import Suggestion
from app.routing.trained import TrainedRouting, stored_digest, train_routing, training_digest


class InvalidTicket(ValueError):
    pass


class RoutingFailed(RuntimeError):
    pass


class UnknownDepartment(ValueError):
    pass


class ConflictingDecision(ValueError):
    pass


class RoutingService:
    def __init__(self, store: RoutingStore, knowledge: RoutingKnowledge, pipeline: Pipeline[TicketContext],
                 policy: RankingPolicy) -> None:
        self.store, self.knowledge, self.pipeline, self.policy = store, knowledge, pipeline, policy

    def start(self) -> None:
        """Load the model, the decided tickets and the departments' profiles (the API's lifespan does)."""
        self.knowledge.start()

    def close(self) -> None:
        self.knowledge.close()

    def suggest(self, text: str, address: str | None = None, channel: str = "hotline", agent: str | None = None,
                draft_reply: bool = True, actor: str | None = None) -> Suggestion:
        self.knowledge.start()  # at once when started; callers without a lifespan (the CLI) pay here
        ctx = self.pipeline.run(TicketContext(text, address, channel, agent, draft_reply, actor=actor))
        if ctx.status == "invalid_ticket":
            raise InvalidTicket(ctx.problem)
        if ctx.status != "suggested":
            raise RoutingFailed(ctx.error or f"routing ended with {ctx.status}")
        return suggestion_of(ctx, self.policy)

    def decide(self, suggestion_id: str, action: str, department: str | None, co_handlers: list[str],
               category: str | None, reason: str | None, agent: str | None,
               channel: str = "hotline", actor: str | None = None) -> tuple[StoredDecision, str]:
        catalogue = departments()
        found = self.store.suggestion(suggestion_id)
        if found is None:
            raise KeyError(suggestion_id)
        if action == "accept":
            if department and department != found["lead_department"]:
                raise ConflictingDecision("accept keeps the suggested lead department; to choose another, override")
            department = found["lead_department"]
        elif department == found["lead_department"]:
            action = "accept"  # "overridden" to the suggested lead is agreement: it must not count as both
        for dept in [department, *co_handlers]:
            if dept not in catalogue:
                raise UnknownDepartment(dept)
        decision, event = self.store.decide(found, action, department, co_handlers, category, reason, agent, channel,
                                            actor)
        self.knowledge.start()
        self.knowledge.remember([DecidedTicket(found["ticket"], department, decision.category, decision.action,
                                               found["lead_department"], decision.created_at)])
        return decision, event

    def recent_decisions(self, limit: int, agent: str | None = None) -> list[dict[str, Any]]:
        return self.store.recent_decisions(limit, agent)

    def stats(self, since: dt.datetime | None, until: dt.datetime | None) -> dict[str, Any]:
        return self.store.stats(since, until)

    def hot_topics(self, since: dt.datetime, until: dt.datetime) -> tuple[list[HotTopic], int]:
        """The hot topics among the tickets suggested in [since, until) (the newest
        `hot_topic_max_tickets` of them), and how many tickets were read. Their vectors were cached
        when they were routed: this embeds nothing new but what a changed model would."""
        self.knowledge.start()
        tickets = self.store.tickets_between(since, until, self.policy.hot_topic_max_tickets)
        if not tickets:
            return [], 0
        # the place is how tickets are grouped; compared with it, two matters at one compound look alike
        matters = [find_places(t.text).removed_from(t.text) for t in tickets]
        vectors = self.knowledge.ticket_vectors([Ticket.of(m) for m in matters])
        return find_hot_topics(tickets, matters, vectors, self.policy.hot_topic_min_similarity,
                               self.policy.hot_topic_min_tickets), len(tickets)


@dataclass
class TrainingSet:
    tickets: list[Ticket]
    labels: list[str]
    taxonomy: Taxonomy
    source: str
    groups: dict[str, str] | None = None  # each category's lead rule, for the project's tree


def training_set(cfg: RoutingSettings, store: RoutingStore) -> TrainingSet | None:
    """The labelled tickets and their categories, with agents' decided categories added (a corrected
    category is a labelled example), and a description of where they came from; None without a file.
    The project's tickets (a folder, or a file in their format) are classed by categories.yml's
    level-2 categories; the shared competition messages by their level-1 category and the xlsx
    taxonomy."""
    path = Path(cfg.train_path) if cfg.train_path else None
    if path is None or not path.exists():
        return None
    if is_ticket_file(path):
        labelled = load_tickets(path)
        tickets, labels = [t.ticket for t in labelled], [t.label for t in labelled]
        tree = load_categories(cfg.categories_path)
        taxonomy, groups = tree.taxonomy(), tree.lead_rules()
    else:
        tickets, labels = load_messages(path)
        taxonomy, groups = load_taxonomy(cfg.taxonomy_path), None
    known, added = set(labels), 0
    for decided in store.decided_tickets():
        if decided.category in known:
            tickets.append(Ticket.of(decided.ticket))
            labels.append(decided.category)
            added += 1
    return TrainingSet(tickets, labels, taxonomy, f"{cfg.train_path} + {added} decided tickets", groups)


def train_model(cfg: RoutingSettings, store: RoutingStore, embedder: ArrayEmbeddings, model_path: Path,
                only_if_changed: bool = False, progress: Progress | None = None) -> str:
    """Fits the category model and writes it to `model_path`; says what it did."""
    found = training_set(cfg, store)
    if found is None:
        return (f"no labelled tickets at {cfg.train_path} (ROUTING_TRAIN_PATH): no category model; "
                "every suggestion is sent to review")
    tickets, labels = found.tickets, found.labels
    target = cfg.lead_review_target if found.groups else cfg.review_target
    if only_if_changed and model_path.exists():
        digest = training_digest(tickets, labels, found.taxonomy, embedder.model_id, target)
        if stored_digest(model_path) == digest:
            return f"{model_path} is up to date ({len(tickets)} tickets)"
    trained: TrainedRouting = train_routing(embedder, found.taxonomy, tickets, labels, target,
                                            found.source, progress, found.groups)
    trained.save(model_path)
    return (f"{model_path}: {trained.version}, {trained.trained_on} tickets, {len(trained.model.classes)} "
            f"categories, review threshold {trained.model.threshold:.2f}")
