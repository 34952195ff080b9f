"""Two bot processes sharing the queue, a graceful stop and a kill right after a defer (issue 13, item 2).

The real bot twice against one local Discord with two shards and one PostgreSQL, as in
``test_two_processes.py``, in one run of three phases so the pair is started once:

1. **Claims.** Every /imagine reaches the first process (its guild is on its shard), which runs at most
   two jobs at once (``PROCESS_MAX_JOBS``); the jobs it cannot start go back to the shared queue and the
   second process claims and completes them. Each message is edited by one process at a time: the
   receiving one until the hand-back, the claimer after it, never back and forth (the two processes reach
   the local Discord under two spellings of its address, so its request log says which one edited).
2. **Graceful stop.** The second process gets a burst of its own and is stopped with SIGTERM while jobs
   are in flight and waiting: it hands its queued jobs back and gives its lease up, and the first process
   finishes every one of them.
3. **kill -9 right after a defer** (the ``after_defer`` crash point) of a third process on the second
   shard: the member's "thinking…" message is answered by the survivor's takeover, within the lease time,
   with the same "not started" answer a restart gives.

In every phase no job is submitted twice (the simulator's own count) and every message shows its end.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import asyncpg
import pytest

from bot.core import crashpoints
from bot.core.models import ErrorReason, JobStatus
from cogs.imagine import NOT_STARTED
from localdiscord import LocalDiscord
from providersim import simulator
from tests.faults.support import API_KEY, bot_logs, free_port, message_shows, provider_env, response_message_id
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

LEASE_S = 3
FIRST_JOBS = 6
SECOND_JOBS = 5
# The account's limit is above every burst here: the processes' own limits decide who runs what.
MAX_JOBS = 16
_EDITS = (
    "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
    "PATCH /channels/{channel_id}/messages/{message_id}",
)


async def _rows(url: str) -> dict[str, dict[str, Any]]:
    """Every job by its message id."""
    conn = await asyncpg.connect(url)
    try:
        return {str(r["message_id"]): dict(r) for r in await conn.fetch("SELECT * FROM jobs")}
    finally:
        await conn.close()


async def _processes(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return [r["id"] for r in await conn.fetch("SELECT id FROM bot_processes ORDER BY started_at")]
    finally:
        await conn.close()


def _editors(ld: LocalDiscord, since: int) -> dict[str, list[str]]:
    """Who edited each message, in order (the host each process reached the local Discord under)."""
    by_message: dict[str, list[str]] = collections.defaultdict(list)
    for entry in ld.requests_since(since):
        if entry["route"] in _EDITS and entry["status"] == 200:
            by_message[entry["path"].rsplit("/", 1)[1]].append(entry["host"].split(":")[0])
    return by_message


def _runs(hosts: list[str]) -> list[str]:
    """The hosts with repeats in a row folded: ["a", "a", "b"] is ["a", "b"]."""
    return [h for i, h in enumerate(hosts) if i == 0 or hosts[i - 1] != h]


async def _settled(url: str, ld: LocalDiscord, message_ids: list[str]) -> dict[str, dict[str, Any]] | None:
    rows = await _rows(url)
    done = all(m in rows and message_shows(ld.message(m), rows[m]) for m in message_ids)
    return rows if done else None


async def test_queued_jobs_spread_a_graceful_stop_hands_them_over_and_a_dead_defer_is_answered(
    ld: LocalDiscord, start_bot: Any, postgres_url: str
) -> None:
    first_guild = ld.state()["guilds"][0]
    # The seeded guild's shard of two is (id >> 22) % 2; the next millisecond's id lands on the other.
    second_guild = ld.add_guild("Second", guild_id=int(first_guild["id"]) + (1 << 22))
    channels = [
        next(c["id"] for c in first_guild["channels"] if c["name"] == "imagine"),
        second_guild["channels"]["imagine"],
    ]
    sim = simulator("imaginepro", api_key=API_KEY, step_seconds=0.3, steps=2, previews=False, stock_images=True)
    sim.faults.latency = 0.05
    await sim.start()
    starting: asyncio.Task[Any] | None = None
    try:
        common = {
            "DATABASE_URL": postgres_url,
            "SHARD_COUNT": 2,
            "DISCORD_GUILD_IDS": f"{first_guild['id']},{second_guild['id']}",
            "JOB_LEASE_S": LEASE_S,
            "IMAGINEPRO_MAX_JOBS": MAX_JOBS,
            "LIMBO_GRACE_S": 2,
            "WEBHOOK_FALLBACK_POLL_S": 1,
            "EDIT_INTERVAL_S": 0.3,
        }
        first = await start_bot(
            **provider_env("imaginepro", sim, free_port(), SHARD_IDS=0, PROCESS_MAX_JOBS=2, **common)
        )
        # The second reaches the local Discord as "localhost": its requests are told apart by their host.
        other_base = ld.api_base.replace("127.0.0.1", "localhost")
        second = await start_bot(
            **provider_env(
                "imaginepro", sim, free_port(), SHARD_IDS=1, PROCESS_MAX_JOBS=3, DISCORD_API_BASE=other_base, **common
            )
        )
        first_id, second_id = await _processes(postgres_url)
        workdirs = [first.workdir, second.workdir]

        # -- 1. the first process's jobs beyond its two slots are claimed by the second --------------------
        seq = ld.requests_since(0)[-1]["seq"]
        invoked = await asyncio.gather(
            *(ld.invoke("alice", channels[0], "imagine", {"prompt": f"spread {i}"}) for i in range(FIRST_JOBS))
        )
        spread = [await response_message_id(ld, i["interaction_id"]) for i in invoked]
        try:
            rows = await wait_until(
                lambda: _settled(postgres_url, ld, spread), within=40, interval=0.2, what="the first burst to end"
            )
        except AssertionError:
            raise AssertionError(bot_logs(workdirs)[-12000:]) from None
        owners = collections.Counter(rows[m]["owner"] for m in spread)
        assert owners[second_id] >= 1 and owners[first_id] >= 1, owners
        assert all(rows[m]["status"] == JobStatus.COMPLETED.value for m in spread), [rows[m]["status"] for m in spread]
        editors = _editors(ld, seq)
        hosts = {first_id: "127.0.0.1", second_id: "localhost"}
        for m in spread:
            runs = _runs(editors[m])
            # Edited by one process, or by the receiver and then its claimer: never back and forth.
            assert len(runs) == len(set(runs)), (m, editors[m])
            assert runs[-1] == hosts[rows[m]["owner"]], (m, editors[m], rows[m]["owner"])
        claimed = [m for m in spread if rows[m]["owner"] == second_id]
        assert any(_runs(editors[m]) == ["127.0.0.1", "localhost"] for m in claimed), {m: editors[m] for m in claimed}

        # -- 2. a graceful stop of the second with jobs in flight and waiting: the first finishes them ----
        invoked = await asyncio.gather(
            *(ld.invoke(("bob", "carol")[i % 2], channels[1], "imagine", {"prompt": f"handed over {i}"})
              for i in range(SECOND_JOBS))
        )  # fmt: skip
        stopped = [await response_message_id(ld, i["interaction_id"]) for i in invoked]

        async def second_busy() -> bool:
            rows = await _rows(postgres_url)
            mine = [rows[m] for m in stopped if m in rows]
            return any(r["owner"] == second_id and r["submit_started_at"] and not r["finished_at"] for r in mine)

        await wait_until(second_busy, within=20, interval=0.02, what="the second process with jobs in flight")
        await second.stop()
        # The third process (phase 3, on the same shard) starts while the first finishes the second's jobs.
        crash_env = provider_env(
            "imaginepro", sim, free_port(), SHARD_IDS=1, **{crashpoints.ENV: "after_defer"}, **common
        )
        starting = asyncio.create_task(start_bot(**crash_env))
        try:
            rows = await wait_until(
                lambda: _settled(postgres_url, ld, stopped),
                within=40,
                interval=0.2,
                what="the stopped one's jobs to end",
            )
        except AssertionError:
            raise AssertionError(bot_logs(workdirs)[-12000:]) from None
        assert all(rows[m]["owner"] == first_id for m in stopped), [rows[m]["owner"] for m in stopped]
        outcomes = collections.Counter((rows[m]["status"], rows[m]["error"]) for m in stopped)
        # A submit cut off by the stop may end as interrupted (never sent again); anything else is a result.
        assert set(outcomes) <= {
            (JobStatus.COMPLETED.value, None),
            (JobStatus.FAILED.value, ErrorReason.INTERRUPTED.value),
        }
        assert outcomes[(JobStatus.COMPLETED.value, None)] >= SECOND_JOBS - 3, outcomes
        assert f"{second_id} handed" in bot_logs([second.workdir]) or "took over" in bot_logs([first.workdir])

        # -- 3. kill -9 right after a defer: the survivor answers the "thinking…" message ---------------
        crashing = await starting
        killed = await ld.invoke("alice", channels[1], "imagine", {"prompt": "cut off"})
        process = crashing.process
        assert process is not None
        await wait_until(lambda: process.returncode is not None, within=20, what="the kill at the crash point")
        message_id = await response_message_id(ld, killed["interaction_id"])

        def answered() -> bool:
            message = ld.message(message_id) or {}
            return not message.get("_loading") and NOT_STARTED in (message.get("content") or "")

        # The lease, the survivor's renewal period (a third of it) and a margin for a loaded machine.
        await wait_until(answered, within=LEASE_S * 4 / 3 + 5, interval=0.1, what="the survivor to answer the defer")
        assert message_id not in await _rows(postgres_url)
    finally:
        if starting is not None and not starting.done():
            starting.cancel()  # the process it started, if any, is stopped by the fixture
            await asyncio.gather(starting, return_exceptions=True)
        await sim.stop()

    twice = {ref: n for ref, n in sim.submits.items() if n > 1}
    assert not twice, f"submitted more than once: {twice}"
    assert len(sim.jobs) <= FIRST_JOBS + SECOND_JOBS
    log = bot_logs([first.workdir])
    assert "Traceback" not in log, log[-8000:]
    assert "took over 1 interactions not seen through" in log, log[-8000:]
