"""Member settings on the way to an acknowledgement: defaults without a query, stored ones still read."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.core.moderation import Moderation
from bot.core.store import Store
from tests.moderation.conftest import ALICE, BOB


async def test_only_members_with_stored_settings_are_looked_up(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    await Moderation(store).update_member_settings(ALICE, aspect="16:9", suffix="--v 6")
    fresh = Moderation(store)
    lookups: list[Any] = []
    real = store.fetchone

    async def counting(sql: str, params: Any = ()) -> Any:
        lookups.append(params)
        return await real(sql, params)

    monkeypatch.setattr(store, "fetchone", counting)
    settings = await asyncio.gather(*(fresh.member_settings(user) for user in (ALICE, BOB, 1000 + 1, 1000 + 2)))
    assert settings[0].aspect == "16:9" and settings[0].suffix == "--v 6"
    assert all(s.aspect is None and s.suffix == "" for s in settings[1:])
    assert lookups == [(ALICE,)]  # one read for the member who has settings, none for the rest
    await fresh.update_member_settings(BOB, suffix="--stylize 50")
    assert (await fresh.member_settings(BOB)).suffix == "--stylize 50"
