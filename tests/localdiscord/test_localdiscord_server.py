"""LocalDiscord over raw HTTP and WebSockets: Discord's rules, limits and error shapes, no bot involved."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from localdiscord import ControlClient, LocalDiscord, seed_id, snowflake_time_ms
from localdiscord._media import sniff
from localdiscord.client import ControlAPIError

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def api(ld: LocalDiscord) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client carrying the bot token, rooted at the REST base."""
    async with httpx.AsyncClient(base_url=ld.api_base, headers={"Authorization": f"Bot {ld.token}"}) as client:
        yield client


def _ids(state: dict[str, Any]) -> dict[str, str]:
    guild = state["guilds"][0]
    names = {m["username"]: m["id"] for m in guild["members"]}
    names.update({c["name"]: c["id"] for c in guild["channels"]})
    names.update({r["name"]: r["id"] for r in guild["roles"]})
    names["guild"] = guild["id"]
    return names


def _multipart(payload: dict[str, Any], files: list[tuple[str, bytes]]) -> dict[str, Any]:
    parts: dict[str, Any] = {"payload_json": (None, json.dumps(payload), "application/json")}
    for i, (name, data) in enumerate(files):
        parts[f"files[{i}]"] = (name, data, "application/octet-stream")
    return {"files": parts}


def _button(custom_id: str, label: str = "Go", **extra: Any) -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": label, "custom_id": custom_id, **extra}


COMMANDS = [
    {
        "name": "imagine",
        "description": "Draw",
        "options": [{"type": 3, "name": "prompt", "description": "p", "required": True}],
    },
    {
        "name": "mod",
        "description": "Moderation",
        "default_member_permissions": 32,  # the spec types it as an integer, as discord.py sends it
        "options": [
            {
                "type": 2,
                "name": "words",
                "description": "w",
                "options": [
                    {
                        "type": 1,
                        "name": "add",
                        "description": "a",
                        "options": [
                            {"type": 3, "name": "word", "description": "w", "required": True},
                            {"type": 6, "name": "who", "description": "u"},
                            {"type": 8, "name": "role", "description": "r"},
                        ],
                    }
                ],
            }
        ],
    },
]


async def test_identity_routes_and_error_shapes(ld: LocalDiscord, api: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=ld.api_base, headers={"Authorization": "Bot wrong"}) as stranger:
        denied = await stranger.get("/users/@me")
    assert denied.status_code == 401 and denied.json() == {"message": "401: Unauthorized", "code": 0}
    assert denied.headers["content-type"] == "application/json"
    me = await api.get("/users/@me")
    assert me.status_code == 200 and me.json()["bot"] is True and me.headers["content-type"] == "application/json"
    app = (await api.get("/oauth2/applications/@me")).json()
    assert app["id"] == me.json()["id"] and {"verify_key", "bot_public", "owner", "flags"} <= set(app)
    assert (await api.get("/gateway/bot")).json()["url"] == ld.gateway_url
    assert (await api.get("/nowhere")).json()["code"] == 0
    assert (await api.get("/channels/123/messages")).json() == {"message": "Unknown Channel", "code": 10003}
    general = _ids(ld.state())["general"]
    assert (await api.get(f"/channels/{general}/messages/123")).json()["code"] == 10008


async def test_message_limits(ld: LocalDiscord, api: httpx.AsyncClient, png: bytes) -> None:
    url = f"/channels/{_ids(ld.state())['general']}/messages"
    # Discord allows 5 posts per 5 s per channel; this test posts far more, without a client that waits.
    ld.set_limits({"routes": {"POST /channels/{}/messages": {"limit": 100, "per": 1}}})

    async def code(payload: dict[str, Any]) -> tuple[int, int | None, dict[str, Any]]:
        response = await api.post(url, json=payload)
        body = response.json()
        return response.status_code, body.get("code"), body.get("errors", {})

    status, code_, errors = await code({"content": "x" * 2001})
    assert (status, code_) == (400, 50035) and "content" in errors
    rows = [{"type": 1, "components": [_button(f"r{i}")]} for i in range(6)]
    assert (await code({"components": rows}))[:2] == (400, 50035)
    row = {"type": 1, "components": [_button(f"b{i}") for i in range(6)]}
    assert (await code({"components": [row]}))[:2] == (400, 50035)
    dup = [{"type": 1, "components": [_button("same"), _button("same")]}]
    status, code_, errors = await code({"content": "x", "components": dup})
    assert (status, code_) == (400, 50035)
    assert (
        errors["components"]["0"]["components"]["1"]["custom_id"]["_errors"][0]["code"]
        == "COMPONENT_CUSTOM_ID_DUPLICATED"
    )
    assert (await code({"components": [{"type": 1, "components": [_button("x" * 101)]}]}))[:2] == (400, 50035)
    assert (await code({"components": [{"type": 1, "components": [_button("ok", label="L" * 81)]}]}))[:2] == (
        400,
        50035,
    )
    assert (await code({"embeds": [{"title": str(i)} for i in range(11)]}))[:2] == (400, 50035)
    assert (await code({"content": ""}))[:2] == (400, 50006)
    assert (await code({"content": "fine", "components": [{"type": 1, "components": row["components"][:5]}]}))[0] == 200

    eleven = _multipart({"content": "many"}, [(f"f{i}.png", png) for i in range(11)])
    assert (await api.post(url, **eleven)).json()["code"] == 50035
    ld.set_limits({"attachment_size_limit": len(png) - 1})
    too_big = await api.post(url, **_multipart({"content": "big"}, [("big.png", png)]))
    assert too_big.status_code == 413 and too_big.json() == {"message": "Request entity too large", "code": 40005}


async def test_attachments_create_edit_and_download(ld: LocalDiscord, api: httpx.AsyncClient, png: bytes) -> None:
    channel = _ids(ld.state())["general"]
    gif = b"GIF89a\x02\x00\x05\x00" + b"\x00" * 20
    created = await api.post(
        f"/channels/{channel}/messages", **_multipart({"content": "two"}, [("a.png", png), ("b.gif", gif)])
    )
    assert created.status_code == 200
    first, second = created.json()["attachments"]
    assert (first["content_type"], first["width"], first["height"]) == ("image/png", 4, 3)
    assert (second["content_type"], second["width"], second["height"]) == ("image/gif", 2, 5)
    assert first["url"].startswith(ld.url + f"/attachments/{channel}/{first['id']}/a.png")
    async with httpx.AsyncClient() as http:
        assert (await http.get(second["url"])).content == gif
    mid = created.json()["id"]

    # Keep the first, drop the second, add a new upload referred to by its index.
    payload = {"attachments": [{"id": first["id"]}, {"id": 0, "filename": "c.png"}]}
    edited = (
        await api.patch(f"/channels/{channel}/messages/{mid}", **_multipart(payload, [("ignored.png", png)]))
    ).json()
    assert [a["filename"] for a in edited["attachments"]] == ["a.png", "c.png"]
    assert edited["attachments"][0]["id"] == first["id"]
    # Omitting attachments keeps them.
    kept = (await api.patch(f"/channels/{channel}/messages/{mid}", json={"content": "still two"})).json()
    assert len(kept["attachments"]) == 2
    # An empty list removes them all.
    removed = (await api.patch(f"/channels/{channel}/messages/{mid}", json={"attachments": []})).json()
    assert removed["attachments"] == [] and removed["content"] == "still two"
    assert ld.message(mid)["_edit_count"] == 3
    assert ld.violations == []


def test_sniffing_recognises_common_image_formats() -> None:
    jpeg = b"\xff\xd8\xff\xe0\x00\x04\x00\x00\xff\xc0\x00\x11\x08\x00\x07\x00\x09" + b"\x00" * 20
    webp = b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x00" * 8 + (9).to_bytes(3, "little") + (6).to_bytes(3, "little")
    assert sniff(jpeg, "x.bin") == ("image/jpeg", 9, 7)
    assert sniff(webp, "x.bin") == ("image/webp", 10, 7)
    assert sniff(b"plain", "notes.txt") == ("text/plain", None, None)


async def test_allowed_mentions(ld: LocalDiscord, api: httpx.AsyncClient) -> None:
    ids = _ids(ld.state())
    ld.set_limits({"routes": {"POST /channels/{}/messages": {"limit": 100, "per": 1}}})
    content = f"@everyone <@{ids['alice']}> <@!{ids['bob']}> <@&{ids['Moderator']}>"

    async def post(allowed: dict[str, Any] | None) -> dict[str, Any]:
        body: dict[str, Any] = {"content": content}
        if allowed is not None:
            body["allowed_mentions"] = allowed
        message = (await api.post(f"/channels/{ids['general']}/messages", json=body)).json()
        return ld.message(message["id"])

    nobody = await post({"parse": []})
    assert not nobody["_pinged"] and nobody["mentions"] == [] and nobody["mention_roles"] == []
    everything = await post(None)
    assert everything["_pinged"] and everything["mention_everyone"]
    assert {u["id"] for u in everything["mentions"]} == {ids["alice"], ids["bob"]}
    assert everything["mention_roles"] == [ids["Moderator"]]
    only_alice = await post({"parse": [], "users": [ids["alice"]]})
    assert [u["id"] for u in only_alice["mentions"]] == [ids["alice"]] and not only_alice["mention_everyone"]
    exclusive = await api.post(
        f"/channels/{ids['general']}/messages",
        json={"content": content, "allowed_mentions": {"parse": ["users"], "users": [ids["alice"]]}},
    )
    assert exclusive.json()["code"] == 50035


async def test_rate_limits_headers_and_429(ld: LocalDiscord, api: httpx.AsyncClient) -> None:
    ids = _ids(ld.state())
    ld.set_limits({"routes": {"PATCH /channels/{channel_id}/messages/{message_id}": {"limit": 2, "per": 5}}})
    mid = (await api.post(f"/channels/{ids['general']}/messages", json={"content": "a"})).json()["id"]
    other = (await api.post(f"/channels/{ids['imagine']}/messages", json={"content": "b"})).json()["id"]
    first = await api.patch(f"/channels/{ids['general']}/messages/{mid}", json={"content": "1"})
    assert first.headers["X-RateLimit-Limit"] == "2" and first.headers["X-RateLimit-Remaining"] == "1"
    assert float(first.headers["X-RateLimit-Reset-After"]) > 0 and first.headers["X-RateLimit-Bucket"]
    await api.patch(f"/channels/{ids['general']}/messages/{mid}", json={"content": "2"})
    limited = await api.patch(f"/channels/{ids['general']}/messages/{mid}", json={"content": "3"})
    assert limited.status_code == 429 and limited.headers["Via"] and limited.headers["Retry-After"]
    body = limited.json()
    assert body["message"] == "You are being rate limited." and body["global"] is False and 0 < body["retry_after"] <= 5
    # The channel is the major parameter: another channel has its own bucket.
    assert (await api.patch(f"/channels/{ids['imagine']}/messages/{other}", json={"content": "ok"})).status_code == 200

    ld.set_limits({"global": {"limit": 2, "per": 5}})
    statuses = [(await api.get("/users/@me")).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert ld.stats()["rate_limited"] == 2


async def test_spec_violations_are_caught(ld: LocalDiscord, api: httpx.AsyncClient) -> None:
    if not ld.validator.enabled:
        pytest.skip(ld.spec_status)
    general = _ids(ld.state())["general"]
    bad = {"content": "x", "components": [{"type": 1, "components": [{"type": 99, "custom_id": "nope"}]}]}
    response = await api.post(f"/channels/{general}/messages", json=bad)
    assert response.status_code == 400 and response.json()["code"] == 50035
    [violation] = ld.violations
    assert violation["route"] == "POST /channels/{channel_id}/messages" and violation["body"] == bad
    assert violation["errors"] and all(isinstance(e, str) for e in violation["errors"])
    # An integer recipient_id is on the allow-list (User.create_dm() sends it; ALLOWED_DEVIATIONS).
    ok = await api.post("/users/@me/channels", json={"recipient_id": int(_ids(ld.state())["alice"])})
    assert ok.status_code == 200 and len(ld.violations) == 1


async def test_lenient_mode_only_records() -> None:
    async with LocalDiscord(strict_spec=False) as lenient:
        if not lenient.validator.enabled:
            pytest.skip(lenient.spec_status)
        general = _ids(lenient.state())["general"]
        async with httpx.AsyncClient(headers={"Authorization": f"Bot {lenient.token}"}) as http:
            response = await http.post(f"{lenient.api_base}/channels/{general}/messages", json={"content": 5})
        assert response.status_code != 500 and len(lenient.violations) == 1


async def test_faults(ld: LocalDiscord, api: httpx.AsyncClient, control: ControlClient) -> None:
    await control.fault("GET /users/@me", status=503, code=0, message="try later", count=2)
    assert [(await api.get("/users/@me")).status_code for _ in range(3)] == [503, 503, 200]
    fault = await control.fault("* /users/@me", status=429, retry_after=1.5)
    assert fault["route"] == "* /users/@me"
    limited = await api.get("/users/@me")
    assert limited.status_code == 429 and limited.headers["Via"] == "1.1 google"
    assert limited.json() == {"message": "You are being rate limited.", "retry_after": 1.5, "global": False}
    await control.fault("GET /users/@me", status=500)
    assert (await control.clear_faults())["cleared"][0]["remaining"] == 1
    assert (await api.get("/users/@me")).status_code == 200
    assert (await control.stats())["rate_limited"] == 1


async def test_interaction_flow_over_raw_http(ld: LocalDiscord, api: httpx.AsyncClient, control: ControlClient) -> None:
    app_id = str(ld.application_id)
    # More than Discord's 5 webhook requests per 2 s per token follow, from a client that does not wait.
    ld.set_limits({"webhook": {"limit": 50, "per": 1}})
    await api.put(f"/applications/{app_id}/commands", json=COMMANDS)
    started = await control.invoke("alice", "general", "imagine", prompt="a fox")
    assert started["dispatched"] is False  # no bot is connected; the interaction still exists
    iid, token = started["interaction_id"], started["token"]
    interaction = ld.world.interactions[int(iid)]
    data = interaction.payload["data"]
    assert data["options"] == [{"name": "prompt", "type": 3, "value": "a fox"}]
    assert interaction.payload["attachment_size_limit"] == 10 * 1024 * 1024
    assert abs(snowflake_time_ms(int(iid)) - time.time() * 1000) < 5000

    async with httpx.AsyncClient(base_url=ld.api_base) as http:
        assert (await http.post(f"/interactions/1/{token}/callback", json={"type": 5})).json()["code"] == 10062
        wrong_type = await http.post(
            f"/interactions/{iid}/{token}/callback", json={"type": 7, "data": {"content": "x"}}
        )
        assert wrong_type.json()["code"] == 50035
        early = await http.post(f"/webhooks/{app_id}/{token}", params={"wait": "1"}, json={"content": "x"})
        assert early.json()["code"] == 10015
        deferred = await http.post(
            f"/interactions/{iid}/{token}/callback",
            params={"with_response": "1"},
            json={"type": 5, "data": {"flags": 64}},
        )
        body = deferred.json()
        assert (
            body["interaction"]["response_message_loading"] is True
            and body["interaction"]["response_message_ephemeral"]
        )
        original_id = body["interaction"]["response_message_id"]
        assert body["resource"]["type"] == 5 and body["resource"]["message"]["flags"] == 64 | 128
        # Ephemeral messages are invisible to the bot token.
        assert (await api.get(f"/channels/{_ids(ld.state())['general']}/messages/{original_id}")).json()[
            "code"
        ] == 10008

        edited = await http.patch(f"/webhooks/{app_id}/{token}/messages/@original", json={"content": "ready"})
        assert edited.json()["flags"] == 64 and edited.json()["content"] == "ready"
        followup = await http.post(f"/webhooks/{app_id}/{token}", params={"wait": "1"}, json={"content": "more"})
        assert followup.json()["id"] != original_id
        fetched = await http.get(f"/webhooks/{app_id}/{token}/messages/{followup.json()['id']}")
        assert fetched.json()["content"] == "more"
        assert (await http.get(f"/webhooks/1/{token}/messages/@original")).json()["code"] == 10015
        assert (await http.get(f"/webhooks/{app_id}/nope/messages/@original")).json()["code"] == 50027
        assert (await http.delete(f"/webhooks/{app_id}/{token}/messages/@original")).status_code == 204
        assert (await http.get(f"/webhooks/{app_id}/{token}/messages/@original")).json()["code"] == 10008

    visible = await control.messages("general", ephemeral=True)
    assert [m["content"] for m in visible] == ["more"]
    everything = await control.messages("general", ephemeral=True, deleted=True)
    assert [(m["content"], m["_deleted"]) for m in everything] == [("ready", True), ("more", False)]
    info = await control.interaction(iid)
    assert (
        info["acked"]
        and info["response_type"] == 5
        and [e["code"] for e in info["errors"]] == [50035, 10015, 10015, 10008]
    )


async def test_guild_commands_shadow_global_ones(ld: LocalDiscord, api: httpx.AsyncClient) -> None:
    app_id, guild = ld.application_id, _ids(ld.state())["guild"]
    await api.put(f"/applications/{app_id}/commands", json=COMMANDS)
    first = (await api.put(f"/applications/{app_id}/guilds/{guild}/commands", json=COMMANDS[:1])).json()
    again = (await api.put(f"/applications/{app_id}/guilds/{guild}/commands", json=COMMANDS[:1])).json()
    assert first[0]["guild_id"] == guild and first[0]["application_id"] == str(app_id)
    assert (again[0]["id"], again[0]["version"]) == (first[0]["id"], first[0]["version"])  # unchanged -> same
    assert (await api.put("/applications/1/commands", json=[])).json()["code"] == 50001
    started = await ld.invoke("alice", "general", "imagine", {"prompt": "x"})
    data = ld.world.interactions[int(started["interaction_id"])].payload["data"]
    assert data["id"] == first[0]["id"] and data["guild_id"] == guild


async def test_control_api_guards(ld: LocalDiscord, api: httpx.AsyncClient, control: ControlClient) -> None:
    await api.put(f"/applications/{ld.application_id}/commands", json=COMMANDS)
    with pytest.raises(ControlAPIError) as unknown:
        await control.invoke("alice", "general", "nope")
    assert unknown.value.status == 404 and unknown.value.body["registered"] == ["imagine", "mod"]
    with pytest.raises(ControlAPIError) as refused:
        await control.invoke("alice", "general", "mod words add", word="x")
    assert refused.value.status == 403
    with pytest.raises(ControlAPIError) as missing:
        await control.invoke("mod", "general", "mod words add")
    assert missing.value.status == 400

    dave = await control.add_user("dave", moderator=True)
    assert int(dave["permissions"]) & 32 and dave["id"] in {
        m["id"] for m in (await control.state())["guilds"][0]["members"]
    }
    started = await control.invoke("dave", "general", "mod words add", word="x", who="bob", role="Moderator")
    sub = ld.world.interactions[int(started["interaction_id"])].payload["data"]
    leaf = sub["options"][0]["options"][0]
    assert (sub["options"][0]["name"], leaf["name"]) == ("words", "add")
    bob_id = _ids(ld.state())["bob"]
    assert sub["resolved"]["users"][bob_id]["username"] == "bob" and bob_id in sub["resolved"]["members"]
    assert list(sub["resolved"]["roles"]) == [_ids(ld.state())["Moderator"]]

    general = _ids(ld.state())["general"]
    row = {"type": 1, "components": [_button("live"), _button("off", disabled=True)]}
    mid = (await api.post(f"/channels/{general}/messages", json={"content": "pick", "components": [row]})).json()["id"]
    for custom_id in ("missing", "off"):
        with pytest.raises(ControlAPIError) as bad_click:
            await control.click("alice", mid, custom_id)
        assert bad_click.value.status == 400
    clicked = await control.click("alice", mid, "live")
    payload = ld.world.interactions[int(clicked["interaction_id"])].payload
    assert payload["message"]["components"] == [row] and payload["data"] == {"custom_id": "live", "component_type": 2}

    await control.delete_message(general, mid)
    async with httpx.AsyncClient(base_url=ld.api_base, headers={"Authorization": f"Bot {ld.token}"}) as http:
        assert (await http.patch(f"/channels/{general}/messages/{mid}", json={"content": "x"})).json()["code"] == 10008
    with pytest.raises(ControlAPIError) as gone:
        await control.message("999")
    assert gone.value.status == 404


async def test_gateway_handshake_over_raw_websocket(ld: LocalDiscord) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ld.gateway_url + "?v=10&encoding=json&compress=zlib-stream") as ws:
            assert (await ws.receive_json())["op"] == 10
            await ws.send_json({"op": 2, "d": {"token": "wrong", "intents": 0, "properties": {}}})
            closed = await ws.receive()
            assert closed.type == aiohttp.WSMsgType.CLOSE and closed.data == 4004
        async with session.ws_connect(ld.url.replace("http", "ws") + "/") as ws:
            assert (await ws.receive_json())["op"] == 10
            await ws.send_json({"op": 6, "d": {"token": ld.token, "session_id": "nope", "seq": 0}})
            assert await ws.receive_json() == {"op": 9, "d": False}
            await ws.send_json({"op": 1, "d": None})
            assert await ws.receive_json() == {"op": 11}
            await ws.send_json({"op": 2, "d": {"token": ld.token, "intents": 513, "properties": {}}})
            ready = await ws.receive_json()
            assert ready["t"] == "READY" and ready["d"]["resume_gateway_url"] == ld.gateway_url
            guild = (await ws.receive_json())["d"]
            assert guild["name"] == "Local Guild" and [c["name"] for c in guild["channels"]] == [
                "general",
                "imagine",
                "audit-log",
            ]
            everyone = next(r for r in guild["roles"] if r["id"] == guild["id"])
            assert int(everyone["permissions"]) & (1 << 11) and int(everyone["permissions"]) & (1 << 31)


async def test_message_events_follow_the_sessions_intents(ld: LocalDiscord) -> None:
    """A bot that identified without GUILD_MESSAGES gets no MESSAGE_* dispatches, as on Discord."""

    async def identify(ws: aiohttp.ClientWebSocketResponse, intents: int) -> None:
        assert (await ws.receive_json())["op"] == 10
        await ws.send_json({"op": 2, "d": {"token": ld.token, "intents": intents, "properties": {}}})
        assert (await ws.receive_json())["t"] == "READY"
        assert (await ws.receive_json())["t"] == "GUILD_CREATE"

    general = seed_id(3)
    headers = {"Authorization": f"Bot {ld.token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(ld.gateway_url) as guilds_only,
        session.ws_connect(ld.gateway_url) as messages,
        httpx.AsyncClient(base_url=ld.api_base, headers=headers) as http,
    ):
        await identify(guilds_only, 1)
        await identify(messages, 513)
        assert (await http.post(f"/channels/{general}/messages", json={"content": "hi"})).status_code == 200
        created = await asyncio.wait_for(messages.receive_json(), 5)
        assert created["t"] == "MESSAGE_CREATE" and created["d"]["content"] == "hi"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(guilds_only.receive_json(), 0.3)


def test_seeded_ids_are_deterministic_and_new_ids_are_current() -> None:
    world = LocalDiscord().world
    assert world.guild.id == seed_id(2) and world.application_id == world.bot.id == seed_id(1)
    assert abs(snowflake_time_ms(world.ids.new()) - time.time() * 1000) < 1000
    assert {u.username for u in world.users.values()} >= {"alice", "bob", "carol", "mod", "owner"}


async def test_command_line_prints_its_urls() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "localdiscord", "--port", "0", stdout=subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), timeout=15)).decode()
        second = (await asyncio.wait_for(proc.stdout.readline(), timeout=5)).decode()
        assert first.startswith("REST base:") and first.strip().endswith("/api/v10")
        assert second.startswith("Gateway:") and "/gateway" in second
        base = first.split()[-1].removesuffix("/api/v10")
        async with httpx.AsyncClient() as http:
            assert (await http.get(base + "/_control/state")).json()["guilds"][0]["name"] == "Local Guild"
    finally:
        proc.terminate()
        with contextlib.suppress(ProcessLookupError):
            await asyncio.wait_for(proc.wait(), timeout=5)
