"""``LocalDiscord``: the object that owns the world, and the aiohttp application serving it.

One application carries REST (``/api/v10``), the gateway (``/gateway`` and ``/``), attachment downloads
(``/attachments/...``) and the control API (``/_control``). ``create_app`` builds it from a
``LocalDiscord`` so other pieces (a browser playground, say) can add their own routes to the same app.

Every REST request passes one middleware that, in order: logs it, parses the JSON or multipart body,
applies injected faults, applies rate limits, and validates the body against Discord's OpenAPI spec.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from ._errors import ControlError, DiscordError, json_response
from ._events import EventHub
from ._gateway import Gateway
from ._interactions import InteractionFactory
from ._keys import INTERACTION, JSON_BODY, UPLOADS
from ._messages import MessageWriter, Upload, upload_index
from ._ratelimit import RateLimiter, normalize_route
from ._state import Message, World
from ._validate import SpecValidator, describe
from .playground import PLAYGROUND_PATH, register_playground

_log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
# Routes called with an interaction token instead of the bot token; Discord exempts them from the
# global limit and does not check Authorization on them.
_TOKEN_ROUTES = ("/webhooks/{webhook_id}/{webhook_token}", "/interactions/{interaction_id}/{interaction_token}")
_REQUEST_LOG_LIMIT = 20000


@dataclass
class Fault:
    """The next ``remaining`` requests matching ``key`` fail with this status."""

    key: str
    status: int
    code: int | None
    message: str | None
    retry_after: float | None
    is_global: bool
    remaining: int

    def matches(self, method: str, template: str) -> bool:
        fault_method, fault_route = self.key.split(" ", 1)
        want_method, want_route = normalize_route(template, method).split(" ", 1)
        return fault_method in ("*", want_method) and fault_route in ("*", want_route)

    def error(self) -> DiscordError:
        if self.status == 429:
            retry = self.retry_after if self.retry_after is not None else 0.25
            return rate_limited(retry, is_global=self.is_global)
        return DiscordError(self.status, self.code or 0, self.message or f"{self.status}: injected fault")

    def to_dict(self) -> dict[str, Any]:
        return {
            "route": self.key,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "retry_after": self.retry_after,
            "global": self.is_global,
            "remaining": self.remaining,
        }


class RateLimited(DiscordError):
    """A 429 in the shape discord.py retries: JSON body, ``Via`` header, ``Retry-After``."""

    def __init__(self, retry_after: float, *, is_global: bool, headers: dict[str, str] | None = None) -> None:
        hdrs = {
            # discord.py treats a 429 without Via as a Cloudflare ban and gives up instead of retrying.
            "Via": "1.1 google",
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Scope": "global" if is_global else "user",
            **(headers or {}),
        }
        if is_global:
            hdrs["X-RateLimit-Global"] = "true"
        super().__init__(429, 0, "You are being rate limited.", headers=hdrs)
        self.retry_after = retry_after
        self.is_global = is_global

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "retry_after": self.retry_after, "global": self.is_global}


def rate_limited(retry_after: float, *, is_global: bool = False, headers: dict[str, str] | None = None) -> RateLimited:
    return RateLimited(retry_after, is_global=is_global, headers=headers)


class LocalDiscord:
    """A local Discord an unmodified discord.py client can talk to over loopback.

    Point the bot at it with ``discord.http.Route.BASE = ld.api_base`` and
    ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(ld.gateway_url)``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str = "local-bot-token",
        spec_path: Path | str | None = None,
        strict_spec: bool = True,
        attachment_size_limit: int = 10 * 1024 * 1024,
    ) -> None:
        self.host = host
        self._port = port
        self.token = token
        self.strict_spec = strict_spec
        self.world = World(token=token, attachment_size_limit=attachment_size_limit)
        self.world.base_url = self.url
        self.validator = SpecValidator(Path(spec_path) if spec_path is not None else None)
        self.ratelimiter = RateLimiter()
        self.gateway = Gateway(self.world, resume_url=lambda: self.gateway_url)
        self.writer = MessageWriter(self.world)
        self.factory = InteractionFactory(self.world)
        # Every message change, ephemeral ones included, for live viewers such as the browser playground.
        self.events = EventHub(self.world)
        self._requests: list[dict[str, Any]] = []
        self._seq = 0
        self._violations: list[dict[str, Any]] = []
        self._faults: list[Fault] = []
        self._route_counts: Counter[str] = Counter()
        self._status_counts: Counter[int] = Counter()
        self._rate_limited = 0
        self._runner: web.AppRunner | None = None
        self._app: web.Application | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

    @property
    def app(self) -> web.Application:
        """The aiohttp application (built on first use); add routes to it before ``start``."""
        if self._app is None:
            self._app = create_app(self)
        return self._app

    async def start(self) -> None:
        """Bind and serve; with ``port=0`` the chosen port is available as ``.port`` afterwards."""
        if self._runner is not None:
            return
        runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self._port = sockets[0].getsockname()[1]
        self._runner = runner
        self.world.base_url = self.url

    async def stop(self) -> None:
        if self._runner is None:
            return
        await self.gateway.close_all()
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> LocalDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    @property
    def api_base(self) -> str:
        return self.url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/gateway"

    @property
    def spec_status(self) -> str:
        """Whether request bodies are validated, and against what (or why not)."""
        return self.validator.status

    @property
    def application_id(self) -> int:
        return self.world.application_id

    # -- read-only views (the same data the control API serves) -------------------------------------------

    def state(self) -> dict[str, Any]:
        return self.world.snapshot()

    def messages(self, channel_id: Any, *, ephemeral: bool = False, deleted: bool = False) -> list[dict[str, Any]]:
        """Stored messages of a channel, oldest first, with the private ``_``-keys."""
        channel = self.world.channel_by_ref(channel_id)
        if channel is None:
            raise ControlError(404, f"unknown channel {channel_id!r}")
        out = []
        for message_id in self.world.channel_messages.get(channel.id, []):
            message = self.world.messages[message_id]
            if (message.ephemeral and not ephemeral) or (message.deleted and not deleted):
                continue
            out.append(self.world.message_dict(message, private=True))
        return out

    def message(self, message_id: Any) -> dict[str, Any] | None:
        try:
            message = self.world.messages.get(int(message_id))
        except (TypeError, ValueError):
            return None
        return None if message is None else self.world.message_dict(message, private=True)

    @property
    def requests(self) -> list[dict[str, Any]]:
        return list(self._requests)

    def requests_since(self, seq: int = 0) -> list[dict[str, Any]]:
        return [r for r in self._requests if r["seq"] > seq]

    @property
    def violations(self) -> list[dict[str, Any]]:
        return list(self._violations)

    def stats(self) -> dict[str, Any]:
        return {
            "requests": sum(self._route_counts.values()),
            "requests_by_route": dict(self._route_counts),
            "statuses": {str(k): v for k, v in sorted(self._status_counts.items())},
            "rate_limited": self._rate_limited,
            "violations": len(self._violations),
            "interactions": len(self.world.interactions),
            "messages": len(self.world.messages),
            "gateway": self.gateway.snapshot(),
        }

    def interaction(self, interaction_id: Any) -> dict[str, Any]:
        try:
            interaction = self.world.interactions.get(int(interaction_id))
        except (TypeError, ValueError):
            interaction = None
        if interaction is None:
            raise ControlError(404, f"unknown interaction {interaction_id!r}")
        return interaction.to_control()

    # -- actions -------------------------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        *,
        guild_id: Any = None,
        role_ids: list[Any] | None = None,
        moderator: bool = False,
    ) -> dict[str, Any]:
        guild = self.world.guild_by_ref(guild_id)
        if guild is None:
            raise ControlError(404, f"unknown guild {guild_id!r}")
        if not username or self.world.user_by_ref(username) is not None:
            raise ControlError(400, f"username {username!r} is empty or taken")
        roles = []
        for ref in role_ids or []:
            role = self.world.role_by_ref(ref, guild.id)
            if role is None or role.guild_id != guild.id:
                raise ControlError(400, f"unknown role {ref!r}")
            if role.id != guild.id:
                roles.append(role.id)
        user = self.world.add_user(username, guild_id=guild.id, role_ids=roles, moderator=moderator)
        return {**self.world.member_summary(guild.id, user.id), "user": user.to_dict(), "guild_id": str(guild.id)}

    def add_guild(self, name: str, *, guild_id: Any = None) -> dict[str, Any]:
        """Another guild with the seeded one's channels and members (see ``World.add_guild``); its id, and
        its channels by name. Sessions identified before it do not hear of it (no GUILD_CREATE is sent)."""
        try:
            guild = self.world.add_guild(name, guild_id=int(guild_id) if guild_id is not None else None)
        except ValueError as exc:
            raise ControlError(400, str(exc)) from None
        channels = {self.world.channels[c].name: str(c) for c in guild.channel_ids}
        return {"id": str(guild.id), "name": guild.name, "channels": channels}

    def add_role(
        self, name: str, permissions: int | str = 0, *, guild_id: Any = None, mentionable: bool = False
    ) -> dict[str, Any]:
        guild = self.world.guild_by_ref(guild_id)
        if guild is None:
            raise ControlError(404, f"unknown guild {guild_id!r}")
        role = self.world.add_role(name, int(permissions), guild_id=guild.id, mentionable=mentionable)
        return {**role.to_dict(), "guild_id": str(guild.id)}

    async def set_locale(
        self, user: Any = None, locale: str | None = None, *, guild_id: Any = None, guild_locale: str | None = None
    ) -> dict[str, Any]:
        """Set the language of ``user``'s Discord client (their interactions' ``locale``) and/or the
        server's (``guild_locale``, and GUILD_UPDATE's ``preferred_locale``, sent to the bot)."""
        out: dict[str, Any] = {}
        if locale is not None:
            member = self.world.user_by_ref(user)
            if member is None:
                raise ControlError(404, f"unknown user {user!r}")
            member.locale = _locale(locale, "locale")
            out["user_id"], out["locale"] = str(member.id), member.locale
        if guild_locale is not None:
            guild = self.world.guild_by_ref(guild_id)
            if guild is None:
                raise ControlError(404, f"unknown guild {guild_id!r}")
            guild.preferred_locale = _locale(guild_locale, "guild_locale")
            out["guild_id"], out["guild_locale"] = str(guild.id), guild.preferred_locale
            await self.gateway.dispatch("GUILD_UPDATE", self.world.guild_update_dict(guild))
        if not out:
            raise ControlError(400, "give locale (with user_id) and/or guild_locale")
        return out

    async def invoke(
        self,
        user: Any,
        channel: Any,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        guild_id: Any = None,
        backdate_s: float = 0.0,
        force: bool = False,
    ) -> dict[str, Any]:
        """Run a slash (or context-menu) command as ``user``; returns ``{interaction_id, token}``."""
        interaction = self.factory.command(
            user=user,
            channel=channel,
            command=command,
            options=options,
            guild_id=guild_id,
            backdate_s=float(backdate_s or 0),
            force=bool(force),
        )
        return await self._dispatch_interaction(interaction)

    async def autocomplete(
        self,
        user: Any,
        channel: Any,
        command: str,
        focused: str,
        options: dict[str, Any] | None = None,
        *,
        guild_id: Any = None,
    ) -> dict[str, Any]:
        """Type into option ``focused`` of ``command``; the bot's choices appear on the interaction."""
        interaction = self.factory.command(
            user=user, channel=channel, command=command, options=options, guild_id=guild_id, focused=focused
        )
        return await self._dispatch_interaction(interaction)

    async def submit_modal(
        self, interaction_id: Any, values: dict[str, Any], *, user: Any = None, backdate_s: float = 0.0
    ) -> dict[str, Any]:
        """Fill in and submit the modal interaction ``interaction_id`` answered with."""
        interaction = self.factory.modal_submit(
            source_id=interaction_id, values=values, user=user, backdate_s=float(backdate_s or 0)
        )
        return await self._dispatch_interaction(interaction)

    async def click(
        self,
        user: Any,
        message_id: Any,
        custom_id: str,
        *,
        channel_id: Any = None,
        values: list[str] | None = None,
        backdate_s: float = 0.0,
    ) -> dict[str, Any]:
        """Press a button (or choose select ``values``) on a stored message as ``user``."""
        interaction = self.factory.component(
            user=user,
            message_id=message_id,
            custom_id=custom_id,
            channel=channel_id,
            values=values,
            backdate_s=float(backdate_s or 0),
        )
        return await self._dispatch_interaction(interaction)

    async def _dispatch_interaction(self, interaction: Any) -> dict[str, Any]:
        guild_id = interaction.payload.get("guild_id")
        session = self.gateway.interaction_session(int(guild_id) if guild_id else None)
        sent = False
        if session is not None:
            # The 3-second clock starts as the event leaves for a connected client. It is set before the
            # send because the bot may answer before this coroutine resumes; if nothing was sent the clock
            # runs from creation instead (Discord does not wait for a bot that is not connected).
            interaction.dispatched_mono = time.monotonic()
            sent = await self.gateway.dispatch("INTERACTION_CREATE", interaction.payload, session=session)
            if not sent:
                interaction.dispatched_mono = None
        return {"interaction_id": str(interaction.id), "token": interaction.token, "dispatched": sent}

    def expire(self, interaction_id: Any) -> dict[str, Any]:
        try:
            interaction = self.world.interactions.get(int(interaction_id))
        except (TypeError, ValueError):
            interaction = None
        if interaction is None:
            raise ControlError(404, f"unknown interaction {interaction_id!r}")
        interaction.expired_manually = True
        return interaction.to_control()

    async def delete_message(self, channel_id: Any, message_id: Any) -> dict[str, Any]:
        """Delete a message as a user (or moderator) would."""
        channel = self.world.channel_by_ref(channel_id)
        try:
            message = self.world.live_message(int(message_id))
        except (TypeError, ValueError):
            message = None
        if channel is None or message is None or message.channel_id != channel.id:
            raise ControlError(404, f"unknown message {message_id!r} in channel {channel_id!r}")
        await self.remove_message(message)
        return self.world.message_dict(message, private=True)

    def add_fault(
        self,
        route: str,
        *,
        method: str | None = None,
        status: int = 500,
        code: int | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        is_global: bool = False,
        count: int = 1,
    ) -> dict[str, Any]:
        """Make the next ``count`` requests matching ``[method] route`` fail (see the README of the package)."""
        if not 400 <= int(status) <= 599:
            raise ControlError(400, "status must be a 4xx or 5xx code")
        if int(count) < 1:
            raise ControlError(400, "count must be at least 1")
        key = "* *" if route.strip() == "*" else normalize_route(route, method)
        fault = Fault(key, int(status), code, message, retry_after, bool(is_global), int(count))
        self._faults.append(fault)
        return fault.to_dict()

    def clear_faults(self) -> list[dict[str, Any]]:
        cleared = [f.to_dict() for f in self._faults]
        self._faults.clear()
        return cleared

    @property
    def faults(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self._faults]

    async def drop_gateway(self, mode: str = "close") -> int:
        """Force the bot's gateway connection to drop; returns how many sockets were affected."""
        try:
            return await self.gateway.drop(mode)
        except ValueError as exc:
            raise ControlError(400, str(exc)) from exc

    def set_limits(self, config: dict[str, Any]) -> dict[str, Any]:
        """Change rate limits (see ``RateLimiter.configure``) and/or ``attachment_size_limit``."""
        if "attachment_size_limit" in config:
            limit = config["attachment_size_limit"]
            if not isinstance(limit, int) or limit < 1:
                raise ControlError(400, "attachment_size_limit must be a positive integer")
            self.world.attachment_size_limit = limit
        try:
            self.ratelimiter.configure(config)
        except ValueError as exc:
            raise ControlError(400, str(exc)) from exc
        return self.limits()

    def limits(self) -> dict[str, Any]:
        return {**self.ratelimiter.snapshot(), "attachment_size_limit": self.world.attachment_size_limit}

    # -- events shared by the REST handlers ---------------------------------------------------------------

    async def announce_create(self, message: Message) -> None:
        self.events.message("message_create", message)
        # Bots never receive gateway events for ephemeral messages.
        if not message.ephemeral:
            await self.gateway.dispatch("MESSAGE_CREATE", self.world.message_dict(message))

    async def announce_update(self, message: Message) -> None:
        self.events.message("message_update", message)
        if not message.ephemeral:
            await self.gateway.dispatch("MESSAGE_UPDATE", self.world.message_dict(message))

    async def remove_message(self, message: Message) -> None:
        message.deleted = True
        self.events.message("message_delete", message)
        if not message.ephemeral:
            event: dict[str, Any] = {"id": str(message.id), "channel_id": str(message.channel_id)}
            if message.guild_id is not None:
                event["guild_id"] = str(message.guild_id)
            await self.gateway.dispatch("MESSAGE_DELETE", event)

    # -- request pipeline ----------------------------------------------------------------------------

    def _take_fault(self, method: str, template: str) -> Fault | None:
        for fault in self._faults:
            if fault.matches(method, template):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _record_violation(self, entry: dict[str, Any], problems: list[tuple[list[str | int], str]]) -> None:
        self._violations.append(
            {
                "seq": entry["seq"],
                "method": entry["method"],
                "path": entry["path"],
                "route": entry["route"],
                "body": entry.get("json"),
                "errors": [describe(p) for p in problems],
            }
        )

    def _log_request(self, entry: dict[str, Any]) -> None:
        self._requests.append(entry)
        if len(self._requests) > _REQUEST_LOG_LIMIT:
            del self._requests[: len(self._requests) - _REQUEST_LOG_LIMIT]
        self._route_counts[entry["route"]] += 1
        self._status_counts[entry["status"]] += 1
        if entry["status"] == 429:
            self._rate_limited += 1

    async def handle_api(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self._seq += 1
        entry: dict[str, Any] = {
            "seq": self._seq,
            "t_mono": time.monotonic(),
            "t_wall": time.time(),
            "method": request.method,
            # The address the client used: bot processes given different spellings of the base are told apart.
            "host": request.host,
            "path": request.path,
            "query": dict(request.query),
            "route": None,
            "status": None,
            "json": None,
            "files": [],
            "code": None,
            "interaction_id": None,
        }
        response: web.StreamResponse
        extra_headers: dict[str, str] = {}
        match_info = request.match_info
        try:
            if match_info.http_exception is not None:
                status = match_info.http_exception.status
                entry["route"] = f"{request.method} <unmatched>"
                raise DiscordError(status, 0, f"{status}: {'Not Found' if status == 404 else 'Method Not Allowed'}")
            template = match_info.route.resource.canonical[len(API_PREFIX) :]  # type: ignore[union-attr]
            entry["route"] = f"{request.method} {template}"
            interaction = self._interaction_for(template, match_info)
            if interaction is not None:
                # Known before any check runs, so faults, 429s and spec violations show on the interaction too.
                request[INTERACTION] = interaction
            await _read_body(request, entry)
            fault = self._take_fault(request.method, template)
            if fault is not None:
                entry["fault"] = True
                raise fault.error()
            token_route = template.startswith(_TOKEN_ROUTES)
            decision = self.ratelimiter.check(
                request.method, template, _major(template, match_info), bot_route=not token_route
            )
            extra_headers = decision.headers
            if not decision.allowed:
                raise rate_limited(decision.retry_after, is_global=decision.is_global, headers=decision.headers)
            if not token_route and request.headers.get("Authorization") != f"Bot {self.token}":
                raise DiscordError(401, 0, "401: Unauthorized")
            self._validate_body(request, template, entry)
            response = await handler(request)
        except DiscordError as exc:
            entry["code"] = exc.code if exc.status != 429 else None
            response = exc.response()
            interaction = request.get(INTERACTION)
            if interaction is not None:
                interaction.errors.append(
                    {
                        "seq": entry["seq"],
                        "route": entry["route"],
                        "status": exc.status,
                        "code": exc.code,
                        "message": exc.message,
                    }
                )
        except Exception as exc:  # a bug here must not look like a network failure to the bot
            _log.exception("LocalDiscord failed handling %s %s", request.method, request.path)
            entry["exception"] = repr(exc)
            response = DiscordError(500, 0, "500: Internal Server Error").response()
        for key, value in extra_headers.items():
            response.headers.setdefault(key, value)
        interaction = request.get(INTERACTION)
        if interaction is not None:
            entry["interaction_id"] = str(interaction.id)
        entry["status"] = response.status
        entry["duration_ms"] = round((time.monotonic() - entry["t_mono"]) * 1000, 3)
        self._log_request(entry)
        return response

    def _interaction_for(self, template: str, match_info: Any) -> Any:
        if "{interaction_token}" in template:
            try:
                interaction = self.world.interactions.get(int(match_info["interaction_id"]))
            except ValueError:
                return None
            return interaction if interaction and interaction.token == match_info["interaction_token"] else None
        if "{webhook_token}" in template:
            return self.world.interactions_by_token.get(match_info["webhook_token"])
        return None

    def _validate_body(self, request: web.Request, template: str, entry: dict[str, Any]) -> None:
        body = request.get(JSON_BODY)
        if body is None or not self.validator.enabled:
            return
        problems = self.validator.validate(request.method, template, body)
        if not problems:
            return
        self._record_violation(entry, problems)
        if self.strict_spec:
            from ._errors import FormErrors

            form = FormErrors()
            for path, message in problems:
                form.add(path or ["_body"], "SPEC_VIOLATION", message)
            raise DiscordError(400, 50035, "Invalid Form Body", form.tree)


LD_KEY = web.AppKey("localdiscord", LocalDiscord)


def _locale(value: Any, name: str) -> str:
    # Discord's locales are short tags ("de", "en-US", "zh-TW"); anything else is a mistake in the test.
    text = str(value)
    if not re.fullmatch(r"[a-z]{2}(-[A-Z]{2})?|es-419", text):
        raise ControlError(400, f"{name} must be a Discord locale like 'de' or 'en-US', not {text!r}")
    return text


def _major(template: str, match_info: Any) -> str:
    if "{channel_id}" in template:
        return f"channel:{match_info.get('channel_id')}"
    if "{guild_id}" in template:
        return f"guild:{match_info.get('guild_id')}"
    if "{webhook_token}" in template:
        return f"webhook:{match_info.get('webhook_id')}:{match_info.get('webhook_token')}"
    if "{interaction_token}" in template:
        return f"interaction:{match_info.get('interaction_id')}"
    return ""


async def _read_body(request: web.Request, entry: dict[str, Any]) -> None:
    """Parse a JSON or multipart body into ``request['ld_json']`` and ``request['ld_uploads']``."""
    request[JSON_BODY] = None
    request[UPLOADS] = []
    if not request.body_exists:
        return
    ctype = request.content_type
    if ctype.startswith("multipart/"):
        uploads: list[Upload] = []
        other: dict[str, str] = {}
        reader = await request.multipart()
        position = 0
        while True:
            part = await reader.next()
            if part is None:
                break
            name = part.name or ""
            data = await part.read(decode=False)  # type: ignore[union-attr]
            if name == "payload_json":
                request[JSON_BODY] = _parse_json(bytes(data))
            elif part.filename is not None or name.startswith("file"):
                uploads.append(
                    Upload(
                        field=name,
                        index=upload_index(name, position),
                        filename=part.filename or name,
                        declared_type=part.headers.get("Content-Type"),
                        data=bytes(data),
                    )
                )
                position += 1
            else:
                other[name] = bytes(data).decode("utf-8", "replace")[:200]
        request[UPLOADS] = uploads
        entry["files"] = [u.summary() for u in uploads]
        if other:
            entry["form_fields"] = other
    else:
        raw = await request.read()
        if raw.strip():
            request[JSON_BODY] = _parse_json(raw)
    entry["json"] = request[JSON_BODY]


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise DiscordError(400, 50109, "The request body contains invalid JSON.") from exc


def create_app(ld: LocalDiscord) -> web.Application:
    """The aiohttp application serving ``ld``: REST, gateway, attachments and the control API."""
    from ._control import register_control
    from ._events import register_events
    from ._rest import register_rest

    @web.middleware
    async def api_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith(API_PREFIX + "/") or request.path == API_PREFIX:
            return await ld.handle_api(request, handler)
        try:
            return await handler(request)
        except ControlError as exc:
            return exc.response()

    # Uploads can legitimately be as big as the attachment limit allows (up to 100 MiB on Discord).
    app = web.Application(middlewares=[api_middleware], client_max_size=256 * 1024 * 1024)
    app[LD_KEY] = ld
    register_rest(app, ld)
    register_control(app, ld)
    register_events(app, ld)
    register_playground(app)
    app.router.add_get("/gateway", ld.gateway.handle)
    app.router.add_get("/", _root(ld))
    return app


def _root(ld: LocalDiscord) -> Any:
    async def root(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await ld.gateway.handle(request)
        if "text/html" in request.headers.get("Accept", ""):
            # A person opening the server's address gets the browser playground, not the JSON.
            raise web.HTTPFound(PLAYGROUND_PATH)
        return json_response(
            {
                "name": "localdiscord",
                "api_base": ld.api_base,
                "gateway_url": ld.gateway_url,
                "control": ld.url + "/_control",
                "playground": ld.url + PLAYGROUND_PATH,
            }
        )

    return root
