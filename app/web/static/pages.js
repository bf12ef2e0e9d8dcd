/* What the agent panel and the audit page share: building DOM without innerHTML, the API key the
   person signed in with (kept in sessionStorage: gone when the tab closes), API calls that turn a
   problem document into a readable message. */
"use strict";

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

const ROLE_NAMES = { citizen: "居民", agent: "坐席", auditor: "审计", admin: "管理员" };
const roleName = role => ROLE_NAMES[role] || role;

/* The signed-in key of one page ("panel", "audit"), which needs a key of one of `roles`. */
class Session {
  constructor(page, roles) { this.name = `jingce-key-${page}`; this.roles = roles; this.role = roles[0]; this.me = null; }

  async check() {
    const me = await this.json("/v1/me");
    if (!this.roles.includes(me.role)) throw new ApiError(403, `这是${roleName(me.role)}角色的密钥；本页面需要${this.roles.map(roleName).join("或")}角色的密钥。`);
    this.me = me;
    const who = document.getElementById("who");
    if (who) who.textContent = `${me.name}（${roleName(me.role)}）`;
  }
  get key() { return sessionStorage.getItem(this.name); }
  forget() { sessionStorage.removeItem(this.name); }

  async api(path, options = {}) {
    const response = await fetch(path, { ...options, headers: { Accept: "application/json", ...(options.headers || {}),
                                                                  Authorization: `Bearer ${this.key}` } });
    if (!response.ok) {
      let detail = "";
      try { detail = (await response.json()).detail || ""; } catch (_) { /* not a problem document */ }
      const messages = { 401: "密钥无效或已被撤销，请重新登录。", 403: `此密钥无权访问（需要${roleName(this.role)}角色的密钥）。`,
                         429: `请求过于频繁，请 ${response.headers.get("Retry-After") || "稍后"} 秒后再试。` };
      throw new ApiError(response.status, messages[response.status] || `请求失败（${response.status}）：${detail}`);
    }
    return response;
  }

  async json(path, options) { return (await this.api(path, options)).json(); }

  /* Shows the sign-in form until a key passes `check`, then calls start(). */
  async begin(start) {
    const form = document.getElementById("signin");
    const app = document.getElementById("app");
    const error = document.getElementById("signin-error");
    const show = async () => {
      try {
        await this.check();
        form.closest("section").hidden = true;
        app.hidden = false;
        document.getElementById("signout").hidden = false;
        await start();
      } catch (e) {
        if (!(e instanceof ApiError) || e.status === 401 || e.status === 403) this.forget();
        form.closest("section").hidden = false;
        app.hidden = true;
        error.textContent = e.message;
        error.hidden = false;
        document.getElementById("key").focus();
      }
    };
    form.addEventListener("submit", event => {
      event.preventDefault();
      const field = document.getElementById("key");
      sessionStorage.setItem(this.name, field.value.trim());
      field.value = "";
      show();
    });
    document.getElementById("signout").addEventListener("click", () => { this.forget(); location.reload(); });
    if (this.key) await show(); else document.getElementById("key").focus();
  }
}

const departmentNames = {};  // department id → short name, once loadDepartments has run

/* The departments a ticket may go to (agent, auditor and admin keys may read them); names them for nameOf. */
async function loadDepartments(session) {
  const departments = await session.json("/v1/tickets/departments");
  for (const d of departments) departmentNames[d.id] = d.short;
  return departments;
}

function nameOf(id) { return id ? departmentNames[id] || id : "—"; }

function percent(value) { return value === null || value === undefined ? "—" : `${Math.round(value * 100)}%`; }

/* A time as agents and officials read it: Beijing time, whatever the machine's own zone, with the zone said. */
function localTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false }) + " 北京时间";
}

/* Hot topics (GET /v1/tickets/hot) in the element #hot of the panel and the audit page: one matter, its
   place, how many callers and when, its tickets folded under it. */
async function showHotTopics(session) {
  const box = document.getElementById("hot");
  try {
    box.replaceChildren(...hotTopicsView(await session.json("/v1/tickets/hot")));
  } catch (e) {
    box.replaceChildren(el("p", { class: "error", text: `热点诉求读取失败：${e.message}` }));
  }
}

function hotTopicsView(hot) {
  const span = `${localTime(hot.since).slice(0, -5)}至${localTime(hot.until)}`;
  if (!hot.topics.length) {
    return [el("p", { class: "muted", text: `${span}的 ${hot.tickets} 件工单中没有多人反映的同一事项。` })];
  }
  return [el("p", { class: "muted", text: `${span}，${hot.tickets} 件工单中：` }),
    el("ol", { class: "hot" }, hot.topics.map(t => el("li", {},
      el("strong", { text: t.title }), " ", el("span", { class: "badge warn", text: `${t.count} 件` }),
      el("div", { class: "muted", text: [[t.district, t.street].filter(Boolean).join(" · ") || "属地未识别",
                                         t.category ? `分类：${t.category}` : null,
                                         t.keywords.length ? `关键词：${t.keywords.join("、")}` : null,
                                         `${localTime(t.first_at).slice(0, -5)}至${localTime(t.last_at)}`].filter(Boolean).join(" · ") }),
      el("details", {}, el("summary", { text: "查看工单" }),
         el("ul", { class: "plain" }, t.tickets.map(x => el("li", { text: `${localTime(x.created_at)}：${x.text.length > 80 ? x.text.slice(0, 80) + "…" : x.text}` })))))))];
}

function announce(message) {
  const region = document.getElementById("status");
  region.textContent = "";
  setTimeout(() => { region.textContent = message; }, 30);
}
