"""REST handlers under ``/api/v10``, registered with the spec's own path templates.

Using the OpenAPI path strings as aiohttp route templates means the matched route's canonical form is
also the key into the spec (validation), the rate-limit rule table and the fault table. By the time a
handler runs, the middleware in ``_server`` has parsed the body into ``request[JSON_BODY]`` /
``request[UPLOADS]``, applied faults and rate limits, checked the bot token and validated the body.
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ._errors import (
    DiscordError,
    FormErrors,
    already_acknowledged,
    invalid_webhook_token,
    json_response,
    unknown_channel,
    unknown_interaction,
    unknown_message,
    unknown_webhook,
)
from ._keys import INTERACTION, JSON_BODY, UPLOADS
from ._state import MESSAGE_FLAG_EPHEMERAL, MESSAGE_FLAG_LOADING, Interaction, Message

if TYPE_CHECKING:
    from ._server import LocalDiscord

P = "/api/v10"

# Interaction callback types.
PONG = 1
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
MODAL = 9

# Which responses Discord accepts for each interaction type (2 command, 3 component, 4 autocomplete, 5 modal).
_ALLOWED_RESPONSES = {
    2: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL},
    3: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE, MODAL},
    4: {AUTOCOMPLETE_RESULT},
    5: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE},
}
_TRUE = ("1", "true", "True")


def _no_content() -> web.Response:
    return web.Response(status=204)


def _snowflake(value: str) -> int | None:
    return int(value) if value.isdigit() else None


class Rest:
    """Handlers bound to one :class:`LocalDiscord`."""

    def __init__(self, ld: LocalDiscord) -> None:
        self.ld = ld
        self.world = ld.world

    # -- identity ------------------------------------------------------------------------------------

    async def get_me(self, request: web.Request) -> web.Response:
        return json_response({**self.world.bot.to_dict(), "verified": True, "mfa_enabled": False, "flags": 0})

    async def get_application(self, request: web.Request) -> web.Response:
        world = self.world
        owner = world.users[world.guild.owner_id]
        return json_response(
            {
                "id": str(world.application_id),
                "name": world.bot.global_name or world.bot.username,
                "icon": None,
                "description": "A local Discord application",
                "summary": "",
                "type": None,
                "hook": True,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "owner": owner.to_dict(),
                "team": None,
                "bot": world.bot.to_dict(),
                "interactions_endpoint_url": None,
                "redirect_uris": [],
                "rpc_origins": [],
                "tags": [],
                "approximate_guild_count": len(world.guilds),
                "integration_types_config": {"0": {}},
            }
        )

    async def get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.ld.gateway_url})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.ld.gateway_url,
                "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
            }
        )

    # -- application commands -------------------------------------------------------------------------

    def _check_app(self, request: web.Request) -> None:
        if request.match_info["application_id"] != str(self.world.application_id):
            # Discord answers a bot token used on another application's commands with Missing Access.
            raise DiscordError(403, 50001, "Missing Access")

    def _guild_id(self, request: web.Request) -> int:
        gid = _snowflake(request.match_info["guild_id"])
        if gid is None or gid not in self.world.guilds:
            raise DiscordError(404, 10004, "Unknown Guild")
        return gid

    def _command_list(self, request: web.Request) -> tuple[list[dict[str, Any]], int | None]:
        self._check_app(request)
        if "guild_id" in request.match_info:
            gid = self._guild_id(request)
            return self.world.guild_commands.setdefault(gid, []), gid
        return self.world.global_commands, None

    async def list_commands(self, request: web.Request) -> web.Response:
        commands, _ = self._command_list(request)
        return json_response(commands)

    async def put_commands(self, request: web.Request) -> web.Response:
        commands, gid = self._command_list(request)
        body = request[JSON_BODY]
        if not isinstance(body, list):
            raise DiscordError(
                400, 50035, "Invalid Form Body", {"_errors": [{"code": "BASE_TYPE_LIST", "message": "Must be a list."}]}
            )
        errors = FormErrors()
        seen: set[tuple[str, int]] = set()
        for i, cmd in enumerate(body):
            key = (str(cmd.get("name")), int(cmd.get("type") or 1))
            if key in seen:
                errors.add(
                    [i, "name"],
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    f"Application command names must be unique ({key[0]})",
                )
            seen.add(key)
        errors.raise_if_any()
        stored = [self._store_command(cmd, commands, gid) for cmd in body]
        commands[:] = stored
        return json_response(stored)

    async def post_command(self, request: web.Request) -> web.Response:
        commands, gid = self._command_list(request)
        body = request[JSON_BODY]
        if not isinstance(body, dict):
            raise DiscordError(400, 50035, "Invalid Form Body")
        stored = self._store_command(body, commands, gid)
        for i, cmd in enumerate(commands):
            if cmd["id"] == stored["id"]:
                commands[i] = stored
                return json_response(stored, status=200)
        commands.append(stored)
        return json_response(stored, status=201)

    async def get_command(self, request: web.Request) -> web.Response:
        commands, _ = self._command_list(request)
        cmd = next((c for c in commands if c["id"] == request.match_info["command_id"]), None)
        if cmd is None:
            raise DiscordError(404, 10063, "Unknown application command")
        return json_response(cmd)

    async def delete_command(self, request: web.Request) -> web.Response:
        commands, _ = self._command_list(request)
        before = len(commands)
        commands[:] = [c for c in commands if c["id"] != request.match_info["command_id"]]
        if len(commands) == before:
            raise DiscordError(404, 10063, "Unknown application command")
        return _no_content()

    def _store_command(
        self, body: dict[str, Any], existing: list[dict[str, Any]], guild_id: int | None
    ) -> dict[str, Any]:
        ctype = int(body.get("type") or 1)
        previous = next((c for c in existing if c["name"] == body.get("name") and c.get("type", 1) == ctype), None)
        cmd = copy.deepcopy(body)
        cmd["type"] = ctype
        cmd["id"] = previous["id"] if previous else str(self.world.ids.new())
        cmd["application_id"] = str(self.world.application_id)
        cmd.setdefault("description", "")
        # Discord echoes permissions as a string however they were sent (discord.py sends an int).
        perms = cmd.get("default_member_permissions")
        cmd["default_member_permissions"] = None if perms is None else str(perms)
        cmd.setdefault("dm_permission", True)
        cmd.setdefault("nsfw", False)
        cmd.setdefault("contexts", None)
        cmd.setdefault("integration_types", [0])
        if guild_id is not None:
            cmd["guild_id"] = str(guild_id)
        unchanged = previous is not None and _strip_meta(previous) == _strip_meta(cmd)
        cmd["version"] = previous["version"] if unchanged and previous else str(self.world.ids.new())
        return cmd

    # -- interaction callback ----------------------------------------------------------------------------

    async def callback(self, request: web.Request) -> web.Response:
        world = self.world
        iid = _snowflake(request.match_info["interaction_id"])
        interaction = world.interactions.get(iid) if iid is not None else None
        if interaction is None:
            raise unknown_interaction()
        request[INTERACTION] = interaction
        if request.match_info["interaction_token"] != interaction.token:
            raise invalid_webhook_token()
        if interaction.acked:
            raise already_acknowledged()
        if interaction.expired_manually or interaction.ack_window_missed():
            raise unknown_interaction()
        body = request[JSON_BODY]
        if not isinstance(body, dict) or not isinstance(body.get("type"), int):
            raise DiscordError(
                400,
                50035,
                "Invalid Form Body",
                {"type": {"_errors": [{"code": "BASE_TYPE_REQUIRED", "message": "This field is required"}]}},
            )
        rtype = body["type"]
        data = body.get("data") or {}
        if rtype not in _ALLOWED_RESPONSES.get(interaction.type, set()):
            raise DiscordError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "type": {
                        "_errors": [
                            {
                                "code": "INTERACTION_RESPONSE_TYPE_INVALID",
                                "message": "Invalid interaction response type for this interaction",
                            }
                        ]
                    }
                },
            )
        uploads = request[UPLOADS]
        message: Message | None = None
        created = False
        if rtype == CHANNEL_MESSAGE:
            flags = int(data.get("flags") or 0) & MESSAGE_FLAG_EPHEMERAL
            message = self._interaction_message(interaction, data, uploads, flags=flags)
            created = True
        elif rtype == DEFERRED_CHANNEL_MESSAGE:
            flags = MESSAGE_FLAG_LOADING | (int(data.get("flags") or 0) & MESSAGE_FLAG_EPHEMERAL)
            message = self._interaction_message(interaction, {}, [], flags=flags, allow_empty=True)
            created = True
        elif rtype in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE):
            message = world.live_message(interaction.message_id) if interaction.message_id else None
            if message is None:
                raise unknown_message()
            if rtype == UPDATE_MESSAGE:
                self.ld.writer.edit(message, data, uploads)
        elif rtype == AUTOCOMPLETE_RESULT:
            interaction.autocomplete_choices = list(data.get("choices") or [])
        elif rtype == MODAL:
            interaction.modal = data
        interaction.acked = True
        interaction.response_type = rtype
        interaction.ack_mono = time.monotonic()
        if message is not None:
            interaction.original_message_id = message.id
            if created:
                await self.ld.announce_create(message)
            elif rtype == UPDATE_MESSAGE:
                await self.ld.announce_update(message)
        if request.query.get("with_response") not in _TRUE:
            return _no_content()
        summary: dict[str, Any] = {"id": str(interaction.id), "type": interaction.type}
        if message is not None:
            summary["response_message_id"] = str(message.id)
            summary["response_message_loading"] = message.loading
            summary["response_message_ephemeral"] = message.ephemeral
        result: dict[str, Any] = {"interaction": summary}
        if message is not None and rtype != DEFERRED_UPDATE_MESSAGE:
            result["resource"] = {"type": rtype, "message": world.message_dict(message)}
        return json_response(result)

    def _interaction_message(
        self,
        interaction: Interaction,
        payload: dict[str, Any],
        uploads: list[Any],
        *,
        flags: int,
        allow_empty: bool = False,
        followup: bool = False,
    ) -> Message:
        world = self.world
        metadata: dict[str, Any] = {
            "id": str(interaction.id),
            "type": interaction.type,
            "user": world.users[interaction.user_id].to_dict(),
            "authorizing_integration_owners": interaction.payload.get("authorizing_integration_owners", {}),
        }
        if interaction.type == 3 and interaction.message_id is not None:
            metadata["interacted_message_id"] = str(interaction.message_id)
        if followup and interaction.original_message_id is not None:
            metadata["original_response_message_id"] = str(interaction.original_message_id)
        # 20 = CHAT_INPUT_COMMAND, 23 = CONTEXT_MENU_COMMAND; component responses are ordinary replies.
        message_type = 0
        if interaction.type == 2:
            message_type = 20 if interaction.payload["data"].get("type", 1) == 1 else 23
        ephemeral = bool(flags & MESSAGE_FLAG_EPHEMERAL)
        return self.ld.writer.create(
            channel_id=interaction.channel_id,
            guild_id=interaction.guild_id,
            author_id=world.bot.id,
            payload=payload,
            uploads=uploads,
            message_type=message_type,
            flags=flags,
            webhook_id=world.application_id,
            interaction_id=interaction.id,
            interaction_metadata=metadata,
            visible_to=interaction.user_id if ephemeral else None,
            allow_empty=allow_empty,
        )

    # -- interaction webhooks ----------------------------------------------------------------------------

    def _webhook_interaction(self, request: web.Request) -> Interaction:
        match = request.match_info
        interaction = self.world.interactions_by_token.get(match["webhook_token"])
        if interaction is not None:
            # Recorded even when the id is wrong, so a bot using a bad application id shows up on the interaction.
            request[INTERACTION] = interaction
        if match["webhook_id"] != str(self.world.application_id):
            raise unknown_webhook()
        if interaction is None:
            raise invalid_webhook_token()
        if interaction.token_expired():
            raise invalid_webhook_token()
        if interaction.ack_window_missed():
            # Missing the 3-second deadline invalidates the token for good.
            raise unknown_webhook()
        return interaction

    def _webhook_message(self, request: web.Request, interaction: Interaction) -> Message:
        ref = request.match_info.get("message_id", "@original")
        if ref == "@original":
            message_id = interaction.original_message_id
        else:
            message_id = _snowflake(ref)
            if message_id is not None and not interaction.owns_message(message_id):
                message_id = None
        message = self.world.live_message(message_id) if message_id is not None else None
        if message is None:
            raise unknown_message()
        return message

    async def followup(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        if not interaction.acked:
            raise unknown_webhook()
        payload = request[JSON_BODY] or {}
        uploads = request[UPLOADS]
        original = self.world.live_message(interaction.original_message_id) if interaction.original_message_id else None
        if interaction.response_type == DEFERRED_CHANNEL_MESSAGE and original is not None and original.loading:
            # Discord turns the first followup after a "thinking" defer into the deferred message itself;
            # its visibility was fixed by the defer, so the followup's ephemeral flag is ignored.
            message = self.ld.writer.edit(original, {k: v for k, v in payload.items() if k != "flags"}, uploads)
            await self.ld.announce_update(message)
        else:
            flags = int(payload.get("flags") or 0) & MESSAGE_FLAG_EPHEMERAL
            message = self._interaction_message(interaction, payload, uploads, flags=flags, followup=True)
            await self.ld.announce_create(message)
        interaction.followup_message_ids.append(message.id)
        if request.query.get("wait") not in _TRUE:
            return _no_content()
        return json_response(self.world.message_dict(message))

    async def get_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        return json_response(self.world.message_dict(self._webhook_message(request, interaction)))

    async def edit_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        message = self._webhook_message(request, interaction)
        self.ld.writer.edit(message, request[JSON_BODY] or {}, request[UPLOADS])
        await self.ld.announce_update(message)
        return json_response(self.world.message_dict(message))

    async def delete_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        await self.ld.remove_message(self._webhook_message(request, interaction))
        return _no_content()

    # -- channels ------------------------------------------------------------------------------------

    def _channel(self, request: web.Request) -> Any:
        cid = _snowflake(request.match_info["channel_id"])
        channel = self.world.channels.get(cid) if cid is not None else None
        if channel is None:
            raise unknown_channel()
        return channel

    def _channel_message(self, request: web.Request, channel: Any) -> Message:
        mid = _snowflake(request.match_info["message_id"])
        message = self.world.live_message(mid) if mid is not None else None
        # Ephemeral messages only exist for their recipient; the bot token cannot see them.
        if message is None or message.channel_id != channel.id or message.ephemeral:
            raise unknown_message()
        return message

    async def get_channel(self, request: web.Request) -> web.Response:
        return json_response(self.world.channel_dict(self._channel(request)))

    async def list_messages(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        try:
            limit = max(1, min(100, int(request.query.get("limit", "50"))))
        except ValueError as exc:
            raise DiscordError(400, 50035, "Invalid Form Body") from exc
        visible = [
            m
            for mid in self.world.channel_messages.get(channel.id, [])
            if not (m := self.world.messages[mid]).deleted and not m.ephemeral
        ]
        before = _snowflake(request.query.get("before", ""))
        after = _snowflake(request.query.get("after", ""))
        around = _snowflake(request.query.get("around", ""))
        if around is not None:
            older = [m for m in visible if m.id <= around][-((limit + 1) // 2) :]
            newer = [m for m in visible if m.id > around][: limit // 2]
            chosen = older + newer
        elif after is not None:
            chosen = [m for m in visible if m.id > after][:limit]
        else:
            if before is not None:
                visible = [m for m in visible if m.id < before]
            chosen = visible[-limit:]
        chosen.sort(key=lambda m: m.id, reverse=True)
        return json_response([self.world.message_dict(m) for m in chosen])

    async def create_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        payload = request[JSON_BODY] or {}
        message_type = 19 if isinstance(payload.get("message_reference"), dict) else 0
        message = self.ld.writer.create(
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author_id=self.world.bot.id,
            payload=payload,
            uploads=request[UPLOADS],
            message_type=message_type,
        )
        await self.ld.announce_create(message)
        return json_response(self.world.message_dict(message))

    async def get_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        return json_response(self.world.message_dict(self._channel_message(request, channel)))

    async def edit_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        message = self._channel_message(request, channel)
        if message.author_id != self.world.bot.id:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        self.ld.writer.edit(message, request[JSON_BODY] or {}, request[UPLOADS])
        await self.ld.announce_update(message)
        return json_response(self.world.message_dict(message))

    async def delete_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        await self.ld.remove_message(self._channel_message(request, channel))
        return _no_content()

    async def create_dm(self, request: web.Request) -> web.Response:
        body = request[JSON_BODY] or {}
        user = self.world.user_by_ref(str(body.get("recipient_id", "")))
        if user is None or user.bot:
            raise DiscordError(400, 50033, "Invalid Recipient(s)")
        channel = self.world.dm_channel_for(user.id)
        return json_response(self.world.channel_dict(channel))

    # -- guilds --------------------------------------------------------------------------------------

    async def get_guild(self, request: web.Request) -> web.Response:
        guild = self.world.guilds[self._guild_id(request)]
        payload = self.world.guild_create_dict(guild)
        for key in ("channels", "members", "threads", "presences", "voice_states", "joined_at", "large"):
            payload.pop(key, None)
        return json_response(payload)

    async def get_guild_channels(self, request: web.Request) -> web.Response:
        guild = self.world.guilds[self._guild_id(request)]
        return json_response([self.world.channel_dict(self.world.channels[c]) for c in guild.channel_ids])

    async def get_guild_roles(self, request: web.Request) -> web.Response:
        guild = self.world.guilds[self._guild_id(request)]
        return json_response([self.world.roles[r].to_dict() for r in guild.role_ids])

    async def get_member(self, request: web.Request) -> web.Response:
        guild = self.world.guilds[self._guild_id(request)]
        uid = _snowflake(request.match_info["user_id"])
        if uid is None or uid not in guild.members:
            raise DiscordError(404, 10007, "Unknown Member")
        member = self.world.member_dict(guild.id, uid)
        member.pop("permissions", None)
        return json_response(member)

    async def get_user(self, request: web.Request) -> web.Response:
        uid = _snowflake(request.match_info["user_id"])
        user = self.world.users.get(uid) if uid is not None else None
        if user is None:
            raise DiscordError(404, 10013, "Unknown User")
        return json_response(user.to_dict())

    # -- attachments (outside /api/v10, like Discord's CDN) -----------------------------------------------

    async def attachment(self, request: web.Request) -> web.Response:
        aid = _snowflake(request.match_info["attachment_id"])
        attachment = self.world.attachments.get(aid) if aid is not None else None
        if attachment is None or str(attachment.channel_id) != request.match_info["channel_id"]:
            return json_response({"message": "404: Not Found", "code": 0}, status=404)
        return web.Response(body=attachment.data, content_type=attachment.content_type)


def _strip_meta(cmd: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cmd.items() if k not in ("id", "version", "application_id")}


def register_rest(app: web.Application, ld: LocalDiscord) -> None:
    rest = Rest(ld)
    r = app.router
    r.add_get(P + "/users/@me", rest.get_me)
    r.add_get(P + "/oauth2/applications/@me", rest.get_application)
    r.add_get(P + "/gateway", rest.get_gateway)
    r.add_get(P + "/gateway/bot", rest.get_gateway_bot)
    for base in (
        "/applications/{application_id}/commands",
        "/applications/{application_id}/guilds/{guild_id}/commands",
    ):
        r.add_get(P + base, rest.list_commands)
        r.add_put(P + base, rest.put_commands)
        r.add_post(P + base, rest.post_command)
        r.add_get(P + base + "/{command_id}", rest.get_command)
        r.add_delete(P + base + "/{command_id}", rest.delete_command)
    r.add_post(P + "/interactions/{interaction_id}/{interaction_token}/callback", rest.callback)
    hook = P + "/webhooks/{webhook_id}/{webhook_token}"
    r.add_post(hook, rest.followup)
    # @original must be registered before {message_id}: aiohttp matches routes in registration order.
    for suffix in ("/messages/@original", "/messages/{message_id}"):
        r.add_get(hook + suffix, rest.get_webhook_message)
        r.add_patch(hook + suffix, rest.edit_webhook_message)
        r.add_delete(hook + suffix, rest.delete_webhook_message)
    r.add_get(P + "/channels/{channel_id}", rest.get_channel)
    r.add_get(P + "/channels/{channel_id}/messages", rest.list_messages)
    r.add_post(P + "/channels/{channel_id}/messages", rest.create_message)
    r.add_get(P + "/channels/{channel_id}/messages/{message_id}", rest.get_message)
    r.add_patch(P + "/channels/{channel_id}/messages/{message_id}", rest.edit_message)
    r.add_delete(P + "/channels/{channel_id}/messages/{message_id}", rest.delete_message)
    r.add_post(P + "/users/@me/channels", rest.create_dm)
    r.add_get(P + "/users/{user_id}", rest.get_user)
    r.add_get(P + "/guilds/{guild_id}", rest.get_guild)
    r.add_get(P + "/guilds/{guild_id}/channels", rest.get_guild_channels)
    r.add_get(P + "/guilds/{guild_id}/roles", rest.get_guild_roles)
    r.add_get(P + "/guilds/{guild_id}/members/{user_id}", rest.get_member)
    r.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", rest.attachment)
