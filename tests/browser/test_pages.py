"""The three pages as their people use them, in Chromium: a resident asks through the widget on a
government page, a 12345 agent routes and overrides a ticket, an official reviews what both did.
The tests run in order on one served app: the audit page must find the events the others made."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time

from tests.browser.conftest import assert_accessible, ask, finished_answer, open_widget, screenshot


def _sign_in(page, label: str, key: str) -> None:
    page.get_by_label(label).fill(key)
    page.get_by_label(label).press("Enter")


def test_widget_streams_a_cited_answer_and_opens_the_quoted_clause(live, page_at):
    base, _ = live
    page = page_at(1280)
    page.goto(base + "/demo")
    assert page.title().startswith("政策解读")
    launcher = page.get_by_role("button", name="政策咨询", exact=True)
    # the host page styles its buttons loudly (30 px, lime): none of it reaches the Shadow DOM
    assert launcher.evaluate("b => getComputedStyle(b).fontSize") != "30px"
    launcher.click()
    assert launcher.get_attribute("aria-expanded") == "true"
    assert page.get_by_role("dialog").evaluate("p => getComputedStyle(p).animationName") == "rise"
    assert page.evaluate("() => document.querySelector('#jingce-widget').shadowRoot.activeElement.id") == "jc-q"
    ask(page, "北京市最低生活保障标准是多少？")
    answer = finished_answer(page)
    assert answer.get_attribute("data-status") == "answered"
    assert "1450元" in answer.inner_text()
    # streamed: the first sentence was on screen before the answer was complete
    marks = page.evaluate("() => Object.fromEntries(performance.getEntriesByType('mark').map(m => [m.name, m.startTime]))")
    assert marks["jingce:ask"] < marks["jingce:first-delta"] <= marks["jingce:done"]
    screenshot(page, "widget-answer-1280")

    cite = answer.locator("p .cite").first
    number = cite.inner_text()
    cite.click()
    source = page.get_by_role("region", name="引用来源")
    highlighted = source.locator("mark")
    highlighted.wait_for()
    assert highlighted.inner_text().strip() in answer.inner_text()  # the span the sentence quotes
    assert "京民社救发〔2024〕80号" in source.inner_text()
    assert re.search(r"现行有效|已修订|已失效|已废止|未知", source.locator(".badge").inner_text())
    assert page.evaluate("() => document.querySelector('#jingce-widget').shadowRoot.activeElement.tagName") == "H3"
    screenshot(page, "widget-source-1280")
    assert_accessible(page, "widget source view")
    page.keyboard.press("Escape")  # back to the answer, focus on the citation that opened the source
    assert page.evaluate("() => document.querySelector('#jingce-widget').shadowRoot.activeElement.textContent") == number


def test_widget_refuses_as_a_refusal_and_keeps_the_session(live, page_at):
    base, _ = live
    page = open_widget(page_at, base)
    ask(page, "帮我写一首关于长城的诗")
    refusal = finished_answer(page)
    assert refusal.get_attribute("data-status") == "out_of_scope"
    assert "refusal" in refusal.get_attribute("class") and not refusal.locator(".cite").count()
    ask(page, "失能老年人护理补贴每月多少钱？")
    assert finished_answer(page).get_attribute("data-status") in ("answered", "answered_not_in_force")
    assert page.locator(".msg.user").count() == 2  # one conversation
    assert_accessible(page, "widget with a refusal")


def test_one_tag_on_another_site_with_a_key_bound_to_it(live, other_site, page_at):
    base, services = live
    site, pages = other_site
    key = services.keys.create("gov-site widget", "citizen", [site]).secret
    host_page = (f'<!doctype html><html lang="zh-CN"><head><title>某区政府网站</title></head><body><main><h1>办事指南</h1>'
                 f'</main><script src="{base}/widget.js" data-key="{key}" data-title="区政务咨询" async></script></body></html>')
    page = page_at(1280)
    pages["/guide"] = host_page
    page.goto(f"{site}/guide")
    page.get_by_role("button", name="政策咨询", exact=True).click()
    assert page.get_by_role("dialog", name="区政务咨询").is_visible()
    ask(page, "北京市最低生活保障标准是多少？")
    answer = finished_answer(page)
    assert "1450元" in answer.inner_text()
    answer.locator("p .cite").first.click()  # the source is read across origins with the same key
    page.locator("mark").wait_for()
    with services.audit.engine.connect() as conn:
        from sqlalchemy import select
        from app.audit.schema import audit_events
        actors = {a for (a,) in conn.execute(select(audit_events.c.actor).where(audit_events.c.kind == "answer"))}
    assert any(a and a.startswith("citizen key:") for a in actors)  # the answer is recorded under the site's key


def test_widget_on_a_phone_by_keyboard_alone(live, page_at):
    base, _ = live
    page = page_at(360, 740)
    page.emulate_media(reduced_motion="reduce")
    page.goto(base + "/demo")
    page.evaluate("() => document.querySelector('#jingce-widget').shadowRoot.querySelector('.launcher').focus()")
    page.keyboard.press("Enter")
    panel = page.get_by_role("dialog", name="京策助手 · 政策咨询")
    assert panel.evaluate("p => getComputedStyle(p).animationName") == "none"  # prefers-reduced-motion
    box = panel.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360  # on screen, whole
    page.keyboard.type("子女教育专项附加扣除每月可以扣多少？")
    page.keyboard.press("Enter")
    answer = finished_answer(page)
    assert "1000元" in answer.inner_text()
    screenshot(page, "widget-answer-360")
    answer.locator("p .cite").first.click()
    page.locator("mark").wait_for()
    screenshot(page, "widget-source-360")
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")  # closes the panel; focus back on the launcher
    assert not panel.is_visible()
    assert page.evaluate("() => document.querySelector('#jingce-widget').shadowRoot.activeElement.className") == "launcher"


def test_widget_says_so_when_the_network_fails(live, page_at):
    base, _ = live
    page = open_widget(page_at, base)
    page.route("**/v1/chat", lambda route: route.abort("connectionreset"))
    ask(page, "北京市最低生活保障标准是多少？")
    failed = finished_answer(page)
    assert "网络连接中断" in failed.inner_text() and failed.get_attribute("role") == "alert"
    page.unroute("**/v1/chat")
    failed.get_by_role("button", name="重试").click()
    assert "1450元" in finished_answer(page).inner_text()


def test_panel_suggest_then_override_then_stats(live, page_at):
    """With the model `make run` trains on the shipped tickets: the 主办 is the street office where
    the matter is, nothing on the suggestion is in English, and the override list finds a street."""
    base, services = live
    _with_the_shipped_model(services)
    key = services.keys.create("A0123", "agent").secret
    page = page_at(1280)
    page.goto(base + "/panel")
    _sign_in(page, "坐席密钥", key)
    ticket = page.get_by_label("诉求内容")
    ticket.fill("朝阳区望京街道某小区楼上漏水，物业一直不来修，家里天花板都泡了，联系电话13812345678")
    page.get_by_label("地址（已与来电人核实）").fill("朝阳区望京西园三区")
    ticket.press("Control+Enter")
    lead = page.locator("#suggestion .dept").first
    lead.wait_for()
    assert "主办" in lead.inner_text() and "望京街道办事处" in lead.inner_text()  # 属地
    assert re.search(r"依据：分类模型 \d+%", lead.inner_text())  # the signals behind it, in the agent's words
    shown = page.locator("#suggestion").inner_text() + page.locator("#evidence").inner_text()
    assert "朝阳区" in shown and not re.search("[A-Za-z]{3,}", shown), shown
    accept = page.get_by_role("button", name="采纳建议").bounding_box()
    assert accept["y"] + accept["height"] <= 860, "the decision buttons are above the fold"
    assert "本热线还没有办过同类工单" in page.locator("#evidence").inner_text()
    page.get_by_label("查找单位").fill("学院路")
    assert page.locator("#override-count").inner_text() == "找到 1 个单位"
    page.get_by_label("改派主办单位").select_option(label="海淀区学院路街道办事处")
    page.get_by_label("查找单位").fill("")
    overriding = "北京市住房和城乡建设委员会"
    page.get_by_label("改派主办单位").select_option(label=overriding)
    page.get_by_label("改派理由").fill("楼上漏水属物业维修责任，由住建部门督促物业")
    page.get_by_role("button", name="改派", exact=True).click()
    page.locator("#decision-result.ok").wait_for()
    assert page.get_by_role("button", name="采纳建议").is_disabled()
    recent = page.locator("#recent tbody tr").first
    recent.wait_for()
    assert "改派" in recent.inner_text() and "13812345678" not in recent.inner_text()  # stored masked
    beijing = dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))
    # the API's times carry their zone; the page shows Beijing time and says so
    assert "北京时间" in recent.inner_text() and f"{beijing.year}/{beijing.month}/{beijing.day}" in recent.inner_text()
    stats = page.locator("#stats").inner_text()
    assert re.search(r"改派\s*1", stats) and re.search(r"已处理\s*1", stats)
    # the same matter again: the ticket decided above is shown, once, with who led it and how
    ticket.fill("朝阳区望京街道某小区楼上漏水，物业一直不来修，家里天花板都泡了")
    ticket.press("Control+Enter")
    page.get_by_text("本热线办过的同类工单（1）").wait_for()
    similar = page.locator("#evidence ul.plain li").first.inner_text()
    assert "改派" in similar and "主办：市住房城乡建设委" in similar and "北京时间" in similar, similar
    assert similar.count("家里天花板都泡了") == 1 and "13812345678" not in similar
    page.locator("#hot p").first.wait_for()
    hot = page.locator("#hot").inner_text()  # two tickets of one matter: no hot topic yet, said in Chinese
    assert "件工单中没有多人反映的同一事项" in hot and not re.search("[A-Za-z]{3,}", hot), hot
    screenshot(page, "panel-1280")
    assert_accessible(page, "agent panel")
    page.set_viewport_size({"width": 360, "height": 740})
    screenshot(page, "panel-360")


def _with_the_shipped_model(services) -> None:
    """Trains as `make run` does (the project's tickets, no ../shared) and waits for the running
    service to load the model (it looks every ROUTING_MODEL_CHECK_S)."""
    from app.composition import train_routing_model

    if services.routing.knowledge.trained is None:
        assert "690 tickets" in train_routing_model(services.settings)
        deadline = time.monotonic() + 60
        while services.routing.knowledge.trained is None:
            assert time.monotonic() < deadline, "the service did not load the trained model"
            time.sleep(0.2)


def test_a_reply_draft_becomes_knowledge_that_answers_once_approved(live, page_at):
    """The agent edits the reply draft and proposes it in one step; an admin approves it in the
    panel's review queue; the widget's answer to the same question cites it, within a minute."""
    base, services = live
    _with_the_shipped_model(services)
    ticket_text = "西城区展览路街道的社区长者食堂，老人吃饭每顿能减免几块钱？"
    script = "您好，西城区展览路街道社区长者食堂为辖区六十周岁以上老人每餐减免二元，具体以街道公示为准。"
    page = page_at(1280)
    page.goto(base + "/panel")
    _sign_in(page, "坐席密钥", services.keys.create("A0456", "agent").secret)
    page.get_by_label("诉求内容").fill(ticket_text)
    page.get_by_label("诉求内容").press("Control+Enter")
    page.locator("#suggestion .dept").first.wait_for()
    page.get_by_label("答复口径（可修改后提交知识库）").fill(script)
    page.get_by_role("button", name="提交知识库审核").click()
    page.locator("#kb-result.ok").wait_for()
    assert "待审核" in page.locator("#kb-result").inner_text()

    reviewer = page_at(1280)
    reviewer.goto(base + "/panel")
    _sign_in(reviewer, "坐席密钥", services.keys.create("R0456", "admin").secret)
    queue = reviewer.locator("#kb-queue li").filter(has_text="每餐减免二元")
    queue.wait_for()
    approved_at = time.monotonic()
    queue.get_by_role("button", name="通过").click()
    reviewer.get_by_text("没有待审核的知识条目。").wait_for()

    widget = open_widget(page_at, base)
    ask(widget, ticket_text)
    answer = finished_answer(widget)
    assert answer.get_attribute("data-status") == "answered" and "每餐减免二元" in answer.inner_text()
    assert time.monotonic() - approved_at < 60


def test_panel_accept_by_keyboard_and_a_wrong_key_is_refused(live, page_at):
    base, services = live
    page = page_at(1280)
    page.goto(base + "/panel")
    _sign_in(page, "坐席密钥", services.keys.create("review-only", "auditor").secret)
    assert "坐席" in page.get_by_role("alert").inner_text()  # 403: an auditor's key cannot route
    _sign_in(page, "坐席密钥", services.keys.create("A0456", "agent").secret)
    page.locator("#recent tbody tr").first.wait_for()  # the earlier test's decision, by department name
    assert "bj-" not in page.locator("#recent").inner_text() and "bj-" not in page.locator("#stats-departments").inner_text()
    page.get_by_label("诉求内容").fill("西城区金融街附近的路灯坏了一个多月，晚上很黑")
    page.get_by_label("诉求内容").press("Control+Enter")
    page.locator("#suggestion .dept").first.wait_for()
    page.keyboard.press("Alt+A")
    page.locator("#decision-result.ok").wait_for()
    assert "采纳" in page.locator("#decision-result").inner_text()
    page.keyboard.press("Alt+A")  # a second press decides nothing more
    # the next ticket: the last suggestion leaves the screen while it is analysed, and the new one is its own
    first = page.locator("#suggestion").inner_text()
    page.get_by_label("诉求内容").fill("公司拖欠我三个月工资，老板一直找借口不给")
    page.get_by_label("诉求内容").press("Control+Enter")
    assert page.locator("#result").is_hidden() or page.locator("#suggestion").inner_text() != first
    page.wait_for_function("before => !document.querySelector('#result').hidden && "
                           "document.querySelector('#suggestion').innerText !== before", arg=first)
    assert page.get_by_role("button", name="采纳建议").is_enabled()


def test_audit_page_lists_those_events_opens_one_and_shows_the_chain_intact(live, page_at):
    base, services = live
    page = page_at(1280)
    page.goto(base + "/audit")
    _sign_in(page, "审计密钥", services.keys.create("审计员", "auditor").secret)
    verdict = page.locator("#chain-verdict")
    verdict.wait_for()
    assert "哈希链完整" in verdict.inner_text()
    page.locator("#events tr").first.wait_for()
    assert page.locator("#charts svg").count() == 4  # residents' answers, the panel's drafts apart, degraded, agreement
    page.locator("#hot p").first.wait_for()
    hot = page.locator("#hot").inner_text()  # the panel's tickets above: no matter raised three times
    assert "件工单中没有多人反映的同一事项" in hot and not re.search("[A-Za-z]{3,}", hot), hot
    # what the tests above did, each found by its kind (the first page holds the newest 50 events)
    for kind, statuses in (("answer", ("已回答", "超出服务范围")), ("decision", ("改派", "采纳建议")),
                           ("knowledge", ("待审核", "已批准"))):
        page.get_by_label("类型").select_option(kind)
        page.get_by_role("button", name="查询").click()
        page.wait_for_function("words => words.every(w => document.querySelector('#events').textContent.includes(w))",
                               arg=list(statuses))
    page.get_by_label("类型").select_option("")
    page.get_by_role("button", name="查询").click()
    # the newest events are this page's own reads, folded one line per caller and minute
    page.wait_for_function("() => document.querySelector('#events').textContent.includes('例行读取')")

    # officials' words: no code of the log on the page, in the list or the chain's verdict
    listed = page.locator("#events").inner_text() + page.locator("#chain").inner_text()
    for code in ("answered", "override", "accept", "hotline", "http_", "agent", "citizen", "anonymous", "needs_review",
                 "refused", "lookup", "request"):
        assert code not in listed, f"{code!r} shown on the audit page"
    assert "+08:00" in listed and "已签名链头" in page.locator("#chain").inner_text()

    page.get_by_label("类型").select_option("decision")
    page.get_by_label("状态").fill("改派")  # typed in Chinese: the filter reads the label
    page.get_by_role("button", name="查询").click()
    page.wait_for_function("() => document.querySelector('#total').textContent.includes('共 1 条')")
    assert "建议" in page.locator("#events").inner_text() and "决定" in page.locator("#events").inner_text()
    page.locator("#events tr button").first.click()
    detail = page.locator("#detail")
    page.locator("#event-hash").wait_for()
    shown = detail.inner_text()
    assert "内容与存储的哈希一致" in shown and "A0123" in shown and "建议主办单位" in shown and "决定主办单位" in shown
    assert "13812345678" not in shown
    screenshot(page, "audit-1280")
    assert_accessible(page, "audit page")

    with page.expect_download() as download:
        page.get_by_role("button", name="导出 CSV").click()
    exported = download.value.path().read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(exported.lstrip("\ufeff"))))
    assert rows[0][:5] == ["序号", "时间（北京时间）", "类型", "渠道", "状态"] and len(rows) == 2  # header + the override
    decided = dict(zip(rows[0], rows[1]))
    assert decided["状态"] == "改派" and decided["类型"] == "派单决定" and decided["时间（北京时间）"].endswith("+08:00")
    assert decided["决定主办单位"] and not decided["决定主办单位"].startswith("bj-") and decided["采纳建议"] == "否"

    page.set_viewport_size({"width": 360, "height": 740})
    screenshot(page, "audit-360")


def test_the_api_reference_is_served_without_any_other_host(live, page_at):
    base, _ = live
    for path, ready in (("/docs", ".swagger-ui .info .title"),):
        page = page_at(1280)
        hosts = set()
        page.on("request", lambda request: hosts.add(re.match(r"\w+://[^/]+", request.url).group(0))
                if request.url.startswith("http") else None)
        page.goto(base + path)
        page.locator(ready).first.wait_for()
        assert "京策助手 API" in page.locator(ready).first.inner_text()
        assert hosts == {base}, hosts
