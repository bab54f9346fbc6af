// The console page: polls /console/api/state and renders the phone and the Slack side; every
// action goes to the console's backend, which signs it like Meta or Slack and posts it to Traza.
"use strict";

const B = window.TrazaBlocks;
const $ = (sel) => document.querySelector(sel);
const ui = { setup: null, state: null, channel: null, tab: "channel", drafts: {}, lastJson: "", seen: new Set() };

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok && data.error) flash(data.error);
  return data;
}

function flash(text) {
  const box = $("#private");
  box.insertAdjacentHTML("beforeend", `<div class="answer error">${B.esc(text)}</div>`);
}

function names() {
  const map = {};
  for (const p of ui.setup.people) map[p.id] = p.name;
  return map;
}

const user = () => $("#as-user").value;

function readFile(file) {
  return new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",")[1] || "");
    reader.readAsDataURL(file);
  });
}

function bubbleBody(m) {
  const text = m.dir === "out" ? B.mrkdwn(m.text, {}) : B.esc(m.text);
  if (!m.media_id) return text;
  const url = `/console/api/media/${encodeURIComponent(m.media_id)}`;
  if (m.kind === "image") return `<img class="thumb" src="${url}" alt=""><div>${text}</div>`;
  return `<a class="media" href="${url}" target="_blank">📎 ${text}</a>`;
}
const waId = () => $("#customer-phone").value.replace(/\D/g, "");

// --- the phone --------------------------------------------------------------------------

const TICKS = { pending: "🕓", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "⚠" };

function renderPhone(items) {
  const number = $("#phone-number").value;
  const shown = items.filter((m) => m.number === number);
  $("#phone-messages").innerHTML = shown.map((m) =>
    `<div class="bubble ${m.dir}" data-wamid="${B.esc(m.wamid)}" data-status="${B.esc(m.status)}">` +
    `<div class="bubble-text">${bubbleBody(m)}</div>` +
    `<span class="ticks ${B.esc(m.status)}" title="${B.esc(m.status)}">${TICKS[m.status] || ""}</span></div>`,
  ).join("") || `<p class="empty">No messages with ${B.esc($("#customer-phone").value)} on this number yet.</p>`;
  const box = $("#phone-messages");
  box.scrollTop = box.scrollHeight;
  const fresh = shown.filter((m) => m.dir === "out" && m.status === "delivered" && !ui.seen.has(m.wamid));
  if (fresh.length) {
    fresh.forEach((m) => ui.seen.add(m.wamid));
    api("/console/api/phone/seen", { wamids: fresh.map((m) => m.wamid) });
  }
}

function customer() {
  return { number: $("#phone-number").value, wa_id: waId(), name: $("#customer-name").value };
}

$("#phone-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("#phone-text").value;
  if (!text.trim()) return;
  $("#phone-text").value = "";
  await api("/console/api/phone/text", { ...customer(), text });
  poll();
});

$("#phone-media-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("#phone-file").files[0];
  if (!file) return flash("Choose a file first.");
  const data = await readFile(file);
  const mime = file.type || "application/octet-stream";
  const kind = ["image", "audio", "video"].find((k) => mime.startsWith(k + "/")) || "document";
  await api("/console/api/phone/media", {
    ...customer(), kind, mime, filename: file.name, data, caption: $("#phone-caption").value,
  });
  $("#phone-file").value = "";
  $("#phone-caption").value = "";
  poll();
});

// --- Slack ------------------------------------------------------------------------------

function author(msg, map) {
  if (msg.username) return msg.username;
  if (msg.bot_id) return "Traza";
  return map[msg.user] || msg.user || "Slack";
}

function messageHtml(msg, map, cls) {
  return `<div class="${cls}" data-ts="${B.esc(msg.ts)}"><div class="author">${B.esc(author(msg, map))}</div>` +
    `${B.messageBody(msg, map)}</div>`;
}

function renderChannel(messages) {
  const map = names();
  const focused = document.activeElement && document.activeElement.dataset.thread;
  $("#channel-view").innerHTML = messages.map((card) =>
    `<article class="card" data-ts="${B.esc(card.ts)}">${messageHtml(card, map, "card-body")}` +
    `<div class="thread">${(card.replies || []).map((r) => messageHtml(r, map, "reply")).join("")}</div>` +
    `<form class="reply-form" data-thread="${B.esc(card.ts)}"><input class="reply-input" data-thread="${B.esc(card.ts)}"` +
    ` placeholder="Reply in thread (start with // for an internal note)" autocomplete="off">` +
    `<input class="reply-file" type="file" title="Share a file in the thread">` +
    `<button class="reply-send" type="submit">Reply</button></form></article>`,
  ).join("") || `<p class="empty">No conversations in this channel yet.</p>`;
  for (const input of document.querySelectorAll(".reply-input")) {
    input.value = ui.drafts[input.dataset.thread] || "";
    input.addEventListener("input", () => { ui.drafts[input.dataset.thread] = input.value; });
    if (input.dataset.thread === focused) input.focus();
  }
}

function renderTabs() {
  const tabs = ui.setup.teams.map((t) =>
    `<button class="tab${ui.tab === "channel" && ui.channel === t.channel ? " active" : ""}" data-channel="${B.esc(t.channel)}">` +
    `#${B.esc(t.name.toLowerCase())}</button>`).join("");
  $("#channel-tabs").innerHTML = tabs + `<button id="home-tab" class="tab${ui.tab === "home" ? " active" : ""}">App Home</button>`;
}

function renderPrivate(items) {
  const map = names();
  $("#private").innerHTML = items.map((a) =>
    `<div class="answer"><span class="only-you">Only visible to you</span>` +
    `${(a.blocks || []).length ? B.messageBody(a, map) : B.mrkdwn(a.text, map)}</div>`).join("");
  $("#private").scrollTop = $("#private").scrollHeight;
}

function renderHome(view) {
  $("#home-view").innerHTML = view ? B.messageBody({ blocks: view.blocks || [] }, names())
    : `<p class="empty">Open the App Home to see your queue.</p>`;
}

function renderModal(view) {
  const modal = $("#modal");
  if (!view) { modal.hidden = true; modal.dataset.viewId = ""; return; }
  if (modal.dataset.viewId === view.id && !modal.hidden) return;
  modal.dataset.viewId = view.id;
  modal.innerHTML = `<form class="modal-box" id="modal-form"><h3>${B.esc((view.title || {}).text || "")}</h3>` +
    `${B.modalInputs(view, ui.setup.people)}<div class="modal-errors"></div><div class="modal-buttons">` +
    `<button type="button" id="modal-cancel">${B.esc((view.close || {}).text || "Cancel")}</button>` +
    `<button type="submit" id="modal-submit">${B.esc((view.submit || {}).text || "Submit")}</button></div></form>`;
  modal.hidden = false;
  $("#modal-cancel").addEventListener("click", async () => {
    await api("/console/api/slack/view", { user: user(), view_id: view.id });
    modal.hidden = true;
  });
  $("#modal-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = {};
    for (const el of event.target.querySelectorAll("[name]")) values[el.name] = el.value;
    const result = await api("/console/api/slack/view", { user: user(), view_id: view.id, values });
    const errors = (result.answer || {}).errors;
    if (errors) { $(".modal-errors").textContent = Object.values(errors).join(" "); return; }
    modal.hidden = true;
    poll();
  });
}

function render() {
  const state = ui.state;
  renderPhone(state.phone);
  renderTabs();
  $("#channel-view").hidden = ui.tab !== "channel";
  $("#home-view").hidden = ui.tab !== "home";
  const picking = [...document.querySelectorAll(".reply-file")].some((f) => f.files.length);
  if (picking) ui.lastJson = "";  // a chosen file would be lost: redraw after it is sent
  else if (ui.tab === "channel") renderChannel(state.channels[ui.channel] || []);
  else renderHome(state.home);
  renderPrivate(state.private);
  renderModal(state.modal);
}

async function poll() {
  if (!ui.setup) return;
  const params = new URLSearchParams({ user: user(), wa_id: waId() });
  const state = await api(`/console/api/state?${params}`);
  const json = JSON.stringify([state, ui.tab, ui.channel, $("#phone-number").value]);
  if (json === ui.lastJson) return;
  ui.lastJson = json;
  ui.state = state;
  render();
}

document.addEventListener("click", async (event) => {
  const tab = event.target.closest(".tab");
  if (tab) {
    ui.tab = tab.id === "home-tab" ? "home" : "channel";
    if (tab.dataset.channel) ui.channel = tab.dataset.channel;
    if (ui.tab === "home") await api("/console/api/slack/home", { user: user() });
    ui.lastJson = "";
    return poll();
  }
  const button = event.target.closest(".slack-button");
  if (!button) return;
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  const card = button.closest(".card");
  await api("/console/api/slack/action", {
    user: user(), channel: ui.channel, message_ts: card ? card.dataset.ts : "",
    action_id: button.dataset.actionId, value: button.dataset.value,
  });
  poll();
});

document.addEventListener("submit", async (event) => {
  const form = event.target.closest(".reply-form");
  if (!form) return;
  event.preventDefault();
  const thread = form.dataset.thread;
  const text = form.querySelector(".reply-input").value;
  const file = form.querySelector(".reply-file").files[0];
  if (!text.trim() && !file) return;
  ui.drafts[thread] = "";
  form.querySelector(".reply-input").value = "";
  const shared = file ? { filename: file.name, mime: file.type, data: await readFile(file) } : {};
  form.querySelector(".reply-file").value = "";
  await api("/console/api/slack/reply", { user: user(), channel: ui.channel, thread_ts: thread, text, ...shared });
  poll();
});

$("#command-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const line = $("#command-line").value;
  if (!line.trim()) return;
  $("#command-line").value = "";
  await api("/console/api/slack/command", { user: user(), channel: ui.channel, line });
  poll();
});

for (const sel of ["#as-user", "#phone-number", "#customer-phone"]) {
  $(sel).addEventListener("change", () => { ui.lastJson = ""; poll(); });
}

(async function start() {
  ui.setup = await api("/console/api/setup");
  $("#phone-number").innerHTML = ui.setup.numbers.map((n) =>
    `<option value="${B.esc(n.id)}">${B.esc(n.name)} · ${B.esc(n.display)}</option>`).join("");
  $("#as-user").innerHTML = ui.setup.people.map((p) =>
    `<option value="${B.esc(p.id)}">${B.esc(p.name)} (${B.esc(p.roles.join(", "))})</option>`).join("");
  ui.channel = ui.setup.teams.length ? ui.setup.teams[0].channel : null;
  await poll();
  setInterval(poll, 700);
})();
