"""The routing pipeline's steps, in the answer pipeline's style: each reads and writes named fields
of the TicketContext (app/routing/context.py) and may end the flow with a status — invalid_ticket
(check_ticket) or error (the runner). Optional steps (ask_llm, gather_evidence, draft_reply) that
fail leave their part out, and the suggestion says so. Weights and thresholds are data:
policies/hotline/ranking.yml.

Department ranking adds four signals, each visible in the suggestion:
- the category prior: the predicted category's probability, for departments that lead it;
- the department's keywords found in the ticket;
- the ticket's similarity to the department's responsibilities (e5, relative to the other departments);
- votes of the most similar tickets agents have already decided (overrides are labelled examples);
- with an LLM configured, its pick among the top candidates (prompts/route_ticket.yml).
The lead (主办) is the best; co-handlers (协办) are the next departments within a share of its score
that have evidence of their own (keywords or precedent), and the district government when the
ticket names a place in Beijing.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import replace

import numpy as np

from app.clients.llm import LLMClient, LLMUnavailable
from app.config import RoutingSettings
from app.domain import SearchFilters
from app.pipeline.context import AnswerContext
from app.pipeline.outcome import answer_outcome
from app.pipeline.runner import Pipeline
from app.prompts import Prompt
from app.retrieval import HybridRetriever
from app.routing.catalogue import Department, RankingPolicy
from app.routing.categories import CategoryTree, split_label
from app.routing.classifier import Ticket, group_confidence
from app.routing.context import TicketContext
from app.routing.knowledge import RoutingKnowledge
from app.routing.places import find_places
from app.routing.results import (CategoryAlternative, CategoryGuess, DepartmentCandidate, Evidence, ModelInfo,
                                 PolicyEvidence, Suggestion)
from app.routing.store import RoutingStore
from app.security.pii import mask_personal_data


class CheckTicket:
    """Reads text_raw. Writes problem. Stops with invalid_ticket: empty, longer than max_chars, or
    no words at all (only symbols or emoji)."""

    name = "check_ticket"

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars

    def __call__(self, ctx: TicketContext) -> None:
        text = (ctx.text_raw or "").strip()
        if not text:
            ctx.problem = "the ticket is empty"
        elif len(ctx.text_raw) > self.max_chars:  # as sent: padding counts
            ctx.problem = f"the ticket is longer than {self.max_chars} characters"
        elif not any(ch.isalnum() for ch in text):
            ctx.problem = "the ticket has no words (only symbols or emoji)"
        if ctx.problem:
            ctx.stop("invalid_ticket")


class MaskTicket:
    """Reads text_raw, address_raw. Writes ticket (personal data masked: the only form used or stored
    from here on), address, personal_data."""

    name = "mask"

    def __call__(self, ctx: TicketContext) -> None:
        masked = mask_personal_data(ctx.text_raw.strip())
        ctx.ticket, ctx.personal_data = Ticket.of(masked.text), masked.found
        ctx.address = mask_personal_data(ctx.address_raw).text if ctx.address_raw else None


class FindPlace:
    """Reads ticket, address. Writes place: district, street, compounds, roads."""

    name = "find_place"

    def __call__(self, ctx: TicketContext) -> None:
        ctx.place = find_places(ctx.ticket.body, ctx.address)


class Classify:
    """Reads ticket. Writes trained (the model in force), vector, category, category_probabilities,
    review_reasons: no model, or a confidence below the model's calibrated review threshold."""

    name = "classify"

    def __init__(self, knowledge: RoutingKnowledge, tree: CategoryTree) -> None:
        self.knowledge, self.tree, self.rules = knowledge, tree, tree.lead_rules()

    def __call__(self, ctx: TicketContext) -> None:
        trained = ctx.trained = self.knowledge.trained
        if trained is None:
            ctx.vector = self.knowledge.ticket_vectors([ctx.ticket])[0]
            ctx.review_reasons.append(self.knowledge.missing)
            return
        features = trained.featurizer([ctx.ticket])
        ctx.vector = features.passages[0]
        model = trained.model
        proba = model.predict_proba(features)[0]
        ctx.category_probabilities = {c: float(p) for c, p in zip(model.classes, proba)}
        order = np.argsort(-proba)
        best = model.classes[int(order[0])]
        confidence = float(proba[order[0]])
        level1, level2 = split_label(best)
        if level2 is not None and all(c in self.tree for c in model.classes):
            # the project's tree: what must be sure is who leads, the categories of one lead rule together
            sure, _ = group_confidence(proba[None, :], model.classes, self.rules)
            if float(sure[0]) < model.threshold:
                ctx.review_reasons.append(f"主办判断把握 {float(sure[0]):.0%} 低于复核线 {model.threshold:.0%}")
        elif confidence < model.threshold:
            ctx.review_reasons.append(f"分类把握 {confidence:.0%} 低于复核线 {model.threshold:.0%}")
        if level2 is not None:  # the project's tree: the class is the level-2 category
            ctx.category = CategoryGuess(level1, level2, None, confidence, [
                CategoryAlternative(model.classes[int(i)], float(proba[i])) for i in order[1:3]], label=best)
            return
        leaf = trained.featurizer.nearest_leaf(ctx.vector, best)
        ctx.category = CategoryGuess(best, leaf[0] if leaf else None, leaf[1] if leaf else None, confidence, [
            CategoryAlternative(model.classes[int(i)], float(proba[i])) for i in order[1:3]], label=best)


class RankDepartments:
    """Reads ticket, vector, category_probabilities, place, trained. Writes similar (the tickets
    agents decided that are the same matter: at least `precedent_min_similarity` alike) and ranked, best first, each with its signals, matched keywords and
    responsibility clauses.

    The category signal of a handler is the probability of the categories it leads: with the
    project's tree (categories.yml) the lead rule resolved at the ticket's place — the street office
    for a local matter (属地), a municipal body, a utility, the district —; with the competition's
    level-1 classes, the departments that usually lead them. Municipal bodies and utilities add their
    keywords and duties; a precedent counts only from tickets agents decided, similar above
    `precedent_min_similarity`, by how many agree (`decisions_for_full_signal` of them for the full
    signal): one override cannot move unrelated tickets."""

    name = "rank_departments"

    def __init__(self, knowledge: RoutingKnowledge, policy: RankingPolicy, tree: CategoryTree) -> None:
        self.knowledge, self.policy, self.tree = knowledge, policy, tree

    def __call__(self, ctx: TicketContext) -> None:
        policy, knowledge, text = self.policy, self.knowledge, ctx.ticket.body
        ctx.similar = [t for t in knowledge.decided.nearest(ctx.vector, policy.similar_tickets)
                       if t.similarity >= policy.precedent_min_similarity]
        votes: dict[str, int] = {}
        for ticket in ctx.similar:
            votes[ticket.department] = votes.get(ticket.department, 0) + 1
        leads = self._category_signal(ctx)
        sims = knowledge.profiles @ ctx.vector
        relative = (sims - sims.mean()) / (sims.std() or 1.0)
        ranked, seen = [], set()
        for index, dept_id in enumerate(knowledge.ids):
            dept = knowledge.catalogue[dept_id]
            keywords = [k for k in dept.keywords if k in text]
            signals = {
                "category": leads.get(dept_id, 0.0),
                "keywords": min(len(keywords), policy.keywords_for_full_signal) / policy.keywords_for_full_signal,
                "responsibilities": min(1.0, max(0.0, float(relative[index])) / policy.responsibility_z_for_full_signal),
                "decisions": min(1.0, votes.get(dept_id, 0) / policy.decisions_for_full_signal),
            }
            ranked.append(DepartmentCandidate(dept, _score(signals, policy), signals, keywords,
                                              _clauses(dept, text, keywords)))
            seen.add(dept_id)
        # the local offices the categories name at this place, and those agents decided for it
        for dept_id in sorted((set(leads) | set(votes)) - seen):
            dept = knowledge.catalogue.get(dept_id)
            if dept is None:
                continue
            signals = {"category": leads.get(dept_id, 0.0), "keywords": 0.0, "responsibilities": 0.0,
                       "decisions": min(1.0, votes.get(dept_id, 0) / policy.decisions_for_full_signal)}
            ranked.append(DepartmentCandidate(dept, _score(signals, policy), signals, [], list(dept.responsibilities)))
        ctx.ranked = _best_first(ranked)

    def _category_signal(self, ctx: TicketContext) -> dict[str, float]:
        signal: dict[str, float] = {}
        unplaced = 0.0
        for label, p in ctx.category_probabilities.items():
            if label in self.tree:
                handler = self.tree.handler(self.tree[label].lead, ctx.place)
                if handler is None:
                    unplaced += p
                    continue
                signal[handler] = signal.get(handler, 0.0) + p
            else:  # the competition's level-1 classes: the departments that usually lead them
                for dept_id in self.knowledge.ids:
                    if label in self.knowledge.catalogue[dept_id].categories:
                        signal[dept_id] = max(signal.get(dept_id, 0.0), p)
        if unplaced >= 0.5:
            ctx.review_reasons.append(f"属地诉求（把握 {unplaced:.0%}）未能识别所在街道（乡镇）或区，请补充地址后派单")
        return signal


class AskLLM:
    """Reads ticket, ranked. Writes llm_note, and ranked re-sorted when the LLM picked one of the top
    candidates (its pick gains the llm signal). An LLM that is down, or answers off the list, adds
    nothing, and the note says so. Optional."""

    name = "ask_llm"
    optional = True

    def __init__(self, llm: LLMClient, prompt: Prompt, policy: RankingPolicy) -> None:
        self.llm, self.prompt, self.policy = llm, prompt, policy

    def __call__(self, ctx: TicketContext) -> None:
        candidates = ctx.ranked[:self.policy.llm_candidates]
        listing = "\n".join(f"{n}. {c.department.name}：{c.department.responsibilities[0]}"
                            for n, c in enumerate(candidates, 1))
        messages = [{"role": "system", "content": self.prompt["system"]},
                    {"role": "user", "content": self.prompt["user"].format(ticket=ctx.ticket.text[:1000],
                                                                           candidates=listing)}]
        try:
            reply = "".join(self.llm.stream_chat(messages)).strip()
        except LLMUnavailable as exc:
            ctx.llm_note = f"unavailable: {exc}"
            return
        match = re.search(r"\d+", reply)
        if not match or not 1 <= int(match.group(0)) <= len(candidates):
            ctx.llm_note = f"ignored: the reply named no candidate ({reply[:40]!r})"
            return
        pick = candidates[int(match.group(0)) - 1]
        pick.signals["llm"] = 1.0
        pick.score = _score(pick.signals, self.policy)
        ctx.ranked = _best_first(ctx.ranked)
        ctx.llm_note = f"{self.prompt.version}: picked {pick.department.id}"


class Choose:
    """Reads ranked, place, category. Writes chosen: the 主办; 协办 — the co-handlers its category
    names (categories.yml, resolved at the place), then others with evidence of their own, up to
    `co_handlers` —, and the district government last when the ticket names a district; each with its
    confidence (its share of the top scores). Adds a review reason when the 主办's share is small
    (another handler scores close) or it does not usually lead the predicted category."""

    name = "choose"

    def __init__(self, catalogue: dict[str, Department], policy: RankingPolicy, tree: CategoryTree) -> None:
        self.catalogue, self.policy, self.tree = catalogue, policy, tree

    def __call__(self, ctx: TicketContext) -> None:
        policy, lead = self.policy, ctx.ranked[0]
        scores = np.array([r.score for r in ctx.ranked[:policy.confidence_over]])
        shares = np.exp(policy.confidence_sharpness * scores)
        shares = shares / shares.sum()
        share_of = {r.department.id: float(x) for r, x in zip(ctx.ranked, shares)}
        by_id = {r.department.id: r for r in ctx.ranked}
        chosen = [lead.chosen("主办", float(shares[0]))]
        named = [self.tree.handler(rule, ctx.place) for rule in self._co_rules(ctx)]
        for dept_id in dict.fromkeys(d for d in named if d and d != lead.department.id and d in self.catalogue):
            candidate = by_id.get(dept_id) or DepartmentCandidate(self.catalogue[dept_id], 0.0, {}, [],
                                                                   list(self.catalogue[dept_id].responsibilities))
            chosen.append(candidate.chosen("协办", share_of.get(dept_id)))
        for candidate in ctx.ranked[1:1 + policy.co_handlers]:
            # a co-handler needs evidence of its own (its words in the ticket, or precedent), not
            # only a share of the category prior
            own = candidate.signals.get("keywords", 0) > 0 or candidate.signals.get("decisions", 0) > 0
            if (own and candidate.score >= policy.co_handler_min_share_of_lead * lead.score
                    and candidate.department.id not in {c.department.id for c in chosen}):
                chosen.append(candidate.chosen("协办", share_of.get(candidate.department.id)))
        chosen = chosen[:1 + policy.co_handlers]
        district = f"district:{ctx.place.district}" if ctx.place.district else None
        if district and district not in {c.department.id for c in chosen}:  # 属地: the district takes the last place
            dept = self.catalogue[district]
            chosen = chosen[:policy.co_handlers] + [DepartmentCandidate(
                dept, 0.0, {}, [ctx.place.district], list(dept.responsibilities), "协办", None)]
        ctx.chosen = chosen
        if chosen[0].confidence < policy.lead_min_confidence:
            ctx.review_reasons.append(f"主办单位把握 {chosen[0].confidence:.0%} 低于 {policy.lead_min_confidence:.0%}："
                                      "另有单位得分接近")
        if (ctx.category and ctx.category.level2 is None and lead.department.kind != "street"
                and ctx.category.level1 not in lead.department.categories):
            ctx.review_reasons.append(f"主办单位通常不承办「{ctx.category.level1}」类诉求")

    def _co_rules(self, ctx: TicketContext) -> tuple[str, ...]:
        label = ctx.category and ctx.category.label
        return self.tree[label].co if label and label in self.tree else ()


class GatherEvidence:
    """Reads ticket, reply_draft. Writes evidence.policies: the clauses the reply draft quotes — the
    answer pipeline judged that they answer the ticket's question —, none when the draft refused (a
    passage only near the ticket in words is no evidence: agents were shown 高龄津贴 clauses for a
    leaking roof), and, when no draft was asked for or none could be made, the passages nearest the
    ticket, marked unjudged (`judged: false`; the panel says so). Runs after draft_reply. Optional."""

    name = "gather_evidence"
    optional = True

    def __init__(self, retriever: HybridRetriever, policy: RankingPolicy) -> None:
        self.retriever, self.policy = retriever, policy

    def __call__(self, ctx: TicketContext) -> None:
        draft = ctx.reply_draft
        if draft is None:
            hits = self.retriever.search(ctx.ticket.text[:200], top_k=self.policy.policies_shown, filters=SearchFilters())
            ctx.evidence.policies = [PolicyEvidence(
                h.doc_id, h.chunk_id, h.document.get("title"), h.document.get("doc_number"), h.document.get("validity"),
                h.text[:160], h.start, h.end, round(h.score, 4), judged=False) for h in hits]
            return
        sources = dict(draft.sources)
        quoted: dict[str, PolicyEvidence] = {}
        for citation in (c for sentence in draft.sentences for c in sentence.citations):
            hit = sources.get(citation.number)
            if hit is None or citation.chunk_id in quoted or hit.document.get("kind") == "knowledge":
                continue
            quoted[citation.chunk_id] = PolicyEvidence(
                citation.doc_id, citation.chunk_id, hit.document.get("title"), hit.document.get("doc_number"),
                hit.document.get("validity"), citation.quote[:160], citation.start, citation.end, round(hit.score, 4))
        ctx.evidence.policies = list(quoted.values())[:self.policy.policies_shown]


class DraftReply:
    """Reads ticket, draft_reply. Writes reply_draft: what the answer pipeline says to the ticket's
    question (its title, or its opening) — checked citations, or its refusal — shaped as a chat
    answer. The answer is an audit event of its own. Optional."""

    name = "draft_reply"
    optional = True

    def __init__(self, pipeline: Pipeline[AnswerContext]) -> None:
        self.pipeline = pipeline

    def __call__(self, ctx: TicketContext) -> None:
        if not ctx.draft_reply:
            return
        question = ctx.ticket.title if len(ctx.ticket.title) >= 6 else ctx.ticket.text[:200]
        ctx.reply_draft = answer_outcome(self.pipeline.run(AnswerContext(question[:200], channel="hotline",
                                                                         actor=ctx.actor)))


class RecordSuggestion:
    """Reads everything. Writes suggestion_id, audit_id and the status suggested: the suggestion and
    its audit event, in one transaction. Runs only when a suggestion was made; its failure is raised."""

    name = "record"
    always = True

    def __init__(self, store: RoutingStore, policy: RankingPolicy) -> None:
        self.store, self.policy = store, policy

    def __call__(self, ctx: TicketContext) -> None:
        if ctx.stopped:
            return  # nothing was suggested
        suggestion = suggestion_of(ctx, self.policy)
        ctx.audit_id = self.store.save_suggestion(suggestion, ctx.channel, ctx.agent, ctx.actor)
        ctx.suggestion_id = suggestion.id
        ctx.stop("suggested")


def routing_steps(cfg: RoutingSettings, knowledge: RoutingKnowledge, policy: RankingPolicy,
                  tree: CategoryTree) -> list:
    """The steps up to the ranking: what the service runs first and the ticket evaluation runs alone."""
    return [CheckTicket(cfg.max_ticket_chars), MaskTicket(), FindPlace(), Classify(knowledge, tree),
            RankDepartments(knowledge, policy, tree)]


def suggestion_of(ctx: TicketContext, policy: RankingPolicy) -> Suggestion:
    """The suggestion the context has come to (a new id until it is recorded), numbers rounded for people."""
    trained = ctx.trained
    departments = [replace(d, score=round(d.score, 4), signals={k: round(v, 4) for k, v in d.signals.items()})
                   for d in ctx.chosen]
    similar = [replace(t, similarity=round(t.similarity, 4)) for t in ctx.similar[:policy.similar_tickets_shown]]
    model = (ModelInfo(trained.version, trained.trained_on, trained.model.threshold, trained.about.get("trained_at"),
                       ctx.llm_note) if trained else ModelInfo("untrained", 0, None, None, ctx.llm_note))
    return Suggestion(
        id=ctx.suggestion_id or str(uuid.uuid4()), audit_id=ctx.audit_id or "", ticket=ctx.ticket.body,
        personal_data=ctx.personal_data, place=ctx.place, category=ctx.category, departments=departments,
        needs_review=bool(ctx.review_reasons), review_reasons=list(ctx.review_reasons),
        evidence=Evidence(similar, ctx.evidence.policies), reply_draft=ctx.reply_draft, model=model,
        left_out=list(ctx.left_out), timings_ms=dict(ctx.timings_ms))


def _score(signals: dict[str, float], policy: RankingPolicy) -> float:
    return sum(policy.weights[name] * value for name, value in signals.items())


def _best_first(ranked: list[DepartmentCandidate]) -> list[DepartmentCandidate]:
    return sorted(ranked, key=lambda r: (-r.score, r.department.id))


def _clauses(dept: Department, text: str, keywords: list[str]) -> list[str]:
    """The responsibility clauses that name what the ticket is about (by keyword or shared words)."""
    scored = []
    for clause in dept.responsibilities:
        hits = sum(1 for k in keywords if k in clause) + sum(1 for i in range(len(clause) - 1)
                                                              if clause[i:i + 2] in text) / 10
        scored.append((hits, clause))
    matched = [clause for hits, clause in sorted(scored, key=lambda s: -s[0]) if hits > 0][:2]
    return matched or list(dept.responsibilities[:1])  # else its main responsibility
