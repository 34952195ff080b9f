// The channel list in the sidebar, and moving to a channel (the header, the title, its messages).

import { el, els } from "./dom.js";
import { renderChannelMessages } from "./messages.js";
import { canView, channel, guild, remember, store } from "./state.js";

// The text channels the visitor may see: a channel whose permission overwrites take View Channel away
// from them (#audit-log for anyone but moderators) is not listed, as in Discord.
export function visibleChannels() {
  const g = guild();
  return g ? g.channels.filter((c) => c.type === 0 && canView(c.id)) : [];
}

// After the visitor became someone else: if they may not see the open channel, go where they can.
export function leaveHiddenChannel() {
  if (store.channelId && canView(store.channelId)) return false;
  const shown = visibleChannels();
  const target = shown.find((c) => c.name === "imagine") || shown[0];
  if (target) selectChannel(target.id);
  return Boolean(target);
}

export function renderChannels() {
  const g = guild();
  els.channels.replaceChildren();
  if (!g) return;
  for (const ch of visibleChannels()) {
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

export function selectChannel(channelId) {
  const target = channel(channelId);
  if (!target || !canView(target.id)) return;
  store.channelId = target.id;
  store.unread.delete(target.id);
  remember("channel", target.name);
  els.channelName.textContent = target.name;
  els.input.placeholder = "Message #" + target.name + " — type / for commands";
  document.title = "#" + target.name + " · imagine-bot playground";
  renderChannels();
  renderChannelMessages();
}
