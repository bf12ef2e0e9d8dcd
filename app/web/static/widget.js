/* 京策助手 citizen chat widget. One tag adds it to any page:
 *   <script src="https://HOST/widget.js" data-key="jc_…" async></script>
 * data-key: a citizen key bound to the site's origin (optional where the service lets anonymous
 * citizens ask); data-title: the panel's title. Everything lives in a Shadow DOM, styled by a
 * constructed style sheet (allowed by a strict content security policy: no inline <style>), so the
 * host page's styles neither reach in nor out. No dependency, no build step.
 *
 * The answer streams from POST /v1/chat as server-sent events (sources, delta per checked sentence,
 * done); each [n] opens its source: document, 文号, issuer, date, validity and the quoted span
 * highlighted in its clause (GET /v1/policies/{doc}/chunks/{chunk}). */
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script || window.__jingceWidget) return;
  window.__jingceWidget = true;
  const BASE = new URL(script.src, location.href).origin;
  const KEY = script.dataset.key || "";
  const TITLE = script.dataset.title || "京策助手 · 政策咨询";

  const CSS = `
:host { all: initial; }
* { box-sizing: border-box; }
.root { font: 15px/1.6 system-ui, "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif; color: #1f2328; }
.launcher { position: fixed; right: 16px; bottom: 16px; z-index: 2147483000; display: flex; align-items: center; gap: 6px;
  padding: 12px 18px; border: 0; border-radius: 999px; background: #b3121b; color: #fff; font: inherit; font-weight: 600;
  box-shadow: 0 4px 14px rgba(0,0,0,.25); cursor: pointer; }
.launcher:hover { background: #8f0e16; }
button:focus-visible, textarea:focus-visible, a:focus-visible, [tabindex]:focus-visible { outline: 3px solid #1a5fb4; outline-offset: 2px; }
.panel { position: fixed; right: 16px; bottom: 76px; z-index: 2147483000; width: min(420px, calc(100vw - 16px));
  height: min(640px, calc(100vh - 96px)); height: min(640px, calc(var(--jc-viewport, 100dvh) - 96px)); display: flex; flex-direction: column; background: #fff; border-radius: 12px;
  box-shadow: 0 10px 40px rgba(0,0,0,.3); overflow: hidden; }
.panel[hidden], .source[hidden], .log[hidden], form[hidden] { display: none; }
.dot { width: 10px; height: 10px; border-radius: 50%; background: #f5d77a; }
@media (prefers-reduced-motion: no-preference) { .panel { animation: rise .18s ease-out; } @keyframes rise { from { opacity: 0; transform: translateY(12px); } } }
@media (max-width: 480px) { .panel { right: 8px; left: 8px; width: auto; bottom: 72px; height: calc(100vh - 84px);
  height: calc(var(--jc-viewport, 100dvh) - 84px); } .launcher { right: 8px; bottom: 8px; } }
header { display: flex; align-items: center; justify-content: space-between; padding: 10px 14px; background: #b3121b; color: #fff; }
h2 { margin: 0; font-size: 16px; }
.close { border: 0; background: transparent; color: #fff; font-size: 22px; line-height: 1; padding: 4px 8px; cursor: pointer; border-radius: 6px; }
.hint { margin: 0; padding: 6px 14px; font-size: 12px; color: #57606a; background: #fff8f0; border-bottom: 1px solid #eee; }
.log { flex: 1; overflow-y: auto; padding: 12px 14px; display: flex; flex-direction: column; gap: 10px; }
.msg { max-width: 92%; padding: 8px 12px; border-radius: 10px; word-break: break-word; white-space: pre-wrap; }
.user { align-self: flex-end; background: #e7f0fb; }
.bot { align-self: flex-start; background: #f6f8fa; border: 1px solid #e3e6ea; }
.bot p { margin: 0 0 6px; } .bot p:last-child { margin-bottom: 0; }
.waiting { color: #57606a; font-size: 13px; }
.refusal { background: #fff8e6; border-color: #e9c46a; }
.crisis { background: #fdecec; border-color: #b3121b; font-weight: 600; }
.failed { background: #fdecec; border-color: #e0a0a0; }
.note { font-size: 12px; color: #6e4b00; background: #fff3cd; padding: 4px 8px; border-radius: 6px; }
.cite { border: 0; background: none; color: #1a5fb4; font: inherit; font-size: 13px; padding: 0 1px; cursor: pointer; text-decoration: underline; }
@media (pointer: coarse), (max-width: 480px) { .cite { display: inline-flex; align-items: center; justify-content: center;
  min-width: 44px; min-height: 44px; margin: -10px -4px; vertical-align: middle; } .msg { line-height: 1.9; } }
.tel { color: #1a5fb4; font-weight: 600; text-decoration: underline; }
.sources { margin-top: 6px; padding-top: 6px; border-top: 1px dashed #d0d7de; font-size: 12px; color: #57606a; }
.sources ul { margin: 0; padding-left: 0; list-style: none; }
.retry { margin-top: 6px; border: 1px solid #b3121b; background: #fff; color: #b3121b; border-radius: 6px; padding: 2px 10px; font: inherit; cursor: pointer; }
form { display: flex; gap: 8px; padding: 10px 14px; border-top: 1px solid #eee; }
textarea { flex: 1; resize: none; font: inherit; padding: 8px; border: 1px solid #8c959f; border-radius: 8px; min-height: 44px; }
.send { border: 0; border-radius: 8px; background: #b3121b; color: #fff; font: inherit; padding: 0 16px; cursor: pointer; }
.send:disabled { background: #8c959f; cursor: default; }
.source { flex: 1; overflow-y: auto; padding: 12px 14px; }
.back { border: 1px solid #d0d7de; background: #fff; border-radius: 6px; padding: 2px 10px; font: inherit; cursor: pointer; }
.source h3 { font-size: 16px; margin: 10px 0 6px; }
dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 10px; margin: 0 0 10px; font-size: 13px; }
dt { color: #57606a; } dd { margin: 0; }
.badge { display: inline-block; padding: 0 8px; border-radius: 999px; font-size: 12px; font-weight: 600; }
.in-force { background: #dafbe1; color: #116329; } .amended { background: #fff3cd; color: #6e4b00; }
.expired { background: #ffe2e0; color: #8f0e16; } .unknown { background: #eaeef2; color: #424a53; }
blockquote { margin: 0; padding: 8px 10px; background: #f6f8fa; border-left: 4px solid #d0d7de; white-space: pre-wrap; font-size: 14px; }
mark { background: #ffe58f; color: inherit; padding: 0 1px; }
.official { display: inline-block; margin-top: 10px; color: #1a5fb4; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;

  const VALIDITY = { "现行有效": "in-force", "已修订": "amended", "已失效": "expired", "已废止": "expired" };

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

  function sessionId() {
    const name = "jingce-widget-session";
    try {
      let id = sessionStorage.getItem(name);
      if (!id) { id = newId(); sessionStorage.setItem(name, id); }
      return id;
    } catch (_) { return window.__jingceSession || (window.__jingceSession = newId()); }
  }

  function newId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), b => b.toString(16).padStart(2, "0")).join("");
  }

  function headers(extra = {}) {
    return KEY ? { ...extra, "X-API-Key": KEY } : extra;
  }

  // hotlines and telephone numbers in a reply are links a phone can call: 12345, 110, 120, 12356,
  // 010-82951332 — not any five digits (12000元 is an amount)
  const PHONE = /(?<![\d.])(0\d{2,3}-\d{7,8}|400-?\d{3}-?\d{4}|1(?:2345|2356|2355|2349|2338|2320|2333|2348|2315|2358)|11[09]|12[02])(?![\d.%％元万千百年月日号岁个天])/g;

  function withPhoneLinks(text) {
    const parts = [];
    let last = 0;
    for (const match of text.matchAll(PHONE)) {
      parts.push(text.slice(last, match.index));
      parts.push(el("a", { class: "tel", href: `tel:${match[1].replace(/-/g, "")}`, text: match[1] }));
      last = match.index + match[0].length;
    }
    parts.push(text.slice(last));
    return parts.filter(part => part !== "");
  }

  function validityBadge(validity) {
    const label = validity && VALIDITY[validity] ? validity : "未知";
    return el("span", { class: `badge ${VALIDITY[validity] || "unknown"}`, text: label });
  }

  // ---- the DOM -------------------------------------------------------------------------------
  const host = el("div", { id: "jingce-widget" });
  const shadow = host.attachShadow({ mode: "open" });
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(CSS);
  shadow.adoptedStyleSheets = [sheet];

  const launcher = el("button", { class: "launcher", type: "button", "aria-expanded": "false",
                                  "aria-controls": "jc-panel", "aria-haspopup": "dialog" },
                      el("span", { class: "dot", "aria-hidden": "true" }), "政策咨询");
  const closeButton = el("button", { class: "close", type: "button", "aria-label": "关闭政策咨询", text: "×" });
  const log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": "对话记录", tabindex: "0" });
  const source = el("div", { class: "source", role: "region", "aria-label": "引用来源", hidden: true });
  const question = el("textarea", { id: "jc-q", rows: "2", maxlength: "500", "aria-describedby": "jc-hint",
                                    placeholder: "例如：北京市最低生活保障标准是多少？" });
  const send = el("button", { class: "send", type: "submit", text: "发送" });
  const form = el("form", {}, el("label", { class: "sr", for: "jc-q", text: "您的问题" }), question, send);
  const panel = el("section", { class: "panel", id: "jc-panel", role: "dialog", "aria-modal": "false",
                                "aria-labelledby": "jc-title", hidden: true },
    el("header", {}, el("h2", { id: "jc-title", text: TITLE }), closeButton),
    el("p", { class: "hint", id: "jc-hint",
              text: "依据北京市和国家公开的政策文件作答，每句注明出处；找不到依据时如实告知。请勿填写身份证号、手机号等个人信息。" }),
    log, source, form);
  shadow.append(el("div", { class: "root" }, launcher, panel));

  // the panel fits the visible viewport: dvh follows the address bar; visualViewport also the keyboard
  const viewport = window.visualViewport;
  if (viewport) {
    const fit = () => panel.style.setProperty("--jc-viewport", `${Math.round(viewport.height)}px`);
    viewport.addEventListener("resize", fit);
    fit();
  }

  let busy = false;
  let returnFocus = null;

  function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    if (!log.childElementCount) {
      log.append(el("div", { class: "msg bot" }, el("p", { text: "您好！我可以解答北京市的政策问题，例如低保、养老、医保、就业、住房等。请直接输入您的问题。" })));
    }
    question.focus();
  }

  function close() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }

  launcher.addEventListener("click", () => (panel.hidden ? open() : close()));
  closeButton.addEventListener("click", close);
  panel.addEventListener("keydown", event => {
    if (event.key !== "Escape") return;
    event.preventDefault();
    if (!source.hidden) showLog(); else close();
  });
  question.addEventListener("keydown", event => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener("submit", event => {
    event.preventDefault();
    const text = question.value.trim();
    if (!text || busy) return;
    question.value = "";
    ask(text);
  });

  // ---- asking ----------------------------------------------------------------------------------
  // a retry asks again into the failed answer's place
  async function ask(text, bubble = null) {
    if (busy) return;
    busy = true;
    send.disabled = true;
    const waiting = el("p", { class: "waiting", text: "正在查找政策依据…" });
    if (bubble) {
      bubble.className = "msg bot";
      bubble.removeAttribute("role");
      bubble.replaceChildren(waiting);
    } else {
      log.append(el("div", { class: "msg user" }, el("span", { class: "sr", text: "您问：" }), text));
      bubble = el("div", { class: "msg bot" }, waiting);
      log.append(bubble);
    }
    log.setAttribute("aria-busy", "true");
    scrollDown();
    performance.mark("jingce:ask");
    const state = { sources: {}, streamed: null, done: null, error: null };
    try {
      const response = await fetch(`${BASE}/v1/chat`, {
        method: "POST", mode: "cors", credentials: "omit",
        headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
        body: JSON.stringify({ question: text, session_id: sessionId(), channel: "web", stream: true }),
      });
      if (!response.ok) throw await problem(response);
      await readEvents(response, (name, data) => onEvent(name, data, bubble, state));
      if (state.error) showFailure(bubble, "系统暂时无法回答，请稍后再试，或拨打12345市民服务热线咨询。", text);
      else if (state.done) showAnswer(bubble, state.done, state.sources);
      else showFailure(bubble, "回答没有完整送达（连接中断），请重试。", text);
    } catch (error) {
      showFailure(bubble, error.userMessage || "网络连接中断，未能取得回答。请检查网络后重试。", text);
    } finally {
      busy = false;
      send.disabled = false;
      log.removeAttribute("aria-busy");
      scrollDown();
    }
  }

  async function problem(response) {
    let detail = "";
    try { detail = (await response.json()).detail || ""; } catch (_) { /* not a problem document */ }
    const error = new Error(detail);
    if (response.status === 429) {
      const wait = response.headers.get("Retry-After");
      error.userMessage = `提问太频繁了，请${wait ? ` ${wait} 秒` : "稍等片刻"}后再试。`;
    } else if (response.status === 401 || response.status === 403) {
      error.userMessage = "本网站的咨询服务暂不可用（接入密钥无效），请拨打12345市民服务热线咨询。";
    } else {
      error.userMessage = `暂时无法回答（${response.status}${detail ? "：" + detail : ""}），请稍后再试。`;
    }
    return error;
  }

  // server-sent events over fetch (EventSource cannot POST): blocks split by a blank line
  async function readEvents(response, handle) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let match;
      while ((match = /\r?\n\r?\n/.exec(buffer))) {
        const block = buffer.slice(0, match.index);
        buffer = buffer.slice(match.index + match[0].length);
        let name = "message";
        const data = [];
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) handle(name, JSON.parse(data.join("\n")));
      }
    }
  }

  function onEvent(name, data, bubble, state) {
    if (name === "sources") {
      for (const s of data.sources) state.sources[s.number] = s;
    } else if (name === "delta") {
      if (state.streamed === null) {
        performance.mark("jingce:first-delta");
        bubble.replaceChildren();
        state.streamed = el("p");
        bubble.append(state.streamed);
      }
      state.streamed.append(...withCitations(data.text, n => ({ source: state.sources[n] })));
      scrollDown();
    } else if (name === "done") {
      state.done = data;
    } else if (name === "error") {
      state.error = data;
    }
  }

  // "sentence[1][2]" → text and a button per [n]
  function withCitations(text, lookup) {
    const parts = [];
    let last = 0;
    for (const match of text.matchAll(/\[(\d+)\]/g)) {
      parts.push(text.slice(last, match.index));
      parts.push(citeButton(Number(match[1]), lookup(Number(match[1]))));
      last = match.index + match[0].length;
    }
    parts.push(text.slice(last));
    return parts.filter(part => part !== "");
  }

  function citeButton(number, cited) {
    const title = cited.source ? cited.source.title || cited.source.document?.title : "";
    const button = el("button", { class: "cite", type: "button", text: `[${number}]`,
                                  "aria-label": `来源${number}${title ? "：" + title : ""}` });
    button.addEventListener("click", () => showSource(number, cited, button));
    return button;
  }

  function showAnswer(bubble, answer, streamedSources) {
    performance.mark("jingce:done");
    bubble.replaceChildren();
    const sources = {};
    for (const s of answer.sources || []) sources[s.number] = s;
    if (answer.refusal) {
      bubble.classList.add(answer.status === "crisis" ? "crisis" : "refusal");
      bubble.dataset.status = answer.status;
      if (answer.status === "crisis") bubble.setAttribute("role", "alert");
      bubble.append(el("p", {}, withPhoneLinks(answer.answer)));
      return;
    }
    bubble.dataset.status = answer.status;
    if (answer.degraded) bubble.append(el("p", { class: "note", text: "智能撰写暂不可用，以下直接摘录政策原文。" }));
    if (answer.status === "answered_not_in_force" && !answer.notice) {
      bubble.append(el("p", { class: "note", text: "注意：以下依据的文件已失效或已被修订，请以现行规定为准。" }));
    }
    if (answer.notice) bubble.append(el("p", { class: "note", text: answer.notice }));
    const body = el("p");
    for (const sentence of answer.sentences) {
      if (sentence.line_break && body.childNodes.length) body.append("\n");
      body.append(...withPhoneLinks(sentence.text));
      for (const citation of sentence.citations) {
        body.append(citeButton(citation.number, { citation, source: sources[citation.number] || streamedSources[citation.number] }));
      }
    }
    bubble.append(body);
    // one line per document, with the number of each of its passages the answer cites: three clauses of
    // one notice are [1] [2] [3] before its title once, not the title three times
    const byDocument = new Map();
    for (const s of answer.sources || []) {
      const key = s.document.doc_id || `#${s.number}`;
      if (!byDocument.has(key)) byDocument.set(key, []);
      byDocument.get(key).push(s);
    }
    const list = el("ul");
    for (const passages of byDocument.values()) {
      const d = passages[0].document;
      list.append(el("li", {}, ...passages.map(s => citeButton(s.number, { source: s, citation: firstCitation(answer, s.number) })),
                     ` ${d.title || d.doc_id}${d.doc_number ? "（" + d.doc_number + "）" : ""} `, validityBadge(d.validity)));
    }
    if (list.childElementCount) bubble.append(el("div", { class: "sources" }, el("span", { text: "依据：" }), list));
  }

  function firstCitation(answer, number) {
    for (const sentence of answer.sentences) for (const c of sentence.citations) if (c.number === number) return c;
    return undefined;
  }

  function showFailure(bubble, message, text) {
    bubble.replaceChildren(el("p", {}, withPhoneLinks(message)));
    bubble.classList.add("failed");
    bubble.setAttribute("role", "alert");
    const retry = el("button", { class: "retry", type: "button", text: "重试" });
    retry.addEventListener("click", () => ask(text, bubble));
    bubble.append(retry);
  }

  // ---- a source --------------------------------------------------------------------------------
  function showLog() {
    source.hidden = true;
    log.hidden = false;
    form.hidden = false;
    if (returnFocus) returnFocus.focus();
  }

  async function showSource(number, cited, button) {
    returnFocus = button;
    const s = cited.source || {};
    const docId = s.doc_id || s.document?.doc_id || cited.citation?.doc_id;
    const chunkId = s.chunk_id || cited.citation?.chunk_id;
    const back = el("button", { class: "back", type: "button", text: "← 返回回答" });
    back.addEventListener("click", showLog);
    const heading = el("h3", { tabindex: "-1", text: `来源 [${number}]` });
    const content = el("div", {}, el("p", { class: "waiting", text: "正在读取原文…" }));
    source.replaceChildren(back, heading, content);
    log.hidden = true;
    form.hidden = true;
    source.hidden = false;
    heading.focus();
    try {
      const response = await fetch(`${BASE}/v1/policies/${encodeURIComponent(docId)}/chunks/${encodeURIComponent(chunkId)}`,
                                   { mode: "cors", credentials: "omit", headers: headers({ Accept: "application/json" }) });
      if (!response.ok) throw await problem(response);
      renderSource(await response.json(), cited.citation, content, heading);
    } catch (error) {
      content.replaceChildren(el("p", { text: error.userMessage || "未能读取原文，请稍后再试。" }));
    }
  }

  function renderSource(found, citation, content, heading) {
    const d = found.document;
    const chunk = found.chunk;
    heading.textContent = d.title || d.doc_id;
    const facts = el("dl", {},
      el("dt", { text: "文号" }), el("dd", { text: d.doc_number || "无" }),
      el("dt", { text: "发文机关" }), el("dd", { text: d.issuer || "未注明" }),
      el("dt", { text: "发布日期" }), el("dd", { text: d.published || d.written || "未注明" }),
      el("dt", { text: "效力" }), el("dd", {}, validityBadge(d.validity)));
    const clause = el("blockquote", { "aria-label": "引用条款" });
    const text = chunk.text;
    if (citation && citation.end > chunk.start && citation.start < chunk.end) {
      const from = Math.max(0, citation.start - chunk.start);
      const to = Math.min(text.length, citation.end - chunk.start);
      clause.append(text.slice(0, from), el("mark", { text: text.slice(from, to) }), text.slice(to));
    } else {
      clause.append(text);
    }
    const parts = [facts];
    if (chunk.heading_path && chunk.heading_path.length) parts.push(el("p", { class: "waiting", text: chunk.heading_path.join(" › ") }));
    parts.push(clause);
    if (d.source_url && /^https?:\/\//.test(d.source_url)) {
      parts.push(el("a", { class: "official", href: d.source_url, target: "_blank", rel: "noopener noreferrer",
                           text: "查看官方原文（新窗口）" }));
    } else {
      parts.push(el("p", { class: "waiting", text: "该文件暂无官方网页链接。" }));
    }
    content.replaceChildren(...parts);
    const mark = clause.querySelector("mark");
    if (mark) mark.scrollIntoView({ block: "center" });
  }

  function scrollDown() { log.scrollTop = log.scrollHeight; }

  const attach = () => document.body.append(host);
  if (document.body) attach(); else document.addEventListener("DOMContentLoaded", attach);
})();
