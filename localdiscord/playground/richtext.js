// Markdown tokens (markdown.js) turned into the page's own elements.
//
// Every token kind maps to a fixed element; text reaches the page only through text nodes and
// textContent, and an href only for an http(s) URL. Mentions are looked up in the world (a name, never
// the raw id); channel mentions and jump links to a message here navigate inside the page.

import { selectChannel } from "./channels.js";
import { el } from "./dom.js";
import { emojify } from "./emoji.js";
import { parseInline, parseMarkdown } from "./markdown.js";
import { jumpTo } from "./messages.js";
import { channel, member, roleName, store } from "./state.js";

const BLOCKS = {
  line: ["div", "md-line"],
  subtext: ["div", "md-subtext"],
  h1: ["div", "md-h1"],
  h2: ["div", "md-h2"],
  h3: ["div", "md-h3"],
  quote: ["blockquote", "md-quote"],
  li: ["div", "md-li"],
};

// A message's text (content, an embed's description, a text display) as blocks appended to `parent`.
export function renderMarkdown(text, parent) {
  for (const block of parseMarkdown(text)) {
    if (block.type === "code_block") {
      const pre = el("pre", "code-block");
      pre.appendChild(el("code", null, block.text));
      parent.appendChild(pre);
      continue;
    }
    const [tag, className] = BLOCKS[block.type] || BLOCKS.line;
    const node = el(tag, className);
    if (block.children.length) appendInline(block.children, node);
    else node.appendChild(document.createElement("br"));
    parent.appendChild(node);
  }
}

// One line of text (an embed's title, a field's name), inline markdown only.
export function renderInline(text, parent) {
  appendInline(parseInline(text), parent);
}

function appendInline(tokens, parent) {
  for (const token of tokens) parent.appendChild(inlineNode(token));
}

function inlineNode(token) {
  switch (token.type) {
    case "strong":
    case "em":
    case "u":
    case "s": {
      const node = el(token.type);
      appendInline(token.children, node);
      return node;
    }
    case "spoiler": {
      const node = el("span", "spoiler");
      node.title = "Spoiler: click to reveal";
      node.addEventListener("click", () => node.classList.add("revealed"));
      appendInline(token.children, node);
      return node;
    }
    case "code":
      return el("code", "inline-code", token.text);
    case "progress":
      return progressBar(token.percent);
    case "mention":
      return mention(token.kind, token.id);
    case "timestamp":
      return timestamp(token.seconds, token.style);
    case "emoji":
      // A custom emoji's image lives on Discord's CDN, which the playground never contacts.
      return el("span", "custom-emoji", ":" + token.name + ":");
    case "link":
      return link(token.url, token.text);
    default:
      // Plain text; the emoji in it are drawn as the page's own icons (no emoji font needed).
      return emojify(token.text ?? "");
  }
}

function progressBar(percent) {
  const bar = el("span", "progress");
  bar.setAttribute("role", "progressbar");
  bar.setAttribute("aria-valuemin", "0");
  bar.setAttribute("aria-valuemax", "100");
  bar.setAttribute("aria-valuenow", String(percent));
  const fill = el("span", "progress-fill");
  fill.style.width = percent + "%";
  bar.appendChild(fill);
  return bar;
}

function mention(kind, id) {
  if (kind === "channel") {
    const target = channel(id);
    const node = el("span", "mention channel-mention", "#" + (target ? target.name : "unknown"));
    if (target) node.addEventListener("click", () => selectChannel(target.id));
    return node;
  }
  if (kind === "role") return el("span", "mention", "@" + roleName(id));
  const m = member(id);
  const name = m ? m.username : store.state && store.state.bot_user.id === id ? store.state.bot_user.username : "unknown-user";
  return el("span", "mention", "@" + name);
}

function timestamp(seconds, style) {
  const date = new Date(seconds * 1000);
  let text;
  if (style === "R") {
    const diff = (date.getTime() - Date.now()) / 1000;
    const units = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
    const [unit, size] = units.find(([, s]) => Math.abs(diff) >= s) || ["second", 1];
    text = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }).format(Math.round(diff / size), unit);
  } else if (style === "t" || style === "T") {
    text = date.toLocaleTimeString([], style === "t" ? { hour: "2-digit", minute: "2-digit" } : {});
  } else if (style === "d" || style === "D") {
    text = date.toLocaleDateString([], style === "D" ? { dateStyle: "long" } : {});
  } else {
    text = date.toLocaleString([], { dateStyle: style === "F" ? "full" : "long", timeStyle: "short" });
  }
  const node = el("time", "timestamp-mention", text);
  node.dateTime = date.toISOString();
  node.title = date.toLocaleString([], { dateStyle: "full", timeStyle: "short" });
  return node;
}

// A link that opens in a new tab, labelled with `label` as text. Only http(s) URLs become an href.
export function link(url, label) {
  const a = el("a", "link", label);
  if (/^https?:\/\//.test(url)) a.href = url;
  a.rel = "noopener noreferrer";
  a.target = "_blank";
  // A jump link to a message here scrolls to it instead of leaving for discord.com.
  const m = /^https:\/\/(?:\w+\.)?discord\.com\/channels\/[^/]+\/(\d+)\/(\d+)$/.exec(url);
  if (m && channel(m[1])) {
    a.addEventListener("click", (event) => {
      event.preventDefault();
      jumpTo(m[1], m[2]);
    });
  }
  return a;
}
