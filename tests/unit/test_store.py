from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.core.errors import StoreError
from bot.core.models import Action, ErrorReason, JobStatus
from bot.core.store import Store
from tests.unit.conftest import make_job


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
