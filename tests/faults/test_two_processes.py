"""Two bot processes, one PostgreSQL, one local Discord with two shards (issue 13).

The real bot twice (``python -m bot run``), each on one shard of two (``SHARD_COUNT=2``, ``SHARD_IDS``),
both on one PostgreSQL server from Debian's package and one provider simulator whose callbacks all reach
the first process (``WEBHOOK_PUBLIC_URL``), so the second's callbacks are forwarded to it through the
database. Jobs come in through both guilds, one on each shard. Then kill -9 of the second process while
its jobs are in flight: the first takes them over once the lease has run out, and afterwards every job
has ended, each message shows how, the simulator saw no job submitted twice, and the provider never ran
more jobs at once than the account allows, across both processes.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import asyncpg
import pytest

from bot.core.models import ErrorReason, JobStatus
from localdiscord import LocalDiscord
from providersim import simulator
from tests.faults.support import (
    API_KEY,
    bot_logs,
    free_port,
    message_shows,
    provider_env,
    response_message_id,
)
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

JOBS = 24
MAX_JOBS = 4
LEASE_S = 3
USERS = ("alice", "bob", "carol")


async def _rows(url: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(url)
    try:
        return [dict(r) for r in await conn.fetch("SELECT * FROM jobs")]
    finally:
        await conn.close()


async def _processes(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return [r["id"] for r in await conn.fetch("SELECT id FROM bot_processes ORDER BY started_at")]
    finally:
        await conn.close()


async def test_two_processes_share_the_jobs_and_one_survives_the_others_kill_9(
    ld: LocalDiscord, start_bot: Any, postgres_url: str
) -> None:
    first_guild = ld.state()["guilds"][0]
    # The seeded guild's shard of two is (id >> 22) % 2; the next millisecond's id lands on the other.
    second_guild = ld.add_guild("Second", guild_id=int(first_guild["id"]) + (1 << 22))
    channels = [
        next(c["id"] for c in first_guild["channels"] if c["name"] == "imagine"),
        second_guild["channels"]["imagine"],
    ]
    sim = simulator("imaginepro", api_key=API_KEY, step_seconds=0.3, steps=4, previews=False, stock_images=True)
    sim.faults.latency = 0.05
    await sim.start()
    most_at_once = 0

    async def watch_provider() -> None:
        nonlocal most_at_once
        while True:
            most_at_once = max(most_at_once, sum(1 for job in list(sim.jobs.values()) if not job.terminal))
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch_provider())
    try:
        receiver = free_port()
        common = {
            "DATABASE_URL": postgres_url,
            "SHARD_COUNT": 2,
            "DISCORD_GUILD_IDS": f"{first_guild['id']},{second_guild['id']}",
            "JOB_LEASE_S": LEASE_S,
            "IMAGINEPRO_MAX_JOBS": MAX_JOBS,
            "LIMBO_GRACE_S": 2,
            "WEBHOOK_FALLBACK_POLL_S": 1,
            "EDIT_INTERVAL_S": 0.5,
            # Every callback reaches the first process, whichever process submitted the job.
            "WEBHOOK_PUBLIC_URL": f"http://127.0.0.1:{receiver}",
        }
        survivor = await start_bot(**provider_env("imaginepro", sim, receiver, SHARD_IDS=0, **common))
        victim = await start_bot(**provider_env("imaginepro", sim, free_port(), SHARD_IDS=1, **common))
        assert len(await _processes(postgres_url)) == 2
        survivor_id, victim_id = await _processes(postgres_url)

        invoked = await asyncio.gather(
            *(ld.invoke(USERS[i % 3], channels[i % 2], "imagine", {"prompt": f"shared {i}"}) for i in range(JOBS))
        )
        message_ids = [await response_message_id(ld, i["interaction_id"]) for i in invoked]

        async def stored() -> list[dict[str, Any]] | None:
            rows = await _rows(postgres_url)
            return rows if len(rows) == JOBS else None

        rows = await wait_until(stored, within=20, what="every job stored")
        owners = collections.Counter(row["owner"] for row in rows)
        # Each process took its guild's jobs in; those it had no slot for went back to the shared queue (None).
        assert set(owners) <= {survivor_id, victim_id, None}, owners

        async def victim_busy() -> bool:
            rows = await _rows(postgres_url)
            mine = [r for r in rows if r["owner"] == victim_id]
            submitted = [r for r in mine if r["submit_started_at"] and r["finished_at"] is None]
            waiting = [r for r in rows if r["status"] == JobStatus.QUEUED.value and r["owner"] in (victim_id, None)]
            return bool(submitted) and bool(waiting)

        await wait_until(victim_busy, within=20, interval=0.02, what="the second process with jobs in flight")
        await victim.kill()
        killed_at = time.monotonic()

        async def taken_over() -> bool:
            rows = await _rows(postgres_url)
            return not any(r["owner"] == victim_id for r in rows)

        # The lease, the survivor's renewal period (a third of it) and a margin for a loaded machine.
        await wait_until(taken_over, within=LEASE_S * 4 / 3 + 5, interval=0.1, what="the survivor to take over")
        took = time.monotonic() - killed_at

        async def settled() -> dict[str, dict[str, Any]] | None:
            rows = {str(r["message_id"]): r for r in await _rows(postgres_url)}
            done = all(m in rows and message_shows(ld.message(m), rows[m]) for m in message_ids)
            return rows if done else None

        try:
            final = await wait_until(settled, within=60, interval=0.2, what="every job to end and show it")
        except AssertionError:
            raise AssertionError(bot_logs([survivor.workdir, victim.workdir])[-12000:]) from None
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await sim.stop()

    twice = {ref: n for ref, n in sim.submits.items() if n > 1}
    assert not twice, f"submitted more than once: {twice}"
    assert most_at_once <= MAX_JOBS, f"the provider ran {most_at_once} jobs at once; the account allows {MAX_JOBS}"
    statuses = collections.Counter((row["status"], row["error"]) for row in final.values())
    # Anything but a result is the takeover's honest reason for a submit cut off by the kill.
    expected = {(JobStatus.COMPLETED.value, None), (JobStatus.FAILED.value, ErrorReason.INTERRUPTED.value)}
    assert set(statuses) <= expected, statuses
    assert statuses[(JobStatus.COMPLETED.value, None)] >= JOBS - MAX_JOBS, statuses
    assert all(row["owner"] == survivor_id for row in final.values())
    print(f"taken over {took:.1f} s after the kill (lease {LEASE_S} s); outcomes {dict(statuses)}")
    log = bot_logs([survivor.workdir])
    assert "Traceback" not in log, log[-8000:]
    assert "forwarded a imaginepro callback" in log, "no callback reached the second process through the first"
