"""Discord-shaped errors and JSON responses.

discord.py only treats a body as JSON when the Content-Type is exactly ``application/json``
(``json_or_text`` compares the header string), so every response is built here rather than with
``web.json_response``, which appends ``; charset=utf-8``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiohttp import web


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A response whose Content-Type discord.py recognises as JSON."""
    return web.Response(
        body=json.dumps(data, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=dict(headers or {}),
    )


class DiscordError(Exception):
    """An error answered with Discord's body shape ``{"code", "message", "errors"?}``."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body

    def response(self) -> web.Response:
        return json_response(self.body(), status=self.status, headers=self.headers)


class FormErrors:
    """Collects field errors into Discord's nested ``errors`` tree (``{"a": {"0": {"_errors": [...]}}}``)."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: Sequence[str | int], code: str, message: str) -> None:
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def __bool__(self) -> bool:
        return bool(self.tree)

    def raise_if_any(self) -> None:
        if self.tree:
            raise invalid_form_body(self.tree)


def invalid_form_body(errors: dict[str, Any]) -> DiscordError:
    return DiscordError(400, 50035, "Invalid Form Body", errors)


def max_length(n: int) -> tuple[str, str]:
    return "BASE_TYPE_MAX_LENGTH", f"Must be {n} or fewer in length."


def errors_from_paths(items: Iterable[tuple[Sequence[str | int], str]], code: str) -> dict[str, Any]:
    form = FormErrors()
    for path, message in items:
        form.add(path or ["_body"], code, message)
    return form.tree


# The handful of fixed errors the server answers with, kept in one place so messages stay identical.
def unknown_channel() -> DiscordError:
    return DiscordError(404, 10003, "Unknown Channel")


def unknown_message() -> DiscordError:
    return DiscordError(404, 10008, "Unknown Message")


def unknown_webhook() -> DiscordError:
    return DiscordError(404, 10015, "Unknown Webhook")


def unknown_interaction() -> DiscordError:
    return DiscordError(404, 10062, "Unknown interaction")


def invalid_webhook_token() -> DiscordError:
    return DiscordError(401, 50027, "Invalid Webhook Token")


def already_acknowledged() -> DiscordError:
    return DiscordError(400, 40060, "Interaction has already been acknowledged.")


def unauthorized() -> DiscordError:
    return DiscordError(401, 0, "401: Unauthorized")


def empty_message() -> DiscordError:
    return DiscordError(400, 50006, "Cannot send an empty message")


def too_large() -> DiscordError:
    return DiscordError(413, 40005, "Request entity too large")


class ControlError(Exception):
    """A control-API refusal: ``status`` plus a human-readable ``message`` (and optional extra keys)."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def response(self) -> web.Response:
        return json_response({"message": self.message, **self.extra}, status=self.status)
