// The live feed: GET /_control/events (server-sent events) keeps the store in step with the local
// Discord, a "hello" snapshot then every message create/update/delete and world change, and each change
// is handed to the part of the page that shows it. The page's own notices join the feed here too.

import { API } from "./api.js";
import { renderChannels, selectChannel, visibleChannels } from "./channels.js";
import { commandEntries } from "./commands.js";
import { closeCommand, updatePicker } from "./composer.js";
import { els } from "./dom.js";
import { renderIdentity, renderMembers } from "./identity.js";
import { renderMessage } from "./messages.js";
import { FLAG_EPHEMERAL, canView, channel, channelByName, channelMessages, guild, recall, store, visible } from "./state.js";

function upsert(message) {
  const map = channelMessages(message.channel_id);
  const old = map.get(message.id);
  // Events arrive in order on one stream; this only guards against a snapshot racing an edit.
  if (old && (old._edit_count || 0) > (message._edit_count || 0)) return;
  map.set(message.id, message);
  if (message.channel_id === store.channelId) {
    renderMessage(message);
  } else if (!old && visible(message) && canView(message.channel_id)) {
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
export function localNotice(text, channelId) {
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
  renderIdentity();  // first: which channels the page lists depends on who the visitor is
  if (g) {
    els.guildName.textContent = g.name;
    els.guildIcon.textContent = g.name.split(/\s+/).map((w) => w[0]).join("").slice(0, 3);
    els.guildIcon.title = g.name;
    if (!channel(store.channelId) || !canView(store.channelId)) {
      const shown = visibleChannels();
      const pick = (c) => (c && shown.includes(c) ? c : null);
      store.channelId = (pick(channelByName(recall("channel"))) || pick(channelByName("imagine")) || shown[0] || {}).id || null;
      if (store.channelId && document.body.dataset.ready) selectChannel(store.channelId);
    }
  }
  renderChannels();
  renderMembers();
  renderStatus();
  updatePicker();
}

export function connect() {
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
