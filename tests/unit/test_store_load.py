"""The store under concurrent use: batched writes, the read connection, and the work gate beside it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.core.models import JobStatus
from bot.core.scheduling import WorkGate
from bot.core.store import Store
from tests.unit.conftest import make_job


async def test_concurrent_writes_share_commits_and_keep_their_own_results(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "w.db")
    jobs = [make_job(user_id=n) for n in range(200)]
    await asyncio.gather(*(store.insert_job(job) for job in jobs))
    changed = await asyncio.gather(
        *(store.execute("UPDATE jobs SET progress = ? WHERE id = ?", (n, job.id)) for n, job in enumerate(jobs)),
        store.execute("UPDATE jobs SET progress = 1 WHERE id = 'no such job'"),
    )
    assert changed == [1] * 200 + [0]
    # A duplicate fails alone; the writes batched with it land.
    duplicate, fresh = jobs[0], make_job()
    results = await asyncio.gather(store.insert_job(duplicate), store.insert_job(fresh), return_exceptions=True)
    assert isinstance(results[0], sqlite3.IntegrityError) and results[1] == fresh
    assert await store.get_job(fresh.id) == fresh
    assert [(await store.get_job(j.id)).progress for j in jobs[:3]] == [0, 1, 2]  # type: ignore[union-attr]
    rowids = await asyncio.gather(
        *(store.insert("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'x', 'y')", (v,))
          for v in (900, 901))
    )  # fmt: skip
    assert rowids == [900, 901]
    await store.close()


async def test_reads_see_every_finished_write_and_transactions_see_their_own(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "r.db")
    job = make_job()
    await store.insert_job(job)
    await store.update_job(job.id, status=JobStatus.RUNNING)
    assert (await store.get_job(job.id)).status is JobStatus.RUNNING  # type: ignore[union-attr]
    async with store.transaction():
        await store.update_job(job.id, status=JobStatus.COMPLETED)
        assert (await store.get_job(job.id)).status is JobStatus.COMPLETED  # type: ignore[union-attr]
    await store.close()


async def test_work_gate_serves_results_before_submits_and_survives_cancellation() -> None:
    gate = WorkGate(1)
    order: list[str] = []
    release = asyncio.Event()

    async def section(name: str, priority: int) -> None:
        async with gate.slot(priority):
            order.append(name)
            if name == "first":
                await release.wait()

    first = asyncio.create_task(section("first", WorkGate.SUBMIT))
    await asyncio.sleep(0)
    submit = asyncio.create_task(section("submit", WorkGate.SUBMIT))
    abandoned = asyncio.create_task(section("abandoned", WorkGate.RESULT))
    result = asyncio.create_task(section("result", WorkGate.RESULT))
    await asyncio.sleep(0)
    abandoned.cancel()
    release.set()
    await asyncio.gather(first, submit, result)
    assert order == ["first", "result", "submit"]
    assert gate.waiting == 0
    with pytest.raises(asyncio.CancelledError):
        await abandoned
    async with gate.slot(WorkGate.SUBMIT):  # every slot came back
        pass
