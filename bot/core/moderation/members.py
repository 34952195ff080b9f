"""Member settings: a member's own defaults (aspect, suffix, a DM when a job finishes), table
``member_settings``, the same in every guild, cached per member once read. A change announces
``member:<user>`` to the other processes sharing the database (``Store.announce``), which drop their copy."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

from bot.core.moderation.policy import MemberSettings
from bot.core.store import Store, iso

__all__ = ["MAX_SUFFIX_LENGTH", "MemberSettingsBook"]

# A member suffix is parameters only and short; the prompt itself keeps the room.
MAX_SUFFIX_LENGTH = 200


class MemberSettingsBook:
    """Every read and write of ``member_settings``, with each member's settings kept once read."""

    def __init__(self, store: Store, *, clock: Callable[[], dt.datetime]) -> None:
        self.store = store
        self.clock = clock
        self._members: dict[int, MemberSettings] = {}
        # Who has any settings stored, read once: everyone else has the defaults, known without a query on
        # the way to acknowledging their /imagine. The bot's processes are the database's only writers, and
        # each tells the others whose settings it saved.
        self._with_settings: asyncio.Future[set[int]] | None = None
        # Counts the copies dropped because another process changed them: a read under way meanwhile may
        # have found the old settings, so its result is used once but not kept.
        self._generation = 0
        store.watch(self._stale)

    def _stale(self, key: str | None) -> None:
        """Another process saved the settings of the member ``key`` names (``member:<user>``), or None: any."""
        if key is None:
            self._generation += 1
            self._members.clear()
            self._with_settings = None
        elif key.startswith("member:"):
            self._generation += 1
            user_id = int(key.removeprefix("member:"))
            self._members.pop(user_id, None)
            known = self._with_settings
            if known is not None and known.done() and not known.cancelled() and known.exception() is None:
                known.result().add(user_id)
            else:
                self._with_settings = None  # read again: the list under way may have missed this member

    async def get(self, user_id: int) -> MemberSettings:
        settings = self._members.get(user_id)
        if settings is None:
            generation = self._generation
            if self._with_settings is None:
                self._with_settings = asyncio.ensure_future(self._members_with_settings())
            try:
                stored = user_id in await asyncio.shield(self._with_settings)
            except Exception:
                self._with_settings = None  # try again next time; read this member directly meanwhile
                stored = True
            row = None
            if stored:
                row = await self.store.fetchone("SELECT * FROM member_settings WHERE user_id = ?", (user_id,))
            settings = (
                MemberSettings(user_id, row["aspect"], row["suffix"], bool(row["dm_on_finish"]), bool(row["remix"]))
                if row
                else MemberSettings(user_id)
            )
            if generation == self._generation:
                self._members[user_id] = settings
        return settings

    async def _members_with_settings(self) -> set[int]:
        return {row[0] for row in await self.store.fetchall("SELECT user_id FROM member_settings")}

    async def update(self, user_id: int, **changes: Any) -> MemberSettings:
        """Change any of aspect (None clears it), suffix ("" clears it) and dm_on_finish."""
        current = await self.get(user_id)
        if "suffix" in changes and len(changes["suffix"] or "") > MAX_SUFFIX_LENGTH:
            raise ValueError(f"A suffix can be at most {MAX_SUFFIX_LENGTH} characters long.")
        updated = dataclasses.replace(current, **changes)
        async with self.store.transaction():
            await self._write(updated)
            await self.store.announce(f"member:{user_id}")
        self._members[user_id] = updated
        return updated

    async def _write(self, updated: MemberSettings) -> None:
        await self.store.execute(
            "INSERT INTO member_settings (user_id, aspect, suffix, dm_on_finish, remix, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET aspect = excluded.aspect, suffix = excluded.suffix,"
            " dm_on_finish = excluded.dm_on_finish, remix = excluded.remix, updated_at = excluded.updated_at",
            (
                updated.user_id,
                updated.aspect,
                updated.suffix or "",
                int(updated.dm_on_finish),
                int(updated.remix),
                iso(self.clock()),
            ),
        )
