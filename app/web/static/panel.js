/* The 12345 agent-assist panel: a ticket in, the suggested 主办 / 协办 departments with their
   evidence and a reply draft out; accept or override in one action; recent decisions and agreement. */
"use strict";

const session = new Session("panel", ["agent", "admin"]);
let current = null;  // the suggestion on screen

let allDepartments = [];  // the override list: municipal bodies, utilities, district governments, streets and towns

function fillOverride(departments, query = "") {
  allDepartments = departments;
  const select = document.getElementById("override-department");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "", text: "— 选择单位 —" }));
  const shown = departments.filter(d => !query || d.name.includes(query) || (d.short || "").includes(query));
  const groups = [["municipal", "市级部门"], ["utility", "公共服务企业"], ["district", "区政府"]];
  // street and town offices by district (接诉即办 dispatches local matters to them)
  const districts = [...new Set(shown.filter(d => d.kind === "street").map(d => d.parent))];
  for (const district of districts) groups.push(["street", `街道（乡镇）· ${district.replace("district:", "")}`, district]);
  for (const [kind, label, parent] of groups) {
    const members = shown.filter(d => d.kind === kind && (!parent || d.parent === parent));
    if (!members.length) continue;
    const group = el("optgroup", { label });
    for (const d of members) group.append(el("option", { value: d.id, text: d.name }));
    select.append(group);
  }
  if ([...select.options].some(o => o.value === chosen)) select.value = chosen;
  const count = document.getElementById("override-count");
  if (count) count.textContent = query ? `找到 ${shown.length} 个单位` : "";
}

function filterOverride() {
  fillOverride(allDepartments, document.getElementById("override-search").value.trim());
}

async function suggest(event) {
  event?.preventDefault();
  const text = document.getElementById("ticket").value.trim();
  const error = document.getElementById("ticket-error");
  error.hidden = true;
  if (!text) return;
  const button = document.getElementById("suggest");
  button.disabled = true;
  button.textContent = "分析中…";
  // the last ticket's suggestion leaves the screen at once: nothing stale can be accepted for this one
  current = null;
  document.getElementById("result").hidden = true;
  try {
    const address = document.getElementById("address").value.trim() || null;
    current = await session.json("/v1/tickets/route", { method: "POST", headers: { "Content-Type": "application/json" },
                                                       body: JSON.stringify({ text, address }) });
    renderSuggestion(current);
    const result = document.getElementById("result");
    result.hidden = false;
    document.getElementById("result-title").focus();
    announce(`建议主办：${current.departments[0]?.department.name || "无"}`);
  } catch (e) {
    error.textContent = e.message;
    error.hidden = false;
  } finally {
    button.disabled = false;
    button.textContent = "分析派单";
  }
}

// the ranking's signals (policies/hotline/ranking.yml), as an agent reads them
const SIGNAL_NAMES = { category: "分类模型", keywords: "关键词", responsibilities: "职责相近", decisions: "同类工单决定",
                       llm: "大模型判断" };

function renderSuggestion(s) {
  const out = [];
  if (s.needs_review) {
    out.push(el("p", { class: "error" }, el("strong", { text: "需人工复核：" }), s.review_reasons.join("；")));
  }
  const c = s.category;
  const place = [s.place.district, s.place.street].filter(Boolean).join(" · ");
  out.push(el("p", {}, el("span", { class: "muted", text: "分类：" }),
              c ? [c.level1, c.level2, c.level3].filter(Boolean).join(" › ") + `（${percent(c.confidence)}）` : "未能判断",
              el("br"), el("span", { class: "muted", text: "属地：" }), place || "未识别"));
  for (const d of s.departments) {
    const box = el("div", { class: "dept" },
      el("span", { class: d.role === "主办" ? "badge lead" : "badge", text: d.role }), " ",
      el("span", { class: "name", text: d.department.name }),
      d.confidence !== null ? el("span", { class: "muted conf", text: ` 置信度 ${percent(d.confidence)}` }) : null);
    if (d.confidence !== null) {
      const bar = el("span");
      bar.style.width = `${Math.round(d.confidence * 100)}%`;
      box.append(el("div", { class: "meter", role: "img", "aria-label": `置信度 ${percent(d.confidence)}` }, bar));
    }
    const signals = Object.entries(d.signals).filter(([, v]) => v > 0)
      .map(([name, v]) => `${SIGNAL_NAMES[name] || name} ${percent(v)}`);
    if (signals.length) box.append(el("div", { class: "muted signals", text: `依据：${signals.join(" · ")}` }));
    if (d.matched_keywords.length) box.append(el("div", { class: "muted", text: `命中：${d.matched_keywords.join("、")}` }));
    for (const clause of d.responsibilities) box.append(el("blockquote", { text: `职责：${clause}` }));
    out.push(box);
  }
  document.getElementById("suggestion").replaceChildren(...out);
  out.length = 0;  // the rest goes below the decision buttons
  const similar = s.evidence.similar_tickets;
  out.push(el("h3", { text: `本热线办过的同类工单（${similar.length}）` }));
  out.push(similar.length ? el("ul", { class: "plain" }, similar.map(t => el("li", {},
    el("span", { class: t.action === "accept" ? "badge good" : "badge warn",
                 text: t.action === "accept" ? "采纳建议" : "改派" }), " ",
    t.text.length > 60 ? t.text.slice(0, 60) + "…" : t.text,
    el("div", { class: "muted", text: [`主办：${nameOf(t.department)}`,
                                       t.action === "accept" ? null : `原建议：${nameOf(t.suggested)}`,
                                       localTime(t.decided_at), `相似度 ${percent(t.similarity)}`].filter(Boolean).join(" · ") }))))
    : el("p", { class: "muted", text: "本热线还没有办过同类工单。" }));
  const policies = s.evidence.policies;
  const unjudged = policies.some(p => p.judged === false);
  out.push(el("h3", { text: unjudged ? `字面相近的政策条款（${policies.length}）` : `相关政策（${policies.length}）` }));
  if (unjudged) out.push(el("p", { class: "muted", text: "未生成答复草稿，以下条款只是与工单用词相近，是否适用未经判断。" }));
  out.push(policies.length ? el("ol", {}, policies.map(p => el("li", {},
    el("strong", { text: p.title || p.doc_id }), p.doc_number ? `（${p.doc_number}）` : "",
    el("span", { class: "badge", text: p.validity || "效力未知" }),
    el("blockquote", { text: p.quote }))))
    : el("p", { class: "muted", text: "没有找到相关政策条款。" }));
  out.push(el("h3", { text: "答复草稿" }));
  const draft = s.reply_draft;
  if (!draft) out.push(el("p", { class: "muted", text: "未生成答复草稿。" }));
  else if (draft.refusal) out.push(el("p", { class: "muted", text: "政策文件中没有可引用的依据，请按业务口径答复。" }));
  else {
    const numbered = Object.fromEntries(draft.sources.map(x => [x.number, x.document]));
    out.push(el("blockquote", {}, draft.sentences.map(sentence => [sentence.text,
      sentence.citations.map(ci => el("sup", { title: numbered[ci.number]?.title || "", text: `[${ci.number}]` }))])));
    out.push(el("ol", { class: "muted" }, draft.sources.map(x => el("li", {
      text: `${x.document.title || x.document.doc_id}${x.document.doc_number ? "（" + x.document.doc_number + "）" : ""}` }))));
  }
  out.push(knowledgeForm(s));
  if (s.left_out.length) out.push(el("p", { class: "muted", text: `未能完成：${s.left_out.join("；")}` }));
  document.getElementById("evidence").replaceChildren(...out);
  document.getElementById("override-department").value = "";
  document.getElementById("override-reason").value = "";
  document.getElementById("decision-result").textContent = "";
  for (const id of ["accept", "override"]) document.getElementById(id).disabled = false;
}

/* The reply draft, accepted or edited, becomes a knowledge entry in one step: proposed, it answers
   once a reviewer approves it. */
function knowledgeForm(s) {
  const draft = s.reply_draft;
  const text = draft && !draft.refusal ? draft.sentences.map(x => x.text).join("") : "";
  const basis = draft && !draft.refusal
    ? draft.sources.filter(x => x.document.kind !== "knowledge").map(x => ({ doc_id: x.document.doc_id, doc_number: x.document.doc_number || null }))
    : [];
  const answer = el("textarea", { id: "kb-answer", rows: 3, maxlength: 4000, placeholder: "写下本类诉求的答复口径" });
  answer.value = text;
  const status = el("p", { id: "kb-result", role: "status" });
  const submit = el("button", { type: "button", id: "kb-submit", text: "提交知识库审核", onclick: async () => {
    const value = answer.value.trim();
    if (value.length < 2) { status.textContent = "请先写下答复口径。"; return; }
    submit.disabled = true;
    try {
      const lead = s.departments[0]?.department.id;
      const entry = await session.json("/v1/knowledge", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ question: s.ticket.slice(0, 500), answer: value, department: lead, basis,
                               category: s.category && s.category.level2 ? [s.category.level1, s.category.level2] : [],
                               suggestion_id: s.id }) });
      status.className = "ok";
      status.textContent = `已提交知识库，待审核（编号 ${entry.id}）。审核通过后即可用于答复。`;
    } catch (error) {
      submit.disabled = false;
      status.className = "error";
      status.textContent = `提交失败：${error.message}`;
    }
  } });
  return el("div", { class: "kb" }, el("label", { for: "kb-answer", text: "答复口径（可修改后提交知识库）" }), answer, submit, status);
}

/* A reviewer's queue (admin keys): entries proposed at the desk, approved or rejected here. */
async function loadKnowledgeQueue() {
  const box = document.getElementById("kb-queue");
  if (!box || session.me?.role !== "admin") return;
  box.closest("section").hidden = false;
  const entries = await session.json("/v1/knowledge?state=proposed&limit=20");
  box.replaceChildren(entries.length ? el("ul", {}, entries.map(e => el("li", {},
    el("strong", { text: e.question.slice(0, 80) }), el("p", { text: e.answer }),
    el("button", { type: "button", class: "good", text: "通过", onclick: () => review(e.id, "approve") }),
    el("button", { type: "button", class: "warn", text: "驳回", onclick: () => review(e.id, "reject") }))))
    : el("p", { class: "muted", text: "没有待审核的知识条目。" }));
}

async function review(id, action) {
  await session.json(`/v1/knowledge/${encodeURIComponent(id)}/${action}`, { method: "POST" });
  await loadKnowledgeQueue();
}

async function decide(action) {
  if (!current || document.getElementById("accept").disabled) return;  // none on screen, or decided already
  const result = document.getElementById("decision-result");
  const body = { action };
  if (action === "override") {
    body.department_id = document.getElementById("override-department").value;
    body.reason = document.getElementById("override-reason").value.trim();
    if (!body.department_id || !body.reason) {
      result.className = "error";
      result.textContent = "改派需要选择主办单位并填写理由。";
      document.getElementById(body.department_id ? "override-reason" : "override-department").focus();
      return;
    }
  }
  try {
    const decision = await session.json(`/v1/tickets/${current.id}/decision`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    result.className = "ok";
    result.textContent = `已记录：${action === "accept" ? "采纳" : "改派"}，主办 ${nameOf(decision.department_id)}。`;
    for (const id of ["accept", "override"]) document.getElementById(id).disabled = true;
    await Promise.all([loadRecent(), loadStats(), showHotTopics(session)]);
    document.getElementById("ticket").focus();
  } catch (e) {
    result.className = "error";
    result.textContent = e.message;
  }
}

async function loadRecent() {
  const rows = await session.json("/v1/tickets/decisions?limit=10");
  const box = document.getElementById("recent");
  if (!rows.length) { box.replaceChildren(el("p", { class: "muted", text: "还没有处理决定。" })); return; }
  box.replaceChildren(el("table", {},
    el("thead", {}, el("tr", {}, ["时间", "工单", "建议主办", "最终主办", "决定", "坐席"].map(h => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows.map(r => el("tr", {},
      el("td", { text: localTime(r.created_at) }), el("td", { text: r.ticket.length > 40 ? r.ticket.slice(0, 40) + "…" : r.ticket }),
      el("td", { text: nameOf(r.suggested) }), el("td", { text: nameOf(r.department) }),
      el("td", {}, el("span", { class: r.agreed ? "badge good" : "badge warn", text: r.action === "accept" ? "采纳" : (r.agreed ? "确认" : "改派") }),
         r.reason ? el("div", { class: "muted", text: r.reason }) : null),
      el("td", { text: r.agent || "—" }))))));
}

async function loadStats() {
  const s = await session.json("/v1/tickets/stats");
  const stat = (label, value) => el("div", { class: "stat" }, el("span", { class: "muted", text: label }), el("b", { text: value }));
  document.getElementById("stats").replaceChildren(stat("一致率", percent(s.agreement_rate)), stat("已处理", String(s.decided)),
    stat("改派", String(s.overrides)), stat("待处理", String(s.pending)), stat("需复核占比", percent(s.review_share)));
  const rows = Object.entries(s.by_department);
  document.getElementById("stats-departments").replaceChildren(rows.length ? el("table", {},
    el("caption", { class: "sr", text: "按建议主办单位的一致率" }),
    el("thead", {}, el("tr", {}, ["建议主办单位", "已处理", "一致", "一致率"].map(h => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows.map(([id, a]) => el("tr", {}, el("td", { text: nameOf(id) }), el("td", { text: String(a.decided) }),
      el("td", { text: String(a.agreed) }), el("td", { text: percent(a.agreement_rate) }))))) : el("p", { class: "muted", text: "暂无数据。" }));
}

document.getElementById("ticket-form").addEventListener("submit", suggest);
document.getElementById("ticket").addEventListener("keydown", event => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) suggest(event);
});
document.getElementById("accept").addEventListener("click", () => decide("accept"));
document.getElementById("override-search").addEventListener("input", filterOverride);
document.getElementById("override-search").addEventListener("keydown", event => {
  if (event.key === "Enter") event.preventDefault();  // a search, not the override itself
});
document.getElementById("decision").addEventListener("submit", event => { event.preventDefault(); decide("override"); });
document.addEventListener("keydown", event => {
  if (!event.altKey || document.getElementById("result").hidden) return;
  if (event.code === "KeyA") { event.preventDefault(); decide("accept"); }
  if (event.code === "KeyO") { event.preventDefault(); document.getElementById("override-department").focus(); }
});
// the names first: the recent decisions and the statistics show departments by name
session.begin(async () => {
  fillOverride(await loadDepartments(session));
  await Promise.all([loadRecent(), loadStats(), loadKnowledgeQueue(), showHotTopics(session)]);
});
