"""The server side of the playground, without a browser: the live event stream and the page's routes."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest

from localdiscord import LocalDiscord
from localdiscord import _events as events_module
from localdiscord._events import EventHub

COMMANDS = [
    {"name": "ping", "description": "Answers privately"},
    {
        "name": "mod",
        "description": "Moderation",
        "default_member_permissions": 32,
        "options": [{"type": 1, "name": "stats", "description": "Numbers"}],
    },
]


@pytest.fixture
async def api(ld: LocalDiscord) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=ld.api_base, headers={"Authorization": f"Bot {ld.token}"}) as client:
        yield client


class Stream:
    """A server-sent-event reader with deadlines."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, within: float = 5.0) -> tuple[str, Any]:
        kind, data = "", ""
        async with asyncio.timeout(within):
            while True:
                raw = await self.response.content.readline()
                if not raw:
                    raise EOFError("the stream ended")
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data += line[6:]
                elif line == "" and kind:
                    return kind, json.loads(data)

    async def until(self, kind: str, within: float = 5.0) -> Any:
        deadline = time.monotonic() + within
        while True:
            got, data = await self.next(max(0.01, deadline - time.monotonic()))
            if got == kind:
                return data


@pytest.fixture
async def stream(ld: LocalDiscord) -> AsyncIterator[Stream]:
    async with aiohttp.ClientSession() as session, session.get(ld.url + "/_control/events") as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        yield Stream(response)


async def test_hello_then_every_message_change(ld: LocalDiscord, api: httpx.AsyncClient, stream: Stream) -> None:
    general = ld.world.channel_by_ref("general")
    assert general is not None
    kind, hello = await stream.next()
    assert kind == "hello"
    assert [c["name"] for c in hello["guilds"][0]["channels"]] == ["general", "imagine", "audit-log"]
    assert hello["bot_connected"] is False and hello["messages"][str(general.id)] == []

    posted = (await api.post(f"/channels/{general.id}/messages", json={"content": "hello **world**"})).json()
    created = await stream.until("message_create")
    assert created["id"] == posted["id"] and created["content"] == "hello **world**"
    assert created["_ephemeral"] is False and created["_edit_count"] == 0

    await api.patch(f"/channels/{general.id}/messages/{posted['id']}", json={"content": "edited"})
    updated = await stream.until("message_update")
    assert updated["content"] == "edited" and updated["_edit_count"] == 1

    await api.delete(f"/channels/{general.id}/messages/{posted['id']}")
    deleted = await stream.until("message_delete")
    assert deleted["id"] == posted["id"] and deleted["_deleted"] is True


async def test_ephemeral_replies_and_command_changes_reach_the_page(
    ld: LocalDiscord, api: httpx.AsyncClient, stream: Stream
) -> None:
    await stream.until("hello")
    await api.put(f"/applications/{ld.application_id}/commands", json=COMMANDS)
    state = await stream.until("state")
    assert sorted(c["name"] for c in state["commands"]["global"]) == ["mod", "ping"]

    started = await ld.invoke("alice", "general", "ping")
    async with httpx.AsyncClient(base_url=ld.api_base) as http:
        answered = await http.post(
            f"/interactions/{started['interaction_id']}/{started['token']}/callback",
            json={"type": 4, "data": {"content": "only for you", "flags": 64}},
        )
    assert answered.status_code == 204
    reply = await stream.until("message_create")
    alice = ld.world.user_by_ref("alice")
    assert alice is not None
    # The gateway never carries this message; the page must, labelled with who may see it and why.
    assert reply["_ephemeral"] is True and reply["_visible_to"] == str(alice.id)
    assert reply["_command"] == "ping" and reply["interaction_metadata"]["user"]["username"] == "alice"


async def test_a_late_subscriber_gets_the_messages_in_its_hello(ld: LocalDiscord, api: httpx.AsyncClient) -> None:
    imagine = ld.world.channel_by_ref("imagine")
    assert imagine is not None
    for n in range(3):
        await api.post(f"/channels/{imagine.id}/messages", json={"content": f"m{n}"})
    async with aiohttp.ClientSession() as session, session.get(ld.url + "/_control/events") as response:
        kind, hello = await Stream(response).next()
    assert kind == "hello"
    assert [m["content"] for m in hello["messages"][str(imagine.id)]] == ["m0", "m1", "m2"]


async def test_an_open_stream_does_not_hold_up_shutdown() -> None:
    server = LocalDiscord()
    await server.start()
    async with aiohttp.ClientSession() as session, session.get(server.url + "/_control/events") as response:
        stream = Stream(response)
        assert (await stream.next())[0] == "hello"
        started = time.monotonic()
        await asyncio.wait_for(server.stop(), 5)
        assert time.monotonic() - started < 2
        with pytest.raises((EOFError, aiohttp.ClientError)):
            await stream.next(2)


async def test_a_subscriber_that_stops_reading_is_cut_loose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_module, "QUEUE_LIMIT", 3)
    ld = LocalDiscord()
    hub: EventHub = ld.events
    slow = hub.subscribe()
    for n in range(5):
        hub.publish("message_create", {"n": n})
    assert hub.subscribers == 0
    drained = [slow.get_nowait() for _ in range(slow.qsize())]
    # The end marker is last, so the stream handler stops and the browser reconnects for a fresh hello.
    assert drained[-1] == ("", None)


async def test_the_page_and_its_assets_are_served_strictly(ld: LocalDiscord) -> None:
    async with httpx.AsyncClient(base_url=ld.url) as http:
        page = await http.get("/playground/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "connect-src 'self'" in csp
        for asset in ("app.js", "style.css"):
            assert (await http.get(f"/playground/{asset}")).status_code == 200
        # Only the shipped files, by exact name.
        for probe in ("__init__.py", "..%2F_server.py", "nothing.js"):
            assert (await http.get(f"/playground/{probe}")).status_code == 404
        # A browser opening the server's address lands on the page; programs still get the JSON.
        browser = await http.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
        assert browser.status_code == 302 and browser.headers["location"] == "/playground/"
        program = (await http.get("/")).json()
        assert program["playground"] == ld.url + "/playground/"
        assert (await http.get("/playground")).headers["location"] == "/playground/"


def test_the_page_loads_nothing_from_elsewhere() -> None:
    from localdiscord.playground import STATIC_DIR

    for name in ("index.html", "app.js", "style.css"):
        text = (STATIC_DIR / name).read_text()
        # The only absolute URL allowed is the SVG namespace, an identifier that is never fetched; the
        # scheme strings the link detector looks for ("https://") name no host.
        hosts = set(re.findall(r"https?://([\w.-]+)", text)) - {"www.w3.org"}
        assert not hosts, f"{name} refers to {hosts}"
        assert "@import" not in text and "//cdn" not in text
    script = (STATIC_DIR / "app.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "eval(" not in script
