"""The WebSocket gateway: HELLO, IDENTIFY/READY, heartbeats, RESUME and dispatches.

Frames are plain TEXT JSON whatever ``compress`` the client asks for: discord.py only decompresses
binary frames and parses text frames directly. Each session keeps its dispatch history so a client that
lost its connection can RESUME and have everything after its last sequence number replayed, which is
what Discord guarantees and what the bot's reconnect handling relies on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from ._state import World

_log = logging.getLogger(__name__)

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE = 3
OP_VOICE_STATE = 4
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

HEARTBEAT_INTERVAL_MS = 41250
# Enough history for any realistic resume gap in tests without growing without bound.
BUFFER_SIZE = 2000
CLOSE_AUTH_FAILED = 4004
CLOSE_UNKNOWN_ERROR = 4000
# Message events reach only sessions that asked for them, as on Discord: guild messages need
# GUILD_MESSAGES, direct messages DIRECT_MESSAGES. A bot that identified without them never sees one.
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
_MESSAGE_EVENTS = frozenset({"MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE", "MESSAGE_DELETE_BULK"})


@dataclass
class Session:
    """One gateway session; it outlives its WebSocket so it can be resumed."""

    id: str
    shard: list[int] | None
    intents: int
    created: float = field(default_factory=time.time)
    seq: int = 0
    buffer: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=BUFFER_SIZE))
    ws: web.WebSocketResponse | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    resumes: int = 0
    last_connected: float = field(default_factory=time.monotonic)

    @property
    def connected(self) -> bool:
        return self.ws is not None and not self.ws.closed

    def serves(self, guild_id: int | None) -> bool:
        """Whether events of this guild (None: direct messages) go to this session.

        Discord's rule: a session that identified with ``shard: [id, count]`` gets the guilds whose
        ``(guild_id >> 22) % count`` is its id, and direct messages on shard 0; one without gets everything.
        """
        if not self.shard:
            return True
        shard_id, count = int(self.shard[0]), max(1, int(self.shard[1]))
        return shard_of(guild_id, count) == shard_id

    def wants(self, event: str, data: dict[str, Any]) -> bool:
        """Whether the session's shard and intents cover ``event``."""
        if not self.serves(event_guild(event, data)):
            return False
        if event not in _MESSAGE_EVENTS:
            return True
        needed = INTENT_GUILD_MESSAGES if data.get("guild_id") else INTENT_DIRECT_MESSAGES
        return bool(self.intents & needed)


def shard_of(guild_id: int | None, count: int) -> int:
    """The shard that receives a guild's events: ``(guild_id >> 22) % count``; direct messages go to 0."""
    return 0 if guild_id is None else (guild_id >> 22) % count


def event_guild(event: str, data: dict[str, Any]) -> int | None:
    """The guild an event is about, for its routing to a shard; None for direct messages."""
    ref = data.get("guild_id")
    if ref is None and event.startswith("GUILD_") and "id" in data:
        ref = data["id"]
    return int(ref) if ref is not None else None


class Gateway:
    """Owns the sessions and turns world events into dispatches."""

    def __init__(self, world: World, *, resume_url: Callable[[], str]) -> None:
        self.world = world
        self._resume_url = resume_url
        self.sessions: dict[str, Session] = {}
        self.stats: dict[str, int] = {"connections": 0, "identifies": 0, "resumes": 0, "failed_resumes": 0}
        self._sockets: set[web.WebSocketResponse] = set()

    # -- dispatching ---------------------------------------------------------------------------------

    def interaction_session(self, guild_id: int | None = None) -> Session | None:
        """Where an interaction goes: the newest connected session of the guild's shard, else the newest
        one of that shard at all.

        Discord delivers an interaction to exactly one session; sending it to every session would make
        two bot processes (say, an old one not yet closed) both answer it.
        """
        sessions = [s for s in self.sessions.values() if s.serves(guild_id)]
        if not sessions:
            return None
        ordered = sorted(sessions, key=lambda s: s.last_connected)
        connected = [s for s in ordered if s.connected]
        return (connected or ordered)[-1]

    async def dispatch(self, event: str, data: dict[str, Any], *, session: Session | None = None) -> bool:
        """Send an event to one session, or all; returns whether some connected socket got it now."""
        targets = [session] if session is not None else [s for s in self.sessions.values() if s.wants(event, data)]
        sent = False
        for target in targets:
            sent = await self._dispatch_to(target, event, data) or sent
        return sent

    async def _dispatch_to(self, session: Session, event: str, data: dict[str, Any]) -> bool:
        async with session.lock:
            session.seq += 1
            frame = json.dumps({"op": OP_DISPATCH, "t": event, "s": session.seq, "d": data})
            session.buffer.append((session.seq, frame))
            return await self._send(session, frame)

    async def _send(self, session: Session, frame: str) -> bool:
        ws = session.ws
        if ws is None or ws.closed:
            return False
        try:
            await ws.send_str(frame)
        except (ConnectionError, RuntimeError) as exc:
            # The client vanished mid-send; the frame stays buffered for its RESUME.
            _log.debug("gateway send failed for session %s: %r", session.id, exc)
            return False
        return True

    # -- control -------------------------------------------------------------------------------------

    async def drop(self, mode: str) -> int:
        """Force reconnects: ``close`` (code 4000, resumable), ``reconnect`` (op 7) or ``invalidate`` (op 9)."""
        if mode not in ("close", "reconnect", "invalidate"):
            raise ValueError("mode must be 'close', 'reconnect' or 'invalidate'")
        affected = 0
        for session in list(self.sessions.values()):
            ws = session.ws
            if ws is None or ws.closed:
                continue
            affected += 1
            if mode == "close":
                session.ws = None
                await _close(ws, CLOSE_UNKNOWN_ERROR, b"Unknown error")
            elif mode == "reconnect":
                await ws.send_str(json.dumps({"op": OP_RECONNECT, "d": None}))
            else:
                # d=false: the session is gone and the client must IDENTIFY again.
                self.sessions.pop(session.id, None)
                await ws.send_str(json.dumps({"op": OP_INVALID_SESSION, "d": False}))
        return affected

    async def close_all(self) -> None:
        for ws in list(self._sockets):
            await _close(ws, 1001, b"Server shutting down")
        self._sockets.clear()

    def snapshot(self) -> dict[str, Any]:
        return {
            **self.stats,
            "sessions": [
                {"id": s.id, "connected": s.connected, "seq": s.seq, "resumes": s.resumes, "shard": s.shard}
                for s in self.sessions.values()
            ],
        }

    # -- the socket ----------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not request.headers.get("Upgrade", "").lower() == "websocket":
            raise web.HTTPBadRequest(text="this is the gateway; connect with a WebSocket")
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        self._sockets.add(ws)
        self.stats["connections"] += 1
        session: Session | None = None
        try:
            await ws.send_str(json.dumps({"op": OP_HELLO, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}}))
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    await _close(ws, 4002, b"Error while decoding payload.")
                    break
                op = payload.get("op")
                data = payload.get("d")
                if op == OP_HEARTBEAT:
                    await ws.send_str(json.dumps({"op": OP_HEARTBEAT_ACK}))
                elif op == OP_IDENTIFY:
                    session = await self._identify(ws, data or {})
                    if session is None:
                        break
                elif op == OP_RESUME:
                    session = await self._resume(ws, data or {})
                elif op == OP_REQUEST_MEMBERS and session is not None:
                    await self._members_chunk(session, data or {})
                # Presence and voice updates are accepted and ignored.
        finally:
            self._sockets.discard(ws)
            if session is not None and session.ws is ws:
                session.ws = None
        return ws

    def _token_ok(self, token: Any) -> bool:
        if not isinstance(token, str):
            return False
        return token.removeprefix("Bot ").strip() == self.world.token

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Session | None:
        if not self._token_ok(data.get("token")):
            await _close(ws, CLOSE_AUTH_FAILED, b"Authentication failed.")
            return None
        self.stats["identifies"] += 1
        session = Session(id=secrets.token_hex(16), shard=data.get("shard"), intents=int(data.get("intents") or 0))
        session.ws = ws
        self.sessions[session.id] = session
        world = self.world
        ready = {
            "v": 10,
            "user": {**world.bot.to_dict(), "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(g), "unavailable": True} for g in world.guilds if session.serves(g)],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self._resume_url(),
            "application": {"id": str(world.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        await self._dispatch_to(session, "READY", ready)
        for guild in world.guilds.values():
            if session.serves(guild.id):
                await self._dispatch_to(session, "GUILD_CREATE", world.guild_create_dict(guild))
        return session

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Session | None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or not self._token_ok(data.get("token")):
            self.stats["failed_resumes"] += 1
            await ws.send_str(json.dumps({"op": OP_INVALID_SESSION, "d": False}))
            return None
        old = session.ws
        if old is not None and old is not ws and not old.closed:
            # A session has one socket; the resuming client replaces a connection it already gave up on.
            await _close(old, CLOSE_UNKNOWN_ERROR, b"Session resumed elsewhere")
        last_seq = int(data.get("seq") or 0)
        async with session.lock:
            session.ws = ws
            session.last_connected = time.monotonic()
            for seq, frame in list(session.buffer):
                if seq > last_seq:
                    await self._send(session, frame)
            session.seq += 1
            frame = json.dumps({"op": OP_DISPATCH, "t": "RESUMED", "s": session.seq, "d": {}})
            session.buffer.append((session.seq, frame))
            await self._send(session, frame)
        session.resumes += 1
        self.stats["resumes"] += 1
        return session

    async def _members_chunk(self, session: Session, data: dict[str, Any]) -> None:
        guild = self.world.guild_by_ref(data.get("guild_id"))
        if guild is None:
            return
        members = [self.world.member_dict(guild.id, uid) for uid in guild.members]
        chunk = {
            "guild_id": str(guild.id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        await self._dispatch_to(session, "GUILD_MEMBERS_CHUNK", chunk)


async def _close(ws: web.WebSocketResponse, code: int, message: bytes) -> None:
    # The closing handshake waits for the peer's reply; a client that has gone quiet must not stall us.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(code=code, message=message), timeout=2.0)
