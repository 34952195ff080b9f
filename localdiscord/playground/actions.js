// Acting as the member the visitor picked: sending a slash command, pressing a button, choosing from a
// select menu, filling in a modal; then watching for the bot's answer and saying so, as Discord would,
// when nobody answered or the command was refused.

import { api, sleep } from "./api.js";
import { missingPermission } from "./commands.js";
import { closeCommand, collectOptions, openCommand, openTyped, pickerMatches } from "./composer.js";
import { el, els } from "./dom.js";
import { localNotice } from "./feed.js";
import { followNewest, followNextMessage } from "./messages.js";
import { store } from "./state.js";

// Discord's "did not respond" deadline is 3 s; a little slack for the page's own round trip.
const ACK_WAIT_MS = 3500;

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

export async function submitCommand() {
  const entry = store.command;
  if (!entry) {
    const text = els.input.value.trim();
    if (!text) return;
    if (text.startsWith("/")) {
      if (openTyped()) return;
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
  // The visitor's own command: its reply comes at the bottom, so the list goes there and follows it.
  if (channelId === store.channelId) followNewest();
  await followInteraction(started, channelId);
}

export async function press(message, component, button) {
  button.classList.add("pending");
  // A button pressed anywhere (an old grid's U2) answers at the bottom: follow it there.
  followNextMessage();
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

export async function choose(message, component, values, select) {
  select.disabled = true;
  followNextMessage();
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

export function initModal() {
  els.modalForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = {};
    for (const field of els.modalFields.querySelectorAll("[name]")) values[field.name] = field.value;
    const channelId = els.modal.dataset.channelId;
    els.modal.close();
    followNextMessage();
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
}
