"""Request-body validation against Discord's own OpenAPI description.

The whole document is registered as one ``referencing`` resource under a base URI, and each route's
schema is reached by a JSON pointer, so every internal ``$ref`` resolves. The document is 1.2 MB, so it
is parsed once per process and compiled validators are cached per route.

One deviation from the spec is allowed, stated once and applied at the schema level: a JSON integer is
accepted wherever the spec expects a ``SnowflakeType`` (a decimal string). The reference notes call for
the integer ``attachments[].id`` of a new upload (discord.py sends the upload's index, ``File.to_dict(i)``).
Checking what discord.py 2.7.1 really sends found the same integer-for-snowflake pattern in other
bodies it builds from ``int`` ids, all of which Discord accepts:

- ``Attachment.to_dict()`` (a retained attachment on edit) -> ``attachments[].id``
- ``AllowedMentions.to_dict()`` with explicit users/roles -> ``allowed_mentions.users[]`` / ``roles[]``
- ``HTTPClient.start_private_message`` (``User.create_dm()``) -> ``recipient_id``
- ``MessageReference.to_dict()`` (replies) -> ``message_reference.message_id`` etc.

Rather than list locations one by one, ``SnowflakeType`` itself becomes "snowflake string or non-negative
integer" in the in-memory copy of the document. Nothing else is loosened: wrong types, unknown component
types, over-long strings and missing required keys are all still violations.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_BASE_URI = "https://discord.local/openapi.json"


def default_spec_path() -> Path:
    """``$DISCORD_OPENAPI_SPEC``, else ``<repo root>/../shared/reference/discord-openapi.json``."""
    env = os.environ.get("DISCORD_OPENAPI_SPEC")
    if env:
        return Path(env)
    repo_root = Path(__file__).resolve().parent.parent
    return repo_root.parent / "shared" / "reference" / "discord-openapi.json"


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
            _allow_integer_snowflakes(document)
            resource = Resource(contents=document, specification=DRAFT202012)
            registry = Registry().with_resource(_BASE_URI, resource)
            loaded = _Loaded(document=document, registry=registry, validators={})
            _cache[path] = loaded
        return loaded


def _pointer_escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def _allow_integer_snowflakes(document: dict[str, Any]) -> None:
    """Apply the module's single allowance (see the module docstring)."""
    schemas = document.get("components", {}).get("schemas", {})
    original = schemas.get("SnowflakeType")
    if isinstance(original, dict):
        schemas["SnowflakeType"] = {"anyOf": [original, {"type": "integer", "minimum": 0}]}


class SpecValidator:
    """Validates JSON request bodies for one spec file; ``status`` explains when it cannot."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_spec_path()
        self.status = "not loaded"
        self._loaded: _Loaded | None = None
        if not self.path.is_file():
            self.status = f"spec file not found at {self.path}; request bodies are not validated"
            return
        try:
            self._loaded = _load(self.path)
        except (OSError, ValueError, ImportError) as exc:
            self.status = f"spec at {self.path} could not be loaded ({exc!r}); request bodies are not validated"
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
        from jsonschema.exceptions import best_match

        problems: list[tuple[list[str | int], str]] = []
        for error in sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path]):
            message = error.message
            if error.context:
                # anyOf/oneOf failures are unreadable on their own; name the closest branch's complaint.
                best = best_match(error.context)
                inner = "/".join(str(p) for p in best.absolute_path) or "<body>"
                message = f"{message} (closest: {inner}: {best.message})"
            problems.append((list(error.absolute_path), _truncate(message)))
        return problems


def describe(problem: tuple[list[str | int], str]) -> str:
    """One problem as ``"a/0/b: message"``."""
    path, message = problem
    return f"{'/'.join(str(p) for p in path) or '<body>'}: {message}"


def _truncate(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
