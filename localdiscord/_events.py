"""A live feed of message changes, served as server-sent events at ``GET /_control/events``.

The bot learns about messages from the gateway, which never carries ephemeral replies; a browser that
plays the part of the Discord client needs those too. ``LocalDiscord`` therefore publishes every
create, update and delete here (ephemeral ones included, with the private ``_``-keys), and each
subscriber gets its own bounded queue.

The stream starts with a ``hello`` event holding a snapshot of the world (channels, members, commands,
recent messages), taken in the same event-loop step as the subscription, so a page that renders the
snapshot and then applies the events misses nothing. After that: ``message_create``,
``message_update``, ``message_delete`` (the message as stored, ``_deleted`` true) and ``state`` (the
registered commands or the bot's connection changed). A subscriber that falls too far behind is
dropped; ``EventSource`` reconnects by itself and starts again from a fresh ``hello``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ._state import Message, World

if TYPE_CHECKING:
    from ._server import LocalDiscord

__all__ = ["EVENTS_PATH", "EventHub", "register_events"]

EVENTS_PATH = "/_control/events"
# Messages per channel in the hello snapshot; older ones are of no use to a page that just opened.
SNAPSHOT_MESSAGES = 200
# A page that stops reading is cut loose after this many unsent events rather than growing memory.
QUEUE_LIMIT = 2000
# How often a quiet stream checks the command list and the bot's connection, and sends a keep-alive.
STATE_POLL_S = 0.5
KEEPALIVE_S = 15.0

_CLOSED = ("", None)


class EventHub:
    """Fan-out of message events to any number of subscribers; costs nothing while nobody listens."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._queues: set[asyncio.Queue[tuple[str, Any]]] = set()

    @property
    def subscribers(self) -> int:
        return len(self._queues)

    def subscribe(self) -> asyncio.Queue[tuple[str, Any]]:
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[tuple[str, Any]]) -> None:
        self._queues.discard(queue)

    def message(self, kind: str, message: Message) -> None:
        """Publish ``kind`` (``message_create``/``message_update``/``message_delete``) for ``message``."""
        if self._queues:
            self.publish(kind, message_view(self.world, message))

    def publish(self, kind: str, data: Any) -> None:
        for queue in list(self._queues):
            try:
                queue.put_nowait((kind, data))
            except asyncio.QueueFull:
                self._drop(queue)

    def close(self) -> None:
        """End every stream (the server is shutting down)."""
        for queue in list(self._queues):
            self._drop(queue)

    def _drop(self, queue: asyncio.Queue[tuple[str, Any]]) -> None:
        self._queues.discard(queue)
        # Make room so the end marker always fits; whatever it displaces is lost anyway.
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
        queue.put_nowait(_CLOSED)


def message_view(world: World, message: Message) -> dict[str, Any]:
    """The stored message with the private keys, plus what the page needs to label interaction replies."""
    payload = world.message_dict(message, private=True)
    interaction = world.interactions.get(message.interaction_id) if message.interaction_id else None
    if interaction is not None:
        # Discord shows "alice used /imagine" above a command's reply; the wire metadata lacks the name.
        payload["_command"] = interaction.command
        payload["_custom_id"] = interaction.custom_id
    return payload


def snapshot(ld: LocalDiscord) -> dict[str, Any]:
    """What a page needs to draw itself: the world's state and each channel's recent messages."""
    world = ld.world
    messages: dict[str, list[dict[str, Any]]] = {}
    for channel_id, ids in world.channel_messages.items():
        live = [world.messages[m] for m in ids if not world.messages[m].deleted]
        messages[str(channel_id)] = [message_view(world, m) for m in live[-SNAPSHOT_MESSAGES:]]
    return {**ld.state(), "bot_connected": bot_connected(ld), "messages": messages}


def bot_connected(ld: LocalDiscord) -> bool:
    """Whether a bot session has identified and been sent READY."""
    return any(s["connected"] and s["seq"] >= 1 for s in ld.gateway.snapshot()["sessions"])


def _state_event(ld: LocalDiscord) -> dict[str, Any]:
    return {**ld.state(), "bot_connected": bot_connected(ld)}


def _fingerprint(state: dict[str, Any]) -> str:
    return json.dumps([state["commands"], state["bot_connected"], state["guilds"]], sort_keys=True)


def _frame(kind: str, data: Any) -> bytes:
    # json.dumps never emits a raw newline, so one data line per event is always well-formed.
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def register_events(app: web.Application, ld: LocalDiscord) -> None:
    """Add ``GET /_control/events`` for ``ld`` to ``app``; streams end when the app shuts down."""

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        queue = ld.events.subscribe()
        try:
            hello = snapshot(ld)
            seen = _fingerprint(hello)
            await response.write(_frame("hello", hello))
            last_write = time.monotonic()
            while True:
                try:
                    kind, data = await asyncio.wait_for(queue.get(), STATE_POLL_S)
                except TimeoutError:
                    state = _state_event(ld)
                    current = _fingerprint(state)
                    if current != seen:
                        seen = current
                        await response.write(_frame("state", state))
                        last_write = time.monotonic()
                    elif time.monotonic() - last_write >= KEEPALIVE_S:
                        await response.write(b": keep-alive\n\n")
                        last_write = time.monotonic()
                    continue
                if not kind:
                    break
                await response.write(_frame(kind, data))
                last_write = time.monotonic()
        except (ConnectionResetError, ConnectionError):
            pass  # the page went away
        finally:
            ld.events.unsubscribe(queue)
        return response

    async def close_streams(app: web.Application) -> None:
        ld.events.close()

    app.router.add_get(EVENTS_PATH, events)
    # Runs before aiohttp waits for open handlers, so an open page does not hold up shutdown.
    app.on_shutdown.append(close_streams)
