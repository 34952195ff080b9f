// The channel list in the sidebar, and moving to a channel (the header, the title, its messages).

import { el, els } from "./dom.js";
import { renderChannelMessages } from "./messages.js";
import { channel, guild, remember, store } from "./state.js";

export function renderChannels() {
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

export function selectChannel(channelId) {
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
