// The composer: typing "/" opens the command picker; picking a command opens its option fields (with
// autocomplete where the bot offers it), and a command typed out with text after it ("/imagine a red
// bicycle") opens with that text in its option; Enter or Send hands the filled-in command to actions.js.

import { submitCommand } from "./actions.js";
import { api, sleep } from "./api.js";
import { OPT, OPTION_TYPE_NAMES, commandEntries, describe, missingPermission } from "./commands.js";
import { el, els, icon } from "./dom.js";
import { canView, guild, store } from "./state.js";

// "/imagine a red bicycle": the command typed out in full, and the text after it (what Discord puts in
// the command's first text option). The longest name wins, so "/mod words add x" is "/mod words add".
export function typedCommand(text) {
  if (!text.startsWith("/")) return null;
  const typed = text.slice(1).replace(/^\s+/, "");
  const lower = typed.toLowerCase().replace(/\s+/g, " ");
  let best = null;
  for (const entry of commandEntries()) {
    if (lower !== entry.name && !lower.startsWith(entry.name + " ")) continue;
    if (!best || entry.name.length > best.name.length) best = entry;
  }
  if (!best) return null;
  // Skip as many words as the name has, keeping the rest exactly as typed.
  const words = best.name.split(" ").length;
  const rest = typed.split(/\s+/).length > words ? typed.replace(new RegExp("^(\\S+\\s+){" + words + "}"), "") : "";
  return { entry: best, rest: rest.trim() };
}

// The option the text typed after a command fills in: its first text option that offers no choices,
// a required one first.
function textOption(entry) {
  const free = entry.options.filter((o) => o.type === OPT.STRING && !(o.choices && o.choices.length));
  return free.find((o) => o.required) || free[0] || null;
}

export function pickerMatches() {
  const text = els.input.value;
  if (!text.startsWith("/")) return [];
  const typed = typedCommand(text);
  if (typed && typed.rest) return [typed.entry];
  const query = text.slice(1).trim().toLowerCase().replace(/\s+/g, " ");
  const found = commandEntries().filter((entry) => entry.name.startsWith(query) || (query && entry.name.includes(query)));
  // Commands this member may use first; Discord would not list the others at all.
  return [...found.filter((e) => !missingPermission(e.root)), ...found.filter((e) => missingPermission(e.root))];
}

export function updatePicker() {
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

// Opens `name`'s option fields; `text` (what was typed after the command) goes into its text option.
export function openCommand(name, text) {
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
  const option = text ? textOption(entry) : null;
  const filled = option ? els.fields.querySelector('[data-option="' + CSS.escape(option.name) + '"] input') : null;
  if (filled) {
    filled.value = filled.maxLength > 0 ? text.slice(0, filled.maxLength) : text;
    countCharacters(filled);
    filled.focus();
    filled.setSelectionRange(filled.value.length, filled.value.length);
    return;
  }
  const first = els.fields.querySelector("input, select, textarea");
  (first || els.commandCancel).focus();
}

// Enter on a typed-out command: the command opens with what followed it filled in.
export function openTyped() {
  const typed = typedCommand(els.input.value);
  if (!typed) return false;
  openCommand(typed.entry.name, typed.rest);
  return true;
}

export function closeCommand() {
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
    // Only the channels this member can see, as Discord's picker lists them.
    input = selectOf(g.channels.filter((c) => canView(c.id)).map((c) => [c.id, "#" + c.name]), true);
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
    // The bot's own limit, as it registered it: the box stops there, as Discord's does.
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
  if (input.maxLength > 0 && input.type === "text") {
    const counter = el("span", "char-counter");
    counter.setAttribute("aria-live", "polite");
    wrap.appendChild(counter);
    input.addEventListener("input", () => countCharacters(input));
    countCharacters(input);
  }
  return wrap;
}

// "12 / 1500" under a text option with a limit; it turns amber near the limit and red at it.
const NEAR_LIMIT = 0.9;

function countCharacters(input) {
  const counter = input.parentElement && input.parentElement.querySelector(".char-counter");
  if (!counter || !(input.maxLength > 0)) return;
  const used = input.value.length;
  counter.textContent = used + " / " + input.maxLength;
  counter.dataset.used = String(used);
  counter.dataset.limit = String(input.maxLength);
  counter.classList.toggle("near", used >= input.maxLength * NEAR_LIMIT && used < input.maxLength);
  counter.classList.toggle("full", used >= input.maxLength);
  counter.title = used >= input.maxLength ? "The bot takes at most " + input.maxLength + " characters here" : "";
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

export async function collectOptions(partial) {
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

export function initComposer() {
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
      const typed = typedCommand(els.input.value);
      if (typed && typed.rest) openCommand(typed.entry.name, typed.rest);
      else openCommand(matches[store.pickerIndex].name);
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
}
