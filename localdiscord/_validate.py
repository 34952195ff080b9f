"""Request-body validation against Discord's own OpenAPI description.

The whole document is registered as one ``referencing`` resource under a base URI, and each route's
schema is reached by a JSON pointer, so every internal ``$ref`` resolves. The document is 1.2 MB, so it
is parsed once per process and compiled validators are cached per route.

The spec is applied as written: a snowflake is what ``SnowflakeType`` says (a decimal string matching its
pattern), and an integer is accepted only where the spec's own schema accepts one. The forms that
discord.py itself sends, that Discord accepts and that the spec does not describe are listed, each with
its route, field and reason, in :data:`ALLOWED_DEVIATIONS`, and nowhere else. A listed field's
non-negative integer is read as the decimal string it stands for before the body is validated, so the
rest of the body, and the string itself, are still checked; the same integer anywhere else, or on
another route, is a violation.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_BASE_URI = "https://discord.local/openapi.json"


# The one setting that points at the spec file, and where a clone without ../shared gets the file.
SPEC_SETTING = "DISCORD_OPENAPI_SPEC"
SPEC_SOURCE = (
    "specs/openapi.json from Discord's public discord-api-spec repository (https://github.com/discord/discord-api-spec)"
)


def default_spec_path() -> Path:
    """``$DISCORD_OPENAPI_SPEC``, else ``<repo root>/../shared/reference/discord-openapi.json``."""
    env = os.environ.get(SPEC_SETTING)
    if env:
        return Path(env)
    repo_root = Path(__file__).resolve().parent.parent
    return repo_root.parent / "shared" / "reference" / "discord-openapi.json"


@dataclass(frozen=True)
class Deviation:
    """A form discord.py sends that Discord accepts but the spec does not describe: here, always a
    non-negative JSON integer where the spec wants a ``SnowflakeType`` string.

    ``route`` is the spec's own path template; ``field`` names the place in the body as dotted keys, with
    ``[]`` for every item of an array (``attachments[].id``).
    """

    method: str
    route: str
    field: str
    reason: str

    @property
    def name(self) -> str:
        return f"{self.method} {self.route} {self.field}"

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(part for part in self.field.replace("[]", ".[]").split(".") if part)


# The one list of allowed deviations, each found in a body discord.py 2.7.1 sent during the test suites.
# Anything not here that the spec rejects is a violation; add an entry only for a form discord.py itself
# sends and Discord is known to accept.
ALLOWED_DEVIATIONS: tuple[Deviation, ...] = (
    Deviation(
        "POST",
        "/users/@me/channels",
        "recipient_id",
        "User.create_dm() sends the user's int id (HTTPClient.start_private_message); Discord opens the DM",
    ),
    Deviation(
        "PATCH",
        "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
        "attachments[].id",
        "edit_original_response(attachments=[File]) sends the upload's index, File.to_dict(i), as Discord's docs do",
    ),
    Deviation(
        "PATCH",
        "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
        "attachments[].id",
        "Webhook.edit_message(attachments=[File]) sends the upload's index, File.to_dict(i), as Discord's docs do",
    ),
    Deviation(
        "PATCH",
        "/channels/{channel_id}/messages/{message_id}",
        "attachments[].id",
        "Message.edit(attachments=[File]) sends the upload's index, File.to_dict(i), as Discord's docs do",
    ),
)


@dataclass
class _Loaded:
    document: dict[str, Any]
    registry: Any
    validators: dict[tuple[str, str], Any]


_cache: dict[Path, _Loaded] = {}
_cache_lock = threading.Lock()


def _load(path: Path) -> _Loaded:
    with _cache_lock:
        loaded = _cache.get(path)
        if loaded is None:
            from referencing import Registry, Resource
            from referencing.jsonschema import DRAFT202012

            document = json.loads(path.read_text(encoding="utf-8"))
            resource = Resource(contents=document, specification=DRAFT202012)
            registry = Registry().with_resource(_BASE_URI, resource)
            loaded = _Loaded(document=document, registry=registry, validators={})
            _cache[path] = loaded
        return loaded


def _pointer_escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def _deviations_for(method: str, spec_path: str) -> tuple[Deviation, ...]:
    method = method.upper()
    return tuple(d for d in ALLOWED_DEVIATIONS if d.method == method and d.route == spec_path)


def _as_allowed(body: Any, deviations: tuple[Deviation, ...]) -> Any:
    """``body`` with each listed field's integer read as its decimal string; the original is not changed."""
    for deviation in deviations:
        body = _stringify_at(body, deviation.segments)
    return body


def _stringify_at(node: Any, segments: tuple[str, ...]) -> Any:
    if not segments:
        # bool is an int in Python but never a snowflake; a negative number has no snowflake string.
        return str(node) if type(node) is int and node >= 0 else node
    head, rest = segments[0], segments[1:]
    if head == "[]":
        return [_stringify_at(item, rest) for item in node] if isinstance(node, list) else node
    if isinstance(node, dict) and head in node:
        return {**node, head: _stringify_at(node[head], rest)}
    return node


class SpecValidator:
    """Validates JSON request bodies for one spec file; ``status`` explains when it cannot."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_spec_path()
        self.status = "not loaded"
        self._loaded: _Loaded | None = None
        # Both reasons say how to fix it: they are the skip messages of every test that needs the spec.
        how = f"get {SPEC_SOURCE} and save it there, or set {SPEC_SETTING} to its path"
        if not self.path.is_file():
            self.status = f"spec file not found at {self.path}; request bodies are not validated ({how})"
            return
        try:
            self._loaded = _load(self.path)
        except (OSError, ValueError, ImportError) as exc:
            self.status = f"spec at {self.path} could not be loaded ({exc!r}); request bodies are not validated ({how})"
            return
        self.status = f"validating against {self.path}"

    @property
    def enabled(self) -> bool:
        return self._loaded is not None

    def has_schema(self, method: str, spec_path: str) -> bool:
        return self._validator(method, spec_path) is not None

    def _validator(self, method: str, spec_path: str) -> Any:
        loaded = self._loaded
        if loaded is None:
            return None
        key = (method.lower(), spec_path)
        if key in loaded.validators:
            return loaded.validators[key]
        validator = None
        operation = loaded.document.get("paths", {}).get(spec_path, {}).get(method.lower())
        content = (operation or {}).get("requestBody", {}).get("content", {})
        # Multipart routes also publish an application/json schema; it is the schema of payload_json.
        if "application/json" in content:
            from jsonschema import Draft202012Validator

            pointer = "/".join(
                _pointer_escape(p)
                for p in ("paths", spec_path, method.lower(), "requestBody", "content", "application/json", "schema")
            )
            validator = Draft202012Validator({"$ref": f"{_BASE_URI}#/{pointer}"}, registry=loaded.registry)
        with _cache_lock:
            loaded.validators[key] = validator
        return validator

    def validate(self, method: str, spec_path: str, body: Any) -> list[tuple[list[str | int], str]] | None:
        """``(path, message)`` per problem with ``body`` (empty when valid); ``None`` when there is no schema."""
        validator = self._validator(method, spec_path)
        if validator is None:
            return None
        body = _as_allowed(body, _deviations_for(method, spec_path))
        problems: list[tuple[list[str | int], str]] = []
        for error in sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path]):
            message = error.message
            if error.context:
                # anyOf/oneOf failures are unreadable on their own; name the closest branch's complaint.
                best = _deepest(error)
                inner = "/".join(str(p) for p in best.absolute_path) or "<body>"
                message = f"{message} (closest: {inner}: {best.message})"
            problems.append((list(error.absolute_path), _truncate(message)))
        return problems


def _deepest(error: Any) -> Any:
    """The innermost complaint under an anyOf/oneOf failure: the one furthest into the body.

    It names the field that is wrong (``message_reference/message_id: 5 is not of type 'string'``) rather
    than the ``null`` branch of a nullable field, which a value that is there was never meant for; the
    first one wins a tie, and the failure itself stands when nothing better is found.
    """
    best, depth = error, -1
    stack = list(reversed(error.context))
    while stack:
        candidate = stack.pop()
        if candidate.context:
            stack.extend(reversed(candidate.context))
        elif candidate.validator == "type" and candidate.validator_value == "null":
            continue
        elif len(candidate.absolute_path) > depth:
            best, depth = candidate, len(candidate.absolute_path)
    return best


def describe(problem: tuple[list[str | int], str]) -> str:
    """One problem as ``"a/0/b: message"``."""
    path, message = problem
    return f"{'/'.join(str(p) for p in path) or '<body>'}: {message}"


def _truncate(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
