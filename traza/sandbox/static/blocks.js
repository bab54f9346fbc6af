// Slack's message formats rendered as HTML: mrkdwn text and the Block Kit blocks Traza posts
// (section, context, actions, header, divider, input). Pure functions, no state.
"use strict";

const EMOJI = {
  white_check_mark: "✅", heavy_check_mark: "✔️", eyes: "👀", x: "❌", warning: "⚠️",
  hourglass_flowing_sand: "⏳", hourglass: "⌛", speech_balloon: "💬", lock: "🔒", memo: "📝",
  arrow_right: "➡️", telephone_receiver: "📞", no_entry_sign: "🚫", envelope: "✉️",
  large_blue_circle: "🔵", large_green_circle: "🟢", large_yellow_circle: "🟡", large_orange_circle: "🟠",
  red_circle: "🔴", white_circle: "⚪", black_circle: "⚫", large_purple_circle: "🟣",
  paperclip: "📎", mailbox_with_mail: "📬", inbox_tray: "📥", outbox_tray: "📤", bust_in_silhouette: "👤",
};

function esc(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function unslack(text) {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function inline(text) {
  let html = esc(unslack(text));
  html = html.replace(/```([\s\S]*?)```/g, "<pre>$1</pre>");
  html = html.replace(/`([^`\n]+)`/g, "<code>$1</code>");
  html = html.replace(/(^|[\s(>])\*([^*\n]+)\*/g, "$1<b>$2</b>");
  html = html.replace(/(^|[\s(>])_([^_\n]+)_/g, "$1<i>$2</i>");
  html = html.replace(/(^|[\s(>])~([^~\n]+)~/g, "$1<s>$2</s>");
  html = html.replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] || m);
  return html.replace(/\n/g, "<br>");
}

// Slack's <...> tokens first (mentions, channels, links), then the rest as mrkdwn.
function mrkdwn(text, names) {
  const parts = String(text || "").split(/(<[^<>]+>)/g);
  return parts.map((part) => {
    const token = part.match(/^<([^<>]+)>$/);
    if (!token) return inline(part);
    const [target, label] = token[1].split("|");
    if (target.startsWith("@")) return `<span class="mention">@${esc(names[target.slice(1)] || target.slice(1))}</span>`;
    if (target.startsWith("#")) return `<span class="mention">#${esc(label || target.slice(1))}</span>`;
    if (target.startsWith("!")) return `<span class="mention">@${esc(label || target.slice(1))}</span>`;
    return `<a href="${esc(unslack(target))}" target="_blank" rel="noopener">${esc(unslack(label || target))}</a>`;
  }).join("");
}

function textObject(obj, names) {
  if (!obj) return "";
  return obj.type === "mrkdwn" ? mrkdwn(obj.text, names) : esc(unslack(obj.text || ""));
}

function buttonHtml(el, names) {
  const confirm = el.confirm ? ` data-confirm="${esc(unslack((el.confirm.text || {}).text || "Are you sure?"))}"` : "";
  return `<button class="slack-button ${esc(el.style || "")}" data-action-id="${esc(el.action_id)}"` +
    ` data-value="${esc(el.value || "")}"${confirm}>${textObject(el.text, names)}</button>`;
}

function blockHtml(block, names) {
  switch (block.type) {
    case "header":
      return `<h3>${textObject(block.text, names)}</h3>`;
    case "divider":
      return "<hr>";
    case "section": {
      const fields = (block.fields || []).map((f) => `<div class="field">${textObject(f, names)}</div>`).join("");
      const accessory = block.accessory && block.accessory.type === "button" ? buttonHtml(block.accessory, names) : "";
      return `<div class="section">${textObject(block.text, names)}` +
        (fields ? `<div class="fields">${fields}</div>` : "") + accessory + "</div>";
    }
    case "context":
      return `<div class="context">${(block.elements || []).map((e) => textObject(e, names)).join(" ")}</div>`;
    case "actions":
      return `<div class="actions">${(block.elements || []).filter((e) => e.type === "button")
        .map((e) => buttonHtml(e, names)).join("")}</div>`;
    case "rich_text":
      return "";
    default:
      return block.text ? `<div class="section">${textObject(block.text, names)}</div>` : "";
  }
}

function messageBody(msg, names) {
  const blocks = (msg.blocks || []).map((b) => blockHtml(b, names)).join("");
  let html = blocks || `<div class="section">${mrkdwn(msg.text, names)}</div>`;
  for (const file of msg.files || []) html += `<div class="file">📎 ${esc(file.name || file.title || "file")}</div>`;
  if (msg.reactions && msg.reactions.length) {
    html += `<div class="reactions">${msg.reactions.map((r) =>
      `<span class="reaction" data-reaction="${esc(r.name)}" title=":${esc(r.name)}:">${EMOJI[r.name] || ":" + esc(r.name) + ":"}</span>`).join("")}</div>`;
  }
  return html;
}

// A modal's input blocks as form controls named by block_id.
function modalInputs(view, people) {
  return (view.blocks || []).map((block) => {
    if (block.type !== "input") return blockHtml(block, {});
    const el = block.element || {};
    const label = `<label class="modal-label">${esc((block.label || {}).text || block.block_id)}${block.optional ? " (optional)" : ""}</label>`;
    let control;
    if (el.type === "static_select") {
      control = `<select name="${esc(block.block_id)}"><option value="">—</option>${(el.options || [])
        .map((o) => `<option value="${esc(o.value)}">${esc(o.text.text)}</option>`).join("")}</select>`;
    } else if (el.type === "users_select") {
      control = `<select name="${esc(block.block_id)}"><option value="">—</option>${people
        .map((p) => `<option value="${esc(p.id)}">${esc(p.name)}</option>`).join("")}</select>`;
    } else if (el.multiline) {
      control = `<textarea name="${esc(block.block_id)}"></textarea>`;
    } else {
      control = `<input name="${esc(block.block_id)}">`;
    }
    return `<div class="modal-input">${label}${control}</div>`;
  }).join("");
}

window.TrazaBlocks = { esc, mrkdwn, messageBody, modalInputs, textObject };
