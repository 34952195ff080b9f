// What the page knows: the world the local Discord sent, every message it has seen, and the visitor's choices.
//
// One mutable `store` shared by every module, the lookups into the world (guild, members, roles,
// channels), and the per-channel message maps with the rule for which messages this visitor may see.
// No DOM here; the modules that draw read from it.

export const FLAG_EPHEMERAL = 1 << 6;

export const store = {
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

// -- the world ---------------------------------------------------------------------------------------

export function guild() {
  return store.state && store.state.guilds && store.state.guilds[0];
}

export function member(userId) {
  const g = guild();
  return g ? g.members.find((m) => m.id === String(userId)) : undefined;
}

export function me() {
  return member(store.userId);
}

export function roleName(roleId) {
  const g = guild();
  const role = g && g.roles.find((r) => r.id === String(roleId));
  return role ? role.name : "unknown-role";
}

export function channel(channelId) {
  const g = guild();
  return g ? g.channels.find((c) => c.id === String(channelId)) : undefined;
}

export function channelByName(name) {
  const g = guild();
  return g ? g.channels.find((c) => c.name === name) : undefined;
}

const VIEW_CHANNEL = 1n << 10n;

// Whether the visitor may see a channel: the local Discord works out each member's permissions in each
// channel from its overwrites and the member's roles, as Discord does; the page only reads the bit.
export function canView(channelId) {
  const m = me();
  const perms = m && m.channel_permissions ? m.channel_permissions[String(channelId)] : undefined;
  if (perms === undefined) return true;  // nobody chosen yet
  try {
    return (BigInt(perms) & VIEW_CHANNEL) !== 0n;
  } catch (_) {
    return true;
  }
}

export function displayName(user) {
  if (!user) return "unknown";
  return user.global_name || user.username || "unknown";
}

export function memberRoleLabel(m) {
  const g = guild();
  if (!m || !g) return "";
  if (m.bot) return "bot";
  if (m.id === g.owner_id) return "server owner";
  const names = m.roles.map(roleName).filter((n) => n !== "@everyone");
  return names.length ? names.join(", ") : "member";
}

// -- messages ----------------------------------------------------------------------------------------

export function channelMessages(channelId) {
  const key = String(channelId);
  if (!store.messages.has(key)) store.messages.set(key, new Map());
  return store.messages.get(key);
}

export function visible(message) {
  if (message._deleted) return false;
  if (store.dismissed.has(message.id)) return false;
  if (message._ephemeral || (message.flags & FLAG_EPHEMERAL)) return message._visible_to === store.userId;
  return true;
}

// -- the visitor's saved choices --------------------------------------------------------------------------

// Remembering the visitor's identity and channel is a nicety; a browser that refuses storage still works.
export function remember(key, value) {
  try {
    localStorage.setItem("playground." + key, value);
  } catch (_) { /* storage disabled */ }
}

export function recall(key) {
  try {
    return localStorage.getItem("playground." + key) || "";
  } catch (_) {
    return "";
  }
}
