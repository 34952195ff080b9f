// Building blocks for drawing: the page's fixed elements, and small element factories.
//
// `el` is how every module makes an element; text goes in through textContent only. Nothing here reads
// the store.

const $ = (id) => document.getElementById(id);

// The elements of index.html, by role. Looked up once when this module loads (module scripts run after
// the document is parsed); on a page without them (a test page) they are null and nothing uses them.
export const els = {
  channels: $("channels"), identity: $("identity"), meAvatar: $("me-avatar"), guildName: $("guild-name"),
  guildIcon: $("guild-icon"), channelName: $("channel-name"), botStatus: $("bot-status"), messages: $("messages"),
  picker: $("picker"), composer: $("composer"), input: $("composer-input"), commandForm: $("command-form"),
  commandChip: $("command-chip"), commandDesc: $("command-desc"), commandCancel: $("command-cancel"),
  fields: $("option-fields"), hint: $("composer-hint"), members: $("members"), modal: $("modal"),
  modalForm: $("modal-form"), modalTitle: $("modal-title"), modalFields: $("modal-fields"), modalCancel: $("modal-cancel"),
  jumpBar: $("jump-bar"), lightbox: $("lightbox"), lightboxImage: $("lightbox-image"), lightboxOriginal: $("lightbox-original"),
};

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// Small line icons drawn here, so the page needs no icon font and no emoji font.
const ICONS = {
  bot: "M7 9h10a2 2 0 0 1 2 2v6a2 2 0 0 1-2 2H7a2 2 0 0 1-2-2v-6a2 2 0 0 1 2-2zM12 5v4M12 4.5a.5.5 0 1 0 0-1M9.5 13.5v1M14.5 13.5v1M3 13v2M21 13v2",
  eye: "M2 12s3.5-6.5 10-6.5S22 12 22 12s-3.5 6.5-10 6.5S2 12 2 12zM12 9a3 3 0 1 0 0 6 3 3 0 0 0 0-6z",
  lock: "M6 11h12v9H6zM8.5 11V8a3.5 3.5 0 0 1 7 0v3",
  file: "M6 3h8l4 4v14H6zM14 3v4h4",
  info: "M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18zM12 11v6M12 7.5v.5",
};

export function icon(name, className) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "icon" + (className ? " " + className : ""));
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]);
  svg.appendChild(path);
  return svg;
}

// A stable colour per user, so the same person always looks the same.
const AVATAR_COLOURS = ["#5865f2", "#3ba55c", "#faa61a", "#ed4245", "#eb459e", "#9b59b6", "#1abc9c", "#e67e22"];

export function paintAvatar(node, id, name, isBot) {
  if (isBot) node.replaceChildren(icon("bot"));
  else node.textContent = (name || "?").slice(0, 1).toUpperCase();
  let hash = 0;
  for (const ch of String(id)) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  node.style.background = isBot ? "#5865f2" : AVATAR_COLOURS[hash % AVATAR_COLOURS.length];
}
