/* The audit review page: the chain's state (as `jingce audit verify`), per-day charts from the summary,
   filtered events in keyset pages, one event with its frozen evidence and chain position, CSV export. */
"use strict";

const session = new Session("audit", ["auditor"]);
const LIVE = { same: ["原文未变", "good"], changed: ["原文已变更", "warn"], gone: ["原文已删除", "bad"], unchecked: ["未核对", ""] };
const BREAKS = { edited: "记录内容被改动", missing: "记录被删除", broken_link: "前后链接不符", out_of_order: "记录被插入或重排",
                 truncated: "末尾记录被删除", checkpoint: "保留期检查点被改写", rewritten: "记录被改写并重算哈希",
                 unsealed: "记录缺少有效封签（无密钥追加或改动）", forged_head: "链头签名不是本服务的密钥所签",
                 heads_missing: "已签名的链头被删除" };
// a routine read: the page's own calls and listings, folded into one line per caller and minute
const ROUTINE = e => (e.kind === "request" || e.kind === "lookup") && (e.status === "ok" || e.status === "http_200");
let cursor = null;

function daysAgo(n) { return new Date(Date.now() - n * 86400000).toISOString().slice(0, 10); }

function filters() {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(document.getElementById("filters"))) if (value) params.append(name, value);
  return params;
}

// ---- the chain --------------------------------------------------------------------------------
async function verify() {
  const box = document.getElementById("chain");
  box.replaceChildren(el("p", { class: "muted", text: "正在校验…" }));
  try {
    const r = await session.json("/v1/audit/verify");
    const facts = el("p", { class: "muted", text: `已核对 ${r.checked} 条事件（序号 ${r.first_seq ?? "—"} 至 ${r.head_seq ?? "—"}），` +
      `已签名链头 ${r.heads_checked} 个${r.last_signed_seq ? `（最近一次签至序号 ${r.last_signed_seq}）` : ""}，` +
      `其后已封签、待下次签名的事件 ${r.unsigned ?? "—"} 条。链头哈希 ${r.head_hash ? r.head_hash.slice(0, 16) + "…" : "—"}` });
    const b = r.first_break;
    const verdict = r.ok ? el("p", { class: "ok", id: "chain-verdict", text: "✓ 哈希链完整：没有记录被修改、删除、插入或改写，链头签名有效。" })
      : el("p", { class: "error", id: "chain-verdict", text: `✗ 校验未通过：${BREAKS[b?.kind] || "记录异常"}，自序号 ${b?.seq ?? "—"} 起` +
                                                             (b?.event_id ? `（事件 ${b.event_id}）` : "") });
    box.replaceChildren(verdict, facts);
  } catch (e) {
    box.replaceChildren(el("p", { class: "error", text: e.message }));
  }
}

// ---- charts (inline SVG) -------------------------------------------------------------------------
function barChart(title, labels, series, options = {}) {
  const width = 460, height = 180, left = 36, bottom = 26, top = 8;
  const max = options.max ?? Math.max(1, ...labels.map((_, i) => series.reduce((sum, s) => sum + s.values[i], 0)));
  const step = (width - left - 8) / Math.max(labels.length, 1);
  const scale = v => (height - bottom - top) * v / max;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": options.summary || title });
  chart.append(svg("title", {}, title));
  for (const tick of [0, max / 2, max]) {
    const y = height - bottom - scale(tick);
    chart.append(svg("line", { x1: left, x2: width - 4, y1: y, y2: y, stroke: "#eaeef2" }));
    const label = svg("text", { x: left - 4, y: y + 4, "text-anchor": "end" });
    label.textContent = options.format ? options.format(tick) : String(Math.round(tick));
    chart.append(label);
  }
  labels.forEach((day, i) => {
    let base = height - bottom;
    for (const s of series) {
      const h = scale(s.values[i]);
      if (h > 0) chart.append(svg("rect", { x: left + i * step + 2, y: base - h, width: Math.max(step - 4, 2), height: h, fill: s.color }));
      base -= h;
    }
    if (labels.length <= 8 || i % Math.ceil(labels.length / 8) === 0) {
      const text = svg("text", { x: left + i * step + step / 2, y: height - 8, "text-anchor": "middle" });
      text.textContent = (options.tick || (d => d.slice(5)))(day);
      chart.append(text);
    }
  });
  const legend = el("div", { class: "legend", "aria-hidden": "true" }, series.map(s => {
    const swatch = el("i");
    swatch.style.background = s.color;
    return el("span", {}, swatch, s.name);
  }));
  const table = el("details", {}, el("summary", { class: "muted", text: "数据表" }), el("table", {},
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: options.labelName || "日期" }),
                      series.map(s => el("th", { scope: "col", text: s.name })))),
    el("tbody", {}, labels.map((day, i) => el("tr", {}, el("th", { scope: "row", text: (options.name || (d => d))(day) }),
      series.map(s => el("td", { text: options.format ? options.format(s.values[i]) : String(s.values[i]) })))))));
  return el("figure", {}, el("figcaption", {}, el("strong", { text: title })), legend, chart, table);
}

async function charts() {
  const days = await session.json("/v1/audit/summary?" + new URLSearchParams({ from: daysAgo(30) }));
  const box = document.getElementById("charts");
  if (!days.length) { box.replaceChildren(el("p", { class: "muted", text: "近 30 天没有事件。" })); return; }
  const labels = days.map(d => d.day);
  const answers = days.reduce((n, d) => n + d.answers, 0), refused = days.reduce((n, d) => n + d.refused, 0);
  const departments = {};
  for (const d of days) for (const [id, v] of Object.entries(d.decisions_by_department)) {
    const sum = departments[id] || (departments[id] = { decided: 0, agreed: 0 });
    sum.decided += v.decided; sum.agreed += v.agreed;
  }
  const ids = Object.keys(departments).sort((a, b) => departments[b].decided - departments[a].decided).slice(0, 10);
  const drafts = days.reduce((n, d) => n + d.drafts, 0);
  box.replaceChildren(
    barChart("居民提问：回答与拒答（每日，北京时间）", labels, [
      { name: "已回答", color: "#1f3a5f", values: days.map(d => d.answers - d.refused) },
      { name: "拒答", color: "#d97706", values: days.map(d => d.refused) }],
      { summary: `近 ${days.length} 天居民提问共 ${answers} 次，其中拒答 ${refused} 次（坐席回复草稿另计）` }),
    barChart("坐席回复草稿（每日）", labels, [
      { name: "已生成草稿", color: "#116329", values: days.map(d => d.drafts - d.drafts_refused) },
      { name: "无依据未生成", color: "#8c959f", values: days.map(d => d.drafts_refused) }],
      { summary: `近 ${days.length} 天坐席工单回复草稿共 ${drafts} 份` }),
    barChart("降级回答占比（每日）", labels, [{ name: "降级占比", color: "#9a3412", values: days.map(d => d.degraded_share || 0) }],
      { max: 1, format: v => `${Math.round(v * 100)}%`, summary: "每日降级回答（模型不可用、改用原文摘录）占比" }),
    ids.length ? barChart("派单一致率（按建议主办单位）", ids, [{ name: "一致率", color: "#116329",
      values: ids.map(id => departments[id].agreed / departments[id].decided) }],
      { max: 1, format: v => `${Math.round(v * 100)}%`, labelName: "单位", name: nameOf, tick: id => nameOf(id).slice(0, 4),
        summary: "按建议主办单位的派单一致率" })
      : el("p", { class: "muted", text: "近 30 天没有派单决定。" }));
}

// ---- events ------------------------------------------------------------------------------------
async function loadEvents(more = false) {
  const error = document.getElementById("events-error");
  error.hidden = true;
  const params = filters();
  params.set("limit", "50");
  if (more && cursor) params.set("cursor", cursor);
  try {
    const page = await session.json("/v1/audit/events?" + params);
    const body = document.getElementById("events");
    if (!more) body.replaceChildren();
    for (const group of foldRoutine(page.events)) body.append(group.length > 1 ? foldedRow(group) : eventRow(group[0]));
    cursor = page.next_cursor;
    document.getElementById("more").hidden = !cursor;
    document.getElementById("total").textContent = `（共 ${page.total} 条）`;
    announce(`找到 ${page.total} 条事件`);
  } catch (e) {
    error.textContent = e.message;
    error.hidden = false;
  }
}

function foldRoutine(events) {
  const groups = [];
  for (const e of events) {
    const last = groups[groups.length - 1];
    const same = last && ROUTINE(e) && ROUTINE(last[0]) && last[0].actor === e.actor && last[0].shown.time.slice(0, 16) === e.shown.time.slice(0, 16);
    if (same) last.push(e); else groups.push([e]);
  }
  return groups;
}

function foldedRow(group) {
  const first = group[group.length - 1], last = group[0];
  const list = el("ul", { class: "plain" }, group.map(e => {
    const open = el("button", { class: "link", type: "button", text: `${e.seq} · ${e.shown.kind} · ${e.shown.status}` });
    open.addEventListener("click", () => showEvent(e.id));
    return el("li", {}, open);
  }));
  return el("tr", { class: "folded" }, el("td", { text: `${first.seq}–${last.seq}` }), el("td", { text: last.shown.time.slice(0, 16) }),
            el("td", { text: "例行读取" }), el("td", {}, el("span", { class: "badge", text: `${group.length} 次` })),
            el("td", {}, el("details", {}, el("summary", { text: `${last.shown.actor || "—"} 在这一分钟内的 ${group.length} 次例行读取` }), list)));
}

function eventRow(e) {
  const s = e.shown;
  const routed = s.suggested || s.decided ? `建议 ${s.suggested || "—"}` + (s.decided ? ` → 决定 ${s.decided}` : "") : "";
  const summary = e.question || routed || e.answer || "";
  const open = el("button", { class: "link", type: "button", text: summary ? (summary.length > 36 ? summary.slice(0, 36) + "…" : summary) : "（无内容）",
                              "aria-label": `查看事件 ${e.seq ?? e.id}` });
  open.addEventListener("click", () => showEvent(e.id));
  const where = [s.channel, s.actor || "—", routed && e.question ? routed : "", s.place || ""].filter(Boolean).join(" · ");
  return el("tr", { "data-event": e.id }, el("td", { text: String(e.seq ?? "—") }), el("td", { text: s.time }),
            el("td", { text: s.kind }), el("td", {}, el("span", { class: "badge", text: s.status }),
            e.degraded ? el("span", { class: "badge warn", text: "降级" }) : null), el("td", {}, open,
            el("div", { class: "muted", text: where })));
}

async function showEvent(id) {
  const box = document.getElementById("detail");
  box.replaceChildren(el("p", { class: "muted", text: "读取中…" }));
  document.getElementById("detail-title").focus();
  try {
    const e = await session.json(`/v1/audit/events/${encodeURIComponent(id)}`);
    const s = e.shown, d = e.details || {};
    const facts = [["事件编号", e.id], ["序号", String(e.seq ?? "—")], ["时间", s.time], ["类型", s.kind],
                   ["渠道", s.channel], ["状态", s.status], ["调用方", s.actor || "—"], ["会话", e.session_id || "—"],
                   ["问题 / 工单（已脱敏）", e.question || "—"]];
    if (s.rewritten) facts.push(["改写后的问题", s.rewritten]);
    if (e.kind === "decision" || e.kind === "suggestion") {
      facts.push(["地点", s.place || "—"], ["建议主办单位", s.suggested || "—"]);
      if (e.kind === "decision") facts.push(["决定主办单位", `${s.decided || "—"}${d.co_handlers?.length ? "（协办 " + d.co_handlers.map(nameOf).join("、") + "）" : ""}`],
                                            ["采纳建议", e.agreed ? "是" : "否"], ["理由", d.reason || "—"]);
    } else {
      facts.push(["回答 / 结果", e.answer || "—"]);
    }
    if (d.agent) facts.push(["坐席", d.agent]);
    const chain = e.chain;
    const parts = [el("table", {}, el("tbody", {}, facts.map(([k, v]) => el("tr", {}, el("th", { scope: "row", text: k }), el("td", { text: v })))))];
    parts.push(el("h3", { text: "链上位置" }), el("p", { class: chain.hash_matches ? "ok" : "error", id: "event-hash",
      text: chain.hash_matches ? "✓ 内容与存储的哈希一致" : "✗ 内容与存储的哈希不一致：记录已被改动" }),
      el("pre", { text: `序号      ${chain.seq}\n前一哈希  ${chain.prev_hash}\n本条哈希  ${chain.hash}` }));
    parts.push(el("h3", { text: `冻结的证据（${e.evidence.length}）` }));
    parts.push(e.evidence.length ? el("ul", { class: "plain" }, e.evidence.map(x => el("li", {},
      el("span", { class: `badge ${LIVE[x.live][1]}`, text: LIVE[x.live][0] }), x.cited ? el("span", { class: "badge lead", text: "被引用" }) : null,
      el("span", { class: "muted", text: ` ${x.doc_id || ""} · 得分 ${x.score?.toFixed?.(3) ?? "—"} · sha256 ${x.sha256.slice(0, 12)}…` }),
      el("blockquote", { text: x.text || "（未冻结原文）" })))) : el("p", { class: "muted", text: "此事件没有检索证据。" }));
    parts.push(el("details", {}, el("summary", { text: "完整记录（原始数据）" }), el("pre", { text: JSON.stringify(e.details, null, 2) })));
    box.replaceChildren(...parts);
  } catch (err) {
    box.replaceChildren(el("p", { class: "error", text: err.message }));
  }
}

async function exportCsv() {
  const params = filters();
  params.set("format", "csv");
  try {
    const response = await session.api("/v1/audit/export?" + params, { headers: { Accept: "text/csv" } });
    const blob = await response.blob();
    const link = el("a", { href: URL.createObjectURL(blob), download: `jingce-audit-${new Date().toISOString().slice(0, 10)}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    announce("已导出 CSV");
  } catch (e) {
    const error = document.getElementById("events-error");
    error.textContent = e.message;
    error.hidden = false;
  }
}

document.getElementById("filters").addEventListener("submit", event => { event.preventDefault(); loadEvents(); });
document.getElementById("more").addEventListener("click", () => loadEvents(true));
document.getElementById("verify").addEventListener("click", verify);
document.getElementById("export").addEventListener("click", exportCsv);
session.begin(async () => {
  await loadDepartments(session);
  await Promise.all([verify(), charts(), loadEvents(), showHotTopics(session)]);
});
