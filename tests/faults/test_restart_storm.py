"""kill -9 of the bot, several times in a row, at random moments while 100 jobs are in flight.

The moments are seeded and defined by progress rather than by the clock: "after the provider has
answered N more requests" or "after Discord has received N more edits", N drawn from a fixed seed. So a
run is reproducible on a fast machine and a slow one, and some kills land between a submit leaving and
its answer being stored (the simulator adds a little latency to widen that window).

Afterwards: every job has ended (in the database and on its message, with the result or the reason in
plain words), and the simulator's request log, whose submits carry our job id as ``ref``, shows no job
was ever submitted twice.
"""

from __future__ import annotations

import asyncio
import collections
import random
import sqlite3
from typing import Any

import pytest

from bot.core.models import ErrorReason, JobStatus
from localdiscord import LocalDiscord
from providersim import simulator
from tests.faults.support import API_KEY, bot_logs, free_port, job_rows, provider_env, response_message_id, settle
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

SEED = 5_2025
JOBS = 100
KILLS = 3
USERS = ("alice", "bob", "carol")


async def test_kill_9_repeatedly_during_100_jobs(ld: LocalDiscord, start_bot: Any) -> None:
    rng = random.Random(SEED)
    # Jobs take a couple of seconds and the account runs 40 at once, so every kill finds jobs queued,
    # submitting, running and finishing.
    sim = simulator("imaginepro", api_key=API_KEY, step_seconds=0.4, steps=4, previews=False, stock_images=True)
    # Every answer a little late, so a kill can land between a submit leaving and its answer arriving.
    sim.faults.latency = 0.15
    await sim.start()
    try:
        env = provider_env(
            "imaginepro", sim, free_port(), IMAGINEPRO_MAX_JOBS=40, LIMBO_GRACE_S=2, STALL_TIMEOUT_S=30,
            EDIT_INTERVAL_S=0.6,
        )  # fmt: skip
        bot = await start_bot(**env)
        invoked = await asyncio.gather(
            *(ld.invoke(USERS[i % 3], "imagine", "imagine", {"prompt": f"storm {i}"}) for i in range(JOBS))
        )
        message_ids = [await response_message_id(ld, i["interaction_id"]) for i in invoked]
        # Only a stored job is in flight; a deferred interaction whose job is not stored yet is not.
        await wait_until(lambda: len(_rows(bot)) == JOBS, within=20, what="all jobs stored")

        kills: list[str] = []
        in_limbo = 0
        for n in range(KILLS):
            if n == 0:
                # The first kill lands while a submit is at the provider and its answer not yet stored: that
                # job must be neither lost nor sent again.
                await wait_until(lambda: _submit_in_flight(sim), within=30, interval=0.01, what="a submit in flight")
                kills.append("with a submit in flight")
            elif rng.random() < 0.5:
                start, count = len(sim.requests), rng.randint(10, 150)
                await wait_until(lambda s=start, c=count: len(sim.requests) >= s + c, within=30)  # type: ignore[misc]
                kills.append(f"after {count} provider requests")
            else:
                start, count = _edits(ld), rng.randint(5, 60)
                await wait_until(lambda s=start, c=count: _edits(ld) >= s + c, within=30)  # type: ignore[misc]
                kills.append(f"after {count} Discord edits")
            await bot.kill()
            in_limbo += sum(
                1 for row in job_rows(bot).values()
                if row["submit_started_at"] and not row["provider_job_id"] and row["finished_at"] is None
            )  # fmt: skip
            await bot.start()
        assert in_limbo, "no kill caught a submit in flight"

        rows = await settle(ld, bot, message_ids, within=60)
    finally:
        await sim.stop()

    submits = collections.Counter(
        r["body"]["ref"] for r in sim.requests
        if r["method"] == "POST" and r["path"].endswith("/imagine") and isinstance(r["body"], dict)
    )  # fmt: skip
    twice = {ref: n for ref, n in submits.items() if n > 1}
    assert not twice, f"submitted more than once: {twice} (kills: {kills})"
    statuses = collections.Counter((row["status"], row["error"]) for row in rows.values())
    # Anything but a result must be the restart's own reason: the provider itself never failed here.
    expected = {(JobStatus.COMPLETED.value, None), (JobStatus.FAILED.value, ErrorReason.INTERRUPTED.value)}
    assert set(statuses) <= expected, (statuses, kills)
    print(f"kills: {kills}; in limbo at restarts: {in_limbo}; outcomes: {dict(statuses)}")
    assert statuses[(JobStatus.COMPLETED.value, None)] >= JOBS // 2, (statuses, kills)
    # Every job the provider never heard of either completed (resubmitted is impossible) or was interrupted.
    for row in rows.values():
        if row["id"] not in submits:
            assert row["status"] == JobStatus.FAILED.value, row
    log = bot_logs([bot.workdir])
    assert "Traceback" not in log, log[-8000:]


def _rows(bot: Any) -> dict[str, Any]:
    try:
        return job_rows(bot)
    except sqlite3.Error:  # the table may not exist for the first moments
        return {}


def _submit_in_flight(sim: Any) -> bool:
    # The simulator logs a request when it arrives and stamps its status when it answers.
    return any(r["method"] == "POST" and r["path"].endswith("/imagine") and "status" not in r for r in sim.requests)


def _edits(ld: LocalDiscord) -> int:
    return sum(1 for r in ld.requests if r["method"] == "PATCH")
