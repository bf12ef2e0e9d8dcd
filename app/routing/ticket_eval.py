"""`jingce eval routing --tickets`: the router end to end on the project's labelled tickets
(policies/hotline/tickets/), as `POST /v1/tickets/route` runs it up to the choice of 主办 — place,
category, ranking — with a model fitted on the train split only.

- `--split test`: fitted on every train ticket, scored on the held-out test tickets (their split is
  a salted hash of the id, app/routing/evaluation.py: fixed before any weight was chosen);
- `--split train`: 5-fold cross-validation inside the train split (what weights may be tuned on).

Reported: the lead handler exactly right, and right up to the district (a street office counts for
its district, as the held-out Beijing tickets are scored); the category (level 2 and level 1); the
street and district found where the ticket names them; the share sent to review and the lead accuracy
of the rest.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np

from app.clients.embeddings import ArrayEmbeddings
from app.config import RoutingSettings
from app.pipeline.runner import Pipeline
from app.routing.catalogue import RankingPolicy, departments
from app.routing.categories import CategoryTree, split_label
from app.routing.context import TicketContext
from app.routing.evaluation import LabelledTicket, load_tickets
from app.routing.knowledge import RoutingKnowledge
from app.routing.precedents import Precedents
from app.routing.steps import Choose, routing_steps
from app.routing.trained import train_routing

FOLDS = 5


def _district_of(handler: str, catalogue) -> str | None:
    if handler.startswith("district:"):
        return handler
    dept = catalogue.get(handler)
    return dept.parent if dept is not None and dept.kind == "street" else None


def route_tickets(embedder: ArrayEmbeddings, cfg: RoutingSettings, policy: RankingPolicy, tree: CategoryTree,
                  train: list[LabelledTicket], test: list[LabelledTicket]) -> list[TicketContext]:
    """Each test ticket routed by a model fitted on `train` (no decided tickets: none are known)."""
    catalogue = departments()
    trained = train_routing(embedder, tree.taxonomy(), [t.ticket for t in train], [t.label for t in train],
                            cfg.lead_review_target, "evaluation", groups=tree.lead_rules())
    knowledge = RoutingKnowledge(embedder, catalogue, Path("/nonexistent"), lambda: [], check_s=0)
    knowledge.start()
    knowledge.trained, knowledge.decided = trained, Precedents()
    pipeline = Pipeline(routing_steps(cfg, knowledge, policy, tree) + [Choose(catalogue, policy, tree)])
    return [pipeline.run(TicketContext(t.text, t.address, channel="evaluation")) for t in test]


def score(tickets: list[LabelledTicket], routed: list[TicketContext]) -> dict[str, Any]:
    catalogue = departments()
    rows = []
    for ticket, ctx in zip(tickets, routed):
        lead = ctx.chosen[0].department.id if ctx.chosen else None
        label = ctx.category and ctx.category.label
        rows.append({
            "lead": lead == ticket.lead,
            "lead_district": lead == ticket.lead or (lead is not None and _district_of(lead, catalogue) is not None
                                                     and _district_of(lead, catalogue) == _district_of(ticket.lead, catalogue)),
            "category": label == ticket.label,
            "level1": bool(ctx.category) and ctx.category.level1 == split_label(ticket.label)[0],
            "street": None if not ticket.street_code else ctx.place.street_code == ticket.street_code,
            "district": None if not ticket.district else ctx.place.district == ticket.district,
            "review": bool(ctx.review_reasons),
            "kind": ("street" if ticket.lead.startswith("street:") else "district" if ticket.lead.startswith("district:")
                     else catalogue[ticket.lead].kind if ticket.lead in catalogue else "unknown"),
        })

    def mean(key: str, subset=None) -> float | None:
        values = [r[key] for r in (subset if subset is not None else rows) if r[key] is not None]
        return round(float(np.mean(values)), 3) if values else None

    kept = [r for r in rows if not r["review"]]
    wrong = Counter(f"{t.lead} → {c.chosen[0].department.id if c.chosen else '—'}"
                    for t, c, r in zip(tickets, routed, rows) if not r["lead"])
    return {
        "tickets": len(rows),
        "lead": mean("lead"), "lead_up_to_district": mean("lead_district"),
        "category": mean("category"), "category_level1": mean("level1"),
        "street_found": mean("street"), "street_named": sum(r["street"] is not None for r in rows),
        "district_found": mean("district"),
        "review_share": mean("review"), "lead_not_reviewed": mean("lead", kept) if kept else None,
        "lead_by_kind": {k: mean("lead", [r for r in rows if r["kind"] == k])
                         for k in sorted({r["kind"] for r in rows})},
        "most_confused": wrong.most_common(8),
    }


def run_ticket_eval(embedder: ArrayEmbeddings, cfg: RoutingSettings, policy: RankingPolicy, tree: CategoryTree,
                    path: Path, split: str, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    labelled = load_tickets(path)
    train = [t for t in labelled if t.split == "train"]
    if split == "test":
        test = [t for t in labelled if t.split == "test"]
        progress(f"fitting on {len(train)} train tickets, routing {len(test)} test tickets")
        result = score(test, route_tickets(embedder, cfg, policy, tree, train, test))
        result["mode"] = f"fitted on the {len(train)} train tickets, scored on the {len(test)} held-out test tickets"
        return result
    if split != "train":
        raise ValueError(f"split must be test or train, not {split!r}")
    order = np.random.default_rng(0).permutation(len(train))
    tickets, routed = [], []
    for fold in range(FOLDS):
        held_out = set(order[fold::FOLDS])
        held = [train[i] for i in order[fold::FOLDS]]
        rest = [train[i] for i in order if i not in held_out]
        progress(f"fold {fold + 1}/{FOLDS}")
        tickets += held
        routed += route_tickets(embedder, cfg, policy, tree, rest, held)
    result = score(tickets, routed)
    result["mode"] = f"{FOLDS}-fold cross-validation inside the {len(train)} train tickets"
    return result
