// Drawing messages: one message as an <article> (author, content, attachments, embeds, components,
// the ephemeral note), the open channel's list, keeping the list scrolled to the newest (with a "jump to
// present" bar when the visitor scrolled up), and the lightbox an image opens in.

import { choose, press } from "./actions.js";
import { selectChannel } from "./channels.js";
import { el, els, icon, paintAvatar } from "./dom.js";
import { emojiIcon, emojify } from "./emoji.js";
import { link, renderInline, renderMarkdown } from "./richtext.js";
import { FLAG_EPHEMERAL, canView, channel, channelMessages, displayName, guild, store, visible } from "./state.js";

function timeLabel(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// The full date and time, as Discord's tooltip over a message's time shows it ("Monday, 30 November
// 2026 at 05:41"), in the visitor's own language and time zone.
function fullDate(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleString([], { dateStyle: "full", timeStyle: "short" });
}

function isImage(attachment) {
  return (attachment.content_type || "").startsWith("image/") || /\.(png|jpe?g|gif|webp)$/i.test(attachment.filename || "");
}

function renderAttachments(message, parent) {
  if (!message.attachments || !message.attachments.length) return;
  const box = el("div", "attachments");
  for (const attachment of message.attachments) {
    if (isImage(attachment)) {
      const img = picture(attachment.url, attachment.description || attachment.filename || "image", null, attachment);
      img.title = attachment.filename || "";
      const link = imageLink(attachment.url, img);
      box.appendChild(isSpoiler(attachment) ? spoiler(link) : link);
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

// Discord hides an attachment whose name starts with SPOILER_ behind a blur until it is clicked; so does
// the page (a flagged image must never be shown plainly, bot.core.safety).
function isSpoiler(attachment) {
  return (attachment.filename || "").startsWith("SPOILER_");
}

function spoiler(link) {
  link.classList.add("spoiler");
  const label = el("span", "spoiler-label", "SPOILER");
  link.appendChild(label);
  // Capturing, so the first click only reveals: the lightbox (the link's own click handler) waits for the next.
  const reveal = (event) => {
    event.preventDefault();
    event.stopPropagation();
    link.classList.remove("spoiler");
    link.classList.add("revealed");
    label.remove();
    link.removeEventListener("click", reveal, true);
  };
  link.addEventListener("click", reveal, true);
  return link;
}

// An image as the page shows it: loaded lazily (one far up the channel is fetched when scrolled to, not on
// every reload), decoded off the main thread, its box reserved from the size the attachment reports so
// nothing jumps when it arrives, and the list kept at the newest message when it does.
const SHOWN_WIDTH = 520;   // style.css: .attachment-image's max-width
const SHOWN_HEIGHT = 420;  // and its image's max-height

function picture(url, alt, className, size) {
  const img = el("img", className);
  img.loading = "lazy";  // before src, or Chromium starts the request at once
  img.decoding = "async";
  if (size && size.width > 0 && size.height > 0) {
    // The attributes give the box its shape; the width is the one it will be shown at (no wider than
    // the image area, no taller than it), so the box is the right size before a byte has arrived.
    img.width = size.width;
    img.height = size.height;
    const scale = Math.min(1, SHOWN_WIDTH / size.width, SHOWN_HEIGHT / size.height);
    img.style.width = Math.max(1, Math.round(size.width * scale)) + "px";
  }
  img.alt = alt || "";
  img.src = url;
  img.addEventListener("load", keepPinned);
  return img;
}

// A link to the original around an image: a plain click opens it large in the page's lightbox; a click
// with a modifier (new tab, new window) is left to the browser.
function imageLink(url, img) {
  const a = el("a", "attachment-image");
  a.href = url;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  a.appendChild(img);
  a.addEventListener("click", (event) => {
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    openLightbox(url, img.alt);
  });
  return a;
}

export function openLightbox(url, alt) {
  els.lightboxImage.alt = alt || "";
  els.lightboxImage.src = url;
  els.lightboxOriginal.href = url;
  if (!els.lightbox.open) els.lightbox.showModal();
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
      const img = picture(image, "", "embed-image", embed.image);
      img.classList.add("zoomable");
      img.addEventListener("click", () => openLightbox(image, ""));
      box.appendChild(img);
    }
    const thumb = embed.thumbnail && attachmentUrl(message, embed.thumbnail.url);
    if (thumb) {
      box.appendChild(picture(thumb, "", "embed-thumbnail", embed.thumbnail));
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
  if (emoji.id) return el("span", "emoji", ":" + (emoji.name || "emoji") + ":");
  return emojiIcon(emoji.name || "");
}

// A button's label, its emoji ("◀ Newer") drawn like the rest.
function buttonLabel(text) {
  const label = el("span", "btn-label");
  label.appendChild(emojify(text));
  return label;
}

function renderButton(message, component) {
  if (component.style === 5 && component.url) {
    const a = el("a", "btn btn-secondary btn-link-out");
    if (/^https?:\/\//.test(component.url)) a.href = component.url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    const emoji = emojiNode(component.emoji);
    if (emoji) a.appendChild(emoji);
    if (component.label) a.appendChild(buttonLabel(component.label));
    a.appendChild(el("span", "btn-external", "↗"));
    return a;
  }
  const button = el("button", "btn " + (BUTTON_STYLES[component.style] || "btn-secondary"));
  button.type = "button";
  button.disabled = Boolean(component.disabled) || Boolean(message._local);
  button.dataset.customId = component.custom_id || "";
  const emoji = emojiNode(component.emoji);
  if (emoji) button.appendChild(emoji);
  if (component.label) button.appendChild(buttonLabel(component.label));
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
    const shown = (guild() ? guild().channels : []).filter((c) => canView(c.id));
    choices = choices.concat(shown.map((c) => ({ label: "#" + c.name, value: c.id })));
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
          parent.appendChild(picture(url, component.description || "", "v2-thumbnail", component.media));
        }
        break;
      }
      case 12: {  // media gallery
        const gallery = el("div", "attachments");
        for (const item of component.items || []) {
          const url = attachmentUrl(message, item.media && item.media.url);
          if (!url) continue;
          gallery.appendChild(imageLink(url, picture(url, item.description || "", null, item.media)));
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
    const pressed = el("span", "interaction-command");
    pressed.appendChild(emojify(buttonName(meta.interacted_message_id, message._custom_id)));
    line.appendChild(pressed);
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
  time.title = fullDate(message.timestamp);
  header.appendChild(time);
  // The local Discord, as Discord, sets no edited time on the edit that fills a deferred ("thinking")
  // reply: only a message changed after it was shown with content says "(edited)".
  if (message.edited_timestamp) {
    const edited = el("time", "edited", "(edited)");
    edited.dateTime = message.edited_timestamp;
    edited.title = "Edited " + fullDate(message.edited_timestamp);
    header.appendChild(edited);
  }
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

// -- the list of the open channel -----------------------------------------------------------------

// Whether the list follows the newest message: true until the visitor scrolls up. While it is false, a
// new message shows the "jump to present" bar instead of moving the list under the visitor's eyes.
let pinned = true;

function atBottom() {
  const box = els.messages;
  return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
}

function keepPinned() {
  if (pinned) els.messages.scrollTop = els.messages.scrollHeight;
}

function showJumpBar(show) {
  els.jumpBar.hidden = !show;
}

// Back to the newest message and following it again: on the visitor's own command or button press, and
// from the "jump to present" bar.
export function followNewest() {
  pinned = true;
  showJumpBar(false);
  keepPinned();
}

// A button pressed on an older message answers with a new message at the bottom: the list goes there
// when that answer arrives (a button that only edits its own message leaves the list where it is).
let followUntil = 0;

export function followNextMessage() {
  followUntil = Date.now() + 15000;
}

export function initMessages() {
  els.messages.addEventListener("scroll", () => {
    pinned = atBottom();
    if (pinned) showJumpBar(false);
  });
  els.jumpBar.addEventListener("click", followNewest);
  // The lightbox: Esc closes it (the dialog's own cancel), and so does a click anywhere but the image
  // and its link (the backdrop and the space around the picture belong to the dialog itself).
  els.lightbox.addEventListener("click", (event) => {
    if (event.target !== els.lightboxImage && event.target !== els.lightboxOriginal) els.lightbox.close();
  });
  els.lightbox.addEventListener("close", () => els.lightboxImage.removeAttribute("src"));
}

// Draws a new or changed message in the open channel, or removes it if the visitor may not see it.
export function renderMessage(message) {
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
    if (Date.now() < followUntil) {
      followUntil = 0;
      pinned = true;
      showJumpBar(false);
    }
    if (!pinned) showJumpBar(true);
  }
  keepPinned();
}

export function renderChannelMessages() {
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
  followNewest();
}

export function jumpTo(channelId, messageId) {
  selectChannel(channelId);
  const node = document.getElementById("msg-" + messageId);
  if (!node) return;
  node.scrollIntoView({ block: "center" });
  node.classList.add("highlight");
  setTimeout(() => node.classList.remove("highlight"), 1600);
}
