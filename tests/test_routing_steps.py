"""The choice of 主办 and 协办 from a ranking, as an agent reads it: who leads, who helps and why, and
when the suggestion must be reviewed."""

from __future__ import annotations

import pytest

from app.config import Settings
from app.routing.catalogue import departments, load_ranking_policy
from app.routing.categories import load_categories
from app.routing.context import TicketContext
from app.routing.places import Places
from app.routing.results import CategoryAlternative, CategoryGuess, DepartmentCandidate
from app.routing.steps import Choose


@pytest.fixture(scope="module")
def choose() -> Choose:
    return Choose(departments(), load_ranking_policy(Settings().routing.ranking_path), load_categories())


def _ranked(*scored: tuple[str, float, float, float]) -> list[DepartmentCandidate]:
    """(department id, score, keywords signal, decisions signal), best first."""
    catalogue = departments()
    return [DepartmentCandidate(catalogue[dept], score, {"category": 0.0, "keywords": keywords, "responsibilities": 0.0,
                                                         "decisions": decisions}, [], [])
            for dept, score, keywords, decisions in scored]


def _context(ranked, district=None, category=None, street_code=None) -> TicketContext:
    ctx = TicketContext("工单")
    ctx.ranked, ctx.place, ctx.category = ranked, Places(district=district, street_code=street_code), category
    return ctx


def test_a_clear_lead_with_a_helper_that_has_its_own_evidence(choose):
    ctx = _context(_ranked(("bj-rsj", 2.5, 1.0, 0.0), ("bj-ybj", 1.5, 0.33, 0.0), ("bj-mzj", 1.4, 0.0, 0.0),
                           ("bj-jw", 0.2, 0.0, 0.0)))
    choose(ctx)
    assert [(c.department.id, c.role) for c in ctx.chosen] == [("bj-rsj", "主办"), ("bj-ybj", "协办")]
    assert ctx.chosen[0].confidence > 0.5 and ctx.review_reasons == []  # 民政局: no evidence of its own


def test_a_close_second_sends_the_suggestion_to_review(choose):
    ctx = _context(_ranked(("bj-ybj", 1.30, 0.0, 0.0), ("bj-mzj", 1.25, 0.33, 0.0), ("bj-rsj", 1.2, 0.0, 0.0),
                           ("bj-jw", 1.2, 0.0, 0.0)))
    choose(ctx)
    assert ctx.chosen[0].department.id == "bj-ybj" and ctx.chosen[0].confidence < 0.35
    assert any("另有单位得分接近" in reason for reason in ctx.review_reasons)


def test_the_district_government_joins_last_and_a_lead_outside_its_categories_is_reviewed(choose):
    category = CategoryGuess("环境保护", None, None, 0.9, [CategoryAlternative("城乡建设", 0.05)])
    ctx = _context(_ranked(("bj-cgzf", 3.0, 1.0, 0.0), ("bj-sthjj", 2.0, 0.33, 0.0), ("bj-csglw", 1.9, 0.33, 0.0),
                           ("bj-jw", 0.1, 0.0, 0.0)), district="朝阳区", category=category)
    choose(ctx)
    assert [c.department.id for c in ctx.chosen] == ["bj-cgzf", "bj-sthjj", "district:朝阳区"]
    assert ctx.chosen[-1].role == "协办" and ctx.chosen[-1].confidence is None
    assert ctx.review_reasons == ["主办单位通常不承办「环境保护」类诉求"]


def test_a_local_matter_goes_to_its_street_with_the_co_handler_its_category_names(choose):
    """接诉即办's 属地: 物业管理 is led by the street office where it happens; 市住房城乡建设委 helps
    (categories.yml), the district government last."""
    category = CategoryGuess("住房", "物业管理", None, 0.8, [], label="住房/物业管理")  # as classify writes it
    ctx = _context(_ranked(("street:110105026", 0.8, 0.0, 0.0), ("bj-cgzf", 0.2, 0.0, 0.0), ("bj-jw", 0.1, 0.0, 0.0)),
                   district="朝阳区", category=category, street_code="110105026")
    choose(ctx)
    assert [(c.department.id, c.role) for c in ctx.chosen] == [
        ("street:110105026", "主办"), ("bj-zjw", "协办"), ("district:朝阳区", "协办")]
    assert ctx.chosen[0].department.name == "朝阳区望京街道办事处" and ctx.review_reasons == []
