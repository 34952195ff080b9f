// The imagine-bot playground: a small Discord client for the local Discord's control API.
//
// State arrives from GET /_control/events (server-sent events): a "hello" snapshot, then every message
// create/update/delete, ephemeral ones included. Actions go through the control API as the member the
// visitor picked. Every piece of text that came from a member or the bot is put in the page with
// textContent / createTextNode, never as HTML.
"use strict";

(() => {
  const API = "/_control";
  const OPT = { SUB: 1, GROUP: 2, STRING: 3, INTEGER: 4, BOOLEAN: 5, USER: 6, CHANNEL: 7, ROLE: 8, MENTIONABLE: 9, NUMBER: 10, ATTACHMENT: 11 };
  const OPTION_TYPE_NAMES = { 3: "text", 4: "integer", 5: "true/false", 6: "user", 7: "channel", 8: "role", 9: "user or role", 10: "number", 11: "file" };
  const PERMISSION_NAMES = [
    [1n << 3n, "Administrator"], [1n << 5n, "Manage Server"], [1n << 13n, "Manage Messages"],
    [1n << 28n, "Manage Roles"], [1n << 4n, "Manage Channels"], [1n << 2n, "Ban Members"],
    [1n << 1n, "Kick Members"], [1n << 40n, "Moderate Members"], [1n << 7n, "View Audit Log"],
  ];
  const ADMINISTRATOR = 1n << 3n;
  const FLAG_EPHEMERAL = 1 << 6;
  // Discord's "did not respond" deadline is 3 s; a little slack for the page's own round trip.
  const ACK_WAIT_MS = 3500;

  const $ = (id) => document.getElementById(id);
  const els = {
    channels: $("channels"), identity: $("identity"), meAvatar: $("me-avatar"), guildName: $("guild-name"),
    guildIcon: $("guild-icon"), channelName: $("channel-name"), botStatus: $("bot-status"), messages: $("messages"),
    picker: $("picker"), composer: $("composer"), input: $("composer-input"), commandForm: $("command-form"),
    commandChip: $("command-chip"), commandDesc: $("command-desc"), commandCancel: $("command-cancel"),
    fields: $("option-fields"), hint: $("composer-hint"), members: $("members"), modal: $("modal"),
    modalForm: $("modal-form"), modalTitle: $("modal-title"), modalFields: $("modal-fields"), modalCancel: $("modal-cancel"),
  };

  const store = {
    state: null,            // the world: guilds, members, roles, commands, bot user
    connected: false,       // the event stream is open
    botOnline: false,       // the bot has a gateway session
    channelId: null,
    userId: null,
    messages: new Map(),    // channel id -> Map(message id -> message), in creation order
    unread: new Set(),
    dismissed: new Set(),   // ephemeral messages the visitor dismissed
    command: null,          // the command entry being filled in
    pickerIndex: 0,
    localSeq: 0,
  };

  // -- small helpers ------------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function guild() {
    return store.state && store.state.guilds && store.state.guilds[0];
  }

  function member(userId) {
    const g = guild();
    return g ? g.members.find((m) => m.id === String(userId)) : undefined;
  }

  function me() {
    return member(store.userId);
  }

  function roleName(roleId) {
    const g = guild();
    const role = g && g.roles.find((r) => r.id === String(roleId));
    return role ? role.name : "unknown-role";
  }

  function channel(channelId) {
    const g = guild();
    return g ? g.channels.find((c) => c.id === String(channelId)) : undefined;
  }

  function channelByName(name) {
    const g = guild();
    return g ? g.channels.find((c) => c.name === name) : undefined;
  }

  function displayName(user) {
    if (!user) return "unknown";
    return user.global_name || user.username || "unknown";
  }

  // Small line icons drawn here, so the page needs no icon font and no emoji font.
  const ICONS = {
    bot: "M7 9h10a2 2 0 0 1 2 2v6a2 2 0 0 1-2 2H7a2 2 0 0 1-2-2v-6a2 2 0 0 1 2-2zM12 5v4M12 4.5a.5.5 0 1 0 0-1M9.5 13.5v1M14.5 13.5v1M3 13v2M21 13v2",
    eye: "M2 12s3.5-6.5 10-6.5S22 12 22 12s-3.5 6.5-10 6.5S2 12 2 12zM12 9a3 3 0 1 0 0 6 3 3 0 0 0 0-6z",
    lock: "M6 11h12v9H6zM8.5 11V8a3.5 3.5 0 0 1 7 0v3",
    file: "M6 3h8l4 4v14H6zM14 3v4h4",
    info: "M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18zM12 11v6M12 7.5v.5",
  };
  function icon(name, className) {
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
  function paintAvatar(node, id, name, isBot) {
    if (isBot) node.replaceChildren(icon("bot"));
    else node.textContent = (name || "?").slice(0, 1).toUpperCase();
    let hash = 0;
    for (const ch of String(id)) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
    node.style.background = isBot ? "#5865f2" : AVATAR_COLOURS[hash % AVATAR_COLOURS.length];
  }

  function memberRoleLabel(m) {
    const g = guild();
    if (!m || !g) return "";
    if (m.bot) return "bot";
    if (m.id === g.owner_id) return "server owner";
    const names = m.roles.map(roleName).filter((n) => n !== "@everyone");
    return names.length ? names.join(", ") : "member";
  }

  function timeLabel(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  async function api(method, path, body) {
    const init = { method, headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(API + path, init);
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const error = new Error((data && data.message) || `${response.status} ${response.statusText}`);
      error.status = response.status;
      error.body = data;
      throw error;
    }
    return data;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // Remembering the visitor's identity and channel is a nicety; a browser that refuses storage still works.
  function remember(key, value) {
    try {
      localStorage.setItem("playground." + key, value);
    } catch (_) { /* storage disabled */ }
  }
  function recall(key) {
    try {
      return localStorage.getItem("playground." + key) || "";
    } catch (_) {
      return "";
    }
  }

  // -- permissions and commands ---------------------------------------------------------------------

  function permissionsOf(userId) {
    const m = member(userId);
    try {
      return m ? BigInt(m.permissions) : 0n;
    } catch (_) {
      return 0n;
    }
  }

  function missingPermission(command) {
    const required = command.default_member_permissions;
    if (required === null || required === undefined) return null;
    const have = permissionsOf(store.userId);
    if (have & ADMINISTRATOR) return null;
    const need = BigInt(required);
    if (need === 0n) return "Administrator";
    if ((have & need) === need) return null;
    const names = PERMISSION_NAMES.filter(([bit]) => need & bit && !(have & bit)).map(([, n]) => n);
    return names.length ? names.join(", ") : "a permission you lack";
  }

  // Every slash command the bot registered, sub-commands flattened to "/mod words add" entries.
  function commandEntries() {
    const state = store.state;
    const g = guild();
    if (!state || !g) return [];
    const byName = new Map();
    for (const cmd of state.commands.global || []) byName.set(cmd.name, cmd);
    // A guild copy of a global command (DISCORD_GUILD_IDS) is the one the guild sees.
    for (const cmd of (state.commands.guilds || {})[g.id] || []) byName.set(cmd.name, cmd);
    const entries = [];
    for (const cmd of byName.values()) {
      if ((cmd.type || 1) !== 1) continue;
      const walk = (path, description, options) => {
        const subs = (options || []).filter((o) => o.type === OPT.SUB || o.type === OPT.GROUP);
        if (subs.length) {
          for (const sub of subs) walk([...path, sub.name], sub.description, sub.options);
        } else {
          entries.push({ name: path.join(" "), description: description || "", options: options || [], root: cmd });
        }
      };
      walk([cmd.name], cmd.description, cmd.options);
    }
    entries.sort((a, b) => a.name.localeCompare(b.name));
    return entries;
  }

  // discord.py registers "…" for an option nobody described; it says nothing to a visitor.
  function describe(text) {
    return text && text !== "…" && text !== "..." ? text : "";
  }

  // -- messages ----------------------------------------------------------------------------------

  function channelMessages(channelId) {
    const key = String(channelId);
    if (!store.messages.has(key)) store.messages.set(key, new Map());
    return store.messages.get(key);
  }

  function visible(message) {
    if (message._deleted) return false;
    if (store.dismissed.has(message.id)) return false;
    if (message._ephemeral || (message.flags & FLAG_EPHEMERAL)) return message._visible_to === store.userId;
    return true;
  }

  function upsert(message) {
    const map = channelMessages(message.channel_id);
    const old = map.get(message.id);
    // Events arrive in order on one stream; this only guards against a snapshot racing an edit.
    if (old && (old._edit_count || 0) > (message._edit_count || 0)) return;
    map.set(message.id, message);
    if (message.channel_id === store.channelId) {
      renderMessage(message);
    } else if (!old && visible(message)) {
      store.unread.add(message.channel_id);
      renderChannels();
    }
  }

  function removeMessage(message) {
    const map = channelMessages(message.channel_id);
    map.delete(message.id);
    const node = document.getElementById("msg-" + message.id);
    if (node) node.remove();
  }

  // A notice from the "client" itself (a refused command, a bot that did not answer), shown like
  // Discord shows them: ephemeral, only to the member who tried.
  function localNotice(text, channelId) {
    store.localSeq += 1;
    const notice = {
      id: "local-" + store.localSeq,
      channel_id: String(channelId || store.channelId),
      content: text,
      author: { id: "0", username: "Local Discord", global_name: "Local Discord", bot: true, system: true },
      timestamp: new Date().toISOString(),
      attachments: [], embeds: [], components: [], flags: FLAG_EPHEMERAL,
      _ephemeral: true, _visible_to: store.userId, _local: true, _edit_count: 0,
    };
    upsert(notice);
    return notice;
  }

  // -- markdown (a safe subset: everything ends up as text nodes) ----------------------------------------

  const ESCAPABLE = /[\\*_`~|>#\-[\]()<:@.!+=]/;

  function findClose(text, delim, from) {
    for (let i = from; i < text.length; i++) {
      if (text[i] === "\\") { i++; continue; }
      if (text.startsWith(delim, i)) {
        // "*" must not close on the first star of a "**".
        if (delim.length === 1 && text[i + 1] === delim) { i++; continue; }
        return i;
      }
    }
    return -1;
  }

  const STYLES = [["**", "strong"], ["__", "u"], ["~~", "s"], ["||", "spoiler"], ["*", "em"], ["_", "em"]];

  function renderInline(text, parent) {
    let buffer = "";
    const flush = () => {
      if (buffer) parent.appendChild(document.createTextNode(buffer));
      buffer = "";
    };
    let i = 0;
    outer: while (i < text.length) {
      const c = text[i];
      if (c === "\\" && i + 1 < text.length && ESCAPABLE.test(text[i + 1])) {
        buffer += text[i + 1];
        i += 2;
        continue;
      }
      if (c === "`") {
        const fence = text.startsWith("``", i) ? "``" : "`";
        const end = text.indexOf(fence, i + fence.length);
        if (end > i + fence.length - 1 && end !== i + fence.length) {
          flush();
          parent.appendChild(codeSpan(text.slice(i + fence.length, end)));
          i = end + fence.length;
          continue;
        }
      }
      for (const [delim, tag] of STYLES) {
        if (!text.startsWith(delim, i)) continue;
        if (delim === "_" && i > 0 && /\w/.test(text[i - 1])) continue;
        if (delim.length === 1 && /\s/.test(text[i + 1] || " ")) continue;
        const end = findClose(text, delim, i + delim.length);
        if (end <= i + delim.length) continue;
        if (delim === "_" && /\w/.test(text[end + 1] || "")) continue;
        flush();
        const node = tag === "spoiler" ? el("span", "spoiler") : el(tag);
        if (tag === "spoiler") {
          node.title = "Spoiler: click to reveal";
          node.addEventListener("click", () => node.classList.add("revealed"));
        }
        renderInline(text.slice(i + delim.length, end), node);
        parent.appendChild(node);
        i = end + delim.length;
        continue outer;
      }
      if (c === "<") {
        const rest = text.slice(i);
        let m = /^<(@!?|@&|#)(\d+)>/.exec(rest);
        if (m) {
          flush();
          parent.appendChild(mention(m[1], m[2]));
          i += m[0].length;
          continue;
        }
        m = /^<t:(-?\d+)(?::([tTdDfFR]))?>/.exec(rest);
        if (m) {
          flush();
          parent.appendChild(timestamp(Number(m[1]), m[2] || "f"));
          i += m[0].length;
          continue;
        }
        m = /^<a?:(\w+):(\d+)>/.exec(rest);
        if (m) {
          flush();
          parent.appendChild(el("span", "custom-emoji", ":" + m[1] + ":"));
          i += m[0].length;
          continue;
        }
        m = /^<(https?:\/\/[^\s>]+)>/.exec(rest);
        if (m) {
          flush();
          parent.appendChild(link(m[1], m[1]));
          i += m[0].length;
          continue;
        }
      }
      if (c === "[") {
        const m = /^\[([^\]\n]+)\]\(<?(https?:\/\/[^\s)>]+)>?\)/.exec(text.slice(i));
        if (m) {
          flush();
          parent.appendChild(link(m[2], m[1]));
          i += m[0].length;
          continue;
        }
      }
      if (c === "h" && (text.startsWith("https://", i) || text.startsWith("http://", i))) {
        const m = /^https?:\/\/[^\s<]*[^\s<.,:;"')\]!?]/.exec(text.slice(i));
        if (m) {
          flush();
          parent.appendChild(link(m[0], m[0]));
          i += m[0].length;
          continue;
        }
      }
      buffer += c;
      i += 1;
    }
    flush();
  }

  function codeSpan(code) {
    // The bot draws progress as a bar of block characters; show it as a real bar.
    if (/^[█░]{4,}$/.test(code)) {
      const filled = [...code].filter((ch) => ch === "█").length;
      const percent = Math.round((100 * filled) / [...code].length);
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
    return el("code", "inline-code", code);
  }

  function mention(kind, id) {
    if (kind === "#") {
      const target = channel(id);
      const node = el("span", "mention channel-mention", "#" + (target ? target.name : "unknown"));
      if (target) node.addEventListener("click", () => selectChannel(target.id));
      return node;
    }
    if (kind === "@&") return el("span", "mention", "@" + roleName(id));
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
    node.title = date.toLocaleString();
    return node;
  }

  function link(url, label) {
    const a = el("a", "link", label);
    a.href = url;
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

  function renderMarkdown(text, parent) {
    const lines = String(text || "").split("\n");
    for (let n = 0; n < lines.length; n++) {
      const line = lines[n];
      if (line.startsWith("```")) {
        const body = [];
        let end = n + 1;
        const first = line.slice(3);
        const closesSameLine = first.endsWith("```") && first.length >= 3;
        if (closesSameLine) {
          body.push(first.slice(0, -3));
          end = n;
        } else {
          while (end < lines.length && !lines[end].startsWith("```")) body.push(lines[end++]);
        }
        const pre = el("pre", "code-block");
        pre.appendChild(el("code", null, body.join("\n")));
        parent.appendChild(pre);
        n = end;
        continue;
      }
      let node;
      let rest = line;
      let m;
      if ((m = /^-# (.*)$/.exec(line))) {
        node = el("div", "md-subtext");
        rest = m[1];
      } else if ((m = /^(#{1,3}) (.*)$/.exec(line))) {
        node = el("div", "md-h" + m[1].length);
        rest = m[2];
      } else if ((m = /^>>> ?(.*)$/.exec(line))) {
        node = el("blockquote", "md-quote");
        renderInline([m[1], ...lines.slice(n + 1)].join("\n"), node);
        parent.appendChild(node);
        return;
      } else if ((m = /^> ?(.*)$/.exec(line))) {
        node = el("blockquote", "md-quote");
        rest = m[1];
      } else if ((m = /^\s*[-*] (.*)$/.exec(line))) {
        node = el("div", "md-li");
        rest = m[1];
      } else {
        node = el("div", "md-line");
      }
      if (rest === "") node.appendChild(document.createElement("br"));
      else renderInline(rest, node);
      parent.appendChild(node);
    }
  }

  // -- rendering messages -------------------------------------------------------------------------

  function isImage(attachment) {
    return (attachment.content_type || "").startsWith("image/") || /\.(png|jpe?g|gif|webp)$/i.test(attachment.filename || "");
  }

  function renderAttachments(message, parent) {
    if (!message.attachments || !message.attachments.length) return;
    const box = el("div", "attachments");
    for (const attachment of message.attachments) {
      if (isImage(attachment)) {
        const a = el("a", "attachment-image");
        a.href = attachment.url;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        const img = el("img");
        img.src = attachment.url;
        img.alt = attachment.description || attachment.filename || "image";
        img.title = attachment.filename || "";
        if (attachment.width && attachment.height) {
          img.width = attachment.width;
          img.height = attachment.height;
        }
        img.addEventListener("load", keepPinned);
        a.appendChild(img);
        box.appendChild(a);
      } else {
        const file = el("a", "attachment-file");
        file.href = attachment.url;
        file.target = "_blank";
        file.rel = "noopener noreferrer";
        file.appendChild(icon("file", "file-icon"));
        file.appendChild(el("span", "file-name", attachment.filename));
        file.appendChild(el("span", "file-size", formatSize(attachment.size)));
        box.appendChild(file);
      }
    }
    parent.appendChild(box);
  }

  function formatSize(bytes) {
    if (!bytes && bytes !== 0) return "";
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    return (bytes / 1024 / 1024).toFixed(2) + " MB";
  }

  function attachmentUrl(message, url) {
    if (typeof url !== "string") return null;
    if (url.startsWith("attachment://")) {
      const name = url.slice("attachment://".length);
      const found = (message.attachments || []).find((a) => a.filename === name);
      return found ? found.url : null;
    }
    return /^https?:\/\//.test(url) ? url : null;
  }

  function renderEmbeds(message, parent) {
    for (const embed of message.embeds || []) {
      const box = el("div", "embed");
      if (typeof embed.color === "number") box.style.borderLeftColor = "#" + embed.color.toString(16).padStart(6, "0");
      if (embed.author && embed.author.name) box.appendChild(el("div", "embed-author", embed.author.name));
      if (embed.title) {
        const title = el("div", "embed-title");
        if (embed.url && /^https?:\/\//.test(embed.url)) title.appendChild(link(embed.url, embed.title));
        else renderInline(embed.title, title);
        box.appendChild(title);
      }
      if (embed.description) {
        const description = el("div", "embed-description");
        renderMarkdown(embed.description, description);
        box.appendChild(description);
      }
      if (embed.fields && embed.fields.length) {
        const fields = el("div", "embed-fields");
        for (const field of embed.fields) {
          const f = el("div", field.inline ? "embed-field inline" : "embed-field");
          const name = el("div", "embed-field-name");
          renderInline(field.name || "", name);
          const value = el("div", "embed-field-value");
          renderMarkdown(field.value || "", value);
          f.append(name, value);
          fields.appendChild(f);
        }
        box.appendChild(fields);
      }
      const image = embed.image && attachmentUrl(message, embed.image.url);
      if (image) {
        const img = el("img", "embed-image");
        img.src = image;
        img.alt = "";
        img.addEventListener("load", keepPinned);
        box.appendChild(img);
      }
      const thumb = embed.thumbnail && attachmentUrl(message, embed.thumbnail.url);
      if (thumb) {
        const img = el("img", "embed-thumbnail");
        img.src = thumb;
        img.alt = "";
        box.appendChild(img);
      }
      if ((embed.footer && embed.footer.text) || embed.timestamp) {
        const parts = [];
        if (embed.footer && embed.footer.text) parts.push(embed.footer.text);
        if (embed.timestamp) parts.push(new Date(embed.timestamp).toLocaleString());
        box.appendChild(el("div", "embed-footer", parts.join(" • ")));
      }
      parent.appendChild(box);
    }
  }

  const BUTTON_STYLES = { 1: "btn-primary", 2: "btn-secondary", 3: "btn-success", 4: "btn-danger", 5: "btn-secondary", 6: "btn-primary" };

  function emojiNode(emoji) {
    if (!emoji) return null;
    // A custom emoji's image lives on Discord's CDN, which the playground never contacts.
    return el("span", "emoji", emoji.id ? ":" + (emoji.name || "emoji") + ":" : emoji.name);
  }

  function renderButton(message, component) {
    if (component.style === 5 && component.url) {
      const a = el("a", "btn btn-secondary btn-link-out");
      if (/^https?:\/\//.test(component.url)) a.href = component.url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      const emoji = emojiNode(component.emoji);
      if (emoji) a.appendChild(emoji);
      if (component.label) a.appendChild(el("span", "btn-label", component.label));
      a.appendChild(el("span", "btn-external", "↗"));
      return a;
    }
    const button = el("button", "btn " + (BUTTON_STYLES[component.style] || "btn-secondary"));
    button.type = "button";
    button.disabled = Boolean(component.disabled) || Boolean(message._local);
    button.dataset.customId = component.custom_id || "";
    const emoji = emojiNode(component.emoji);
    if (emoji) button.appendChild(emoji);
    if (component.label) button.appendChild(el("span", "btn-label", component.label));
    button.title = component.label || (component.emoji && component.emoji.name) || "";
    button.setAttribute("aria-label", button.title);
    button.addEventListener("click", () => press(message, component, button));
    return button;
  }

  function renderSelect(message, component) {
    const select = el("select", "component-select");
    select.disabled = Boolean(component.disabled);
    select.dataset.customId = component.custom_id || "";
    const placeholder = el("option", null, component.placeholder || "Make a selection");
    placeholder.value = "";
    select.appendChild(placeholder);
    let choices = component.options || [];
    if (component.type === 5 || component.type === 7) {
      choices = choices.concat((guild() ? guild().members : []).map((m) => ({ label: m.username, value: m.id })));
    }
    if (component.type === 6 || component.type === 7) {
      choices = choices.concat((guild() ? guild().roles : []).map((r) => ({ label: "@" + r.name, value: r.id })));
    }
    if (component.type === 8) {
      choices = choices.concat((guild() ? guild().channels : []).map((c) => ({ label: "#" + c.name, value: c.id })));
    }
    for (const choice of choices) {
      const option = el("option", null, (choice.emoji && choice.emoji.name ? choice.emoji.name + " " : "") + choice.label);
      option.value = choice.value;
      if (choice.description) option.title = choice.description;
      select.appendChild(option);
    }
    select.addEventListener("change", () => {
      if (select.value) choose(message, component, [select.value], select);
    });
    return select;
  }

  function renderComponents(message, components, parent) {
    for (const component of components || []) {
      switch (component.type) {
        case 1: {
          const row = el("div", "action-row");
          for (const child of component.components || []) {
            if (child.type === 2) row.appendChild(renderButton(message, child));
            else if ([3, 5, 6, 7, 8].includes(child.type)) row.appendChild(renderSelect(message, child));
          }
          parent.appendChild(row);
          break;
        }
        case 10: {  // text display
          const text = el("div", "v2-text");
          renderMarkdown(component.content || "", text);
          parent.appendChild(text);
          break;
        }
        case 9: {  // section: text beside an accessory
          const section = el("div", "v2-section");
          const body = el("div", "v2-section-body");
          renderComponents(message, component.components, body);
          section.appendChild(body);
          if (component.accessory) {
            const side = el("div", "v2-accessory");
            renderComponents(message, [component.accessory], side);
            section.appendChild(side);
          }
          parent.appendChild(section);
          break;
        }
        case 2:
          parent.appendChild(renderButton(message, component));
          break;
        case 11: {  // thumbnail
          const url = attachmentUrl(message, component.media && component.media.url);
          if (url) {
            const img = el("img", "v2-thumbnail");
            img.src = url;
            img.alt = component.description || "";
            parent.appendChild(img);
          }
          break;
        }
        case 12: {  // media gallery
          const gallery = el("div", "attachments");
          for (const item of component.items || []) {
            const url = attachmentUrl(message, item.media && item.media.url);
            if (!url) continue;
            const img = el("img");
            img.src = url;
            img.alt = item.description || "";
            img.addEventListener("load", keepPinned);
            const a = el("a", "attachment-image");
            a.href = url;
            a.target = "_blank";
            a.rel = "noopener noreferrer";
            a.appendChild(img);
            gallery.appendChild(a);
          }
          parent.appendChild(gallery);
          break;
        }
        case 14:
          parent.appendChild(el("hr", "v2-separator"));
          break;
        case 17: {  // container
          const box = el("div", "v2-container");
          if (typeof component.accent_color === "number") {
            box.style.borderLeftColor = "#" + component.accent_color.toString(16).padStart(6, "0");
          }
          renderComponents(message, component.components, box);
          parent.appendChild(box);
          break;
        }
        default:
          break;
      }
    }
  }

  function interactionLine(message) {
    const meta = message.interaction_metadata;
    if (!meta || !meta.user) return null;
    const line = el("div", "interaction-line");
    line.appendChild(el("span", "reply-spine"));
    const mini = el("span", "avatar mini");
    paintAvatar(mini, meta.user.id, meta.user.username, false);
    line.appendChild(mini);
    line.appendChild(el("span", "interaction-user", displayName(meta.user)));
    if (meta.type === 2 && message._command) {
      line.appendChild(document.createTextNode(" used "));
      line.appendChild(el("span", "interaction-command", "/" + message._command));
    } else if (meta.type === 3) {
      line.appendChild(document.createTextNode(" pressed "));
      line.appendChild(el("span", "interaction-command", buttonName(meta.interacted_message_id, message._custom_id)));
    } else if (meta.type === 5) {
      line.appendChild(document.createTextNode(" submitted a form"));
    }
    return line;
  }

  function buttonName(messageId, customId) {
    for (const map of store.messages.values()) {
      const source = map.get(String(messageId));
      if (!source) continue;
      const found = findComponent(source.components || [], customId);
      if (found) return [found.emoji && found.emoji.name, found.label].filter(Boolean).join(" ") || "a button";
    }
    return "a button";
  }

  function findComponent(components, customId) {
    for (const c of components) {
      if (c.custom_id === customId) return c;
      const inner = findComponent([...(c.components || []), ...(c.accessory ? [c.accessory] : [])], customId);
      if (inner) return inner;
    }
    return null;
  }

  function buildMessage(message) {
    const ephemeral = Boolean(message._ephemeral || message.flags & FLAG_EPHEMERAL);
    const article = el("article", "message");
    article.id = "msg-" + message.id;
    article.dataset.id = message.id;
    article.dataset.author = message.author ? message.author.username : "";
    if (ephemeral) article.classList.add("ephemeral");
    if (message._loading) article.classList.add("loading");
    if (message._local) article.classList.add("local");

    const line = interactionLine(message);
    if (line) article.appendChild(line);

    const row = el("div", "message-row");
    const avatar = el("div", "avatar");
    avatar.setAttribute("aria-hidden", "true");
    const author = message.author || {};
    paintAvatar(avatar, author.id, author.username, author.bot);
    if (message._local) avatar.replaceChildren(icon("info"));
    row.appendChild(avatar);

    const main = el("div", "message-main");
    const header = el("div", "message-header");
    header.appendChild(el("span", "author-name", displayName(author)));
    if (author.bot) header.appendChild(el("span", "bot-tag", message._local ? "SYSTEM" : "APP"));
    const time = el("time", "message-time", timeLabel(message.timestamp));
    time.dateTime = message.timestamp || "";
    header.appendChild(time);
    if (message.edited_timestamp) header.appendChild(el("span", "edited", "(edited)"));
    main.appendChild(header);

    if (message._loading && !message.content) {
      const thinking = el("div", "thinking");
      thinking.appendChild(el("span", null, displayName(author) + " is thinking"));
      const dots = el("span", "dots");
      for (let i = 0; i < 3; i++) dots.appendChild(el("span", "dot", "."));
      thinking.appendChild(dots);
      main.appendChild(thinking);
    }
    if (message.content) {
      const content = el("div", "message-content");
      renderMarkdown(message.content, content);
      main.appendChild(content);
    }
    renderAttachments(message, main);
    renderEmbeds(message, main);
    if (message.components && message.components.length) {
      const components = el("div", "components");
      renderComponents(message, message.components, components);
      main.appendChild(components);
    }
    if (ephemeral) {
      const note = el("div", "ephemeral-note");
      note.appendChild(icon("eye"));
      note.appendChild(el("span", "only-you", "Only you can see this"));
      note.appendChild(el("span", "sep", "•"));
      const dismiss = el("button", "dismiss", "Dismiss message");
      dismiss.type = "button";
      dismiss.addEventListener("click", () => {
        store.dismissed.add(message.id);
        article.remove();
      });
      note.appendChild(dismiss);
      main.appendChild(note);
    }
    row.appendChild(main);
    article.appendChild(row);
    return article;
  }

  function atBottom() {
    const box = els.messages;
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }

  let pinned = true;
  function keepPinned() {
    if (pinned) els.messages.scrollTop = els.messages.scrollHeight;
  }
  els.messages.addEventListener("scroll", () => {
    pinned = atBottom();
  });

  function renderMessage(message) {
    const existing = document.getElementById("msg-" + message.id);
    if (!visible(message)) {
      if (existing) existing.remove();
      return;
    }
    const node = buildMessage(message);
    if (existing) {
      existing.replaceWith(node);
    } else {
      const empty = els.messages.querySelector(".empty-channel");
      if (empty) empty.remove();
      els.messages.appendChild(node);
    }
    keepPinned();
  }

  function renderChannelMessages() {
    els.messages.replaceChildren();
    const shown = [...channelMessages(store.channelId).values()].filter(visible);
    if (!shown.length) {
      const empty = el("div", "empty-channel");
      const ch = channel(store.channelId);
      empty.appendChild(el("div", "empty-hash", "#"));
      empty.appendChild(el("h2", null, "Welcome to #" + (ch ? ch.name : "…") + "!"));
      empty.appendChild(el("p", null, "Type / below to see what the bot can do."));
      els.messages.appendChild(empty);
    }
    for (const message of shown) els.messages.appendChild(buildMessage(message));
    pinned = true;
    keepPinned();
  }

  function jumpTo(channelId, messageId) {
    selectChannel(channelId);
    const node = document.getElementById("msg-" + messageId);
    if (!node) return;
    node.scrollIntoView({ block: "center" });
    node.classList.add("highlight");
    setTimeout(() => node.classList.remove("highlight"), 1600);
  }

  // -- sidebar, identity, members --------------------------------------------------------------------

  function renderChannels() {
    const g = guild();
    els.channels.replaceChildren();
    if (!g) return;
    for (const ch of g.channels.filter((c) => c.type === 0)) {
      const li = el("li");
      const button = el("button", "channel");
      button.type = "button";
      button.dataset.channel = ch.name;
      button.appendChild(el("span", "hash", "#"));
      button.appendChild(el("span", "channel-label", ch.name));
      if (ch.id === store.channelId) {
        button.classList.add("active");
        button.setAttribute("aria-current", "page");
      }
      if (store.unread.has(ch.id)) button.classList.add("unread");
      button.addEventListener("click", () => selectChannel(ch.id));
      li.appendChild(button);
      els.channels.appendChild(li);
    }
  }

  function selectChannel(channelId) {
    const target = channel(channelId);
    if (!target) return;
    store.channelId = target.id;
    store.unread.delete(target.id);
    remember("channel", target.name);
    els.channelName.textContent = target.name;
    els.input.placeholder = "Message #" + target.name + " — type / for commands";
    document.title = "#" + target.name + " · imagine-bot playground";
    renderChannels();
    renderChannelMessages();
  }

  function renderIdentity() {
    const g = guild();
    if (!g) return;
    const people = g.members.filter((m) => !m.bot);
    const current = els.identity.value;
    els.identity.replaceChildren();
    for (const m of people) {
      const option = el("option", null, m.username + " — " + memberRoleLabel(m));
      option.value = m.id;
      option.dataset.username = m.username;
      els.identity.appendChild(option);
    }
    if (!people.some((m) => m.id === store.userId)) {
      const saved = people.find((m) => m.username === recall("user"));
      store.userId = (saved || people[0] || {}).id || null;
    }
    els.identity.value = store.userId || current;
    const m = me();
    if (m) paintAvatar(els.meAvatar, m.id, m.username, false);
  }

  function setIdentity(userId) {
    if (store.userId === userId) return;
    store.userId = userId;
    const m = me();
    if (m) remember("user", m.username);
    renderIdentity();
    renderMembers();
    renderChannelMessages();
    if (store.command) openCommand(store.command.name);  // permission hints depend on who you are
    updatePicker();
  }

  function renderMembers() {
    const g = guild();
    els.members.replaceChildren();
    if (!g) return;
    const groups = new Map();
    for (const m of g.members) {
      const label = m.bot ? "Apps" : memberRoleLabel(m) === "member" ? "Members" : "Staff";
      if (!groups.has(label)) groups.set(label, []);
      groups.get(label).push(m);
    }
    for (const label of ["Staff", "Members", "Apps"]) {
      const list = groups.get(label);
      if (!list) continue;
      els.members.appendChild(el("div", "group-label", label + " — " + list.length));
      for (const m of list) {
        const item = el("button", "member");
        item.type = "button";
        item.disabled = m.bot;
        item.title = m.bot ? "The bot" : "Be " + m.username;
        if (m.id === store.userId) item.classList.add("current");
        const avatar = el("span", "avatar small");
        paintAvatar(avatar, m.id, m.username, m.bot);
        if (m.bot) avatar.classList.add(store.botOnline ? "online" : "offline");
        item.appendChild(avatar);
        const text = el("span", "member-text");
        text.appendChild(el("span", "member-name", m.username));
        text.appendChild(el("span", "member-role", memberRoleLabel(m)));
        item.appendChild(text);
        if (!m.bot) item.addEventListener("click", () => setIdentity(m.id));
        els.members.appendChild(item);
      }
    }
  }

  function renderStatus() {
    const count = commandEntries().length;
    let text;
    if (!store.connected) text = "reconnecting to the local Discord…";
    else if (!store.botOnline) text = "the bot is starting…";
    else if (!count) text = "the bot is registering its commands…";
    else text = "Local Bot is online";
    els.botStatus.textContent = text;
    const online = store.connected && store.botOnline && count > 0;
    els.botStatus.dataset.online = String(online);
    els.botStatus.dataset.commands = String(count);
  }

  function applyState(state) {
    store.state = state;
    store.botOnline = Boolean(state.bot_connected);
    const g = guild();
    if (g) {
      els.guildName.textContent = g.name;
      els.guildIcon.textContent = g.name.split(/\s+/).map((w) => w[0]).join("").slice(0, 3);
      els.guildIcon.title = g.name;
      if (!channel(store.channelId)) {
        const saved = channelByName(recall("channel"));
        const first = g.channels.find((c) => c.type === 0);
        store.channelId = (saved || channelByName("imagine") || first || {}).id || null;
      }
    }
    renderIdentity();
    renderMembers();
    renderStatus();
    updatePicker();
  }

  // -- the composer: slash-command picker and option fields ----------------------------------------------

  function pickerMatches() {
    const text = els.input.value;
    if (!text.startsWith("/")) return [];
    const query = text.slice(1).trim().toLowerCase().replace(/\s+/g, " ");
    const found = commandEntries().filter((entry) => entry.name.startsWith(query) || (query && entry.name.includes(query)));
    // Commands this member may use first; Discord would not list the others at all.
    return [...found.filter((e) => !missingPermission(e.root)), ...found.filter((e) => missingPermission(e.root))];
  }

  function updatePicker() {
    const matches = store.command ? [] : pickerMatches();
    const open = els.input.value.startsWith("/") && !store.command;
    els.picker.hidden = !open;
    if (!open) return;
    els.picker.replaceChildren();
    if (!matches.length) {
      const total = commandEntries().length;
      els.picker.appendChild(el("div", "picker-empty", total ? "No command matches." : "The bot has not registered any commands yet."));
      return;
    }
    store.pickerIndex = Math.min(store.pickerIndex, matches.length - 1);
    els.picker.appendChild(el("div", "picker-title", "Local Bot"));
    matches.forEach((entry, index) => {
      const item = el("div", "picker-item");
      item.setAttribute("role", "option");
      item.dataset.command = entry.name;
      if (index === store.pickerIndex) {
        item.classList.add("selected");
        item.setAttribute("aria-selected", "true");
      }
      const head = el("div", "picker-head");
      head.appendChild(el("span", "picker-name", "/" + entry.name));
      for (const option of entry.options) {
        head.appendChild(el("span", option.required ? "picker-option required" : "picker-option", option.name));
      }
      item.appendChild(head);
      item.appendChild(el("div", "picker-desc", describe(entry.description)));
      const missing = missingPermission(entry.root);
      if (missing) {
        item.classList.add("locked");
        const lock = el("div", "picker-lock");
        lock.append(icon("lock"), document.createTextNode("Needs " + missing + " — Discord would hide this from you"));
        item.appendChild(lock);
      }
      item.addEventListener("mousedown", (event) => {
        event.preventDefault();  // keep focus in the composer
        openCommand(entry.name);
      });
      els.picker.appendChild(item);
    });
    const selected = els.picker.querySelector(".selected");
    if (selected) selected.scrollIntoView({ block: "nearest" });
  }

  function openCommand(name) {
    const entry = commandEntries().find((e) => e.name === name);
    if (!entry) return;
    store.command = entry;
    els.picker.hidden = true;
    els.commandForm.hidden = false;
    els.input.hidden = true;
    els.commandChip.textContent = "/" + entry.name;
    els.commandDesc.textContent = describe(entry.description);
    els.fields.replaceChildren();
    const missing = missingPermission(entry.root);
    if (missing) {
      const warning = el("div", "permission-warning");
      warning.append(icon("lock"), document.createTextNode("This command needs " + missing + ". Try it anyway to see the refusal, or switch to a moderator."));
      els.fields.appendChild(warning);
    }
    for (const option of entry.options) els.fields.appendChild(optionField(entry, option));
    if (!entry.options.length) els.fields.appendChild(el("div", "no-options", "No options — press Enter or Send."));
    els.hint.textContent = "Enter sends · Esc cancels";
    const first = els.fields.querySelector("input, select, textarea");
    (first || els.commandCancel).focus();
  }

  function closeCommand() {
    store.command = null;
    els.commandForm.hidden = true;
    els.input.hidden = false;
    els.input.value = "";
    els.fields.replaceChildren();
    els.hint.textContent = "";
    updatePicker();
    els.input.focus();
  }

  function optionField(entry, option) {
    const wrap = el("label", "option-field");
    wrap.dataset.option = option.name;
    const head = el("span", "option-name", option.name);
    if (option.required) head.appendChild(el("span", "required-star", "*"));
    wrap.appendChild(head);
    let input;
    const g = guild();
    const selectOf = (items, blank) => {
      const select = el("select");
      if (blank) {
        const none = el("option", null, option.required ? "Choose…" : "(none)");
        none.value = "";
        select.appendChild(none);
      }
      for (const [value, label] of items) {
        const o = el("option", null, label);
        o.value = value;
        select.appendChild(o);
      }
      return select;
    };
    if (option.choices && option.choices.length) {
      input = selectOf(option.choices.map((c) => [JSON.stringify(c.value), c.name]), true);
    } else if (option.type === OPT.BOOLEAN) {
      input = selectOf([["true", "True"], ["false", "False"]], true);
    } else if (option.type === OPT.USER) {
      input = selectOf(g.members.map((m) => [m.id, m.username]), true);
    } else if (option.type === OPT.ROLE) {
      input = selectOf(g.roles.map((r) => [r.id, "@" + r.name]), true);
    } else if (option.type === OPT.MENTIONABLE) {
      input = selectOf([...g.members.map((m) => [m.id, "@" + m.username]), ...g.roles.map((r) => [r.id, "@" + r.name])], true);
    } else if (option.type === OPT.CHANNEL) {
      input = selectOf(g.channels.map((c) => [c.id, "#" + c.name]), true);
    } else if (option.type === OPT.ATTACHMENT) {
      input = el("input");
      input.type = "file";
    } else {
      input = el("input");
      input.type = option.type === OPT.INTEGER || option.type === OPT.NUMBER ? "number" : "text";
      if (option.type === OPT.INTEGER) input.step = "1";
      if (option.type === OPT.NUMBER) input.step = "any";
      if (option.min_value !== undefined) input.min = option.min_value;
      if (option.max_value !== undefined) input.max = option.max_value;
      if (option.max_length !== undefined) input.maxLength = option.max_length;
      input.placeholder = describe(option.description);
      if (option.autocomplete) attachAutocomplete(entry, option, input, wrap);
    }
    input.name = option.name;
    input.dataset.type = String(option.type);
    input.dataset.choices = option.choices && option.choices.length ? "1" : "";
    if (option.required) input.required = true;
    wrap.appendChild(input);
    const hintParts = [describe(option.description), OPTION_TYPE_NAMES[option.type], option.required ? "" : "optional"];
    const hint = el("span", "option-hint", hintParts.filter(Boolean).join(" · "));
    wrap.appendChild(hint);
    return wrap;
  }

  function readFile(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(file);
    });
  }

  async function collectOptions(partial) {
    const values = {};
    const missing = [];
    for (const input of els.fields.querySelectorAll("[name]")) {
      const type = Number(input.dataset.type);
      if (type === OPT.ATTACHMENT) {
        const file = input.files && input.files[0];
        if (file && !partial) {
          values[input.name] = { filename: file.name, content_type: file.type || "application/octet-stream", data_b64: await readFile(file) };
        } else if (input.required && !partial) {
          missing.push(input.name);
        }
        continue;
      }
      const raw = input.value;
      if (raw === "") {
        if (input.required && !partial) missing.push(input.name);
        continue;
      }
      if (input.dataset.choices) values[input.name] = JSON.parse(raw);
      else if (type === OPT.BOOLEAN) values[input.name] = raw === "true";
      else if (type === OPT.INTEGER && !partial) values[input.name] = Number.parseInt(raw, 10);
      else if (type === OPT.NUMBER && !partial) values[input.name] = Number(raw);
      else values[input.name] = raw;
    }
    return { values, missing };
  }

  function attachAutocomplete(entry, option, input, wrap) {
    const list = el("div", "suggestions");
    list.hidden = true;
    wrap.appendChild(list);
    let timer = null;
    let generation = 0;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const mine = ++generation;
        const { values } = await collectOptions(true);
        values[option.name] = input.value;
        try {
          const started = await api("POST", "/interactions/autocomplete", {
            user_id: store.userId, channel_id: store.channelId, command: entry.name, focused: option.name, options: values,
          });
          const deadline = Date.now() + 2500;
          let choices = null;
          while (Date.now() < deadline && mine === generation) {
            const info = await api("GET", "/interactions/" + started.interaction_id);
            if (info.autocomplete_choices) { choices = info.autocomplete_choices; break; }
            await sleep(120);
          }
          if (mine !== generation) return;
          list.replaceChildren();
          for (const choice of choices || []) {
            const item = el("button", "suggestion", choice.name);
            item.type = "button";
            item.addEventListener("mousedown", (event) => {
              event.preventDefault();
              input.value = String(choice.value);
              list.hidden = true;
            });
            list.appendChild(item);
          }
          list.hidden = !(choices && choices.length);
        } catch (_) {
          list.hidden = true;
        }
      }, 250);
    });
    input.addEventListener("blur", () => setTimeout(() => { list.hidden = true; }, 150));
  }

  // -- acting as the member -------------------------------------------------------------------------------

  function refusalText(error, what) {
    const message = error.message || "failed";
    if (error.status === 403 && /cannot use this command/.test(message)) {
      const missing = store.command ? missingPermission(store.command.root) : null;
      return "**You do not have permission to use " + what + ".**\n-# Needs " + (missing || "a permission you lack") +
        ". On Discord the command would be hidden from you. (local Discord: " + message + ")";
    }
    if (error.status === 404 && /unknown command/.test(message)) {
      return "**" + what + " is not a command of this bot any more.**\n-# " + message;
    }
    return "**" + what + " could not be sent.**\n-# " + message;
  }

  // After an interaction is delivered: notice a bot that never answers, and open a modal if it asked for one.
  async function followInteraction(started, channelId) {
    if (!started.dispatched) {
      localNotice("**The bot is not connected**, so nothing answered. It may still be starting.", channelId);
      return;
    }
    const deadline = Date.now() + ACK_WAIT_MS;
    while (Date.now() < deadline) {
      await sleep(150);
      let info;
      try {
        info = await api("GET", "/interactions/" + started.interaction_id);
      } catch (_) {
        return;
      }
      if (info.acked) {
        if (info.response_type === 9 && info.modal) showModal(info, channelId);
        return;
      }
    }
    localNotice("**The application did not respond.**\n-# The bot did not answer within 3 seconds, as Discord requires.", channelId);
  }

  async function submitCommand() {
    const entry = store.command;
    if (!entry) {
      const text = els.input.value.trim();
      if (!text) return;
      if (text.startsWith("/")) {
        const matches = pickerMatches();
        const exact = matches.find((m) => m.name === text.slice(1).trim());
        if (exact || matches.length) openCommand((exact || matches[store.pickerIndex] || matches[0]).name);
        else els.hint.textContent = "No command called " + text + ".";
        return;
      }
      els.hint.textContent = "The bot reads slash commands only: type / to pick one.";
      return;
    }
    const { values, missing } = await collectOptions(false);
    for (const field of els.fields.querySelectorAll(".option-field")) {
      field.classList.toggle("invalid", missing.includes(field.dataset.option));
    }
    if (missing.length) {
      els.hint.textContent = "Fill in " + missing.join(", ") + " first.";
      return;
    }
    const channelId = store.channelId;
    const what = "/" + entry.name;
    els.hint.textContent = "Sending " + what + "…";
    let started;
    try {
      started = await api("POST", "/interactions/command", {
        user_id: store.userId, channel_id: channelId, command: entry.name, options: values,
      });
    } catch (error) {
      els.hint.textContent = "";
      localNotice(refusalText(error, what), channelId);
      closeCommand();
      return;
    }
    closeCommand();
    await followInteraction(started, channelId);
  }

  async function press(message, component, button) {
    button.classList.add("pending");
    try {
      const started = await api("POST", "/interactions/component", {
        user_id: store.userId, message_id: message.id, custom_id: component.custom_id, channel_id: message.channel_id,
      });
      await followInteraction(started, message.channel_id);
    } catch (error) {
      localNotice("**This interaction failed.**\n-# " + error.message, message.channel_id);
    } finally {
      button.classList.remove("pending");
    }
  }

  async function choose(message, component, values, select) {
    select.disabled = true;
    try {
      const started = await api("POST", "/interactions/component", {
        user_id: store.userId, message_id: message.id, custom_id: component.custom_id, channel_id: message.channel_id, values,
      });
      await followInteraction(started, message.channel_id);
    } catch (error) {
      localNotice("**This interaction failed.**\n-# " + error.message, message.channel_id);
    } finally {
      select.disabled = Boolean(component.disabled);
    }
  }

  function modalInputs(components) {
    const out = [];
    for (const c of components || []) {
      if (c.type === 4) out.push(c);
      else if (c.type === 18 && c.component) out.push({ ...c.component, label: c.label, description: c.description });
      else if (c.components) out.push(...modalInputs(c.components));
    }
    return out;
  }

  function showModal(interaction, channelId) {
    const modal = interaction.modal;
    els.modalTitle.textContent = modal.title || "Form";
    els.modalFields.replaceChildren();
    for (const input of modalInputs(modal.components)) {
      if (input.type !== 4) continue;
      const wrap = el("label", "option-field");
      const head = el("span", "option-name", input.label || input.custom_id);
      if (input.required !== false) head.appendChild(el("span", "required-star", "*"));
      wrap.appendChild(head);
      const field = input.style === 2 ? el("textarea") : el("input");
      field.name = input.custom_id;
      if (input.value) field.value = input.value;
      if (input.placeholder) field.placeholder = input.placeholder;
      if (input.max_length) field.maxLength = input.max_length;
      if (input.required !== false) field.required = true;
      wrap.appendChild(field);
      els.modalFields.appendChild(wrap);
    }
    els.modal.dataset.interactionId = interaction.id;
    els.modal.dataset.channelId = channelId;
    els.modal.showModal();
  }

  els.modalForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = {};
    for (const field of els.modalFields.querySelectorAll("[name]")) values[field.name] = field.value;
    const channelId = els.modal.dataset.channelId;
    els.modal.close();
    try {
      const started = await api("POST", "/interactions/modal", {
        interaction_id: els.modal.dataset.interactionId, values, user_id: store.userId,
      });
      await followInteraction(started, channelId);
    } catch (error) {
      localNotice("**The form could not be sent.**\n-# " + error.message, channelId);
    }
  });
  els.modalCancel.addEventListener("click", () => els.modal.close());

  // -- composer events ------------------------------------------------------------------------------

  els.input.addEventListener("input", () => {
    store.pickerIndex = 0;
    els.hint.textContent = "";
    updatePicker();
  });

  els.input.addEventListener("keydown", (event) => {
    if (els.picker.hidden) return;
    const matches = pickerMatches();
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      store.pickerIndex = (store.pickerIndex + step + matches.length) % Math.max(matches.length, 1);
      updatePicker();
    } else if ((event.key === "Enter" || event.key === "Tab") && matches.length) {
      event.preventDefault();
      openCommand(matches[store.pickerIndex].name);
    } else if (event.key === "Escape") {
      els.input.value = "";
      updatePicker();
    }
  });

  els.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    submitCommand();
  });

  els.composer.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && store.command) {
      event.preventDefault();
      closeCommand();
    }
  });

  els.commandCancel.addEventListener("click", closeCommand);
  els.identity.addEventListener("change", () => setIdentity(els.identity.value));

  // -- the live feed --------------------------------------------------------------------------------

  function connect() {
    const source = new EventSource(API + "/events");
    source.addEventListener("hello", (event) => {
      const snapshot = JSON.parse(event.data);
      store.connected = true;
      // The snapshot replaces what the server knows; the page's own notices stay.
      const locals = [];
      for (const map of store.messages.values()) for (const m of map.values()) if (m._local) locals.push(m);
      store.messages = new Map();
      for (const [channelId, messages] of Object.entries(snapshot.messages || {})) {
        const map = channelMessages(channelId);
        for (const m of messages) map.set(m.id, m);
      }
      for (const m of locals) channelMessages(m.channel_id).set(m.id, m);
      applyState(snapshot);
      selectChannel(store.channelId);
      document.body.dataset.ready = "true";
    });
    source.addEventListener("state", (event) => {
      applyState(JSON.parse(event.data));
      if (store.command && !commandEntries().some((e) => e.name === store.command.name)) closeCommand();
    });
    source.addEventListener("message_create", (event) => upsert(JSON.parse(event.data)));
    source.addEventListener("message_update", (event) => upsert(JSON.parse(event.data)));
    source.addEventListener("message_delete", (event) => removeMessage(JSON.parse(event.data)));
    source.addEventListener("error", () => {
      // EventSource retries by itself; say so until the next hello.
      store.connected = false;
      renderStatus();
    });
  }

  connect();
})();
