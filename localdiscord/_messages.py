"""Creating and editing messages the way Discord does: limits, attachments, mentions.

Shared by the channel routes (bot token), the interaction callback and the interaction webhook routes,
so every path enforces the same limits with the same error shapes.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from ._errors import FormErrors, empty_message, max_length, too_large
from ._media import sniff
from ._state import MESSAGE_FLAG_COMPONENTS_V2, Attachment, Message, World

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_ATTACHMENTS = 10
MAX_ROWS = 5
MAX_ROW_WIDTH = 5
MAX_CUSTOM_ID = 100
MAX_BUTTON_LABEL = 80
SELECT_TYPES = {3, 5, 6, 7, 8}
BUTTON = 2
ACTION_ROW = 1
LINK_STYLE = 5

_FILES_FIELD = re.compile(r"^files\[(\d+)\]$")
_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


@dataclass
class Upload:
    """One ``files[n]`` part of a multipart request."""

    field: str
    index: int
    filename: str
    declared_type: str | None
    data: bytes

    def summary(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "index": self.index,
            "filename": self.filename,
            "content_type": self.declared_type,
            "size": len(self.data),
        }


def upload_index(field_name: str, position: int) -> int:
    """The index a ``files[n]`` part is referred to by from ``attachments[].id``."""
    match = _FILES_FIELD.match(field_name)
    return int(match.group(1)) if match else position


class MessageWriter:
    """Applies request payloads to messages in ``world``."""

    def __init__(self, world: World) -> None:
        self.world = world

    # -- public operations ---------------------------------------------------------------------------

    def create(
        self,
        *,
        channel_id: int,
        guild_id: int | None,
        author_id: int,
        payload: dict[str, Any],
        uploads: list[Upload],
        message_type: int = 0,
        flags: int = 0,
        webhook_id: int | None = None,
        interaction_id: int | None = None,
        interaction_metadata: dict[str, Any] | None = None,
        visible_to: int | None = None,
        allow_empty: bool = False,
    ) -> Message:
        """A new message from ``payload`` (validated; raises :class:`DiscordError`)."""
        self._check_uploads(uploads)
        errors = FormErrors()
        self._check_fields(payload, errors, flags | int(payload.get("flags") or 0))
        ephemeral = bool(flags & 64)
        attachments = self._attachments_for_create(payload, uploads, channel_id, ephemeral, errors)
        errors.raise_if_any()
        message = Message(
            id=self.world.ids.new(),
            channel_id=channel_id,
            guild_id=guild_id,
            author_id=author_id,
            type=message_type,
            content=payload.get("content") or "",
            embeds=list(payload.get("embeds") or []),
            components=list(payload.get("components") or []),
            attachments=attachments,
            flags=flags | _settable_flags(payload.get("flags")),
            tts=bool(payload.get("tts") or False),
            webhook_id=webhook_id,
            application_id=self.world.application_id if webhook_id is not None else None,
            interaction_id=interaction_id,
            interaction_metadata=interaction_metadata,
            visible_to=visible_to,
            nonce=payload.get("nonce"),
            message_reference=_reference(payload.get("message_reference"), channel_id, guild_id),
        )
        if not allow_empty and _is_empty(message):
            raise empty_message()
        self._apply_mentions(message, payload)
        return self.world.add_message(message)

    def edit(self, message: Message, payload: dict[str, Any], uploads: list[Upload]) -> Message:
        """Apply an edit with Discord's semantics; the message is only changed if the edit is valid."""
        self._check_uploads(uploads)
        errors = FormErrors()
        self._check_fields(payload, errors, message.flags | int(payload.get("flags") or 0))
        attachments = self._attachments_for_edit(message, payload, uploads, errors)
        errors.raise_if_any()
        # Build the edited state on a copy first so a rejected edit (empty result) changes nothing.
        content = (payload.get("content") or "") if "content" in payload else message.content
        embeds = list(payload.get("embeds") or []) if "embeds" in payload else message.embeds
        components = list(payload.get("components") or []) if "components" in payload else message.components
        # Editing a deferred ("thinking") response turns it into a real message.
        flags = message.flags & ~(1 << 7)
        if "flags" in payload and payload["flags"] is not None:
            flags = (flags & ~_SETTABLE_FLAGS) | _settable_flags(payload["flags"])
        if not content.strip() and not embeds and not components and not attachments:
            raise empty_message()
        message.content = content
        message.embeds = embeds
        message.components = components
        message.attachments = attachments
        # The edit that fills a deferred ("thinking") reply is the reply's first content, not a change to
        # something a reader saw, and Discord's client marks no "(edited)" there; later edits are edits.
        # (Inferred from the client's behaviour: the API documents no rule for this timestamp.)
        if not message.loading:
            message.edited_timestamp = time.time()
        message.flags = flags
        message.edit_count += 1
        if "content" in payload or "allowed_mentions" in payload:
            self._apply_mentions(message, payload)
        return message

    # -- validation ----------------------------------------------------------------------------------

    def _check_uploads(self, uploads: list[Upload]) -> None:
        limit = self.world.attachment_size_limit
        if any(len(u.data) > limit for u in uploads):
            raise too_large()
        if len(uploads) > MAX_ATTACHMENTS:
            form = FormErrors()
            form.add(["files"], *max_length(MAX_ATTACHMENTS))
            form.raise_if_any()

    def _check_fields(self, payload: dict[str, Any], errors: FormErrors, flags: int) -> None:
        content = payload.get("content")
        if content is not None:
            if not isinstance(content, str):
                errors.add(["content"], "BASE_TYPE_STRING", "Must be a string.")
            elif len(content) > MAX_CONTENT:
                errors.add(["content"], *max_length(MAX_CONTENT))
        embeds = payload.get("embeds")
        if embeds is not None:
            if not isinstance(embeds, list):
                errors.add(["embeds"], "BASE_TYPE_LIST", "Must be a list.")
            elif len(embeds) > MAX_EMBEDS:
                errors.add(["embeds"], *max_length(MAX_EMBEDS))
        components = payload.get("components")
        if components is not None:
            if not isinstance(components, list):
                errors.add(["components"], "BASE_TYPE_LIST", "Must be a list.")
            else:
                check_components(components, errors, v2=bool(flags & MESSAGE_FLAG_COMPONENTS_V2))
        allowed = payload.get("allowed_mentions")
        if isinstance(allowed, dict):
            parse = allowed.get("parse") or []
            for kind in ("users", "roles"):
                if kind in parse and allowed.get(kind):
                    errors.add(
                        ["allowed_mentions", kind],
                        "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                        f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
                    )

    # -- attachments ---------------------------------------------------------------------------------

    def _store(self, upload: Upload, entry: dict[str, Any], channel_id: int, ephemeral: bool) -> Attachment:
        filename = str(entry.get("filename") or upload.filename or "file")
        content_type, width, height = sniff(upload.data, filename)
        if content_type == "application/octet-stream" and upload.declared_type:
            content_type = upload.declared_type
        attachment = Attachment(
            id=self.world.ids.new(),
            channel_id=channel_id,
            filename=filename,
            data=upload.data,
            content_type=content_type,
            width=width,
            height=height,
            description=entry.get("description"),
            ephemeral=ephemeral,
        )
        self.world.attachments[attachment.id] = attachment
        return attachment

    def _attachments_for_create(
        self,
        payload: dict[str, Any],
        uploads: list[Upload],
        channel_id: int,
        ephemeral: bool,
        errors: FormErrors,
    ) -> list[Attachment]:
        entries = payload.get("attachments")
        if entries is None:
            return [self._store(u, {}, channel_id, ephemeral) for u in uploads]
        by_index = {u.index: u for u in uploads}
        result = []
        for i, entry in enumerate(entries):
            upload = by_index.get(_as_int(entry.get("id")) if isinstance(entry, dict) else None)
            if upload is None:
                errors.add(["attachments", i, "id"], "ATTACHMENT_NOT_FOUND", "Unknown attachment or upload index.")
                continue
            result.append(self._store(upload, entry, channel_id, ephemeral))
        if len(result) > MAX_ATTACHMENTS:
            errors.add(["attachments"], *max_length(MAX_ATTACHMENTS))
        return result

    def _attachments_for_edit(
        self, message: Message, payload: dict[str, Any], uploads: list[Upload], errors: FormErrors
    ) -> list[Attachment]:
        if "attachments" not in payload:
            # Omitting the array keeps what is there; any uploads are appended.
            result = list(message.attachments)
            result += [self._store(u, {}, message.channel_id, message.ephemeral) for u in uploads]
        else:
            # The array lists everything the message keeps: retained ids plus new upload indexes.
            existing = {a.id: a for a in message.attachments}
            by_index = {u.index: u for u in uploads}
            result = []
            for i, entry in enumerate(payload.get("attachments") or []):
                ref = _as_int(entry.get("id")) if isinstance(entry, dict) else None
                if ref in existing:
                    result.append(existing[ref])
                elif ref in by_index:
                    result.append(self._store(by_index[ref], entry, message.channel_id, message.ephemeral))
                else:
                    errors.add(["attachments", i, "id"], "ATTACHMENT_NOT_FOUND", "Unknown attachment or upload index.")
        if len(result) > MAX_ATTACHMENTS:
            errors.add(["attachments"], *max_length(MAX_ATTACHMENTS))
        return result

    # -- mentions ------------------------------------------------------------------------------------

    def _apply_mentions(self, message: Message, payload: dict[str, Any]) -> None:
        users, roles, everyone = compute_mentions(
            self.world, message.content, payload.get("allowed_mentions"), message.guild_id
        )
        message.mention_ids = users
        message.mention_role_ids = roles
        message.mention_everyone = everyone
        # Sticky: once any version of the message would have pinged someone, "pinged no one" is false.
        message.pinged = message.pinged or bool(users or roles or everyone)


_SETTABLE_FLAGS = (1 << 2) | (1 << 12) | MESSAGE_FLAG_COMPONENTS_V2  # SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS, V2


def _settable_flags(value: Any) -> int:
    try:
        return int(value or 0) & _SETTABLE_FLAGS
    except (TypeError, ValueError):
        return 0


def _reference(ref: Any, channel_id: int, guild_id: int | None) -> dict[str, Any] | None:
    if not isinstance(ref, dict) or ref.get("message_id") is None:
        return None
    # Discord echoes references with string ids and fills in the channel and guild of the reply.
    out: dict[str, Any] = {
        "type": int(ref.get("type") or 0),
        "message_id": str(ref["message_id"]),
        "channel_id": str(ref.get("channel_id") or channel_id),
    }
    if ref.get("guild_id") is not None or guild_id is not None:
        out["guild_id"] = str(ref.get("guild_id") or guild_id)
    return out


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _is_empty(message: Message) -> bool:
    return not message.content.strip() and not message.embeds and not message.components and not message.attachments


def compute_mentions(
    world: World, content: str, allowed: Any, guild_id: int | None
) -> tuple[list[int], list[int], bool]:
    """Who ``content`` pings under ``allowed_mentions`` (absent = everything parses, as on Discord)."""
    if isinstance(allowed, dict):
        parse = set(allowed.get("parse") or [])
        allowed_users = {_as_int(u) for u in allowed.get("users") or []}
        allowed_roles = {_as_int(r) for r in allowed.get("roles") or []}
    else:
        parse = {"users", "roles", "everyone"}
        allowed_users = set()
        allowed_roles = set()
    everyone = "everyone" in parse and ("@everyone" in content or "@here" in content)
    users: list[int] = []
    for match in _USER_MENTION.finditer(content):
        uid = int(match.group(1))
        if uid in world.users and uid not in users and ("users" in parse or uid in allowed_users):
            users.append(uid)
    roles: list[int] = []
    for match in _ROLE_MENTION.finditer(content):
        rid = int(match.group(1))
        role = world.roles.get(rid)
        if role is None or rid in roles or (guild_id is not None and role.guild_id != guild_id):
            continue
        if "roles" in parse or rid in allowed_roles:
            roles.append(rid)
    return users, roles, everyone


def check_components(components: list[Any], errors: FormErrors, *, v2: bool) -> None:
    """Discord's layout limits and custom_id rules for a message's components."""
    if not v2:
        if len(components) > MAX_ROWS:
            errors.add(["components"], *max_length(MAX_ROWS))
        for r, row in enumerate(components):
            if not isinstance(row, dict):
                continue
            if row.get("type") != ACTION_ROW:
                errors.add(
                    ["components", r, "type"], "COMPONENT_TYPE_INVALID", "Top-level components must be action rows."
                )
                continue
            children = [c for c in row.get("components") or [] if isinstance(c, dict)]
            if len(children) > MAX_ROW_WIDTH:
                errors.add(["components", r, "components"], *max_length(MAX_ROW_WIDTH))
            if any(c.get("type") in SELECT_TYPES for c in children) and len(children) > 1:
                errors.add(
                    ["components", r, "components"],
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                    "The specified component exceeds the maximum width",
                )
    seen: dict[str, list[str | int]] = {}
    for path, component in walk_components(components, ["components"]):
        ctype = component.get("type")
        custom_id = component.get("custom_id")
        if ctype == BUTTON:
            label = component.get("label")
            if isinstance(label, str) and len(label) > MAX_BUTTON_LABEL:
                errors.add([*path, "label"], *max_length(MAX_BUTTON_LABEL))
            style = component.get("style")
            if style == LINK_STYLE and custom_id is not None:
                errors.add(
                    [*path, "custom_id"],
                    "BUTTON_COMPONENT_CUSTOM_ID_DISALLOWED",
                    "A link button cannot have a custom_id.",
                )
            if style not in (LINK_STYLE, 6) and custom_id is None:
                errors.add([*path, "custom_id"], "BUTTON_COMPONENT_CUSTOM_ID_REQUIRED", "A custom id is required")
        if custom_id is None:
            continue
        if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
            errors.add(
                [*path, "custom_id"], "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {MAX_CUSTOM_ID} in length."
            )
            continue
        if custom_id in seen:
            errors.add(
                [*path, "custom_id"], "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated"
            )
        seen.setdefault(custom_id, path)


def walk_components(items: list[Any], path: list[str | int]) -> list[tuple[list[str | int], dict[str, Any]]]:
    """Every component (rows, containers, sections and their accessories included) with its path."""
    found: list[tuple[list[str | int], dict[str, Any]]] = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            _visit(item, [*path, i], found)
    return found


def _visit(item: dict[str, Any], path: list[str | int], found: list[tuple[list[str | int], dict[str, Any]]]) -> None:
    found.append((path, item))
    children = item.get("components")
    if isinstance(children, list):
        for i, child in enumerate(children):
            if isinstance(child, dict):
                _visit(child, [*path, "components", i], found)
    for key in ("accessory", "component"):
        child = item.get(key)
        if isinstance(child, dict):
            _visit(child, [*path, key], found)


def find_component(components: list[Any], custom_id: str) -> dict[str, Any] | None:
    """The component carrying ``custom_id`` anywhere in ``components``."""
    for _, component in walk_components(components, []):
        if component.get("custom_id") == custom_id:
            return component
    return None


__all__ = [
    "MessageWriter",
    "Upload",
    "check_components",
    "compute_mentions",
    "find_component",
    "upload_index",
]
