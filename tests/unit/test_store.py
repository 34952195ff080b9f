from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import StoreError
from bot.core.models import Action, ErrorReason, Job, JobStatus
from bot.core.store import Store
from tests.unit.conftest import make_job


@pytest.fixture(params=["sqlite", "postgres"])
def store_backend(request: pytest.FixtureRequest) -> str:
    """Every test here on the ``store`` fixture runs on both stores (tests/conftest.py)."""
    return str(request.param)


async def test_migrations_are_recorded_and_idempotent(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "a.db")
    version = await store.schema_version()
    assert version == max(v for v, _, _ in Store.migrations())
    await store.close()
    again = await Store.open(tmp_path / "a.db")
    assert await again.schema_version() == version
    mode = await again.fetchone("PRAGMA journal_mode")
    assert mode is not None and mode[0] == "wal"
    await again.close()


async def test_round_trip_keeps_every_field(store: Store) -> None:
    job = make_job(params={"ar": "16:9", "seed": 7}, image_urls_in=["https://x/y.png"], actions=[Action.U1])
    await store.insert_job(job)
    loaded = await store.get_job(job.id)
    assert loaded == job


async def test_double_press_yields_one_child(store: Store) -> None:
    parent = make_job()
    await store.insert_job(parent)
    children = [make_job(parent_id=parent.id, action=Action.U2, user_id=i) for i in range(5)]
    results = await asyncio.gather(*(store.insert_child(c) for c in children))
    created = [job for job, was_created in results if was_created]
    assert len(created) == 1
    assert {job.id for job, _ in results} == {created[0].id}


async def test_unfinished_and_updates(store: Store) -> None:
    jobs = [make_job() for _ in range(3)]
    for job in jobs:
        await store.insert_job(job)
    await store.update_job(jobs[0].id, status=JobStatus.COMPLETED, actions=[Action.U1, Action.REROLL])
    unfinished = await store.unfinished_jobs()
    assert {j.id for j in unfinished} == {jobs[1].id, jobs[2].id}
    done = await store.get_job(jobs[0].id)
    assert done is not None and done.actions == [Action.U1, Action.REROLL]


async def test_transaction_rolls_back_whole(store: Store) -> None:
    job = make_job()
    with pytest.raises(RuntimeError):
        async with store.transaction() as conn:
            await conn.execute("UPDATE jobs SET prompt = 'x'")
            await store.insert_job(job)
            raise RuntimeError("boom")
    assert await store.get_job(job.id) is None


async def test_account_pause_survives_reopen(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "b.db")
    await store.pause_account("useapi", "a", ErrorReason.PENDING_MODERATION, "596")
    await store.close()
    store = await Store.open(tmp_path / "b.db")
    assert await store.paused_accounts() == {("useapi", "a"): ("pending_moderation", "596")}
    assert await store.resume_account("useapi", "a")
    assert await store.paused_accounts() == {}
    await store.close()


async def test_locked_database_gives_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.core.store as module

    store = await Store.open(tmp_path / "c.db")
    blocker = sqlite3.connect(tmp_path / "c.db", timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        # Shrink the wait so the test does not sit out the production busy timeout.
        await store.execute("PRAGMA busy_timeout=100")
        with pytest.raises(StoreError, match="database"):
            await store.insert_job(make_job())
    finally:
        blocker.rollback()
        blocker.close()
    await store.insert_job(make_job())  # usable again once the lock is gone
    await store.close()
    assert module.BUSY_TIMEOUT_MS >= 1000


async def test_job_choices_match_id_prefix_or_prompt_newest_first_within_the_guild(store: Store) -> None:
    start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

    def at(minute: int, **fields: Any) -> Job:
        return make_job(guild_id=5, created_at=start + dt.timedelta(minutes=minute), **fields)

    fox = at(0, id="abc0000000000001", user_id=1, prompt="A Red FOX in snow")
    cabin = at(1, id="abd0000000000002", user_id=1, prompt="a cabin at dusk")
    theirs = at(2, id="abc0000000000003", user_id=2, prompt="another fox")
    elsewhere = make_job(guild_id=6, id="abc0000000000004", user_id=1, prompt="a fox elsewhere", created_at=start)
    for job in (fox, cabin, theirs, elsewhere):
        await store.insert_job(job)

    def ids(jobs: list[Job]) -> list[str]:
        return [job.id for job in jobs]

    assert ids(await store.job_choices(5, "", user_id=1)) == [cabin.id, fox.id]
    assert ids(await store.job_choices(5, "ABC", user_id=1)) == [fox.id]
    assert ids(await store.job_choices(5, "fox", user_id=1)) == [fox.id]
    assert ids(await store.job_choices(5, "fox")) == [theirs.id, fox.id]
    assert ids(await store.job_choices(5, "ab")) == [theirs.id, cabin.id, fox.id]
    assert ids(await store.job_choices(5, "%")) == []
    assert ids(await store.job_choices(5, "", limit=2)) == [theirs.id, cabin.id]
    # Only the newest ``window`` jobs are read: the query stays bounded however much a guild has made.
    assert ids(await store.job_choices(5, "fox", window=2)) == [theirs.id]


async def test_job_choices_is_one_query_on_the_guild_indexes(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    if store.dialect != "sqlite":
        pytest.skip("reads SQLite's query plan; PostgreSQL plans by its statistics")
    seen: list[tuple[str, list[Any]]] = []
    fetchall = store.fetchall

    async def recording(sql: str, params: Any = ()) -> list[sqlite3.Row]:
        seen.append((sql, list(params)))
        return await fetchall(sql, params)

    monkeypatch.setattr(store, "fetchall", recording)
    for user_id, index in ((1, "jobs_guild_user_created"), (None, "jobs_guild_created")):
        seen.clear()
        await store.job_choices(5, "fox", user_id=user_id)
        assert len(seen) == 1
        sql, params = seen[0]
        plan = await fetchall("EXPLAIN QUERY PLAN " + sql, params)
        assert any(f"USING INDEX {index} " in str(row[3]) for row in plan), [tuple(row) for row in plan]
