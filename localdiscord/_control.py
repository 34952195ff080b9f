"""The control API under ``/_control``: JSON over HTTP for tests and people.

Every route is a thin wrapper over a ``LocalDiscord`` method, so in-process tests and HTTP clients see
the same shapes. Errors are ``{"message": ...}`` with a 4xx status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from ._errors import ControlError, json_response

if TYPE_CHECKING:
    from ._server import LocalDiscord

C = "/_control"
_TRUE = ("1", "true", "True", "yes")


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    try:
        body = await request.json()
    except ValueError as exc:
        raise ControlError(400, "body must be JSON") from exc
    if not isinstance(body, dict):
        raise ControlError(400, "body must be a JSON object")
    return body


def _require(body: dict[str, Any], *keys: str) -> None:
    missing = [k for k in keys if body.get(k) in (None, "")]
    if missing:
        raise ControlError(400, f"missing field(s): {', '.join(missing)}")


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ControlError(400, f"{name} must be an integer") from exc


def register_control(app: web.Application, ld: LocalDiscord) -> None:
    """Add the ``/_control`` routes for ``ld`` to ``app``."""
    r = app.router

    async def state(request: web.Request) -> web.Response:
        return json_response(ld.state())

    async def add_user(request: web.Request) -> web.Response:
        body = await _body(request)
        _require(body, "username")
        member = ld.add_user(
            str(body["username"]),
            guild_id=body.get("guild_id"),
            role_ids=list(body.get("role_ids") or []),
            moderator=bool(body.get("moderator", False)),
        )
        return json_response(member, status=201)

    async def add_role(request: web.Request) -> web.Response:
        body = await _body(request)
        _require(body, "name")
        role = ld.add_role(
            str(body["name"]),
            _int(body.get("permissions", 0), "permissions"),
            guild_id=body.get("guild_id"),
            mentionable=bool(body.get("mentionable", False)),
        )
        return json_response(role, status=201)

    async def set_locale(request: web.Request) -> web.Response:
        body = await _body(request)
        result = await ld.set_locale(
            body.get("user_id"),
            body.get("locale"),
            guild_id=body.get("guild_id"),
            guild_locale=body.get("guild_locale"),
        )
        return json_response(result)

    async def invoke_command(request: web.Request) -> web.Response:
        body = await _body(request)
        _require(body, "user_id", "channel_id", "command")
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise ControlError(400, "options must be an object of name -> value")
        result = await ld.invoke(
            body["user_id"],
            body["channel_id"],
            str(body["command"]),
            options,
            guild_id=body.get("guild_id"),
            backdate_s=float(body.get("backdate_s") or 0),
            force=bool(body.get("force", False)),
        )
        return json_response(result, status=201)

    async def invoke_component(request: web.Request) -> web.Response:
        body = await _body(request)
        _require(body, "user_id", "message_id", "custom_id")
        values = body.get("values")
        if values is not None and not isinstance(values, list):
            raise ControlError(400, "values must be a list")
        result = await ld.click(
            body["user_id"],
            body["message_id"],
            str(body["custom_id"]),
            channel_id=body.get("channel_id"),
            values=values,
            backdate_s=float(body.get("backdate_s") or 0),
        )
        return json_response(result, status=201)

    async def invoke_autocomplete(request: web.Request) -> web.Response:
        body = await _body(request)
        _require(body, "user_id", "channel_id", "command", "focused")
        result = await ld.autocomplete(
            body["user_id"],
            body["channel_id"],
            str(body["command"]),
            str(body["focused"]),
            body.get("options") or {},
            guild_id=body.get("guild_id"),
        )
        return json_response(result, status=201)

    async def submit_modal(request: web.Request) -> web.Response:
        body = await _body(request)
        _require(body, "interaction_id")
        values = body.get("values") or {}
        if not isinstance(values, dict):
            raise ControlError(400, "values must be an object of custom_id -> value")
        result = await ld.submit_modal(
            body["interaction_id"], values, user=body.get("user_id"), backdate_s=float(body.get("backdate_s") or 0)
        )
        return json_response(result, status=201)

    async def get_interaction(request: web.Request) -> web.Response:
        return json_response(ld.interaction(request.match_info["interaction_id"]))

    async def expire_interaction(request: web.Request) -> web.Response:
        return json_response(ld.expire(request.match_info["interaction_id"]))

    async def channel_messages(request: web.Request) -> web.Response:
        messages = ld.messages(
            request.match_info["channel_id"],
            ephemeral=request.query.get("ephemeral") in _TRUE,
            deleted=request.query.get("deleted") in _TRUE,
        )
        return json_response(messages)

    async def get_message(request: web.Request) -> web.Response:
        message = ld.message(request.match_info["message_id"])
        if message is None:
            raise ControlError(404, f"unknown message {request.match_info['message_id']!r}")
        return json_response(message)

    async def delete_message(request: web.Request) -> web.Response:
        return json_response(
            await ld.delete_message(request.match_info["channel_id"], request.match_info["message_id"])
        )

    async def requests(request: web.Request) -> web.Response:
        since = _int(request.query.get("since", "0"), "since")
        return json_response(ld.requests_since(since))

    async def violations(request: web.Request) -> web.Response:
        return json_response(ld.violations)

    async def stats(request: web.Request) -> web.Response:
        return json_response(ld.stats())

    async def add_fault(request: web.Request) -> web.Response:
        body = await _body(request)
        _require(body, "route")
        fault = ld.add_fault(
            str(body["route"]),
            method=body.get("method"),
            status=_int(body.get("status", 500), "status"),
            code=body.get("code"),
            message=body.get("message"),
            retry_after=float(body["retry_after"]) if body.get("retry_after") is not None else None,
            is_global=bool(body.get("global", False)),
            count=_int(body.get("count", 1), "count"),
        )
        return json_response(fault, status=201)

    async def list_faults(request: web.Request) -> web.Response:
        return json_response(ld.faults)

    async def clear_faults(request: web.Request) -> web.Response:
        return json_response({"cleared": ld.clear_faults()})

    async def drop_gateway(request: web.Request) -> web.Response:
        body = await _body(request)
        affected = await ld.drop_gateway(str(body.get("mode") or "close"))
        return json_response({"mode": body.get("mode") or "close", "affected": affected})

    async def gateway(request: web.Request) -> web.Response:
        return json_response(ld.gateway.snapshot())

    async def get_limits(request: web.Request) -> web.Response:
        return json_response(ld.limits())

    async def set_limits(request: web.Request) -> web.Response:
        return json_response(ld.set_limits(await _body(request)))

    r.add_get(C + "/state", state)
    r.add_post(C + "/users", add_user)
    r.add_post(C + "/roles", add_role)
    r.add_post(C + "/locale", set_locale)
    r.add_post(C + "/interactions/command", invoke_command)
    r.add_post(C + "/interactions/component", invoke_component)
    r.add_post(C + "/interactions/autocomplete", invoke_autocomplete)
    r.add_post(C + "/interactions/modal", submit_modal)
    r.add_get(C + "/interactions/{interaction_id}", get_interaction)
    r.add_post(C + "/interactions/{interaction_id}/expire", expire_interaction)
    r.add_get(C + "/channels/{channel_id}/messages", channel_messages)
    r.add_delete(C + "/channels/{channel_id}/messages/{message_id}", delete_message)
    r.add_get(C + "/messages/{message_id}", get_message)
    r.add_get(C + "/requests", requests)
    r.add_get(C + "/violations", violations)
    r.add_get(C + "/stats", stats)
    r.add_get(C + "/faults", list_faults)
    r.add_post(C + "/faults", add_fault)
    r.add_delete(C + "/faults", clear_faults)
    r.add_get(C + "/gateway", gateway)
    r.add_post(C + "/gateway/drop", drop_gateway)
    r.add_get(C + "/limits", get_limits)
    r.add_post(C + "/limits", set_limits)
