// The bot's slash commands as a member sees them: the registered commands flattened to "/mod words add"
// entries, and which permission a member lacks to use one. Reads the store; draws nothing.

import { guild, member, store } from "./state.js";

export const OPT = { SUB: 1, GROUP: 2, STRING: 3, INTEGER: 4, BOOLEAN: 5, USER: 6, CHANNEL: 7, ROLE: 8, MENTIONABLE: 9, NUMBER: 10, ATTACHMENT: 11 };
export const OPTION_TYPE_NAMES = { 3: "text", 4: "integer", 5: "true/false", 6: "user", 7: "channel", 8: "role", 9: "user or role", 10: "number", 11: "file" };
const PERMISSION_NAMES = [
  [1n << 3n, "Administrator"], [1n << 5n, "Manage Server"], [1n << 13n, "Manage Messages"],
  [1n << 28n, "Manage Roles"], [1n << 4n, "Manage Channels"], [1n << 2n, "Ban Members"],
  [1n << 1n, "Kick Members"], [1n << 40n, "Moderate Members"], [1n << 7n, "View Audit Log"],
];
const ADMINISTRATOR = 1n << 3n;

function permissionsOf(userId) {
  const m = member(userId);
  try {
    return m ? BigInt(m.permissions) : 0n;
  } catch (_) {
    return 0n;
  }
}

// The names of the permissions the visitor lacks for `command`, or null if they may use it.
export function missingPermission(command) {
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
export function commandEntries() {
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
export function describe(text) {
  return text && text !== "…" && text !== "..." ? text : "";
}
