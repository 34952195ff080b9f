"""The world LocalDiscord serves: users, one seeded guild, channels, roles, messages, commands.

Everything here is plain synchronous data so the REST handlers, the control API and in-process tests
all read and write the same objects. Wire shapes (``to_dict``) follow Discord's payloads closely enough
for discord.py's parsers; private bookkeeping that Discord would never send lives in ``_``-prefixed keys
that only the control API adds.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from ._snowflake import SnowflakeFactory, seed_id, snowflake_time_ms


class Perm:
    """Permission bits used by the seeded world (Discord's values)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    CHANGE_NICKNAME = 1 << 26
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    SEND_MESSAGES_IN_THREADS = 1 << 38
    MODERATE_MEMBERS = 1 << 40
    # Discord reports every defined bit for owners and administrators.
    ALL = (1 << 51) - 1


EVERYONE_PERMISSIONS = (
    Perm.CREATE_INSTANT_INVITE
    | Perm.ADD_REACTIONS
    | Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.CONNECT
    | Perm.SPEAK
    | Perm.CHANGE_NICKNAME
    | Perm.USE_APPLICATION_COMMANDS
    | Perm.SEND_MESSAGES_IN_THREADS
)
MODERATOR_PERMISSIONS = Perm.MANAGE_GUILD | Perm.MANAGE_MESSAGES
BOT_ROLE_PERMISSIONS = EVERYONE_PERMISSIONS | Perm.MANAGE_MESSAGES | Perm.MENTION_EVERYONE

MESSAGE_FLAG_EPHEMERAL = 1 << 6
MESSAGE_FLAG_LOADING = 1 << 7
MESSAGE_FLAG_COMPONENTS_V2 = 1 << 15

CHANNEL_GUILD_TEXT = 0
CHANNEL_DM = 1


def iso(ts: float) -> str:
    """Discord's ISO-8601 timestamp form for a Unix time."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


@dataclass
class User:
    id: int
    username: str
    bot: bool = False
    global_name: str | None = None
    # The language of this member's Discord client: what their interactions carry as ``locale``.
    locale: str = "en-US"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name if self.global_name is not None else self.username,
            "avatar": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
        }


@dataclass
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    mentionable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": self.managed,
            "mentionable": self.mentionable,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }


@dataclass
class Member:
    user_id: int
    guild_id: int
    role_ids: list[int] = field(default_factory=list)
    joined_at: float = field(default_factory=time.time)


OVERWRITE_ROLE = 0
OVERWRITE_MEMBER = 1


@dataclass
class Overwrite:
    """A channel's permission overwrite for one role (``@everyone`` has the guild's id) or one member."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"id": str(self.id), "type": self.type, "allow": str(self.allow), "deny": str(self.deny)}


@dataclass
class Channel:
    id: int
    type: int
    name: str | None
    guild_id: int | None = None
    position: int = 0
    recipient_ids: list[int] = field(default_factory=list)
    overwrites: list[Overwrite] = field(default_factory=list)


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    role_ids: list[int] = field(default_factory=list)
    channel_ids: list[int] = field(default_factory=list)
    members: dict[int, Member] = field(default_factory=dict)
    # The server's language (Community settings): GUILD_CREATE's preferred_locale, interactions' guild_locale.
    preferred_locale: str = "en-US"


@dataclass
class Attachment:
    id: int
    channel_id: int
    filename: str
    data: bytes
    content_type: str
    width: int | None = None
    height: int | None = None
    description: str | None = None
    ephemeral: bool = False

    @property
    def size(self) -> int:
        return len(self.data)

    def url_path(self) -> str:
        return f"/attachments/{self.channel_id}/{self.id}/{self.filename}"

    def to_dict(self, base_url: str) -> dict[str, Any]:
        url = base_url + self.url_path()
        payload: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": url,
            "proxy_url": url,
            "content_type": self.content_type,
        }
        if self.width is not None and self.height is not None:
            payload["width"] = self.width
            payload["height"] = self.height
        if self.description is not None:
            payload["description"] = self.description
        if self.ephemeral:
            payload["ephemeral"] = True
        return payload


@dataclass
class Message:
    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    type: int = 0
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    flags: int = 0
    tts: bool = False
    timestamp: float = field(default_factory=time.time)
    edited_timestamp: float | None = None
    mention_ids: list[int] = field(default_factory=list)
    mention_role_ids: list[int] = field(default_factory=list)
    mention_everyone: bool = False
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_id: int | None = None
    interaction_metadata: dict[str, Any] | None = None
    visible_to: int | None = None
    deleted: bool = False
    edit_count: int = 0
    pinged: bool = False
    nonce: str | int | None = None
    message_reference: dict[str, Any] | None = None

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & MESSAGE_FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & MESSAGE_FLAG_LOADING)


@dataclass
class Interaction:
    """One interaction and everything the bot did with it."""

    id: int
    token: str
    type: int
    application_id: int
    user_id: int
    channel_id: int
    guild_id: int | None
    payload: dict[str, Any]
    created_mono: float
    command: str | None = None
    custom_id: str | None = None
    message_id: int | None = None  # the clicked message, for component interactions
    dispatched_mono: float | None = None
    acked: bool = False
    response_type: int | None = None
    ack_mono: float | None = None
    original_message_id: int | None = None
    followup_message_ids: list[int] = field(default_factory=list)
    expired_manually: bool = False
    errors: list[dict[str, Any]] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    autocomplete_choices: list[dict[str, Any]] | None = None

    TOKEN_LIFETIME_MS = 15 * 60 * 1000
    ACK_DEADLINE_S = 3.0

    def token_expired(self, now_ms: float | None = None) -> bool:
        now_ms = time.time() * 1000 if now_ms is None else now_ms
        return self.expired_manually or now_ms - snowflake_time_ms(self.id) >= self.TOKEN_LIFETIME_MS

    def ack_window_missed(self, now_mono: float | None = None) -> bool:
        """True once 3 s have passed since dispatch without an initial response."""
        if self.acked:
            return False
        start = self.dispatched_mono if self.dispatched_mono is not None else self.created_mono
        return (time.monotonic() if now_mono is None else now_mono) - start > self.ACK_DEADLINE_S

    @property
    def ack_latency_ms(self) -> float | None:
        if self.ack_mono is None:
            return None
        start = self.dispatched_mono if self.dispatched_mono is not None else self.created_mono
        return round((self.ack_mono - start) * 1000, 3)

    def owns_message(self, message_id: int) -> bool:
        return message_id == self.original_message_id or message_id in self.followup_message_ids

    def to_control(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "user_id": str(self.user_id),
            "channel_id": str(self.channel_id),
            "guild_id": str(self.guild_id) if self.guild_id is not None else None,
            "command": self.command,
            "custom_id": self.custom_id,
            "message_id": str(self.message_id) if self.message_id is not None else None,
            "dispatched": self.dispatched_mono is not None,
            "acked": self.acked,
            "response_type": self.response_type,
            "ack_latency_ms": self.ack_latency_ms,
            "response_message_id": str(self.original_message_id) if self.original_message_id else None,
            "followup_message_ids": [str(m) for m in self.followup_message_ids],
            "token_expired": self.token_expired(),
            "errors": list(self.errors),
            "modal": self.modal,
            "autocomplete_choices": self.autocomplete_choices,
        }


class World:
    """All state of one LocalDiscord instance."""

    def __init__(self, *, token: str, attachment_size_limit: int) -> None:
        self.token = token
        self.attachment_size_limit = attachment_size_limit
        self.base_url = "http://127.0.0.1"
        self.ids = SnowflakeFactory()
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.roles: dict[int, Role] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Message] = {}
        self.channel_messages: dict[int, list[int]] = {}
        self.attachments: dict[int, Attachment] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.interactions: dict[int, Interaction] = {}
        self.interactions_by_token: dict[str, Interaction] = {}
        self.dm_by_user: dict[int, int] = {}
        self._seed()

    # -- seeding -------------------------------------------------------------------------------------

    def _seed(self) -> None:
        self.bot = User(seed_id(1), "localbot", bot=True, global_name="Local Bot")
        self.users[self.bot.id] = self.bot
        self.application_id = self.bot.id
        guild = Guild(id=seed_id(2), name="Local Guild", owner_id=seed_id(14))
        self.guilds[guild.id] = guild
        self.guild = guild
        # @everyone shares the guild's id, as on Discord.
        self._add_role(Role(guild.id, guild.id, "@everyone", EVERYONE_PERMISSIONS, position=0))
        self.moderator_role = self._add_role(Role(seed_id(6), guild.id, "Moderator", MODERATOR_PERMISSIONS, 1))
        self.bot_role = self._add_role(Role(seed_id(7), guild.id, "Local Bot", BOT_ROLE_PERMISSIONS, 2, managed=True))
        for n, name in enumerate(("general", "imagine", "audit-log")):
            channel = Channel(seed_id(3 + n), CHANNEL_GUILD_TEXT, name, guild.id, position=n)
            if name == "audit-log":
                # Staff only, as a server would set it up: @everyone may not see it, moderators and the
                # bot (which posts there) may.
                channel.overwrites = [
                    Overwrite(guild.id, OVERWRITE_ROLE, deny=Perm.VIEW_CHANNEL),
                    Overwrite(self.moderator_role.id, OVERWRITE_ROLE, allow=Perm.VIEW_CHANNEL),
                    Overwrite(self.bot_role.id, OVERWRITE_ROLE, allow=Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES),
                ]
            self.channels[channel.id] = channel
            self.channel_messages[channel.id] = []
            guild.channel_ids.append(channel.id)
        guild.members[self.bot.id] = Member(self.bot.id, guild.id, [self.bot_role.id])
        for n, name in enumerate(("alice", "bob", "carol", "mod", "owner")):
            user = User(seed_id(10 + n), name)
            self.users[user.id] = user
            roles = [self.moderator_role.id] if name == "mod" else []
            guild.members[user.id] = Member(user.id, guild.id, roles)

    def add_guild(self, name: str, *, guild_id: int | None = None) -> Guild:
        """Another guild like the seeded one: its roles, the channels general, imagine and audit-log, the
        bot and every seeded member (moderators keep a moderator role here too). ``guild_id`` picks its id,
        and with it its shard (``(id >> 22) % count``)."""
        gid = guild_id if guild_id is not None else self.ids.new()
        if gid in self.guilds:
            raise ValueError(f"guild {gid} exists")
        guild = Guild(id=gid, name=name, owner_id=self.guild.owner_id)
        self.guilds[gid] = guild
        self._add_role(Role(gid, gid, "@everyone", EVERYONE_PERMISSIONS, position=0))
        moderator = self._add_role(Role(self.ids.new(), gid, "Moderator", MODERATOR_PERMISSIONS, 1))
        bot_role = self._add_role(Role(self.ids.new(), gid, "Local Bot", BOT_ROLE_PERMISSIONS, 2, managed=True))
        for n, channel_name in enumerate(("general", "imagine", "audit-log")):
            channel = Channel(self.ids.new(), CHANNEL_GUILD_TEXT, channel_name, gid, position=n)
            self.channels[channel.id] = channel
            self.channel_messages[channel.id] = []
            guild.channel_ids.append(channel.id)
        guild.members[self.bot.id] = Member(self.bot.id, gid, [bot_role.id])
        for user_id, member in self.guild.members.items():
            if user_id != self.bot.id:
                roles = [moderator.id] if self.moderator_role.id in member.role_ids else []
                guild.members[user_id] = Member(user_id, gid, roles)
        return guild

    def _add_role(self, role: Role) -> Role:
        self.roles[role.id] = role
        self.guilds[role.guild_id].role_ids.append(role.id)
        return role

    # -- lookups -------------------------------------------------------------------------------------

    def user_by_ref(self, ref: Any) -> User | None:
        """A user by id (int or string) or by username."""
        if ref is None:
            return None
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            return self.users.get(int(ref))
        for user in self.users.values():
            if user.username == ref:
                return user
        return None

    def channel_by_ref(self, ref: Any) -> Channel | None:
        """A channel by id or by name (guild text channels only for names)."""
        if ref is None:
            return None
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            return self.channels.get(int(ref))
        name = str(ref).lstrip("#")
        for channel in self.channels.values():
            if channel.name == name and channel.type == CHANNEL_GUILD_TEXT:
                return channel
        return None

    def role_by_ref(self, ref: Any, guild_id: int | None = None) -> Role | None:
        if ref is None:
            return None
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            return self.roles.get(int(ref))
        for role in self.roles.values():
            if role.name == str(ref).lstrip("@") and (guild_id is None or role.guild_id == guild_id):
                return role
        return None

    def guild_by_ref(self, ref: Any) -> Guild | None:
        if ref is None:
            return self.guild
        try:
            return self.guilds.get(int(ref))
        except (TypeError, ValueError):
            return None

    def live_message(self, message_id: int) -> Message | None:
        message = self.messages.get(message_id)
        return None if message is None or message.deleted else message

    # -- permissions ---------------------------------------------------------------------------------

    def member_permissions(self, guild_id: int, user_id: int) -> int:
        guild = self.guilds[guild_id]
        if user_id == guild.owner_id:
            return Perm.ALL
        member = guild.members.get(user_id)
        if member is None:
            return 0
        perms = self.roles[guild.id].permissions
        for role_id in member.role_ids:
            role = self.roles.get(role_id)
            if role is not None:
                perms |= role.permissions
        return Perm.ALL if perms & Perm.ADMINISTRATOR else perms

    def channel_permissions(self, channel: Channel, user_id: int) -> int:
        """A member's permissions in ``channel``: the guild's, then the channel's overwrites in Discord's
        order (@everyone, the member's roles together, the member), and nothing without View Channel."""
        if channel.guild_id is None:
            return Perm.ALL & ~Perm.ADMINISTRATOR
        perms = self.member_permissions(channel.guild_id, user_id)
        if perms & Perm.ADMINISTRATOR:
            return Perm.ALL
        member = self.guilds[channel.guild_id].members.get(user_id)
        if member is None:
            return 0
        by_id = {(o.type, o.id): o for o in channel.overwrites}
        everyone = by_id.get((OVERWRITE_ROLE, channel.guild_id))
        if everyone is not None:
            perms = (perms & ~everyone.deny) | everyone.allow
        allow = deny = 0
        for role_id in member.role_ids:
            overwrite = by_id.get((OVERWRITE_ROLE, role_id))
            if overwrite is not None:
                allow |= overwrite.allow
                deny |= overwrite.deny
        perms = (perms & ~deny) | allow
        own = by_id.get((OVERWRITE_MEMBER, user_id))
        if own is not None:
            perms = (perms & ~own.deny) | own.allow
        return perms if perms & Perm.VIEW_CHANNEL else 0

    # -- mutations used by the control API -------------------------------------------------------------

    def add_user(
        self,
        username: str,
        *,
        guild_id: int | None = None,
        role_ids: list[int] | None = None,
        moderator: bool = False,
        bot: bool = False,
    ) -> User:
        user = User(self.ids.new(), username, bot=bot)
        self.users[user.id] = user
        guild = self.guilds[guild_id] if guild_id is not None else self.guild
        roles = list(role_ids or [])
        if moderator and self.moderator_role.id not in roles:
            roles.append(self.moderator_role.id)
        guild.members[user.id] = Member(user.id, guild.id, roles)
        return user

    def add_role(self, name: str, permissions: int, *, guild_id: int | None = None, mentionable: bool = False) -> Role:
        guild = self.guilds[guild_id] if guild_id is not None else self.guild
        position = max((self.roles[r].position for r in guild.role_ids), default=0) + 1
        return self._add_role(Role(self.ids.new(), guild.id, name, permissions, position, mentionable=mentionable))

    def dm_channel_for(self, user_id: int) -> Channel:
        channel_id = self.dm_by_user.get(user_id)
        if channel_id is not None:
            return self.channels[channel_id]
        channel = Channel(self.ids.new(), CHANNEL_DM, None, None, recipient_ids=[user_id])
        self.channels[channel.id] = channel
        self.channel_messages[channel.id] = []
        self.dm_by_user[user_id] = channel.id
        return channel

    def add_message(self, message: Message) -> Message:
        self.messages[message.id] = message
        self.channel_messages.setdefault(message.channel_id, []).append(message.id)
        return message

    # -- wire shapes ---------------------------------------------------------------------------------

    def member_dict(self, guild_id: int, user_id: int, *, with_user: bool = True) -> dict[str, Any]:
        guild = self.guilds[guild_id]
        member = guild.members[user_id]
        payload: dict[str, Any] = {
            "roles": [str(r) for r in member.role_ids],
            "nick": None,
            "avatar": None,
            "banner": None,
            "joined_at": iso(member.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
            "permissions": str(self.member_permissions(guild_id, user_id)),
        }
        if with_user:
            payload["user"] = self.users[user_id].to_dict()
        return payload

    def channel_dict(self, channel: Channel, *, for_user: int | None = None) -> dict[str, Any]:
        if channel.type == CHANNEL_DM:
            return {
                "id": str(channel.id),
                "type": CHANNEL_DM,
                "last_message_id": self._last_message_id(channel.id),
                "recipients": [self.users[u].to_dict() for u in channel.recipient_ids],
                "flags": 0,
            }
        payload: dict[str, Any] = {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "position": channel.position,
            "permission_overwrites": [o.to_dict() for o in channel.overwrites],
            "parent_id": None,
            "topic": None,
            "nsfw": False,
            "last_message_id": self._last_message_id(channel.id),
            "rate_limit_per_user": 0,
            "flags": 0,
        }
        if for_user is not None and channel.guild_id is not None:
            payload["permissions"] = str(self.channel_permissions(channel, for_user))
        return payload

    def _last_message_id(self, channel_id: int) -> str | None:
        for message_id in reversed(self.channel_messages.get(channel_id, [])):
            message = self.messages[message_id]
            if not message.deleted and not message.ephemeral:
                return str(message_id)
        return None

    def guild_create_dict(self, guild: Guild) -> dict[str, Any]:
        now = iso(time.time())
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "region": "local",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": guild.preferred_locale,
            "system_channel_id": str(guild.channel_ids[0]) if guild.channel_ids else None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "features": [],
            "emojis": [],
            "stickers": [],
            "roles": [self.roles[r].to_dict() for r in guild.role_ids],
            "unavailable": False,
            "large": False,
            "lazy": True,
            "joined_at": now,
            "member_count": len(guild.members),
            "max_members": 500000,
            # Discord only sends members it chooses to (the bot itself, usually); bots that need the
            # list chunk it, which the gateway answers from the same data.
            "members": [],
            "channels": [self.channel_dict(self.channels[c]) for c in guild.channel_ids],
            "threads": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def guild_update_dict(self, guild: Guild) -> dict[str, Any]:
        """GUILD_UPDATE's guild: GUILD_CREATE's without the fields only GUILD_CREATE carries."""
        only_create = {"joined_at", "large", "member_count", "members", "channels", "threads", "presences",
                       "voice_states", "stage_instances", "guild_scheduled_events", "soundboard_sounds", "lazy",
                       "unavailable"}  # fmt: skip
        return {k: v for k, v in self.guild_create_dict(guild).items() if k not in only_create}

    def message_dict(self, message: Message, *, private: bool = False) -> dict[str, Any]:
        author = self.users.get(message.author_id)
        payload: dict[str, Any] = {
            "id": str(message.id),
            "type": message.type,
            "channel_id": str(message.channel_id),
            "author": author.to_dict() if author else {"id": str(message.author_id), "username": "unknown"},
            "content": message.content,
            "timestamp": iso(message.timestamp),
            "edited_timestamp": iso(message.edited_timestamp) if message.edited_timestamp else None,
            "tts": message.tts,
            "mention_everyone": message.mention_everyone,
            "mentions": [self.users[u].to_dict() for u in message.mention_ids if u in self.users],
            "mention_roles": [str(r) for r in message.mention_role_ids],
            "attachments": [a.to_dict(self.base_url) for a in message.attachments],
            "embeds": message.embeds,
            "components": message.components,
            "pinned": False,
            "flags": message.flags,
        }
        if message.guild_id is not None:
            payload["guild_id"] = str(message.guild_id)
        if message.webhook_id is not None:
            payload["webhook_id"] = str(message.webhook_id)
        if message.application_id is not None:
            payload["application_id"] = str(message.application_id)
        if message.interaction_metadata is not None:
            payload["interaction_metadata"] = message.interaction_metadata
        if message.nonce is not None:
            payload["nonce"] = message.nonce
        if message.message_reference is not None:
            payload["message_reference"] = message.message_reference
        if private:
            payload.update(
                {
                    "_ephemeral": message.ephemeral,
                    "_visible_to": str(message.visible_to) if message.visible_to is not None else None,
                    "_deleted": message.deleted,
                    "_edit_count": message.edit_count,
                    "_interaction_id": str(message.interaction_id) if message.interaction_id else None,
                    "_pinged": message.pinged,
                    "_loading": message.loading,
                }
            )
        return payload

    def command_lists(self) -> dict[str, Any]:
        return {
            "global": list(self.global_commands),
            "guilds": {str(g): list(cmds) for g, cmds in self.guild_commands.items()},
        }

    def snapshot(self) -> dict[str, Any]:
        """What ``GET /_control/state`` answers."""
        guilds = []
        for guild in self.guilds.values():
            guilds.append(
                {
                    "id": str(guild.id),
                    "name": guild.name,
                    "owner_id": str(guild.owner_id),
                    "preferred_locale": guild.preferred_locale,
                    "channels": [
                        {
                            "id": str(c),
                            "name": self.channels[c].name,
                            "type": self.channels[c].type,
                            "permission_overwrites": [o.to_dict() for o in self.channels[c].overwrites],
                        }
                        for c in guild.channel_ids
                    ],
                    "roles": [
                        {
                            "id": str(r),
                            "name": self.roles[r].name,
                            "permissions": str(self.roles[r].permissions),
                            "position": self.roles[r].position,
                        }
                        for r in guild.role_ids
                    ],
                    "members": [self.member_summary(guild.id, uid) for uid in guild.members],
                }
            )
        return {
            "application_id": str(self.application_id),
            "bot_user": self.bot.to_dict(),
            "guilds": guilds,
            "dm_channels": [{"id": str(cid), "recipient_id": str(uid)} for uid, cid in sorted(self.dm_by_user.items())],
            "commands": self.command_lists(),
            "attachment_size_limit": self.attachment_size_limit,
        }

    def member_summary(self, guild_id: int, user_id: int) -> dict[str, Any]:
        guild = self.guilds[guild_id]
        member = guild.members[user_id]
        user = self.users[user_id]
        return {
            "id": str(user_id),
            "username": user.username,
            "bot": user.bot,
            "locale": user.locale,
            "roles": [str(r) for r in member.role_ids],
            "permissions": str(self.member_permissions(guild_id, user_id)),
            # What a Discord client works out from the overwrites: the channels it lists for this member.
            "channel_permissions": {
                str(c): str(self.channel_permissions(self.channels[c], user_id)) for c in guild.channel_ids
            },
        }
