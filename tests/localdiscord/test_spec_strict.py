"""The local Discord applies Discord's spec as written: a snowflake is a decimal string.

The only integers accepted where the spec wants a snowflake string are the forms in
``localdiscord._validate.ALLOWED_DEVIATIONS``, each on its own route and field. These tests pin that: an
integer snowflake anywhere else is a violation (over HTTP too), a listed form passes on its route and
nowhere else, and every entry names a route and a snowflake field that exist in the spec.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from localdiscord import ALLOWED_DEVIATIONS, Deviation, LocalDiscord, SpecValidator

SNOWFLAKE_REF = "#/components/schemas/SnowflakeType"
# An id as discord.py holds it (an int), and the same id as the spec wants it.
AN_ID = 794354201395200012

# Integer snowflakes discord.py can send, on routes the list does not name: each must be reported.
NOT_LISTED: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/channels/{channel_id}/messages", {"content": "r", "message_reference": {"message_id": AN_ID}},
     "message_reference/message_id"),
    ("POST", "/channels/{channel_id}/messages", {"content": "m", "allowed_mentions": {"users": [AN_ID]}},
     "allowed_mentions/users/0"),
    ("POST", "/channels/{channel_id}/messages", {"attachments": [{"id": 0, "filename": "a.png"}]},
     "attachments/0/id"),
    ("POST", "/webhooks/{webhook_id}/{webhook_token}", {"attachments": [{"id": 0, "filename": "a.png"}]},
     "attachments/0/id"),
    ("PATCH", "/channels/{channel_id}/messages/{message_id}", {"allowed_mentions": {"roles": [AN_ID]}},
     "allowed_mentions/roles/0"),
]  # fmt: skip


def _document(validator: SpecValidator) -> dict[str, Any]:
    return _read(str(validator.path))


@cache
def _read(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _body_with(segments: tuple[str, ...], value: Any) -> Any:
    """The smallest body holding ``value`` at ``segments`` (``[]`` is an array of one item)."""
    if not segments:
        return value
    inner = _body_with(segments[1:], value)
    return [inner] if segments[0] == "[]" else {segments[0]: inner}


def _named(problems: list[tuple[list[str | int], str]], where: str) -> bool:
    """Whether a problem is at ``where``, or an anyOf/oneOf failure above it names ``where`` as the cause."""
    return any(
        "/".join(str(p) for p in path) == where or f"(closest: {where}: " in message for path, message in problems
    )


def _json_routes(document: dict[str, Any]) -> list[tuple[str, str]]:
    """Every ``(METHOD, route)`` whose request body has a JSON schema."""
    routes = []
    for route, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {}) if isinstance(operation, dict) else {}
            if "application/json" in content:
                routes.append((method.upper(), route))
    return routes


def _reaches_snowflake(document: dict[str, Any], schema: Any, segments: tuple[str, ...]) -> bool:
    """Whether the spec's ``schema`` types the place at ``segments`` as a ``SnowflakeType``."""
    if not isinstance(schema, dict):
        return False
    ref = schema.get("$ref")
    if ref == SNOWFLAKE_REF and not segments:
        return True
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = document
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return _reaches_snowflake(document, target, segments)
    for key in ("oneOf", "anyOf", "allOf"):
        if any(_reaches_snowflake(document, branch, segments) for branch in schema.get(key, [])):
            return True
    if not segments:
        return False
    head, rest = segments[0], segments[1:]
    if head == "[]":
        return _reaches_snowflake(document, schema.get("items"), rest)
    return _reaches_snowflake(document, schema.get("properties", {}).get(head), rest)


@pytest.mark.parametrize(("method", "route", "body", "where"), NOT_LISTED)
def test_an_integer_snowflake_off_the_list_is_a_violation(
    spec_validator: SpecValidator, method: str, route: str, body: dict[str, Any], where: str
) -> None:
    problems = spec_validator.validate(method, route, body)
    assert problems is not None and _named(problems, where), problems
    # The same body with the id as the spec's string is clean: only the integer is the violation.
    as_string = json.loads(json.dumps(body), parse_int=str)
    assert spec_validator.validate(method, route, as_string) == []


@pytest.mark.parametrize("deviation", ALLOWED_DEVIATIONS, ids=lambda d: d.name)
def test_a_listed_form_passes_on_its_route_only(spec_validator: SpecValidator, deviation: Deviation) -> None:
    body = _body_with(deviation.segments, 0)
    before = copy.deepcopy(body)
    assert spec_validator.validate(deviation.method, deviation.route, body) == []
    assert body == before, "validation must not change the body it was given"
    # The allowance is for a non-negative integer only; anything else is still checked against the spec.
    for wrong in (True, -1, 1.5, "x1", "01"):
        problems = spec_validator.validate(deviation.method, deviation.route, _body_with(deviation.segments, wrong))
        assert problems, f"{wrong!r} passed at {deviation.name}"

    # Every other route where the spec types this field as a snowflake rejects the integer.
    document = _document(spec_validator)
    listed = {(d.method, d.route) for d in ALLOWED_DEVIATIONS if d.field == deviation.field}
    elsewhere = [
        (method, route)
        for method, route in _json_routes(document)
        if (method, route) not in listed
        and spec_validator.validate(method, route, _body_with(deviation.segments, "0")) == []
        and spec_validator.validate(method, route, _body_with(deviation.segments, "x")) != []
    ]
    for method, route in elsewhere:
        problems = spec_validator.validate(method, route, body)
        assert problems, f"the integer {deviation.field} passed on {method} {route}, which is not listed"
    if deviation.field == "attachments[].id":
        assert ("POST", "/channels/{channel_id}/messages") in elsewhere


def test_the_list_names_only_routes_and_snowflake_fields_of_the_spec(spec_validator: SpecValidator) -> None:
    document = _document(spec_validator)
    assert ALLOWED_DEVIATIONS, "the known deviation (integer recipient_id) must be listed"
    assert len({d.name for d in ALLOWED_DEVIATIONS}) == len(ALLOWED_DEVIATIONS), "an entry is listed twice"
    for deviation in ALLOWED_DEVIATIONS:
        operation = document["paths"].get(deviation.route, {}).get(deviation.method.lower())
        assert operation is not None, f"{deviation.method} {deviation.route} is not in the spec"
        schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        assert schema is not None, f"{deviation.method} {deviation.route} has no JSON body in the spec"
        assert _reaches_snowflake(document, schema, deviation.segments), f"{deviation.name} is not a snowflake"
        assert deviation.reason.strip() and "\n" not in deviation.reason, f"{deviation.name} needs a one-line reason"
    assert any(d.name == "POST /users/@me/channels recipient_id" for d in ALLOWED_DEVIATIONS)


async def test_an_integer_snowflake_is_refused_over_http_where_not_listed(ld: LocalDiscord) -> None:
    if not ld.validator.enabled:
        pytest.skip(ld.spec_status)
    general = next(c["id"] for c in ld.state()["guilds"][0]["channels"] if c["name"] == "general")
    async with httpx.AsyncClient(base_url=ld.api_base, headers={"Authorization": f"Bot {ld.token}"}) as api:
        posted = await api.post(f"/channels/{general}/messages", json={"content": "first"})
        first = posted.json()["id"]
        reply = {"content": "a reply", "message_reference": {"message_id": int(first)}}
        refused = await api.post(f"/channels/{general}/messages", json=reply)
        assert refused.status_code == 400 and refused.json()["code"] == 50035
        [violation] = ld.violations
        assert violation["route"] == "POST /channels/{channel_id}/messages" and violation["body"] == reply
        # The listed form on its own route is accepted, and the spec's own form everywhere.
        alice = next(m["id"] for m in ld.state()["guilds"][0]["members"] if m["username"] == "alice")
        assert (await api.post("/users/@me/channels", json={"recipient_id": int(alice)})).status_code == 200
        reply["message_reference"] = {"message_id": first}
        assert (await api.post(f"/channels/{general}/messages", json=reply)).status_code == 200
    assert len(ld.violations) == 1
