"""``ControlClient``: a small async client over LocalDiscord's control API, for tests.

Waiting is always deadline-based: ``wait_for`` polls a predicate until it returns something truthy and
raises ``TimeoutError`` naming the last value it saw, so a failing test says what state it was stuck in.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


class ControlAPIError(Exception):
    """A control-API call answered with a 4xx/5xx; ``status`` and ``body`` say why."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


class ControlClient:
    """Wraps ``/_control``; ``base_url`` is the server URL (``http://host:port``) or the control URL."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        base = base_url.rstrip("/")
        if not base.endswith("/_control"):
            base += "/_control"
        self.base_url = base
        self._http = httpx.AsyncClient(base_url=base, timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ControlClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._http.request(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code >= 400:
            raise ControlAPIError(response.status_code, body)
        return body

    # -- world ---------------------------------------------------------------------------------------

    async def state(self) -> dict[str, Any]:
        return await self._call("GET", "/state")

    async def add_user(
        self, username: str, *, guild_id: Any = None, role_ids: list[Any] | None = None, moderator: bool = False
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"username": username, "moderator": moderator}
        if guild_id is not None:
            body["guild_id"] = str(guild_id)
        if role_ids:
            body["role_ids"] = [str(r) for r in role_ids]
        return await self._call("POST", "/users", json=body)

    async def add_role(self, name: str, permissions: int = 0, *, mentionable: bool = False) -> dict[str, Any]:
        return await self._call(
            "POST", "/roles", json={"name": name, "permissions": permissions, "mentionable": mentionable}
        )

    async def set_locale(
        self, user: Any = None, locale: str | None = None, *, guild_id: Any = None, guild_locale: str | None = None
    ) -> dict[str, Any]:
        """The language ``user``'s interactions carry (``locale``), and/or the server's (``guild_locale``)."""
        body: dict[str, Any] = {"user_id": None if user is None else str(user), "locale": locale}
        body.update({"guild_id": None if guild_id is None else str(guild_id), "guild_locale": guild_locale})
        return await self._call("POST", "/locale", json=body)

    # -- interactions --------------------------------------------------------------------------------

    async def invoke(
        self,
        user: Any,
        channel: Any,
        command: str,
        *,
        backdate_s: float | None = None,
        force: bool = False,
        guild_id: Any = None,
        options: dict[str, Any] | None = None,
        **more_options: Any,
    ) -> dict[str, Any]:
        """Run ``/command`` as ``user`` in ``channel``.

        Options are keyword arguments, or an ``options`` dict for names that clash with the parameters.
        """
        body: dict[str, Any] = {
            "user_id": str(user),
            "channel_id": str(channel),
            "command": command,
            "options": {**(options or {}), **more_options},
            "force": force,
        }
        if backdate_s is not None:
            body["backdate_s"] = backdate_s
        if guild_id is not None:
            body["guild_id"] = str(guild_id)
        return await self._call("POST", "/interactions/command", json=body)

    async def autocomplete(self, user: Any, channel: Any, command: str, focused: str, **options: Any) -> dict[str, Any]:
        """Type into option ``focused``; read the bot's answer from ``interaction(id)["autocomplete_choices"]``."""
        body = {
            "user_id": str(user),
            "channel_id": str(channel),
            "command": command,
            "focused": focused,
            "options": options,
        }
        return await self._call("POST", "/interactions/autocomplete", json=body)

    async def submit_modal(self, interaction_id: Any, values: dict[str, Any], *, user: Any = None) -> dict[str, Any]:
        """Submit the modal the bot showed in answer to ``interaction_id``; ``values`` maps custom_id -> value."""
        body: dict[str, Any] = {"interaction_id": str(interaction_id), "values": values}
        if user is not None:
            body["user_id"] = str(user)
        return await self._call("POST", "/interactions/modal", json=body)

    async def click(
        self,
        user: Any,
        message_id: Any,
        custom_id: str,
        *,
        channel_id: Any = None,
        values: list[str] | None = None,
        backdate_s: float | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"user_id": str(user), "message_id": str(message_id), "custom_id": custom_id}
        if channel_id is not None:
            body["channel_id"] = str(channel_id)
        if values is not None:
            body["values"] = values
        if backdate_s is not None:
            body["backdate_s"] = backdate_s
        return await self._call("POST", "/interactions/component", json=body)

    async def interaction(self, interaction_id: Any) -> dict[str, Any]:
        return await self._call("GET", f"/interactions/{interaction_id}")

    async def expire(self, interaction_id: Any) -> dict[str, Any]:
        return await self._call("POST", f"/interactions/{interaction_id}/expire")

    # -- messages ------------------------------------------------------------------------------------

    async def messages(
        self, channel_id: Any, *, ephemeral: bool = False, deleted: bool = False
    ) -> list[dict[str, Any]]:
        params = {"ephemeral": "1" if ephemeral else "0", "deleted": "1" if deleted else "0"}
        return await self._call("GET", f"/channels/{channel_id}/messages", params=params)

    async def message(self, message_id: Any) -> dict[str, Any]:
        return await self._call("GET", f"/messages/{message_id}")

    async def delete_message(self, channel_id: Any, message_id: Any) -> dict[str, Any]:
        return await self._call("DELETE", f"/channels/{channel_id}/messages/{message_id}")

    # -- observation ---------------------------------------------------------------------------------

    async def requests(self, since: int = 0) -> list[dict[str, Any]]:
        return await self._call("GET", "/requests", params={"since": since})

    async def violations(self) -> list[dict[str, Any]]:
        return await self._call("GET", "/violations")

    async def stats(self) -> dict[str, Any]:
        return await self._call("GET", "/stats")

    async def gateway(self) -> dict[str, Any]:
        return await self._call("GET", "/gateway")

    # -- faults and limits ---------------------------------------------------------------------------

    async def fault(
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
        """Make the next ``count`` requests matching ``route`` (``"PATCH /webhooks/{}/{}/messages/@original"``) fail."""
        body: dict[str, Any] = {"route": route, "status": status, "count": count, "global": is_global}
        for key, value in (("method", method), ("code", code), ("message", message), ("retry_after", retry_after)):
            if value is not None:
                body[key] = value
        return await self._call("POST", "/faults", json=body)

    async def clear_faults(self) -> dict[str, Any]:
        return await self._call("DELETE", "/faults")

    async def drop_gateway(self, mode: str = "close") -> dict[str, Any]:
        return await self._call("POST", "/gateway/drop", json={"mode": mode})

    async def set_limits(self, **config: Any) -> dict[str, Any]:
        return await self._call("POST", "/limits", json=config)

    # -- waiting -------------------------------------------------------------------------------------

    async def wait_for(
        self,
        fn: Callable[[], Awaitable[T] | T],
        # A plain deadline parameter is the point of this helper: callers state how long a condition may take.
        timeout: float = 5.0,  # noqa: ASYNC109
        interval: float = 0.05,
        *,
        description: str | None = None,
    ) -> T:
        """Poll ``fn`` until it returns a truthy value (returned) or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            result = fn()
            if inspect.isawaitable(result):
                result = await result
            last = result
            if result:
                return result  # type: ignore[return-value]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                what = description or getattr(fn, "__name__", "condition")
                raise TimeoutError(f"{what} not met within {timeout}s; last value: {_short(last)}")
            await asyncio.sleep(min(interval, remaining))

    async def wait_for_message(
        self,
        channel_id: Any,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        ephemeral: bool = False,
    ) -> dict[str, Any]:
        """The first stored message in ``channel_id`` for which ``predicate`` holds, waiting up to ``timeout``."""
        latest: list[dict[str, Any]] = []

        async def find() -> dict[str, Any] | None:
            latest[:] = await self.messages(channel_id, ephemeral=ephemeral)
            return next((m for m in latest if predicate(m)), None)

        try:
            return await self.wait_for(find, timeout=timeout, description=f"message in channel {channel_id}")
        except TimeoutError as exc:
            summary = [{k: m.get(k) for k in ("id", "content", "flags", "_edit_count")} for m in latest]
            raise TimeoutError(f"{exc}; messages there: {_short(summary)}") from None


def _short(value: Any, limit: int = 1500) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
