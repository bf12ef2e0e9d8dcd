"""Suggest who should handle a hotline ticket, and show why.

Steps: mask personal data → find the place → classify the category (CategoryModel) → rank
departments → gather evidence → draft a reply with the answer pipeline → decide whether an agent
must review. Department ranking adds four signals, each visible in the evidence:
- the category prior: the predicted category's probability for departments that lead it;
- the department's keywords found in the ticket;
- the ticket's similarity to the department's responsibilities (e5, relative to the other departments);
- votes of the most similar tickets agents have already decided (overrides are labelled examples);
- with an LLM configured, its pick among the top candidates (prompts/route_ticket.yml); an LLM that
  is down or answers off the list adds nothing, and the suggestion says so.
The lead (主办) is the best; co-handlers (协办) are the next departments within half its score that
have evidence of their own (keywords or precedent), and the district government when the ticket
names a place in Beijing.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.clients.embeddings import ArrayEmbeddings
from app.domain import SearchFilters
from app.pipeline.context import AnswerContext
from app.policy_data import status as answer_status
from app.routing.catalogue import Department, Taxonomy, departments
from app.routing.classifier import CategoryModel, Featurizer, Ticket
from app.routing.places import find_places
from app.security.pii import mask_personal_data

WEIGHTS = {"category": 1.0, "keywords": 1.0, "responsibilities": 1.0, "decisions": 1.5, "llm": 1.0}
LLM_CANDIDATES = 5


class InvalidTicket(ValueError):
    pass


@dataclass
class Memory:
    """Labelled tickets the router can point to as precedent: training messages (category) and
    decided tickets (department, category). One row of `matrix` per ticket."""

    matrix: np.ndarray | None = None
    records: list[dict[str, Any]] = field(default_factory=list)  # text, category, department, source

    def extend(self, vectors: np.ndarray, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        self.matrix = vectors if self.matrix is None else np.vstack([self.matrix, vectors])
        self.records.extend(records)

    def nearest(self, vector: np.ndarray, k: int) -> list[dict[str, Any]]:
        """The k most similar tickets, best first, each a copy of its record with its similarity."""
        if self.matrix is None:
            return []
        sims = self.matrix @ vector
        return [{**self.records[i], "similarity": float(sims[i])} for i in np.argsort(-sims)[:k]]


class Router:
    def __init__(self, embedder: ArrayEmbeddings, taxonomy: Taxonomy, training: tuple[list[Ticket], list[str]] | None,
                 review_target: float = 0.95, max_chars: int = 20000, retriever=None, pipeline=None,
                 decided: list[tuple[str, str, str | None]] | None = None, llm=None, prompt=None) -> None:
        self.embedder, self.taxonomy = embedder, taxonomy
        self.llm, self.prompt = llm, prompt
        self.review_target, self.max_chars = review_target, max_chars
        self.retriever, self.pipeline = retriever, pipeline
        self.catalogue = departments()
        self.featurizer = Featurizer(embedder, taxonomy)
        self._profiles = np.asarray(embedder.passages([d.profile for d in self.catalogue.values()]))
        self._ids = list(self.catalogue)
        self.memory = Memory()
        self.model: CategoryModel | None = None
        self.trained_on = 0
        self._lock = threading.Lock()
        if training:
            self._train(*training)
        if decided:
            self._remember([text for text, _, _ in decided], [(d, c) for _, d, c in decided])

    # ---- training ----
    def _train(self, tickets: list[Ticket], labels: list[str]) -> None:
        features = self.featurizer(tickets)
        model = CategoryModel(self.featurizer).fit(features, labels)
        model.calibrate(features, labels, self.review_target)
        with self._lock:
            self.model, self.trained_on = model, len(tickets)
            self.memory.extend(features.passages, [
                {"text": ticket.text[:200], "category": label, "department": None, "source": "training"}
                for ticket, label in zip(tickets, labels)])

    @property
    def version(self) -> str:
        if self.model is None:
            return "untrained"
        digest = hashlib.sha256(f"{self.trained_on}|{self.model.classes}|{self.model.threshold:.4f}".encode())
        return f"cat-{self.trained_on}-{digest.hexdigest()[:8]}"

    def learn(self, text: str, department: str, category: str | None) -> None:
        """A decided ticket becomes precedent at once; its category joins the training set at the
        next start (RoutingService)."""
        self._remember([text], [(department, category)])

    def _remember(self, texts: list[str], outcomes: list[tuple[str, str | None]]) -> None:
        vectors = self.featurizer.passage_vectors([Ticket.of(t) for t in texts])
        with self._lock:
            self.memory.extend(vectors, [{"text": t[:200], "category": c, "department": d, "source": "decision"}
                                         for t, (d, c) in zip(texts, outcomes)])

    # ---- routing ----
    def route(self, text: str, address: str | None = None, draft_reply: bool = True) -> dict[str, Any]:
        clock = time.perf_counter()
        text = (text or "").strip()
        if not text:
            raise InvalidTicket("the ticket is empty")
        if len(text) > self.max_chars:
            raise InvalidTicket(f"the ticket is longer than {self.max_chars} characters")
        if not any(ch.isalnum() for ch in text):
            raise InvalidTicket("the ticket has no words (only symbols or emoji)")
        masked = mask_personal_data(text)
        masked_address = mask_personal_data(address).text if address else None
        ticket = Ticket.of(masked.text)
        places = find_places(masked.text, masked_address)
        features = self.featurizer([ticket])
        vector = features.passages[0]
        category, reasons = self._category(features, vector)
        with self._lock:  # decisions may be added by another request meanwhile
            neighbours = self.memory.nearest(vector, 10)
        ranked = self._rank(masked.text, vector, category, neighbours)
        llm_note = self._ask_llm(ticket, ranked) if self.llm is not None else None
        chosen = self._choose(ranked, places.district)
        lead = chosen[0]
        if category and category["level1"] not in lead["_department"].categories and lead["_department"].kind != "district":
            reasons.append(f"the lead department does not usually lead {category['level1']} tickets")
        suggestion = {
            "ticket": masked.text, "personal_data": masked.found,
            "place": {"district": places.district, "street": places.street, "compounds": places.compounds,
                      "roads": places.roads},
            "category": category,
            "departments": [self._public(d) for d in chosen],
            "needs_review": bool(reasons), "review_reasons": reasons,
            "evidence": {"similar_tickets": [{**n, "similarity": round(n["similarity"], 4)} for n in neighbours[:3]],
                         "policies": self._policies(ticket)},
            "reply_draft": self._draft(ticket) if draft_reply else None,
            "model": {"version": self.version, "trained_on": self.trained_on,
                      "review_threshold": self.model.threshold if self.model else None,
                      "llm": llm_note},
        }
        suggestion["timings_ms"] = {"total": round((time.perf_counter() - clock) * 1000, 1)}
        return suggestion

    def _category(self, features, vector) -> tuple[dict[str, Any] | None, list[str]]:
        if self.model is None:
            return None, ["no category model: no training messages were found"]
        with self._lock:
            model = self.model
        proba = model.predict_proba(features)[0]
        order = np.argsort(-proba)
        level1 = model.classes[int(order[0])]
        leaf = self.featurizer.nearest_leaf(vector, level1)
        confidence = float(proba[order[0]])
        reasons = []
        if confidence < model.threshold:
            reasons.append(f"category confidence {confidence:.2f} is below the review threshold {model.threshold:.2f}")
        return {"level1": level1, "level2": leaf[0] if leaf else None, "level3": leaf[1] if leaf else None,
                "confidence": confidence,
                "alternatives": [{"level1": model.classes[int(i)], "probability": float(proba[i])} for i in order[1:3]]}, reasons

    def _rank(self, text: str, vector: np.ndarray, category: dict | None,
              neighbours: list[dict[str, Any]]) -> list[dict[str, Any]]:
        sims = self._profiles @ vector
        relative = (sims - sims.mean()) / (sims.std() or 1.0)
        probabilities = {category["level1"]: category["confidence"]} if category else {}
        if category:
            probabilities.update({a["level1"]: a["probability"] for a in category["alternatives"]})
        votes: dict[str, float] = {}
        for neighbour in neighbours:
            department, sim = neighbour["department"], neighbour["similarity"]
            if department and sim > 0.85:
                votes[department] = votes.get(department, 0.0) + sim
        total_votes = sum(votes.values()) or 1.0
        ranked = []
        for index, dept_id in enumerate(self._ids):
            dept = self.catalogue[dept_id]
            if dept.kind == "district":
                continue  # a district government joins by place, not by subject
            keywords = [k for k in dept.keywords if k in text]
            signals = {
                "category": max([probabilities.get(c, 0.0) for c in dept.categories] + [0.0]),
                "keywords": min(len(keywords), 3) / 3,
                "responsibilities": max(0.0, float(relative[index])) / 3,
                "decisions": votes.get(dept_id, 0.0) / total_votes,
            }
            score = sum(WEIGHTS[k] * v for k, v in signals.items())
            ranked.append({"_department": dept, "score": score, "signals": signals, "matched_keywords": keywords,
                           "responsibilities": self._clauses(dept, text, keywords)})
        ranked.sort(key=lambda r: (-r["score"], r["_department"].id))
        return ranked

    def _ask_llm(self, ticket: Ticket, ranked: list[dict[str, Any]]) -> str:
        """Adds the LLM's pick among the top candidates as a signal and re-sorts; returns what happened."""
        from app.clients.llm import LLMUnavailable

        candidates = ranked[:LLM_CANDIDATES]
        listing = "\n".join(f"{n}. {c['_department'].name}：{c['_department'].responsibilities[0]}"
                            for n, c in enumerate(candidates, 1))
        messages = [{"role": "system", "content": self.prompt["system"]},
                    {"role": "user", "content": self.prompt["user"].format(ticket=ticket.text[:1000], candidates=listing)}]
        try:
            reply = "".join(self.llm.stream_chat(messages)).strip()
        except LLMUnavailable as exc:
            return f"unavailable: {exc}"
        match = re.search(r"\d+", reply)
        if not match or not 1 <= int(match.group(0)) <= len(candidates):
            return f"ignored: the reply named no candidate ({reply[:40]!r})"
        pick = candidates[int(match.group(0)) - 1]
        pick["signals"]["llm"] = 1.0
        pick["score"] += WEIGHTS["llm"]
        ranked.sort(key=lambda r: (-r["score"], r["_department"].id))
        return f"{self.prompt['version']}: picked {pick['_department'].id}"

    @staticmethod
    def _clauses(dept: Department, text: str, keywords: list[str]) -> list[str]:
        """The responsibility clauses that name what the ticket is about (by keyword or shared words)."""
        scored = []
        for clause in dept.responsibilities:
            hits = sum(1 for k in keywords if k in clause) + sum(1 for i in range(len(clause) - 1)
                                                                  if clause[i:i + 2] in text) / 10
            scored.append((hits, clause))
        matched = [clause for hits, clause in sorted(scored, key=lambda s: -s[0]) if hits > 0][:2]
        return matched or list(dept.responsibilities[:1])  # else its main responsibility

    def _choose(self, ranked: list[dict[str, Any]], district: str | None) -> list[dict[str, Any]]:
        lead = ranked[0]
        scores = np.array([r["score"] for r in ranked[:5]])
        shares = np.exp(3 * scores) / np.exp(3 * scores).sum()
        chosen = [{**lead, "role": "主办", "confidence": float(shares[0])}]
        for r, share in zip(ranked[1:3], shares[1:3]):
            # a co-handler needs evidence of its own (its words in the ticket, or precedent), not
            # only a share of the category prior
            own = r["signals"]["keywords"] > 0 or r["signals"]["decisions"] > 0
            if own and r["score"] >= 0.5 * lead["score"]:
                chosen.append({**r, "role": "协办", "confidence": float(share)})
        if district:  # 属地: the district government takes the last of the three places
            dept = self.catalogue[f"district:{district}"]
            chosen = chosen[:2] + [{"_department": dept, "score": 0.0, "signals": {}, "matched_keywords": [district],
                                    "responsibilities": list(dept.responsibilities), "role": "协办",
                                    "confidence": None}]
        return chosen

    @staticmethod
    def _public(choice: dict[str, Any]) -> dict[str, Any]:
        dept: Department = choice["_department"]
        return {"department": {"id": dept.id, "name": dept.name, "short": dept.short, "kind": dept.kind,
                               "source": dept.source},
                "role": choice["role"], "confidence": choice["confidence"], "score": round(choice["score"], 4),
                "signals": {k: round(v, 4) for k, v in choice["signals"].items()},
                "matched_keywords": choice["matched_keywords"], "responsibilities": choice["responsibilities"]}

    def _policies(self, ticket: Ticket) -> list[dict[str, Any]]:
        if self.retriever is None:
            return []
        hits = self.retriever.search(ticket.text[:200], top_k=3, filters=SearchFilters())
        return [{"doc_id": h.doc_id, "chunk_id": h.chunk_id, "title": h.document.get("title"),
                 "doc_number": h.document.get("doc_number"), "status": h.document.get("status"),
                 "quote": h.text[:160], "start": h.start, "end": h.end, "score": round(h.score, 4)} for h in hits]

    def _draft(self, ticket: Ticket) -> dict[str, Any] | None:
        """A reply composed by the answer pipeline from the policies (checked citations), or its refusal."""
        if self.pipeline is None:
            return None
        question = ticket.title if len(ticket.title) >= 6 else ticket.text[:200]
        ctx = self.pipeline.run(AnswerContext(question[:200], channel="hotline"))
        outcome = answer_status(ctx.status)
        return {"status": ctx.status, "refusal": outcome.refusal,
                "text": outcome.reply if outcome.refusal else ctx.answer_text, "audit_id": ctx.audit_id,
                "citations": [{"number": c.number, "doc_id": c.doc_id, "chunk_id": c.chunk_id, "quote": c.quote,
                               "start": c.start, "end": c.end} for s in ctx.sentences for c in s.citations]}
