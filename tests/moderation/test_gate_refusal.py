"""A blocked prompt is answered once, in process: what matched and the member's standing in one private
reply, never a second message; the end-to-end side is tests/e2e/test_moderation.py."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from bot.core.moderation import Moderation, StrikeOutcome
from bot.ui import gate
from tests.helpers import wait_until

from .conftest import ALICE, GUILD, MOD


class Sent:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def is_done(self) -> bool:
        return bool(self.sent)

    async def send_message(self, content: str, **kwargs: Any) -> None:
        self.sent.append((content, kwargs))

    async def send(self, content: str, **kwargs: Any) -> None:
        self.sent.append((content, kwargs))


def interaction() -> Any:
    return SimpleNamespace(
        guild_id=GUILD, locale=None, user=SimpleNamespace(id=ALICE), response=Sent(), followup=Sent()
    )


async def blocked(mod: Moderation, prompt: str) -> Any:
    bot: Any = SimpleNamespace(runtime=SimpleNamespace(moderation=mod))
    state = await mod.guild(GUILD)
    asked = interaction()
    assert not await gate.prompt_allowed(bot, asked, state, prompt)
    return asked


async def strikes(mod: Moderation) -> int:
    row = await mod.store.fetchone("SELECT COUNT(*) FROM mod_strikes WHERE user_id = ?", (ALICE,))
    return int(row[0]) if row else 0


async def test_one_private_reply_with_the_standing_then_now_paused(mod: Moderation) -> None:
    await mod.update_config(GUILD, actor_id=MOD, strike_limit=3, strike_block_minutes=60)
    first = await blocked(mod, "gore one")
    assert first.followup.sent == [] and len(first.response.sent) == 1
    text, kwargs = first.response.sent[0]
    assert kwargs["ephemeral"] is True
    assert text.endswith("\n-# 2 more blocked prompts today and the bot pauses for you for an hour.")
    await blocked(mod, "gore two")
    third = await blocked(mod, "gore three")
    assert third.followup.sent == [] and len(third.response.sent) == 1
    assert (
        "\nThat was 3 blocked prompts today, so the bot is now paused for you for an hour."
        in (third.response.sent[0][0])
    )
    assert await strikes(mod) == 3


async def test_a_slow_count_does_not_hold_the_answer_nor_add_a_second_message(
    mod: Moderation, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = asyncio.Event()
    record = mod.record_block

    async def slow(*args: Any) -> StrikeOutcome:
        await release.wait()
        return await record(*args)

    monkeypatch.setattr(mod, "record_block", slow)
    monkeypatch.setattr(gate, "STRIKE_WAIT_S", 0.05)
    asked = await blocked(mod, "gore")
    ((text, _),) = asked.response.sent
    assert "Matched" in text and "\n" not in text
    release.set()
    await wait_until(lambda: not gate._background, within=5.0, what="the count to finish in the background")
    assert await strikes(mod) == 1
    assert asked.followup.sent == [] and len(asked.response.sent) == 1
