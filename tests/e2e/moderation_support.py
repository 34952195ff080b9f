"""Shared pieces of the moderation and member end-to-end tests.

Those tests share one local Discord and one bot process per module (starting a bot costs seconds), so
each test works with members of its own (:func:`new_member`) and puts back any guild-wide setting it
changes. Facts about jobs are read from the bot's own SQLite file, read-only, while it runs.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from localdiscord import LocalDiscord
from tests.e2e.harness import BotProcess, button_ids
from tests.helpers import wait_until

__all__ = [
    "World",
    "answer",
    "final",
    "jobs_of",
    "module_world",
    "new_member",
    "press",
    "provider_submits",
    "run",
]

_names = itertools.count(1)


@dataclasses.dataclass
class World:
    ld: LocalDiscord
    bot: BotProcess

    @property
    def db_path(self) -> Path:
        return self.bot.workdir / "data" / "imagine-bot.db"

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    @property
    def guild(self) -> dict[str, Any]:
        return self.ld.state()["guilds"][0]

    def user_id(self, name: str) -> str:
        return next(m["id"] for m in self.guild["members"] if m["username"] == name)

    def channel_id(self, name: str) -> str:
        return next(c["id"] for c in self.guild["channels"] if c["name"] == name)

    def role_id(self, name: str) -> str:
        return next(r["id"] for r in self.guild["roles"] if r["name"] == name)

    def dms(self, user: str) -> list[dict[str, Any]]:
        """Messages the bot sent to a member by DM."""
        user_id = self.user_id(user)
        for channel in self.ld.state()["dm_channels"]:
            if channel["recipient_id"] == user_id:
                return self.ld.messages(channel["id"])
        return []


def module_world(**env: Any) -> Any:
    """A module-scoped fixture: one LocalDiscord and one bot for every test of the module."""

    @pytest_asyncio.fixture(scope="module", loop_scope="module")
    async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
        server = LocalDiscord()
        await server.start()
        if not server.spec_status.startswith("validating"):
            await server.stop()
            pytest.skip(f"Discord's OpenAPI spec is not available: {server.spec_status}")
        bot = BotProcess(server, tmp_path_factory.mktemp("bot"), **env)
        try:
            await bot.start()
            yield World(server, bot)
        finally:
            await bot.stop()
            await server.stop()
        assert not server.violations, f"request bodies Discord's spec rejects: {server.violations[:3]}"
        assert server.stats()["rate_limited"] == 0, "the bot was rate-limited"

    return world


def new_member(world: World, prefix: str = "member", *, role_ids: list[Any] | None = None) -> str:
    """A fresh guild member, so quotas, bans and histories start empty."""
    name = f"{prefix}{next(_names)}"
    world.ld.add_user(name, role_ids=role_ids)
    return name


def _texts(ld: LocalDiscord, interaction_id: str) -> tuple[list[dict[str, Any]], bool]:
    info = ld.interaction(interaction_id)
    messages = [ld.message(m) for m in [info["response_message_id"], *info["followup_message_ids"]] if m]
    live = [m for m in messages if m and not m["_deleted"]]
    return live, info["acked"] and not any(m["_loading"] for m in live)


async def answer(
    world: World, interaction: dict[str, Any], *, contains: str | None = None, within: float = 15.0
) -> str:
    """Everything the bot said in answer to an interaction (original response and follow-ups), once settled."""

    def settled() -> str | None:
        live, done = _texts(world.ld, interaction["interaction_id"])
        text = "\n".join(m["content"] for m in live if m["content"])
        if not done or not text or (contains is not None and contains not in text):
            return None
        return text

    try:
        return await wait_until(settled, within=within, what=f"an answer containing {contains!r}")
    except AssertionError as exc:
        live, _ = _texts(world.ld, interaction["interaction_id"])
        raise AssertionError(f"{exc}\nanswer so far: {[m['content'] for m in live]}\n{world.bot.log()}") from None


async def run(
    world: World,
    user: str,
    command: str,
    options: dict[str, Any] | None = None,
    *,
    channel: str = "imagine",
    contains: str | None = None,
    force: bool = False,
) -> str:
    """Invoke a slash command and return the bot's settled answer."""
    interaction = await world.ld.invoke(user, channel, command, options or {}, force=force)
    return await answer(world, interaction, contains=contains)


async def press(world: World, user: str, message: dict[str, Any], suffix: str) -> dict[str, Any]:
    custom_id = next(c for c in button_ids(message) if c.endswith(suffix))
    return await world.ld.click(user, message["id"], custom_id)


async def final(world: World, message_id: str, *, within: float = 30.0) -> dict[str, Any]:
    """A job message once it shows a finished job (an image, or a reason it ended)."""

    def done() -> dict[str, Any] | None:
        message = world.ld.message(message_id)
        if not message or message["_loading"]:
            return None
        content = message["content"] or ""
        if message.get("attachments") and "%" not in content:
            return message
        if "❌" in content:
            return message
        return None

    return await wait_until(done, within=within, what=f"message {message_id} to show a finished job")


def jobs_of(world: World, user: str) -> list[sqlite3.Row]:
    return world.rows("SELECT * FROM jobs WHERE user_id = ? ORDER BY created_at", (int(world.user_id(user)),))


async def provider_submits(world: World) -> int:
    """Requests the bot has sent to image services since it started, as /mod stats reports them."""
    text = await run(world, "mod", "mod stats", contains="since the bot started")
    match = re.search(r"since the bot started: (\d+)", text)
    assert match, text
    return int(match[1])


async def idle(world: World) -> None:
    """Every job the bot knows has ended (so counts taken now stay put)."""

    def done() -> bool:
        return not world.rows("SELECT 1 FROM jobs WHERE status IN ('queued', 'submitted', 'running')")

    await wait_until(done, within=60, what="every job to end")
