"""Building INTERACTION_CREATE payloads the way the Discord client would.

The control API speaks in friendly terms ("alice runs /mod words add word=foo in #general"); this module
turns that into the exact payload Discord sends: resolved option types from the registered command,
nested sub-command options, ``resolved`` users/members/roles/channels/attachments, the member's computed
permissions, and the checks the Discord client makes before it lets a user run anything (registered
command, permissions, choices, required options, enabled component).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from typing import Any

from ._errors import ControlError
from ._media import sniff
from ._messages import SELECT_TYPES, find_component, walk_components
from ._state import CHANNEL_DM, Attachment, Channel, Interaction, Perm, World

OPT_SUB_COMMAND = 1
OPT_SUB_COMMAND_GROUP = 2
OPT_STRING = 3
OPT_INTEGER = 4
OPT_BOOLEAN = 5
OPT_USER = 6
OPT_CHANNEL = 7
OPT_ROLE = 8
OPT_MENTIONABLE = 9
OPT_NUMBER = 10
OPT_ATTACHMENT = 11

CMD_CHAT_INPUT = 1
CMD_USER = 2
CMD_MESSAGE = 3

INTERACTION_COMMAND = 2
INTERACTION_COMPONENT = 3
INTERACTION_AUTOCOMPLETE = 4
INTERACTION_MODAL_SUBMIT = 5


class InteractionFactory:
    """Creates :class:`Interaction` records (not yet dispatched) in ``world``."""

    def __init__(self, world: World) -> None:
        self.world = world

    # -- shared envelope -----------------------------------------------------------------------------

    def _context(self, user_ref: Any, channel_ref: Any, guild_ref: Any) -> tuple[Any, Channel, int | None]:
        world = self.world
        user = world.user_by_ref(user_ref)
        if user is None:
            raise ControlError(404, f"unknown user {user_ref!r}")
        channel = world.channel_by_ref(channel_ref)
        if channel is None:
            raise ControlError(404, f"unknown channel {channel_ref!r}")
        guild_id = channel.guild_id
        if guild_ref is not None:
            guild = world.guild_by_ref(guild_ref)
            if guild is None or guild.id != channel.guild_id:
                raise ControlError(400, f"channel {channel.id} is not in guild {guild_ref!r}")
        if guild_id is not None and user.id not in world.guilds[guild_id].members:
            raise ControlError(400, f"user {user.username!r} is not a member of guild {guild_id}")
        if guild_id is not None and not world.channel_permissions(channel, user.id) & Perm.VIEW_CHANNEL:
            # Discord's client does not even list a channel its member may not view.
            raise ControlError(403, f"user {user.username!r} cannot view channel {channel.name!r}")
        if channel.type == CHANNEL_DM and user.id not in channel.recipient_ids:
            raise ControlError(400, f"user {user.username!r} is not in DM channel {channel.id}")
        return user, channel, guild_id

    def _new(
        self,
        *,
        itype: int,
        user: Any,
        channel: Channel,
        guild_id: int | None,
        data: dict[str, Any],
        backdate_s: float,
        message: dict[str, Any] | None = None,
    ) -> Interaction:
        world = self.world
        at_ms = int((time.time() - backdate_s) * 1000) if backdate_s else None
        iid = world.ids.new(at_ms=at_ms)
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(world.application_id),
            "type": itype,
            "token": token,
            "version": 1,
            "channel_id": str(channel.id),
            "locale": getattr(user, "locale", "en-US"),
            "entitlements": [],
            # discord.py reads this key unconditionally (Interaction.filesize_limit).
            "attachment_size_limit": world.attachment_size_limit,
            "data": data,
        }
        if guild_id is not None:
            guild_locale = world.guilds[guild_id].preferred_locale
            payload.update(
                {
                    "guild_id": str(guild_id),
                    "guild": {"id": str(guild_id), "locale": guild_locale, "features": []},
                    "guild_locale": guild_locale,
                    "channel": world.channel_dict(channel, for_user=user.id),
                    "member": world.member_dict(guild_id, user.id),
                    "app_permissions": str(world.channel_permissions(channel, world.bot.id)),
                    "authorizing_integration_owners": {"0": str(guild_id)},
                    "context": 0,
                }
            )
        else:
            payload.update(
                {
                    "channel": world.channel_dict(channel),
                    "user": user.to_dict(),
                    "app_permissions": str(Perm.ALL & ~Perm.ADMINISTRATOR),
                    "authorizing_integration_owners": {"1": str(user.id)},
                    "context": 1,
                }
            )
        if message is not None:
            payload["message"] = message
        interaction = Interaction(
            id=iid,
            token=token,
            type=itype,
            application_id=world.application_id,
            user_id=user.id,
            channel_id=channel.id,
            guild_id=guild_id,
            payload=payload,
            created_mono=time.monotonic(),
        )
        world.interactions[iid] = interaction
        world.interactions_by_token[token] = interaction
        return interaction

    # -- slash and context-menu commands ----------------------------------------------------------------

    def command(
        self,
        *,
        user: Any,
        channel: Any,
        command: str,
        options: dict[str, Any] | None,
        guild_id: Any = None,
        backdate_s: float = 0.0,
        force: bool = False,
        focused: str | None = None,
    ) -> Interaction:
        """A slash/context-menu invocation, or with ``focused`` an autocomplete request for that option."""
        member_user, chan, gid = self._context(user, channel, guild_id)
        options = dict(options or {})
        cmd, path = self._find_command(command, gid)
        if gid is not None and not force:
            required = cmd.get("default_member_permissions")
            if required is not None and not self._may_use(gid, member_user.id, int(required)):
                raise ControlError(403, "member cannot use this command")
        if gid is None and cmd.get("dm_permission") is False and not force:
            raise ControlError(403, "command is not available in DMs")
        resolved: dict[str, dict[str, Any]] = {}
        data: dict[str, Any] = {"id": str(cmd["id"]), "name": cmd["name"], "type": cmd.get("type", CMD_CHAT_INPUT)}
        if cmd.get("guild_id") is not None:
            data["guild_id"] = cmd["guild_id"]
        ctype = cmd.get("type", CMD_CHAT_INPUT)
        if ctype == CMD_CHAT_INPUT:
            data["options"] = self._chat_input_options(cmd, path, options, chan, gid, resolved, focused)
        elif focused is not None:
            raise ControlError(400, "only slash-command options can be autocompleted")
        else:
            data["target_id"] = self._context_menu_target(ctype, options, chan, gid, resolved)
        if resolved:
            data["resolved"] = resolved
        itype = INTERACTION_COMMAND if focused is None else INTERACTION_AUTOCOMPLETE
        interaction = self._new(
            itype=itype, user=member_user, channel=chan, guild_id=gid, data=data, backdate_s=backdate_s
        )
        interaction.command = " ".join([cmd["name"], *path])
        return interaction

    def _may_use(self, guild_id: int, user_id: int, required: int) -> bool:
        perms = self.world.member_permissions(guild_id, user_id)
        if perms & Perm.ADMINISTRATOR:
            return True
        # "0" means the command is hidden from everyone but administrators.
        return required != 0 and perms & required == required

    def _find_command(self, command: str, guild_id: int | None) -> tuple[dict[str, Any], list[str]]:
        world = self.world
        pool = list(world.guild_commands.get(guild_id, [])) if guild_id is not None else []
        pool += world.global_commands
        # Context-menu names may contain spaces and capitals, so an exact name match wins first.
        for cmd in pool:
            if cmd.get("type", CMD_CHAT_INPUT) != CMD_CHAT_INPUT and cmd["name"] == command:
                return cmd, []
        head, *path = command.strip().lstrip("/").split()
        for cmd in pool:
            if cmd.get("type", CMD_CHAT_INPUT) == CMD_CHAT_INPUT and cmd["name"] == head:
                return cmd, path
        known = sorted({c["name"] for c in pool})
        raise ControlError(404, f"unknown command {command!r}", registered=known)

    def _chat_input_options(
        self,
        cmd: dict[str, Any],
        path: list[str],
        values: dict[str, Any],
        channel: Channel,
        guild_id: int | None,
        resolved: dict[str, dict[str, Any]],
        focused: str | None = None,
    ) -> list[dict[str, Any]]:
        defs = cmd.get("options") or []
        chain: list[tuple[str, int]] = []
        for name in path:
            sub = next(
                (o for o in defs if o["name"] == name and o["type"] in (OPT_SUB_COMMAND, OPT_SUB_COMMAND_GROUP)), None
            )
            if sub is None:
                raise ControlError(404, f"unknown sub-command {name!r} of /{cmd['name']}")
            chain.append((name, sub["type"]))
            defs = sub.get("options") or []
        subs = [o["name"] for o in defs if o["type"] in (OPT_SUB_COMMAND, OPT_SUB_COMMAND_GROUP)]
        if subs:
            raise ControlError(400, f"/{' '.join([cmd['name'], *path])} needs a sub-command: {', '.join(subs)}")
        if focused is None:
            leaf = self._leaf_options(defs, values, channel, guild_id, resolved)
        else:
            leaf = self._autocomplete_options(defs, values, focused)
        for name, otype in reversed(chain):
            leaf = [{"name": name, "type": otype, "options": leaf}]
        return leaf

    def _leaf_options(
        self,
        defs: list[dict[str, Any]],
        values: dict[str, Any],
        channel: Channel,
        guild_id: int | None,
        resolved: dict[str, dict[str, Any]],
    ) -> list[dict[str, Any]]:
        by_name = {o["name"]: o for o in defs}
        unknown = sorted(set(values) - set(by_name))
        if unknown:
            raise ControlError(400, f"unknown option(s) {unknown}; the command takes {sorted(by_name)}")
        missing = [o["name"] for o in defs if o.get("required") and o["name"] not in values]
        if missing:
            raise ControlError(400, f"missing required option(s) {missing}")
        out = []
        # Discord sends options in the command's declared order, not the order the user typed them.
        for opt in defs:
            if opt["name"] not in values:
                continue
            value = self._option_value(opt, values[opt["name"]], channel, guild_id, resolved)
            out.append({"name": opt["name"], "type": opt["type"], "value": value})
        return out

    @staticmethod
    def _autocomplete_options(defs: list[dict[str, Any]], values: dict[str, Any], focused: str) -> list[dict[str, Any]]:
        """What the client sends while the user is typing: partial raw values, one marked focused."""
        by_name = {o["name"]: o for o in defs}
        if focused not in by_name or not by_name[focused].get("autocomplete"):
            raise ControlError(400, f"option {focused!r} does not have autocomplete")
        unknown = sorted(set(values) - set(by_name))
        if unknown:
            raise ControlError(400, f"unknown option(s) {unknown}; the command takes {sorted(by_name)}")
        out = []
        for opt in defs:
            if opt["name"] == focused:
                out.append(
                    {"name": focused, "type": opt["type"], "value": str(values.get(focused, "")), "focused": True}
                )
            elif opt["name"] in values:
                out.append({"name": opt["name"], "type": opt["type"], "value": values[opt["name"]]})
        return out

    def _option_value(
        self,
        opt: dict[str, Any],
        raw: Any,
        channel: Channel,
        guild_id: int | None,
        resolved: dict[str, dict[str, Any]],
    ) -> Any:
        otype = opt["type"]
        name = opt["name"]
        if otype == OPT_STRING:
            value: Any = str(raw)
            if len(value) < int(opt.get("min_length", 0)) or len(value) > int(opt.get("max_length", 6000)):
                raise ControlError(400, f"option {name!r}: length outside the command's limits")
        elif otype == OPT_INTEGER:
            if isinstance(raw, bool) or not isinstance(raw, int | str):
                raise ControlError(400, f"option {name!r} must be an integer")
            try:
                value = int(raw)
            except ValueError as exc:
                raise ControlError(400, f"option {name!r} must be an integer") from exc
            self._check_range(opt, value)
        elif otype == OPT_NUMBER:
            try:
                value = float(raw)
            except (TypeError, ValueError) as exc:
                raise ControlError(400, f"option {name!r} must be a number") from exc
            self._check_range(opt, value)
        elif otype == OPT_BOOLEAN:
            value = raw.lower() in ("1", "true", "yes", "on") if isinstance(raw, str) else bool(raw)
        elif otype == OPT_USER:
            value = self._resolve_user(raw, guild_id, resolved, name)
        elif otype == OPT_ROLE:
            value = self._resolve_role(raw, guild_id, resolved, name)
        elif otype == OPT_MENTIONABLE:
            if self.world.user_by_ref(raw) is not None:
                value = self._resolve_user(raw, guild_id, resolved, name)
            else:
                value = self._resolve_role(raw, guild_id, resolved, name)
        elif otype == OPT_CHANNEL:
            target = self.world.channel_by_ref(raw)
            if target is None:
                raise ControlError(400, f"option {name!r}: unknown channel {raw!r}")
            entry = {"id": str(target.id), "name": target.name, "type": target.type, "permissions": "0"}
            if guild_id is not None:
                entry["permissions"] = str(self.world.channel_permissions(target, self.world.bot.id))
                entry["guild_id"] = str(guild_id)
            resolved.setdefault("channels", {})[str(target.id)] = entry
            value = str(target.id)
        elif otype == OPT_ATTACHMENT:
            attachment = self._store_attachment(raw, channel, name)
            resolved.setdefault("attachments", {})[str(attachment.id)] = attachment.to_dict(self.world.base_url)
            value = str(attachment.id)
        else:
            value = raw
        choices = opt.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise ControlError(
                400, f"option {name!r}: {raw!r} is not one of the choices {[c['value'] for c in choices]}"
            )
        return value

    @staticmethod
    def _check_range(opt: dict[str, Any], value: float) -> None:
        low, high = opt.get("min_value"), opt.get("max_value")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ControlError(400, f"option {opt['name']!r}: {value} is outside [{low}, {high}]")

    def _resolve_user(self, raw: Any, guild_id: int | None, resolved: dict[str, dict[str, Any]], name: str) -> str:
        user = self.world.user_by_ref(raw)
        if user is None:
            raise ControlError(400, f"option {name!r}: unknown user {raw!r}")
        resolved.setdefault("users", {})[str(user.id)] = user.to_dict()
        if guild_id is not None and user.id in self.world.guilds[guild_id].members:
            member = self.world.member_dict(guild_id, user.id, with_user=False)
            resolved.setdefault("members", {})[str(user.id)] = member
        return str(user.id)

    def _resolve_role(self, raw: Any, guild_id: int | None, resolved: dict[str, dict[str, Any]], name: str) -> str:
        role = self.world.role_by_ref(raw, guild_id)
        if role is None:
            raise ControlError(400, f"option {name!r}: unknown role {raw!r}")
        resolved.setdefault("roles", {})[str(role.id)] = role.to_dict()
        return str(role.id)

    def _store_attachment(self, raw: Any, channel: Channel, name: str) -> Attachment:
        if not isinstance(raw, dict) or "data_b64" not in raw:
            raise ControlError(400, f"option {name!r} needs {{'filename', 'content_type', 'data_b64'}}")
        try:
            data = base64.b64decode(raw["data_b64"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ControlError(400, f"option {name!r}: data_b64 is not valid base64") from exc
        filename = str(raw.get("filename") or "upload.bin")
        sniffed, width, height = sniff(data, filename)
        content_type = raw.get("content_type") or sniffed
        attachment = Attachment(
            id=self.world.ids.new(),
            channel_id=channel.id,
            filename=filename,
            data=data,
            content_type=content_type,
            width=width,
            height=height,
            ephemeral=True,
        )
        self.world.attachments[attachment.id] = attachment
        return attachment

    def _context_menu_target(
        self, ctype: int, options: dict[str, Any], channel: Channel, guild_id: int | None, resolved: dict[str, Any]
    ) -> str:
        if "target" not in options:
            raise ControlError(400, "context-menu commands need options={'target': <user or message id>}")
        target = options["target"]
        if ctype == CMD_USER:
            return self._resolve_user(target, guild_id, resolved, "target")
        try:
            message = self.world.live_message(int(target))
        except (TypeError, ValueError):
            message = None
        if message is None or message.channel_id != channel.id or message.ephemeral:
            raise ControlError(400, f"unknown message {target!r} in channel {channel.id}")
        resolved.setdefault("messages", {})[str(message.id)] = self.world.message_dict(message)
        return str(message.id)

    # -- components ----------------------------------------------------------------------------------

    def component(
        self,
        *,
        user: Any,
        message_id: Any,
        custom_id: str,
        channel: Any = None,
        values: list[str] | None = None,
        backdate_s: float = 0.0,
    ) -> Interaction:
        world = self.world
        try:
            message = world.live_message(int(message_id))
        except (TypeError, ValueError):
            message = None
        if message is None:
            raise ControlError(404, f"unknown message {message_id!r}")
        if channel is not None:
            chan = world.channel_by_ref(channel)
            if chan is None or chan.id != message.channel_id:
                raise ControlError(400, f"message {message.id} is not in channel {channel!r}")
        member_user, chan, gid = self._context(user, message.channel_id, None)
        if message.ephemeral and message.visible_to not in (None, member_user.id):
            raise ControlError(400, "that ephemeral message is only visible to another user")
        if message.loading:
            raise ControlError(400, "the message is still loading and has no components")
        component = find_component(message.components, custom_id)
        if component is None:
            present = [c.get("custom_id") for c in _all_custom_ids(message.components)]
            raise ControlError(400, f"custom_id {custom_id!r} is not on message {message.id}", custom_ids=present)
        if component.get("disabled"):
            raise ControlError(400, f"component {custom_id!r} is disabled")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component.get("type")}
        if component.get("type") in SELECT_TYPES:
            data["values"] = self._select_values(component, values)
        elif values:
            raise ControlError(400, "values are only for select menus")
        interaction = self._new(
            itype=INTERACTION_COMPONENT,
            user=member_user,
            channel=chan,
            guild_id=gid,
            data=data,
            backdate_s=backdate_s,
            message=world.message_dict(message),
        )
        interaction.custom_id = custom_id
        interaction.message_id = message.id
        return interaction

    def modal_submit(
        self, *, source_id: Any, values: dict[str, Any], user: Any = None, backdate_s: float = 0.0
    ) -> Interaction:
        """Submit the modal that interaction ``source_id`` answered with (callback type 9)."""
        try:
            source = self.world.interactions.get(int(source_id))
        except (TypeError, ValueError):
            source = None
        if source is None:
            raise ControlError(404, f"unknown interaction {source_id!r}")
        if source.modal is None:
            raise ControlError(400, f"interaction {source.id} did not answer with a modal")
        if user is not None:
            submitter = self.world.user_by_ref(user)
            if submitter is None or submitter.id != source.user_id:
                raise ControlError(400, "only the user who opened a modal can submit it")
        used: set[str] = set()
        components = [_submitted(c, values, used) for c in source.modal.get("components") or []]
        unknown = sorted(set(values) - used)
        if unknown:
            raise ControlError(400, f"the modal has no field(s) {unknown}", fields=sorted(used))
        member_user, chan, gid = self._context(source.user_id, source.channel_id, None)
        message = None
        if source.message_id is not None and (clicked := self.world.live_message(source.message_id)) is not None:
            message = self.world.message_dict(clicked)
        interaction = self._new(
            itype=INTERACTION_MODAL_SUBMIT,
            user=member_user,
            channel=chan,
            guild_id=gid,
            data={"custom_id": source.modal.get("custom_id"), "components": components},
            backdate_s=backdate_s,
            message=message,
        )
        interaction.custom_id = source.modal.get("custom_id")
        interaction.message_id = source.message_id
        return interaction

    @staticmethod
    def _select_values(component: dict[str, Any], values: list[str] | None) -> list[str]:
        chosen = [str(v) for v in values or []]
        low = int(component.get("min_values", 1))
        high = int(component.get("max_values", 1))
        if not low <= len(chosen) <= high:
            raise ControlError(400, f"select {component.get('custom_id')!r} takes {low}..{high} values")
        if component.get("type") == 3:
            allowed = [o.get("value") for o in component.get("options") or []]
            bad = [v for v in chosen if v not in allowed]
            if bad:
                raise ControlError(400, f"values {bad} are not options of the select", options=allowed)
        return chosen


def _submitted(component: dict[str, Any], values: dict[str, Any], used: set[str]) -> dict[str, Any]:
    """The modal-submit form of one component of the modal the bot showed."""
    ctype = component.get("type")
    if ctype == 1:
        return {"type": 1, "components": [_submitted(c, values, used) for c in component.get("components") or []]}
    if ctype == 18:
        inner = component.get("component") or {}
        return {"type": 18, "component": _submitted(inner, values, used)}
    custom_id = component.get("custom_id")
    out: dict[str, Any] = {"type": ctype}
    if component.get("id") is not None:
        out["id"] = component["id"]
    if custom_id is None:
        return out
    out["custom_id"] = custom_id
    used.add(custom_id)
    given = values.get(custom_id)
    if ctype == 4:
        text = "" if given is None else str(given)
        if component.get("required", True) and not text:
            raise ControlError(400, f"text input {custom_id!r} is required")
        low, high = int(component.get("min_length", 0)), int(component.get("max_length", 4000))
        if text and not low <= len(text) <= high:
            raise ControlError(400, f"text input {custom_id!r} must be {low}..{high} characters")
        out["value"] = text
    elif ctype in SELECT_TYPES:
        chosen = [] if given is None else [str(v) for v in (given if isinstance(given, list) else [given])]
        if component.get("required", True) and not chosen:
            raise ControlError(400, f"select {custom_id!r} is required")
        out["values"] = chosen
    return out


def _all_custom_ids(components: list[Any]) -> list[dict[str, Any]]:
    return [c for _, c in walk_components(components, []) if c.get("custom_id") is not None]
