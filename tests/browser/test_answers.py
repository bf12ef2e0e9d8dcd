"""Answers as a resident reads them on a phone, in Chromium: one conversation that changes topic, a
list that reads as a list, numbers to call, citations a finger can hit, and a panel that fits the
visible screen."""

from __future__ import annotations

from tests.browser.conftest import ask, finished_answer, screenshot


def _phone(page_at, base: str, height: int = 740):
    page = page_at(360, height)
    page.goto(base + "/demo")
    page.get_by_role("button", name="政策咨询", exact=True).click()
    return page


def test_a_new_topic_is_not_read_as_the_last_ones_follow_up(live, page_at):
    base, _ = live
    page = _phone(page_at, base)
    ask(page, "我妈今年85岁了，北京户口，高龄津贴一个月多少钱？")
    first = finished_answer(page)
    assert first.get_attribute("data-status") == "answered" and "100元" in first.inner_text()
    ask(page, "老旧小区加装电梯有补贴吗？")
    lift = finished_answer(page)
    assert lift.get_attribute("data-status") == "refused_no_evidence", lift.inner_text()
    assert "高龄" not in lift.inner_text()
    ask(page, "失业金去哪儿领？")
    where = finished_answer(page)
    assert where.get_attribute("data-status") == "answered"
    text = where.inner_text()
    assert "北京人社" in text or "街道（乡镇）经办机构" in text, text  # 第六条, not 第十条's announcement
    screenshot(page, "widget-topics-360")


def test_citations_are_numbered_in_order_and_big_enough_to_tap(live, page_at):
    base, _ = live
    page = _phone(page_at, base)
    ask(page, "申请低保要准备哪些材料？")
    answer = finished_answer(page)
    numbers = [int(n.strip("[]")) for n in answer.locator("p .cite").all_inner_texts()]
    first_uses = list(dict.fromkeys(numbers))
    assert first_uses == list(range(1, len(first_uses) + 1)), numbers  # 1..n in the order first cited
    for cite in answer.locator(".cite").all():
        box = cite.bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44, box
    body = answer.locator("p").last.inner_text()
    assert body.count("\n") >= 2, "a list reads one item a line"
    items = [line for line in body.splitlines() if line[:2] in ("1.", "2.", "3.", "4.", "5.")]
    assert [line[0] for line in items] == sorted(line[0] for line in items), "items in the document's order"
    screenshot(page, "widget-list-360")


def test_a_document_is_listed_once_with_each_passage_it_is_cited_for(live, page_at):
    base, _ = live
    page = _phone(page_at, base)
    ask(page, "我妈91岁了，高龄津贴能领多少？")
    answer = finished_answer(page)
    assert answer.get_attribute("data-status") == "answered" and "500元" in answer.inner_text()
    lines = answer.locator(".sources li").all_inner_texts()
    titles = [line.split("]")[-1].strip() for line in lines]
    assert len(titles) == len(set(titles)), lines
    cited = sorted(int(n.strip("[]")) for n in answer.locator(".sources .cite").all_inner_texts())
    assert cited == list(range(1, len(cited) + 1)) and len(cited) > len(lines), (lines, cited)


def test_numbers_in_a_reply_can_be_called(live, page_at):
    base, _ = live
    page = _phone(page_at, base)
    ask(page, "我不想活了")
    crisis = finished_answer(page)
    assert crisis.get_attribute("data-status") == "crisis"
    links = dict(zip(crisis.locator("a.tel").all_inner_texts(),
                     (a.get_attribute("href") for a in crisis.locator("a.tel").all())))
    assert links["110"] == "tel:110" and links["120"] == "tel:120" and links["12345"] == "tel:12345"
    assert links["010-82951332"] == "tel:01082951332"
    box = crisis.locator("a.tel").first.bounding_box()
    assert box["height"] > 0


def test_the_panel_fits_the_visible_viewport(live, page_at):
    base, _ = live
    page = _phone(page_at, base, height=740)
    panel = page.get_by_role("dialog")
    header = panel.locator("header")
    assert abs(panel.bounding_box()["height"] - (740 - 84)) <= 1
    page.set_viewport_size({"width": 360, "height": 420})  # the keyboard takes the lower half
    page.wait_for_function("() => document.querySelector('#jingce-widget').shadowRoot"
                           ".querySelector('.panel').getBoundingClientRect().height <= 420 - 84 + 1")
    top = header.bounding_box()["y"]
    assert 0 <= top and top + header.bounding_box()["height"] <= 420, "the header stays on screen"
