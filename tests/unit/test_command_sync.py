"""The command hash that decides whether a start syncs: stable for the same tree, different for any change.

The tree is the bot's real one, built by loading its cogs as ``imagine-bot sync`` does (for their commands
only). The end-to-end side, counting the local Discord's command writes, is tests/e2e/test_command_sync.py.
"""

from __future__ import annotations

import copy
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from discord import app_commands

from bot.core.runtime import Runtime
from bot.core.settings import load_settings
from bot.core.store import Store
from bot.ui.client import INITIAL_EXTENSIONS, ImagineBot, command_digest

APPLICATION = 1_234_567_890_123_456_789


@pytest.fixture
async def make_bot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[Any]:
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    bots: list[ImagineBot] = []

    async def make() -> ImagineBot:
        settings = load_settings(discord_token="t", data_dir=tmp_path / f"bot{len(bots)}")
        bot = ImagineBot(settings, Runtime(settings), commands_only=True)
        bots.append(bot)
        for extension in INITIAL_EXTENSIONS:
            await bot.load_extension(extension)
        return bot

    yield make
    for bot in bots:
        await bot.close()


def payload(bot: ImagineBot) -> list[dict[str, Any]]:
    return [command.to_dict(bot.tree) for command in bot.tree.get_commands()]


def shuffled(value: Any, rng: random.Random) -> Any:
    """The same JSON with every object's keys in another order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


async def test_the_same_tree_hashes_the_same_in_any_process_and_key_order(make_bot: Any) -> None:
    one, two = await make_bot(), await make_bot()
    names = {command.name for command in one.tree.get_commands()}
    assert {"imagine", "jobs", "job", "settings", "info", "mod"} <= names
    digest = command_digest(payload(one), APPLICATION)
    assert command_digest(payload(two), APPLICATION) == digest
    assert command_digest(shuffled(payload(one), random.Random(7)), APPLICATION) == digest
    # Loaded for their commands only: no cog started its workers.
    assert one.get_cog("ModerationCog")._worker is None  # type: ignore[union-attr]


async def test_any_change_to_the_tree_or_the_application_changes_the_hash(make_bot: Any) -> None:
    bot = await make_bot()
    base = payload(bot)
    digest = command_digest(base, APPLICATION)
    assert command_digest(base, APPLICATION + 1) != digest

    described = copy.deepcopy(base)
    next(c for c in described if c["name"] == "jobs")["description"] = "Your own jobs, oldest first"
    assert command_digest(described, APPLICATION) != digest

    # A real change to the loaded tree: a command added, then taken away again.
    @app_commands.command(name="extra", description="A command added in a later version")
    async def extra(interaction: Any) -> None:
        return None

    bot.tree.add_command(extra)
    assert command_digest(payload(bot), APPLICATION) != digest
    bot.tree.remove_command("extra")
    assert command_digest(payload(bot), APPLICATION) == digest


async def test_the_store_keeps_one_value_per_key(store: Store) -> None:
    assert await store.get_state("commands:global") is None
    await store.set_state("commands:global", "a" * 64)
    await store.set_state("commands:guild:2", "b" * 64)
    await store.set_state("commands:global", "c" * 64)
    assert await store.get_state("commands:global") == "c" * 64
    assert await store.get_state("commands:guild:2") == "b" * 64
