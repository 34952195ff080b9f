"""A guild's snapshot is loaded once however many requests need it at the same moment (a burst after a
start), and a moderator's change made meanwhile is what they all end up with."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.moderation import Moderation
from tests.moderation.conftest import GUILD, MOD


async def test_a_burst_of_first_requests_loads_the_guild_once(mod: Moderation, monkeypatch: pytest.MonkeyPatch) -> None:
    loads = 0
    load = mod.rules._load

    async def counted(guild_id: int):  # type: ignore[no-untyped-def]
        nonlocal loads
        loads += 1
        return await load(guild_id)

    monkeypatch.setattr(mod.rules, "_load", counted)
    states = await asyncio.gather(*(mod.guild(GUILD) for _ in range(50)))
    assert loads == 1
    assert all(state is states[0] for state in states)
    await mod.add_word(GUILD, "lighthouse", is_regex=False, actor_id=MOD)
    # The change reloads the snapshot; later requests see it without another load of their own.
    assert (await mod.guild(GUILD)).filter.check("a lighthouse at dawn").blocked
