"""Slash commands are written to Discord only when they changed, counted from the local Discord's request log.

A start whose command tree hashes as the last sync did sends no command write; a tree that changed, or a
Discord that lost the commands, gets exactly one; ``imagine-bot sync`` forces one and exits without
connecting to the gateway.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from localdiscord import LocalDiscord
from tests.e2e.harness import BotProcess
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

SYNC_TIMEOUT_S = 60.0


def command_writes(ld: LocalDiscord, since: int = 0) -> list[dict[str, Any]]:
    """Requests that write application commands (a bulk overwrite is a PUT), after request ``since``."""
    return [
        r
        for r in ld.requests_since(since)
        if r["method"] in ("PUT", "POST", "PATCH", "DELETE") and str(r["route"]).endswith("/commands")
    ]


def last_seq(ld: LocalDiscord) -> int:
    return max((r["seq"] for r in ld.requests), default=0)


def stored_hashes(bot: BotProcess) -> dict[str, str]:
    conn = sqlite3.connect(f"file:{bot.workdir / 'data' / 'imagine-bot.db'}?mode=ro", uri=True, timeout=5)
    try:
        return dict(conn.execute("SELECT key, value FROM bot_state WHERE key LIKE 'commands:%'").fetchall())
    finally:
        conn.close()


async def answers_settings(ld: LocalDiscord) -> None:
    """The bot is up and its commands work: /settings gets its answer."""
    interaction = await ld.invoke("alice", "imagine", "settings", {})

    def answered() -> bool:
        message_id = ld.interaction(interaction["interaction_id"])["response_message_id"]
        message = ld.message(message_id) if message_id else None
        return bool(message and "Your settings" in (message["content"] or ""))

    await wait_until(answered, within=15.0, what="the answer to /settings")


@pytest.mark.parametrize("target", ["guild", "global"])
async def test_a_restart_with_unchanged_commands_writes_none(ld: LocalDiscord, start_bot: Any, target: str) -> None:
    guild_id = ld.state()["guilds"][0]["id"]
    bot = await start_bot(**({} if target == "guild" else {"DISCORD_GUILD_IDS": ""}))
    [first] = command_writes(ld)
    assert first["method"] == "PUT" and ("/guilds/" in first["route"]) == (target == "guild")

    seq = last_seq(ld)
    await bot.restart()
    await answers_settings(ld)
    assert command_writes(ld, seq) == []
    # The commands were checked for by a read, and they are all still there.
    assert any(r["method"] == "GET" and str(r["route"]).endswith("/commands") for r in ld.requests_since(seq))
    key = f"commands:guild:{guild_id}" if target == "guild" else "commands:global"
    assert list(stored_hashes(bot)) == [key]


async def test_a_changed_command_tree_is_synced_once(ld: LocalDiscord, start_bot: Any) -> None:
    bot = await start_bot()
    [(key, digest)] = stored_hashes(bot).items()
    await bot.stop()
    # As an older version of the bot, with other commands, left the database.
    conn = sqlite3.connect(bot.workdir / "data" / "imagine-bot.db", timeout=5, isolation_level=None)
    try:
        conn.execute("UPDATE bot_state SET value = ? WHERE key = ?", ("0" * 64, key))
    finally:
        conn.close()

    seq = last_seq(ld)
    await bot.start()
    assert [r["method"] for r in command_writes(ld, seq)] == ["PUT"]
    assert stored_hashes(bot) == {key: digest}
    await answers_settings(ld)


async def test_a_discord_without_the_commands_gets_them_although_the_hash_matches(
    ld: LocalDiscord, start_bot: Any
) -> None:
    bot = await start_bot()
    await bot.stop()
    # A fresh Discord (the playground's, run again with its data kept): the stored hash is no proof.
    fresh = LocalDiscord()
    await fresh.start()
    again = BotProcess(fresh, bot.workdir)
    try:
        await again.start()
        assert [r["method"] for r in command_writes(fresh)] == ["PUT"]
        await answers_settings(fresh)
    finally:
        await again.stop()
        await fresh.stop()
    assert not fresh.violations, fresh.violations[:3]


async def test_imagine_bot_sync_forces_one_sync_and_exits(ld: LocalDiscord, start_bot: Any) -> None:
    bot = await start_bot()
    guild_id = ld.state()["guilds"][0]["id"]
    commands = len(ld.state()["commands"]["guilds"][guild_id])
    identifies = ld.stats()["gateway"]["identifies"]
    seq = last_seq(ld)

    # Beside the running bot, as an operator would run it.
    output = await run_sync(bot.workdir, bot.env)
    assert f"synced {commands} commands (guild {guild_id})" in output
    assert [r["method"] for r in command_writes(ld, seq)] == ["PUT"]
    # REST only: it never connected to the gateway, so the running bot's session is untouched.
    assert ld.stats()["gateway"]["identifies"] == identifies
    await answers_settings(ld)


async def run_sync(workdir: Path, bot_env: dict[str, str]) -> str:
    """``imagine-bot sync`` with the bot's settings; its output, after it exited 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "PROVIDER", "LOCAL_"))}
    env |= bot_env | {"PYTHONUNBUFFERED": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "sync",
        cwd=workdir, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(process.communicate(), SYNC_TIMEOUT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = out.decode(errors="replace")
    assert process.returncode == 0, text
    return text
