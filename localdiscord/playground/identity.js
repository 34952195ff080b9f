// Who the visitor is: the "You are" picker, the member list (click a member to be them), and what
// changes when the visitor becomes someone else.

import { leaveHiddenChannel, renderChannels } from "./channels.js";
import { openCommand, updatePicker } from "./composer.js";
import { el, els, paintAvatar } from "./dom.js";
import { renderChannelMessages } from "./messages.js";
import { guild, me, memberRoleLabel, recall, remember, store } from "./state.js";

export function renderIdentity() {
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

export function setIdentity(userId) {
  if (store.userId === userId) return;
  store.userId = userId;
  const m = me();
  if (m) remember("user", m.username);
  renderIdentity();
  renderMembers();
  // A moderator's #audit-log is not a member's: the list changes, and the page leaves it if it was open.
  if (!leaveHiddenChannel()) {
    renderChannels();
    renderChannelMessages();
  }
  if (store.command) openCommand(store.command.name);  // permission hints depend on who you are
  updatePicker();
}

export function renderMembers() {
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

export function initIdentity() {
  els.identity.addEventListener("change", () => setIdentity(els.identity.value));
}
