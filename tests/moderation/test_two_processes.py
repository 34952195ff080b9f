"""Two processes on one PostgreSQL: a moderator's change made through one is seen by the other at once, not
after a restart. Each "process" is its own store and Moderation on one real database, as two bot processes
have; the announcements travel through PostgreSQL's NOTIFY (bot/core/store/_postgres.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.core.moderation import Moderation
from bot.core.store import PostgresStore, Store
from tests.helpers import wait_until
from tests.moderation.conftest import ALICE, GUILD, MOD

# Well past the round trip of a notification on a loaded machine, far below anything a member would notice.
WITHIN_S = 5.0


@pytest.fixture
async def processes(postgres_url: str) -> AsyncIterator[list[tuple[PostgresStore, Moderation]]]:
    made: list[tuple[PostgresStore, Moderation]] = []
    try:
        for _ in range(2):
            store = await Store.open(postgres_url)
            assert isinstance(store, PostgresStore)
            made.append((store, Moderation(store)))
        yield made
    finally:
        for store, _ in made:
            await store.close()


async def _blocked(mod: Moderation, text: str) -> bool:
    return (await mod.check_prompt(GUILD, text)).blocked


async def test_a_word_banned_a_ban_and_a_limit_set_through_one_process_hold_in_the_other(
    processes: list[tuple[PostgresStore, Moderation]],
) -> None:
    (_, a), (_, b) = processes
    # The second process has the guild's snapshot cached from before the change.
    assert not await _blocked(b, "a glowing marmalade comet")
    assert b.cached(GUILD) is not None

    await a.add_word(GUILD, "marmalade", is_regex=False, actor_id=MOD)
    await wait_until(lambda: _blocked(b, "a glowing marmalade comet"), WITHIN_S, "the word refused by process b")

    await a.ban(GUILD, ALICE, actor_id=MOD, reason="spam")
    await wait_until(lambda: _ban_seen(b), WITHIN_S, "the ban seen by process b")

    await a.update_config(GUILD, actor_id=MOD, daily_quota=3)
    await wait_until(lambda: _daily_quota_is(b, 3), WITHIN_S, "the new limit seen by process b")

    await a.remove_word(GUILD, "marmalade", actor_id=MOD)
    await wait_until(lambda: _allowed(b, "a glowing marmalade comet"), WITHIN_S, "the word allowed again by b")


async def _ban_seen(mod: Moderation) -> bool:
    return (await mod.guild(GUILD)).ban_for(ALICE) is not None


async def _allowed(mod: Moderation, text: str) -> bool:
    return not await _blocked(mod, text)


async def _daily_quota_is(mod: Moderation, quota: int) -> bool:
    return (await mod.guild(GUILD)).config.limits.daily_quota == quota


async def test_a_member_s_settings_saved_through_one_process_are_read_by_the_other(
    processes: list[tuple[PostgresStore, Moderation]],
) -> None:
    (_, a), (_, b) = processes
    assert (await b.member_settings(ALICE)).suffix == ""  # cached in b: a member without settings

    await a.update_member_settings(ALICE, suffix="--stylize 50")
    await wait_until(lambda: _suffix_is(b, "--stylize 50"), WITHIN_S, "the suffix seen by process b")
    await a.update_member_settings(ALICE, dm_on_finish=True)
    await wait_until(lambda: _dm(b), WITHIN_S, "the second change seen by process b")


async def _suffix_is(mod: Moderation, suffix: str) -> bool:
    return (await mod.member_settings(ALICE)).suffix == suffix


async def _dm(mod: Moderation) -> bool:
    return (await mod.member_settings(ALICE)).dm_on_finish


async def test_when_the_listening_connection_is_lost_every_snapshot_is_dropped(
    processes: list[tuple[PostgresStore, Moderation]],
) -> None:
    (a_store, _), (b_store, b) = processes
    assert not await _blocked(b, "a quiet zeppelin")
    await b.member_settings(ALICE)
    listens = b_store.listens
    listener = b_store._listener
    assert listener is not None
    # A change no process announces (as one made while b was not listening would be): only the rule that a
    # lost connection drops everything can make b see it.
    await a_store.execute(
        "INSERT INTO mod_words (guild_id, kind, term, added_by, added_at) VALUES (?, 'phrase', 'zeppelin', ?, ?)",
        (GUILD, MOD, "2026-01-01T00:00:00+00:00"),
    )
    await a_store.execute(
        "INSERT INTO member_settings (user_id, aspect, suffix, dm_on_finish, remix, updated_at)"
        " VALUES (?, NULL, '--q 2', 0, 0, ?)",
        (ALICE, "2026-01-01T00:00:00+00:00"),
    )
    assert not await _blocked(b, "a quiet zeppelin")  # still b's old snapshot: nobody told it
    await a_store.execute("SELECT pg_terminate_backend(?)", (listener.get_server_pid(),))

    await wait_until(lambda: b_store.listens > listens, WITHIN_S, "process b listening again")
    assert await _blocked(b, "a quiet zeppelin")
    assert (await b.member_settings(ALICE)).suffix == "--q 2"
